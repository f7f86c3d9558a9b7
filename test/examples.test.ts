import request from 'supertest';
import { expect, it } from 'vitest';
import { createServer } from '../examples/usage.js';
import { MemoryStore } from '../src/index.js';
import { FakeClock } from './helpers.js';

it("runs the README's usage example", async () => {
  const { app, enterprise, overridden, state } = await createServer(new MemoryStore({ clock: new FakeClock().now }));
  expect({ enterprise, overridden }).toEqual({ enterprise: 30, overridden: 50 });
  expect(state.categories.messages).toMatchObject({ limit: 100, remaining: 100 });
  const send = () =>
    request(app)
      .post('/acme/chat/messages/users')
      .send({ to: ['bob'], type: 'txt', body: { msg: 'hi' } });
  const first = await send();
  expect(first.body).toEqual({ data: { bob: 'sent' } });
  expect(first.headers['ratelimit-policy']).toBe('"messages";q=100;w=1, "messages-daily";q=20000;w=86400');
  let notified = 0;
  for (let i = 0; i < 12; i++) if ((await request(app).post('/custom/acme/other/notify')).status === 200) notified++;
  expect(notified).toBe(10);
  let listed = 0;
  for (let i = 0; i < 12; i++) if ((await request(app).get('/v2/acme/chat/rooms')).status === 200) listed++;
  expect(listed).toBe(10);
  expect((await request(app).get('/admin/apps/acme/chat')).status).toBe(401); // no ADMIN_TOKEN: nobody
});
