import { randomUUID } from 'node:crypto';
import express from 'express';
import request from 'supertest';
import { describe, expect, it, vi } from 'vitest';
import { type AppState, ConfigError, categories, MemoryStore, type Overrides, RedisStore } from '../../src/index.js';
import { appWith, FakeClock, imError, linesInto } from '../helpers.js';
import { clusterClient } from '../support/clients.js';
import { bothStores } from '../support/stores.js';

const HALF_A_DAY_MS = 43_200_000; // the fake clock stands at 12:00 UTC
const send = { to: ['a', 'b'], type: 'txt', body: { msg: 'hi' } };
const slow: Overrides = { messages: { ratePerSecond: 2, burst: 2 } };

/** A community app nothing has touched, as `inspect` reads it; `changes` by category. */
function fresh(changes: Partial<AppState['categories']> = {}, daily = { used: 0, remaining: 20_000 }): AppState {
  const state = Object.fromEntries(
    categories.map((c) => [
      c,
      { limit: c === 'history' ? 1 : 10, remaining: c === 'history' ? 1 : 10, msUntilFull: 0 },
    ]),
  );
  return {
    edition: 'community',
    categories: { ...state, ...changes } as AppState['categories'],
    daily: { ...daily, resetMs: HALF_A_DAY_MS },
    settings: {
      edition: { value: 'community', from: 'option' },
      overrides: { runTime: null, configured: null },
      mode: {
        app: null,
        everyApp: null,
        option: 'enforce',
        effective: Object.fromEntries(
          categories.map((c) => [c, 'enforce']),
        ) as AppState['settings']['mode']['effective'],
      },
    },
  };
}

describe.each(bothStores())('operating an app on the %s', (_name, setup) => {
  const sends = async (app: express.Express, app_: string, count: number): Promise<number[]> => {
    const statuses: number[] = [];
    for (let i = 0; i < count; i++)
      statuses.push((await request(app).post(`/acme/${app_}/messages/users`).send(send)).status);
    return statuses;
  };

  it('inspects an app before and after traffic, taking nothing', async () => {
    const s = setup();
    const { app, limiter } = appWith({ store: s.store });
    const key = `acme#${s.app}`;
    expect(await limiter.inspect(key)).toEqual(fresh());
    expect(await sends(app, s.app, 3)).toEqual([200, 200, 200]);
    await request(app).get(`/acme/${s.app}/users`).expect(200);
    const after = fresh(
      { messages: { limit: 10, remaining: 7, msUntilFull: 300 }, users: { limit: 10, remaining: 9, msUntilFull: 100 } },
      { used: 6, remaining: 19_994 },
    );
    expect(await limiter.inspect(key)).toEqual(after);
    expect(await limiter.inspect(key)).toEqual(after); // reading took nothing
    s.clock.advance(100);
    expect((await limiter.inspect(key)).categories.messages).toEqual({ limit: 10, remaining: 8, msUntilFull: 200 });
    expect(await sends(app, s.app, 9)).toEqual([...Array(8).fill(200), 429]);
  });

  it('resets one category, then all, leaving the daily quota to resetDaily; an unknown category throws', async () => {
    const s = setup();
    const { app, limiter } = appWith({ store: s.store });
    const key = `acme#${s.app}`;
    await sends(app, s.app, 3);
    await request(app).get(`/acme/${s.app}/users`).expect(200);
    const used = { used: 6, remaining: 19_994 };
    await limiter.reset(key, 'messages');
    expect(await limiter.inspect(key)).toEqual(fresh({ users: { limit: 10, remaining: 9, msUntilFull: 100 } }, used));
    await limiter.reset(key);
    expect(await limiter.inspect(key)).toEqual(fresh({}, used));
    await limiter.resetDaily(key);
    expect(await limiter.inspect(key)).toEqual(fresh());
    expect(() => limiter.reset(key, 'nope' as 'users')).toThrow(
      'reset: unknown category "nope"; expected one of users, contacts, blocks, bans, offline, history, files, messages, groups, chatrooms',
    );
  });

  it('validates setOverrides, applies it from the next request, and removes it with undefined', async () => {
    const s = setup();
    const { app, limiter } = appWith({ store: s.store });
    const key = `acme#${s.app}`;
    expect(() => limiter.setOverrides(key, { messages: { ratePerSecond: -1 } })).toThrow(
      new ConfigError('ERR_INVALID_OPTION', 'setOverrides.messages.ratePerSecond', 'must be a positive number'),
    );
    expect(() => limiter.setOverrides(key, { messages: { rate: 1 } } as Overrides)).toThrow(
      'setOverrides.messages.rate: is not a known option',
    );
    expect(await sends(app, s.app, 1)).toEqual([200]); // the app's plan is compiled under the table's figures
    s.clock.advance(1000);
    await limiter.setOverrides(key, slow);
    expect(limiter.rules(key).messages.ratePerSecond).toBe(2);
    expect(await sends(app, s.app, 3)).toEqual([200, 200, 429]);
    expect((await limiter.inspect(key)).categories.messages).toEqual({ limit: 2, remaining: 0, msUntilFull: 1000 });
    await limiter.setOverrides(key, undefined);
    expect((await limiter.inspect(key)).categories.messages.limit).toBe(10);
  });

  it('follows overrides and editions set by another instance sharing the store, within editionCacheMs', async () => {
    const s = setup();
    const first = appWith({ store: s.store, editionCacheMs: 50 });
    const second = appWith({ store: s.twin, editionCacheMs: 50 });
    const key = `acme#${s.app}`;
    const limitIn = async () => (await second.limiter.inspect(key)).categories.messages.limit;
    expect(await limitIn()).toBe(10); // the second instance has read the app's settings: cached for 50 ms
    await first.limiter.setOverrides(key, slow);
    s.clock.advance(49);
    expect(await limitIn()).toBe(10);
    s.clock.advance(1); // the settings' cache ages by the store's clock
    expect(await limitIn()).toBe(2);
    expect(await sends(second.app, s.app, 3)).toEqual([200, 200, 429]);
    await first.limiter.setEdition(key, 'enterprise');
    await first.limiter.setOverrides(key, undefined);
    s.clock.advance(50);
    expect((await second.limiter.inspect(key)).edition).toBe('enterprise');
    expect(await limitIn()).toBe(30);
  });
});

