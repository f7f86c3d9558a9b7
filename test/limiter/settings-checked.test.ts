import { createHash, randomUUID } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import request from 'supertest';
import { beforeAll, describe, expect, it } from 'vitest';
import { type Options, RedisStore } from '../../src/index.js';
import { settingsKey } from '../../src/store/keys.js';
import type { Check, Progress, SettingsCheck, Store } from '../../src/store/store.js';
import { takeScript } from '../../src/store/take-script.js';
import { appWith, FakeClock, linesInto } from '../helpers.js';
import { clusterClient } from '../support/clients.js';
import { ownRedis } from '../support/own-redis.js';

/**
 * ARCHITECTURE.md → One request's path (4. Settings and plan): an app whose run-time settings are
 * not fresh is decided by the settings last known (or none), checked in the same script call as its
 * take: one call per request whether its app is cached or not, two when the store holds others.
 */

/** This file's own redis-server: its command counts are this file's alone. */
const own = ownRedis();
const cluster = clusterClient();

const takeSha = createHash('sha1').update(takeScript).digest('hex');
const EDITION_CACHE_MS = 60_000;
const SEND = { to: ['a'], type: 'txt', body: { msg: 'x'.repeat(10_000) } };

/** Script calls a client sent, each one round trip: takes (the decision script), and the rest (settings reads). */
interface Calls {
  takes: number;
  others: number;
}

/** The client itself, counting the script calls made through it (EVALSHA; an EVAL follows only a NOSCRIPT). */
function counting(client: Redis | Cluster): { client: Redis | Cluster; calls: Calls } {
  const calls: Calls = { takes: 0, others: 0 };
  const counted = new Proxy(client, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (property !== 'evalsha' || typeof value !== 'function') {
        return typeof value === 'function' ? value.bind(target) : value;
      }
      return (sha: string, ...rest: unknown[]) => {
        if (sha === takeSha) calls.takes++;
        else calls.others++;
        return value.call(target, sha, ...rest);
      };
    },
  });
  return { client: counted, calls };
}

/**
 * A RedisStore that runs `between` once, after the first `takeChecked` has answered and before its
 * answer is handed on: what another process (or an operator here) does between two calls.
 */
function interposed(store: RedisStore, between: () => Promise<unknown>): Store {
  let pending: (() => Promise<unknown>) | undefined = between;
  return {
    shared: true,
    clock: store.clock as () => number, // given to each store here
    take: (checks: readonly Check[], progress?: Progress) => store.take(checks, progress),
    takeChecked: async (checks: readonly Check[], settings: SettingsCheck, progress?: Progress) => {
      const answer = await store.takeChecked(checks, settings, progress);
      const run = pending;
      pending = undefined;
      await run?.();
      return answer;
    },
    readSettings: (key) => store.readSettings(key),
    writeSettings: (key, fields) => store.writeSettings(key, fields),
  };
}

