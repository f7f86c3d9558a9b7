import { readFileSync } from 'node:fs';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { createDemoApp } from '../demo/app.js';
import { routes } from '../src/catalog.js';
import { MemoryStore } from '../src/index.js';
import { concretePath, FakeClock } from './helpers.js';

const send = { to: ['alice'], type: 'txt', body: { msg: 'hello' } };

describe('the demo IM server', () => {
  it.each([
    ['community', 10],
    ['enterprise', 30],
  ] as const)('%s: a burst of sends admits %i, then answers 429 reach_limit', async (edition, limit) => {
    const { app } = createDemoApp({ edition, store: new MemoryStore({ clock: new FakeClock().now }) });
    for (let i = 0; i < limit; i++) {
      const ok = await request(app).post('/acme/chat/messages/users').send(send);
      expect(ok.status).toBe(200);
      expect(Object.keys(ok.body.data)).toEqual(['alice']);
    }
    const refused = await request(app).post('/acme/chat/messages/users').send(send);
    expect(refused.status).toBe(429);
    expect(refused.headers['retry-after']).toBe('1');
    expect(refused.body).toMatchObject({
      error: 'reach_limit',
      error_description: 'This request has reached api limit',
    });
  });

  it('answers every route of routes.json from its in-memory state', async () => {
    const clock = new FakeClock();
    const { app } = createDemoApp({ edition: 'enterprise', store: new MemoryStore({ clock: clock.now }) });
    const catalog: Array<{ method: string; path: string }> = JSON.parse(
      readFileSync(new URL('./fixtures/routes.json', import.meta.url), 'utf8'),
    );
    for (const { method, path } of catalog) {
      clock.advance(60_000); // every bucket full again, history included
      // a send names its recipients where its API reads them (a broadcast names none)
      const sends = routes.find((route) => route.method === method && `/{org}/{app}/${route.path}` === path)?.sends;
      const recipients =
        sends === undefined || sends.audience === 'broadcast'
          ? {}
          : { [sends.api === 'legacy' ? 'target' : 'to']: ['bob'] };
      const response = await request(app)
        [method.toLowerCase() as 'get'](concretePath(path))
        .send({ owner: 'alice', ...recipients });
      expect([200, 404], `${method} ${path}`).toContain(response.status);
    }
  });

  it("serves the limiter's metrics and Node's own on GET /metrics after a burst", async () => {
    const { app } = createDemoApp({ store: new MemoryStore({ clock: new FakeClock().now }) });
    for (let i = 0; i < 11; i++) await request(app).post('/acme/chat/messages/users').send(send);
    const scraped = await request(app).get('/metrics').expect(200);
    expect(scraped.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(scraped.text).toContain(
      'im_rate_limit_requests_total{category="messages",edition="community",outcome="admitted",reason=""} 10',
    );
    expect(scraped.text).toContain(
      'im_rate_limit_requests_total{category="messages",edition="community",outcome="refused",reason="rate"} 1',
    );
    expect(scraped.text).toContain('im_rate_limit_store_duration_seconds_count{store="MemoryStore"} 11');
    expect(scraped.text).toContain('im_rate_limit_degraded 0');
    expect(scraped.text).toContain('process_cpu_user_seconds_total');
  });

  it('in report mode answers the whole burst and counts the excess as reported', async () => {
    const { app } = createDemoApp({ mode: 'report', store: new MemoryStore({ clock: new FakeClock().now }) });
    for (let i = 0; i < 11; i++) await request(app).post('/acme/chat/messages/users').send(send).expect(200);
    expect((await request(app).get('/metrics')).text).toContain(
      'im_rate_limit_requests_total{category="messages",edition="community",outcome="reported",reason="rate"} 1',
    );
  });

  it('keeps users, groups and their members', async () => {
    const { app } = createDemoApp({ store: new MemoryStore({ clock: new FakeClock().now }) });
    await request(app)
      .post('/acme/chat/users')
      .send([{ username: 'alice' }, { username: 'bob' }])
      .expect(200);
    expect((await request(app).get('/acme/chat/users/bob')).body.entities[0].username).toBe('bob');
    const created = await request(app)
      .post('/acme/chat/chatgroups')
      .send({ groupname: 'g', owner: 'alice', members: ['bob'] });
    const id = created.body.data.groupid;
    await request(app).post(`/acme/chat/chatgroups/${id}/users/carol`).expect(200);
    expect((await request(app).get(`/acme/chat/chatgroups/${id}/users`)).body.data).toEqual([
      { owner: 'alice' },
      { member: 'bob' },
      { member: 'carol' },
    ]);
  });
});