describe('on a Redis Cluster', () => {
  const client = clusterClient();

  it("keeps an app's settings and buckets in its slot: shared, and reset in one call", async () => {
    const clock = new FakeClock();
    const app = `app-${randomUUID().slice(0, 8)}`;
    const [first, second] = [1, 2].map(() =>
      // no remembered refusals: the second process would refuse for up to refusalCache.maxMs after the reset
      appWith({ store: new RedisStore({ client, clock: clock.now }), editionCacheMs: 50, refusalCache: false }),
    ) as [ReturnType<typeof appWith>, ReturnType<typeof appWith>];
    await first.limiter.setOverrides(`acme#${app}`, slow);
    clock.advance(50); // editionCacheMs, by the store's clock
    expect((await second.limiter.inspect(`acme#${app}`)).categories.messages.limit).toBe(2);
    const send3 = async () => {
      const statuses = [];
      for (let i = 0; i < 3; i++)
        statuses.push((await request(second.app).post(`/acme/${app}/messages/users`).send(send)).status);
      return statuses;
    };
    expect(await send3()).toEqual([200, 200, 429]);
    await first.limiter.reset(`acme#${app}`);
    expect(await send3()).toEqual([200, 200, 429]);
  });
});

describe('an overrides source', () => {
  const withSource = (
    get: (appKey: string) => Overrides | undefined | Promise<Overrides | undefined>,
    resolverTimeoutMs = 1000,
  ) => {
    const warnings: string[] = [];
    const calls: string[] = [];
    const clock = new FakeClock(); // the store's, which answers age by
    const { app, limiter } = appWith({
      store: new MemoryStore({ clock: clock.now }),
      resolverTimeoutMs,
      logger: linesInto(warnings),
      overrides: {
        get: (appKey) => {
          calls.push(appKey);
          return get(appKey);
        },
      },
    });
    const limit = async (key = 'acme#chat') => (await limiter.inspect(key)).categories.messages.limit;
    return { app, limiter, warnings, calls, limit, clock };
  };

  it('is asked once per app per editionCacheMs, concurrent requests sharing one call', async () => {
    let answer: (overrides: Overrides) => void = () => {};
    const { app, calls, limit } = withSource((appKey) =>
      appKey === 'acme#chat'
        ? new Promise((resolve) => {
            answer = resolve;
          })
        : undefined,
    );
    const pending = Promise.all([1, 2, 3].map(() => request(app).post('/ACME/chat/messages/users').send(send)));
    await vi.waitFor(() => expect(calls).toEqual(['acme#chat']));
    answer(slow);
    expect((await pending).map((r) => r.status).sort()).toEqual([200, 200, 429]);
    expect(await limit()).toBe(2);
    expect(await limit('other#app')).toBe(10);
    expect(calls).toEqual(['acme#chat', 'other#app']);
  });

  it('that fails leaves the app on the table, with a warning, and is asked again a second later', async () => {
    let failing = true;
    const { warnings, calls, limit, clock } = withSource(() => {
      if (failing) throw new Error('db down');
      return slow;
    });
    expect(await limit()).toBe(10);
    expect(warnings).toEqual([
      `im-rate-limit: WRN_OVERRIDES_SOURCE_FAILED: the overrides source failed for "acme#chat" (db down); using the table's figures`,
    ]);
    failing = false;
    clock.advance(999);
    expect(await limit()).toBe(10);
    clock.advance(1);
    expect(await limit()).toBe(2);
    expect(calls).toHaveLength(2);
  });

  it('that hangs or answers a bad figure is a failure too, warned of a second at most', async () => {
    const { warnings, limit, clock } = withSource(
      (appKey) => (appKey === 'acme#chat' ? new Promise(() => {}) : { messages: { ratePerSecond: -1 } }),
      20,
    );
    expect(await limit()).toBe(10);
    expect(await limit('bad#figure')).toBe(10);
    expect(await limit('bad#other')).toBe(10); // within the same second: counted, not logged
    clock.advance(1000);
    expect(await limit('bad#third')).toBe(10);
    expect(warnings).toEqual([
      `im-rate-limit: WRN_OVERRIDES_SOURCE_FAILED: the overrides source failed for "acme#chat" (it did not answer within 20 ms); using the table's figures`,
      `im-rate-limit: WRN_OVERRIDES_SOURCE_FAILED: the overrides source failed for "bad#third" (messages.ratePerSecond: must be a positive number); using the table's figures (and 2 more like it since the last)`,
    ]);
  });
});