describe.each([
  ['one redis-server', () => own.client as Redis | Cluster, false],
  ['a 3-node Redis Cluster', () => cluster, true],
])('run-time settings checked in the take, on %s', (_where, clientOf, isCluster) => {
  let client: Redis | Cluster;
  beforeAll(async () => {
    client = clientOf();
    // the scripts are loaded once, so that every call below is one EVALSHA
    const { app } = appWith({ store: new RedisStore({ client }) });
    await request(app).get('/warm/up/users').expect(200);
  });

  /** A process of the app server: its own limiter, caches and clock, on the shared Redis. */
  function serverProcess(options: Options = {}, wrap?: (store: RedisStore) => Store) {
    const clock = new FakeClock();
    const warnings: string[] = [];
    const counted = counting(client);
    const store = new RedisStore({ client: counted.client, clock: clock.now });
    const { app, limiter } = appWith({
      store: wrap === undefined ? store : wrap(store),
      refusalCache: false,
      logger: linesInto(warnings),
      ...options,
    });
    return { app, limiter, clock, warnings, calls: counted.calls };
  }
  const appKeyOf = () => {
    const org = `o${randomUUID().slice(0, 8)}`;
    return { org, appKey: `${org}#chat`, users: `/${org}/chat/users` };
  };

  it('decides a cold app with no settings in one call per request, its first included', async () => {
    const { users } = appKeyOf();
    const server = serverProcess();
    for (let i = 0; i < 5; i++) {
      const response = await request(server.app).get(users).expect(200);
      expect(response.headers['ratelimit-policy']).toBe('"users";q=10;w=1');
    }
    // every app's mode: one read a process per editionCacheMs, after the first app's settings
    expect(server.calls).toEqual({ takes: 5, others: 1 });
  });

  it("decides an app set to enterprise by another process by enterprise's figures from its first request, in two calls", async () => {
    const { appKey, users } = appKeyOf();
    await serverProcess().limiter.setEdition(appKey, 'enterprise');
    const server = serverProcess();
    const statuses: number[] = [];
    for (let i = 0; i < 31; i++) {
      const response = await request(server.app).get(users);
      statuses.push(response.status);
      expect(response.headers['ratelimit-policy']).toBe('"users";q=30;w=1');
    }
    expect(statuses).toEqual([...Array(30).fill(200), 429]);
    expect(server.calls).toEqual({ takes: 32, others: 1 });
  });

  it("checks a download's settings with its app's bucket, before the cluster-wide bucket is reached", async () => {
    const { appKey, org } = appKeyOf();
    await serverProcess().limiter.setEdition(appKey, 'enterprise');
    const server = serverProcess();
    const response = await request(server.app).get(`/${org}/chat/chatfiles/f1`).expect(200);
    expect(response.headers['ratelimit-policy']).toBe('"files";q=30;w=1');
    // one script call that found other settings and took nothing, then the download's: on a Cluster
    // the first reached the app's slot only, and the download is a call to each of its two slots
    expect(server.calls).toEqual({ takes: isCluster ? 3 : 2, others: 1 });
    await request(server.app).get(`/${org}/chat/chatfiles/f2`).expect(200);
    expect(server.calls).toEqual({ takes: isCluster ? 5 : 3, others: 1 });
  });

  it('decides in one call an app whose settings are as last read when they are due again', async () => {
    const { appKey, users } = appKeyOf();
    await serverProcess().limiter.setEdition(appKey, 'enterprise');
    const server = serverProcess();
    await request(server.app).get(users).expect(200);
    expect(server.calls).toEqual({ takes: 2, others: 1 });
    server.clock.advance(EDITION_CACHE_MS);
    const response = await request(server.app).get(users).expect(200);
    expect(response.headers['ratelimit-policy']).toBe('"users";q=30;w=1');
    // the check found them as read; every app's mode was due again too
    expect(server.calls).toEqual({ takes: 3, others: 2 });
  });

  it('follows a change another process made while the settings were cached, once they are due again', async () => {
    const { appKey, users } = appKeyOf();
    const server = serverProcess();
    await request(server.app).get(users).expect(200);
    await serverProcess().limiter.setEdition(appKey, 'enterprise');
    expect((await request(server.app).get(users)).headers['ratelimit-policy']).toBe('"users";q=10;w=1');
    server.clock.advance(EDITION_CACHE_MS);
    expect((await request(server.app).get(users)).headers['ratelimit-policy']).toBe('"users";q=30;w=1');
    expect(server.calls).toEqual({ takes: 4, others: 2 });
  });

  it('sees a change another process makes between its two calls in the second, and decides by it in a third', async () => {
    const { appKey, users } = appKeyOf();
    const operator = serverProcess();
    await operator.limiter.setEdition(appKey, 'enterprise');
    const server = serverProcess({}, (store) =>
      interposed(store, () => operator.limiter.setOverrides(appKey, { users: { ratePerSecond: 1 / 60, burst: 3 } })),
    );
    const first = await request(server.app).get(users).expect(200);
    expect(first.headers['ratelimit-policy']).toBe('"users";q=3;w=180');
    expect(server.calls).toEqual({ takes: 3, others: 1 });
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await request(server.app).get(users)).status);
    expect(statuses).toEqual([200, 200, 429]);
    expect(server.calls).toEqual({ takes: 6, others: 1 });
  });

  it('keeps a choice made in this process while a check is on its way: the older answer does not undo it', async () => {
    const { appKey, users } = appKeyOf();
    let server: ReturnType<typeof serverProcess> | undefined;
    server = serverProcess({}, (store) =>
      interposed(store, () => (server as typeof server & {}).limiter.setEdition(appKey, 'enterprise')),
    );
    // decided as assumed (no settings): the store held none when its take ran
    expect((await request(server.app).get(users)).headers['ratelimit-policy']).toBe('"users";q=10;w=1');
    // setEdition read the settings first (one call) and wrote them (one more)
    expect(server.calls).toEqual({ takes: 1, others: 3 });
    expect((await request(server.app).get(users)).headers['ratelimit-policy']).toBe('"users";q=30;w=1');
    expect(server.calls).toEqual({ takes: 2, others: 3 });
  });

  it('ignores a stored edition the table does not name, warns once, and checks it as held thereafter', async () => {
    const { appKey, users } = appKeyOf();
    await client.hset(settingsKey('imrl', appKey), 'edition', 'platinum');
    const server = serverProcess();
    expect((await request(server.app).get(users)).headers['ratelimit-policy']).toBe('"users";q=10;w=1');
    expect(server.warnings).toEqual([
      `im-rate-limit: WRN_SETTINGS_IGNORED: the store holds edition "platinum" for "${appKey}" (the table does not name it); ignored`,
    ]);
    expect(server.calls).toEqual({ takes: 2, others: 1 });
    server.clock.advance(EDITION_CACHE_MS);
    await request(server.app).get(users).expect(200);
    expect(server.calls).toEqual({ takes: 3, others: 2 });
    expect(server.warnings).toHaveLength(1);
  });

  it('reads the settings before refusing a payload that the figures assumed refuse, and decides by them', async () => {
    const { appKey, org } = appKeyOf();
    await serverProcess().limiter.setOverrides(appKey, { messages: { messageMaxBytes: 100_000 } });
    const server = serverProcess();
    await request(server.app).post(`/${org}/chat/messages/users`).send(SEND).expect(200);
    // the read of the app's settings, then every app's mode, then the take
    expect(server.calls).toEqual({ takes: 1, others: 2 });
    const other = appKeyOf();
    await request(server.app).post(`/${other.org}/chat/messages/users`).send(SEND).expect(400); // an app of the configured figures: read, and refused all the same
    expect(server.calls).toEqual({ takes: 1, others: 3 });
  });

  it('reads the settings before refusing a send of more pushes than the daily quota the figures assumed have', async () => {
    const { appKey, org } = appKeyOf();
    await serverProcess().limiter.setEdition(appKey, 'enterprise'); // no daily quota
    const server = serverProcess();
    const group = (i: number) => `g${i}`;
    const user = (i: number) => `u${i}`;
    // 60 groups × 400 users: 24,000 pushes, past the community edition's 20,000 a day
    const body = {
      to: Array.from({ length: 60 }, (_, i) => group(i)),
      users: Array.from({ length: 400 }, (_, i) => user(i)),
    };
    await request(server.app)
      .post(`/${org}/chat/messages/chatgroups/users`)
      .send({ ...body, type: 'txt', body: { msg: 'hi' } })
      .expect(200);
    expect(server.calls).toEqual({ takes: 1, others: 2 });
  });
});

describe('what Redis runs for a request of a cold app', () => {
  it('one EVALSHA whose script reads the settings with HMGET: no HGETALL of them', async () => {
    const admin = own.client;
    const { app } = appWith({ store: new RedisStore({ client: admin }), refusalCache: false });
    await request(app).get('/warm/up/users').expect(200); // every app's mode, and the scripts loaded
    await admin.config('RESETSTAT');
    for (let i = 0; i < 3; i++) await request(app).get(`/cold${i}/chat/users`).expect(200);
    const info = await admin.info('commandstats');
    const calls = Object.fromEntries(
      [...info.matchAll(/cmdstat_(\w+):calls=(\d+)/g)].map(([, name, count]) => [name, Number(count)]),
    );
    expect(calls).toMatchObject({ evalsha: 3, hmget: 3, time: 3, mget: 3, set: 3 });
    expect(calls.hgetall).toBeUndefined();
    expect(calls.eval).toBeUndefined();
  });
});
