import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { createDemoApp } from '../demo/app.js';
import { MemoryStore } from '../src/index.js';
import { FakeClock, imError } from './helpers.js';

const send = { to: ['alice'], type: 'txt', body: { msg: 'hello' } };
const unauthorized = imError(
  'unauthorized',
  'UnauthorizedException',
  'the admin endpoints need Authorization: Bearer <ADMIN_TOKEN>',
);

describe("the demo's admin endpoints", () => {
  const demo = (adminToken?: string) =>
    createDemoApp({ store: new MemoryStore({ clock: new FakeClock().now }) }, { adminToken }).app;

  it('answer only the ADMIN_TOKEN bearer: 401 without it or with another', async () => {
    const app = demo('s3cret');
    for (const authorization of [undefined, 'Bearer wrong', 'Bearer s3cret2', 's3cret', 'Basic czNjcmV0']) {
      const call = request(app).get('/admin/apps/acme/chat');
      const answer = await (authorization === undefined ? call : call.set('Authorization', authorization));
      expect(answer.status, String(authorization)).toBe(401);
      expect(answer.headers['www-authenticate']).toBe('Bearer');
      expect(answer.body).toEqual(unauthorized);
    }
    const inspected = await request(app).get('/admin/apps/acme/chat').set('Authorization', 'Bearer s3cret');
    expect(inspected.status).toBe(200);
    expect(inspected.body.categories.messages).toEqual({ limit: 10, remaining: 10, msUntilFull: 0 });
  });

  it('refill a burst-drained app: the next send is admitted again', async () => {
    const app = demo('s3cret');
    const statuses = [];
    for (let i = 0; i < 11; i++)
      statuses.push((await request(app).post('/acme/chat/messages/users').send(send)).status);
    expect(statuses).toEqual([...Array(10).fill(200), 429]);
    await request(app).delete('/admin/apps/acme/chat/buckets').set('Authorization', 'Bearer s3cret').expect(204);
    await request(app).post('/acme/chat/messages/users').send(send).expect(200);
  });

  it('are not mounted without ADMIN_TOKEN', async () => {
    const app = demo();
    await request(app).get('/admin/apps/acme/chat').expect(404);
    await request(app).delete('/admin/apps/acme/chat/buckets').set('Authorization', 'Bearer ').expect(404);
  });
});