describe('the admin router', () => {
  const setup = () => {
    const { app, limiter } = appWith({ store: new MemoryStore({ clock: new FakeClock().now }) });
    return { app, admin: express().use(limiter.admin()) };
  };
  const invalid = (description: string) => imError('illegal_argument', 'IllegalArgumentException', description);

  it('GET /apps/:org/:app inspects the app, its names read as requests read them', async () => {
    const { app, admin } = setup();
    await request(app).post('/acme/chat/messages/users').send(send).expect(200);
    const answer = await request(admin).get('/apps/ACME/Chat').expect(200);
    expect(answer.body).toEqual(
      fresh({ messages: { limit: 10, remaining: 9, msUntilFull: 100 } }, { used: 2, remaining: 19_998 }),
    );
  });

  it('holds app names to appNameMaxChars and figures to their bounds, as requests and options are', async () => {
    const { admin } = setup();
    const long = await request(admin)
      .get(`/apps/${'o'.repeat(65)}/chat`)
      .expect(400);
    expect(long.body).toEqual(invalid('org_name is longer than 64 characters'));
    const tiny = await request(admin)
      .put('/apps/acme/chat/overrides')
      .send({ users: { ratePerSecond: 5e-324 } })
      .expect(400);
    expect(tiny.body.error_description).toMatch(/users\.ratePerSecond: must be at least 0\.000001/);
  });

  it('DELETE /apps/:org/:app/buckets refills one category or all; an unknown category is a 400 naming it', async () => {
    const { app, admin } = setup();
    await request(app).post('/acme/chat/messages/users').send(send).expect(200);
    await request(app).get('/acme/chat/users').expect(200);
    const refused = await request(admin).delete('/apps/acme/chat/buckets?category=nope').expect(400);
    expect(refused.body).toEqual(
      invalid(
        'category: unknown category "nope"; expected one of users, contacts, blocks, bans, offline, history, files, messages, groups, chatrooms',
      ),
    );
    const reset = await request(admin).delete('/apps/acme/chat/buckets?category=messages').expect(204);
    expect(reset.text).toBe('');
    const used = { used: 2, remaining: 19_998 }; // the daily quota is not a bucket
    expect((await request(admin).get('/apps/acme/chat')).body).toEqual(
      fresh({ users: { limit: 10, remaining: 9, msUntilFull: 100 } }, used),
    );
    await request(admin).delete('/apps/acme/chat/buckets').expect(204);
    expect((await request(admin).get('/apps/acme/chat')).body).toEqual(fresh({}, used));
    await request(admin).delete('/apps/acme/chat/daily').expect(204);
    expect((await request(admin).get('/apps/acme/chat')).body).toEqual(fresh());
  });

  it('PUT /apps/:org/:app/edition moves the app; a bad body is a 400 naming the field', async () => {
    const { admin } = setup();
    expect(
      (await request(admin).put('/apps/acme/chat/edition').send({ edition: 'enterprise' }).expect(200)).body,
    ).toEqual({ edition: 'enterprise' });
    expect((await request(admin).get('/apps/acme/chat')).body.categories.messages).toEqual({
      limit: 30,
      remaining: 30,
      msUntilFull: 0,
    });
    for (const [body, description] of [
      [{ edition: 'gold' }, 'edition: unknown edition "gold"; the table names community, enterprise'],
      [{}, 'edition: must be an edition name'],
      [{ edition: 'community', plan: 'x' }, 'plan: is not a known field'],
    ] as const) {
      expect((await request(admin).put('/apps/acme/chat/edition').send(body).expect(400)).body).toEqual(
        invalid(description),
      );
    }
  });

  it('answers 503 while the store fails', async () => {
    const down = (): never => {
      throw new Error('connection refused');
    };
    const store = { take: down, reset: down, readSettings: down, writeSettings: down };
    const { limiter } = appWith({ store, onStoreError: 'deny', logger: { warn() {} } });
    const admin = express().use(limiter.admin());
    const unavailable = (description: string) =>
      imError('service_unavailable', 'ServiceUnavailableException', description);
    expect((await request(admin).get('/apps/acme/chat').expect(503)).body).toEqual(
      unavailable('im-rate-limit: the store is unavailable'),
    );
    expect((await request(admin).delete('/apps/acme/chat/buckets').expect(503)).body).toEqual(
      unavailable('im-rate-limit: the store did not reset the buckets (it failed, or has no reset())'),
    );
    expect(
      (await request(admin).put('/apps/acme/chat/edition').send({ edition: 'enterprise' }).expect(503)).body,
    ).toEqual(unavailable('the store did not take the setting: it applies in this process only'));
    expect(limiter.rules('acme#chat').messages.ratePerSecond).toBe(30);
  });

  it("answers 503 while the store fails under the default 'fallback' too: never this process's fallback buckets", async () => {
    const down = (): never => {
      throw new Error('connection refused');
    };
    const store = { take: down, reset: down, readSettings: down, writeSettings: down };
    const { app, limiter } = appWith({ store, fallbackProcesses: 4, logger: { warn() {} } });
    expect((await request(app).post('/acme/chat/messages/users').send(send)).status).toBe(200); // the fallback decides
    await expect(limiter.inspect('acme#chat')).rejects.toThrow('im-rate-limit: the store is unavailable');
    expect((await request(express().use(limiter.admin())).get('/apps/acme/chat').expect(503)).body.error).toBe(
      'service_unavailable',
    );
  });

  it('PUT /apps/:org/:app/overrides replaces them, null removes them; a bad figure is a 400 naming it', async () => {
    const { app, admin } = setup();
    const put = (body: string) =>
      request(admin).put('/apps/acme/chat/overrides').set('Content-Type', 'application/json').send(body);
    expect((await put(JSON.stringify(slow)).expect(200)).body).toEqual({ overrides: slow });
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await request(app).post('/acme/chat/messages/users').send(send)).status);
    expect(statuses).toEqual([200, 200, 429]);
    expect((await put('null').expect(200)).body).toEqual({ overrides: null });
    expect((await request(admin).get('/apps/acme/chat')).body.categories.messages.limit).toBe(10);
    expect((await put('{"messages":{"ratePerSecond":-1}}').expect(400)).body).toEqual(
      invalid('messages.ratePerSecond: must be a positive number'),
    );
    expect((await put('{"mesages":{}}').expect(400)).body).toEqual(invalid('mesages: is not a known option'));
    expect((await put('{').expect(400)).body.error).toBe('illegal_argument');
  });
});

