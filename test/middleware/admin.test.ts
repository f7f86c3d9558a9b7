import { randomUUID } from 'node:crypto';
import express from 'express';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import type { AdminChange } from '../../src/admin-change.js';
import { MemoryStore, RedisStore } from '../../src/index.js';
import { appWith, FakeClock, imError, linesInto } from '../helpers.js';
import { singleClient } from '../support/clients.js';

const send = { to: ['a', 'b'], type: 'txt', body: { msg: 'hi' } };
function setup(options: Parameters<typeof appWith>[0] = {}) {
  const warnings: string[] = [];
  const changes: AdminChange[] = [];
  const { app, limiter } = appWith({
    store: new MemoryStore({ clock: new FakeClock().now }),
    logger: linesInto(warnings),
    onAdminChange: (change) => changes.push(change),
    ...options,
  });
  const admin = express().use(limiter.admin({ actor: (req) => req.get('x-operator') }));
  return { app, limiter, admin, warnings, changes };
}

describe('the admin router', () => {
  it('DELETE …/buckets leaves the daily push quota alone; DELETE …/daily resets it, and only it', async () => {
    const { app, admin } = setup({ overrides: { 'acme#chat': { messages: { dailyPushQuota: 4 } } } });
    const sendOnce = async () => (await request(app).post('/acme/chat/messages/users').send(send)).status;
    expect([await sendOnce(), await sendOnce(), await sendOnce()]).toEqual([200, 200, 429]); // 2 pushes each
    await request(admin).delete('/apps/acme/chat/buckets').expect(204);
    expect(await sendOnce()).toBe(429);
    const state = (await request(admin).get('/apps/acme/chat')).body;
    expect(state.daily).toMatchObject({ used: 4, remaining: 0 });
    expect(state.categories.messages.remaining).toBe(10);
    await request(admin).delete('/apps/acme/chat/daily').expect(204);
    const after = (await request(admin).get('/apps/acme/chat')).body;
    expect(after.daily).toMatchObject({ used: 0, remaining: 4 });
    expect(after.categories.messages.remaining).toBe(10);
    expect(await sendOnce()).toBe(200);
  });

  it('DELETE …/buckets with a parameter other than category is a 400 naming it, and refills nothing', async () => {
    const { app, admin } = setup();
    const sendOnce = async () => (await request(app).post('/acme/chat/messages/users').send(send)).status;
    for (let i = 0; i < 10; i++) expect(await sendOnce()).toBe(200);
    for (const query of ['Category=messages', 'categories=messages', 'category[a]=messages']) {
      const refused = await request(admin).delete(`/apps/acme/chat/buckets?${query}`).expect(400);
      expect(refused.body.error_description).toBe(`${query.split('=')[0]}: is not a known parameter: ?category=…`);
    }
    expect(await sendOnce()).toBe(429);
  });

  it('GET /apps/:org/:app shows what the limits are made of: edition and its source, overrides, mode', async () => {
    const { admin } = setup({ overrides: { 'acme#chat': { users: { ratePerSecond: 5 } } }, mode: 'report' });
    const put = (path: string, body: unknown) =>
      request(admin)
        .put(`/apps/acme/chat/${path}`)
        .send(body as object);
    await put('edition', { edition: 'enterprise' }).expect(200);
    await put('overrides', { messages: { ratePerSecond: 2 } }).expect(200);
    await put('mode', { mode: 'enforce' }).expect(200);
    await request(admin).put('/mode').send({ mode: 'report' }).expect(200);
    const { settings, edition, categories } = (await request(admin).get('/apps/ACME/chat').expect(200)).body;
    expect(edition).toBe('enterprise');
    expect(categories.messages.limit).toBe(2);
    expect(settings).toEqual({
      edition: { value: 'enterprise', from: 'setEdition' },
      overrides: { runTime: { messages: { ratePerSecond: 2 } }, configured: { users: { ratePerSecond: 5 } } },
      mode: {
        app: 'enforce',
        everyApp: 'report',
        option: 'report',
        effective: expect.objectContaining({ users: 'enforce', messages: 'enforce' }),
      },
    });
    const other = (await request(admin).get('/apps/acme/other').expect(200)).body.settings;
    expect(other.edition).toEqual({ value: 'community', from: 'option' });
    expect(other.mode).toMatchObject({
      app: null,
      everyApp: 'report',
      effective: expect.objectContaining({ users: 'report' }),
    });
  });

  it('makes every change an audit event: one log line and onAdminChange, with before, after and who', async () => {
    const { app, admin, warnings, changes } = setup();
    await request(app).post('/acme/chat/messages/users').send(send).expect(200);
    const as = (r: request.Test) => r.set('x-operator', 'ops@acme');
    await as(request(admin).put('/apps/acme/chat/edition').send({ edition: 'enterprise' })).expect(200);
    await as(
      request(admin)
        .put('/apps/acme/chat/overrides')
        .send({ users: { ratePerSecond: 5 } }),
    ).expect(200);
    await as(request(admin).put('/apps/acme/chat/mode').send({ mode: 'report' })).expect(200);
    await as(request(admin).put('/mode').send({ mode: 'report' })).expect(200);
    await as(request(admin).delete('/apps/acme/chat/buckets?category=messages')).expect(204);
    await request(admin).delete('/apps/acme/chat/daily').expect(204); // nobody named
    expect(changes).toEqual([
      { action: 'edition', appKey: 'acme#chat', before: 'community', after: 'enterprise', actor: 'ops@acme' },
      {
        action: 'overrides',
        appKey: 'acme#chat',
        before: null,
        after: { users: { ratePerSecond: 5 } },
        actor: 'ops@acme',
      },
      { action: 'mode', appKey: 'acme#chat', before: null, after: 'report', actor: 'ops@acme' },
      { action: 'mode', before: null, after: 'report', actor: 'ops@acme' },
      {
        action: 'reset',
        appKey: 'acme#chat',
        before: { remaining: { messages: 27 } }, // one send of two pushes, under the enterprise figures
        after: { remaining: { messages: 30 } },
        actor: 'ops@acme',
      },
      // the enterprise edition has no daily quota: nothing to read before
      { action: 'reset-daily', appKey: 'acme#chat', before: undefined, after: { used: 0 } },
    ]);
    expect(warnings).toEqual([
      'im-rate-limit: WRN_ADMIN_CHANGE: edition of "acme#chat" by "ops@acme": "community" -> "enterprise"',
      'im-rate-limit: WRN_ADMIN_CHANGE: overrides of "acme#chat" by "ops@acme": null -> {"users":{"ratePerSecond":5}}',
      'im-rate-limit: WRN_ADMIN_CHANGE: mode of "acme#chat" by "ops@acme": null -> "report"',
      'im-rate-limit: WRN_ADMIN_CHANGE: mode of every app by "ops@acme": null -> "report"',
      'im-rate-limit: WRN_ADMIN_CHANGE: reset of "acme#chat" by "ops@acme": {"remaining":{"messages":27}} -> {"remaining":{"messages":30}}',
      'im-rate-limit: WRN_ADMIN_CHANGE: reset-daily of "acme#chat" by the app: none -> {"used":0}',
    ]);
  });

  it('completes a change whose onAdminChange hook throws or rejects, and logs that once', async () => {
    let calls = 0;
    const { admin, warnings, limiter } = setup({
      onAdminChange: () => {
        calls++;
        if (calls === 1) throw new Error('audit log down');
        return Promise.reject(new Error('audit log still down'));
      },
    });
    await request(admin).put('/apps/acme/chat/edition').send({ edition: 'enterprise' }).expect(200);
    await request(admin).put('/apps/acme/chat/edition').send({ edition: 'community' }).expect(200);
    await limiter.setEdition('acme#chat', 'enterprise');
    expect(calls).toBe(3);
    expect(limiter.rules('acme#chat').messages.ratePerSecond).toBe(30);
    await expect
      .poll(() => warnings.filter((w) => w.includes('onAdminChange')))
      .toEqual(['im-rate-limit: WRN_HOOK_THREW: onAdminChange threw (Error: audit log down); ignored']);
    expect(warnings.filter((w) => w.includes('WRN_ADMIN_CHANGE'))).toHaveLength(3);
  });

  it('answers an unknown path with a JSON 404 in the IM error shape', async () => {
    const { admin } = setup();
    for (const [method, path] of [
      ['get', '/nothing'],
      ['get', '/apps/acme'],
      ['post', '/apps/acme/chat/edition'],
      ['delete', '/apps/acme/chat/everything'],
    ] as const) {
      const answer = await request(admin)
        [method](path)
        .expect(404)
        .expect('content-type', /application\/json/);
      expect(answer.body).toEqual(
        imError('resource_not_found', 'ResourceNotFoundException', `no admin endpoint ${method.toUpperCase()} ${path}`),
      );
    }
  });

  it('answers a body that is not JSON, or not the shape expected, with a 400 naming both', async () => {
    const { admin } = setup();
    const invalid = (description: string) => imError('illegal_argument', 'IllegalArgumentException', description);
    const expected = 'the body must be JSON (Content-Type: application/json): {"edition":"<edition>"}';
    const text = await request(admin)
      .put('/apps/acme/chat/edition')
      .set('Content-Type', 'text/plain')
      .send('enterprise');
    expect(text.status).toBe(400);
    expect(text.body).toEqual(invalid(`${expected}; got Content-Type: text/plain`));
    const none = await request(admin).put('/apps/acme/chat/edition').expect(400);
    expect(none.body).toEqual(invalid(`${expected}; got no body`));
    const broken = await request(admin)
      .put('/apps/acme/chat/edition')
      .set('Content-Type', 'application/json')
      .send('{"edition":')
      .expect(400);
    expect(broken.body).toEqual(invalid(`${expected}; it is not JSON`));
    const mode = await request(admin).put('/mode').send({ mode: 'off' }).expect(400);
    expect(mode.body).toEqual(invalid(`mode: must be 'enforce', 'report' or null`));
    const overrides = await request(admin)
      .put('/apps/acme/chat/overrides')
      .set('Content-Type', 'application/x-www-form-urlencoded')
      .send('users=1')
      .expect(400);
    expect(overrides.body.error_description).toBe(
      'the body must be JSON (Content-Type: application/json): overrides ({"messages":{"ratePerSecond":100}}) or null; ' +
        'got Content-Type: application/x-www-form-urlencoded',
    );
  });

  describe('on Redis', () => {
    const client = singleClient();

    it('reads write nothing: GET leaves every key, value and expiry as it was', async () => {
      const keyPrefix = `t-${randomUUID().slice(0, 8)}`;
      const { app, admin } = setup({ store: new RedisStore({ client }), keyPrefix, storeTimeoutMs: 5000 });
      const snapshot = async () => {
        const keys = (await client.keys(`${keyPrefix}:*`)).sort();
        return Promise.all(keys.map(async (key) => [key, await client.get(key), (await client.pttl(key)) > 0]));
      };
      await request(admin).get('/apps/nope/nothing').expect(200);
      expect(await snapshot()).toEqual([]);
      await request(app).get('/acme/chat/users').expect(200); // a bucket refilled at once: its key expires
      const before = await snapshot();
      expect(before).toHaveLength(1);
      await request(admin).get('/apps/acme/chat').expect(200);
      await request(admin).get('/apps/nope/nothing').expect(200);
      expect(await snapshot()).toEqual(before);
    });
  });
});