describe.each(bothStores())('a change made through a process that has not read the app yet, on %s', (_, setup) => {
  it('keeps the settings the store holds, and its audit event says what it replaced', async () => {
    const { store, twin, app } = setup();
    const appKey = `acme#${app}`;
    const lines: string[] = [];
    const make = (s: typeof store) => appWith({ store: s, logger: linesInto(lines) }).limiter;
    const first = make(store);
    await first.setEdition(appKey, 'enterprise');
    await first.setMode(appKey, 'report');
    const second = make(twin); // has never seen the app: an operator's change lands on it
    await second.setOverrides(appKey, slow);
    await second.setMode(appKey, 'enforce');
    const { settings } = await second.inspect(appKey);
    expect(settings.edition).toEqual({ value: 'enterprise', from: 'setEdition' });
    expect(settings.overrides.runTime).toEqual(slow);
    expect(settings.mode.app).toBe('enforce');
    expect(second.rules(appKey).users.ratePerSecond).toBe(30); // enterprise's, not community's 10
    expect(lines.slice(2)).toEqual([
      `im-rate-limit: WRN_ADMIN_CHANGE: overrides of "${appKey}" by the app: null -> ${JSON.stringify(slow)}`,
      `im-rate-limit: WRN_ADMIN_CHANGE: mode of "${appKey}" by the app: "report" -> "enforce"`,
    ]);
  });
});
