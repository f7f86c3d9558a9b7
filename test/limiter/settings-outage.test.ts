import { Redis } from 'ioredis';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { imRateLimit, type Overrides, RedisStore } from '../../src/index.js';
import { appWith, FakeClock, linesInto } from '../helpers.js';
import { type RedisProcess, startRedis } from '../support/redis.js';

/** A redis-server of this file's own: CLIENT PAUSE stops every client of it. */
let server: RedisProcess;
let client: Redis;
let admin: Redis;

beforeAll(async () => {
  server = await startRedis();
  client = new Redis({ port: server.port, host: '127.0.0.1' });
  admin = new Redis({ port: server.port, host: '127.0.0.1' });
  await client.ping();
});
afterAll(async () => {
  client.disconnect();
  admin.disconnect();
  await server.stop();
});

/** Two groups calls a minute: no count below depends on how fast this machine is. */
const operatorsChoice: Overrides = { groups: { ratePerSecond: 1 / 60, burst: 2 } };
/** Longer than the timeout and the failover's one-second probe interval together. */
const PAUSE_MS = 2500;

/** An app on a fake clock (the store's, which the settings cache ages by), and the warnings it logged. */
function limiterOnRedis() {
  const clock = new FakeClock();
  const warnings: string[] = [];
  const { app } = appWith({
    store: new RedisStore({ client, clock: clock.now }),
    storeTimeoutMs: 250, // the pause is what this tests: far shorter than it
    refusalCache: false,
    logger: linesInto(warnings),
  });
  const admitted = async (path: string, n: number) => {
    let ok = 0;
    for (let i = 0; i < n; i++) if ((await request(app).get(path)).status === 200) ok++;
    return ok;
  };
  return { clock, warnings, admitted };
}

/** Pauses every client of the server; resolves once the pause is over. */
async function paused<T>(during: () => Promise<T>): Promise<T> {
  await admin.client('PAUSE', PAUSE_MS, 'ALL');
  const answer = await during();
  await admin.ping(); // held by the server until the pause ends
  return answer;
}

describe('a failed read of the run-time settings', () => {
  it('is asked again a second later, not kept as "no settings" for editionCacheMs', async () => {
    const org = `fresh${Date.now()}`;
    await imRateLimit({ store: new RedisStore({ client }) }).setOverrides(`${org}#chat`, operatorsChoice);
    const { clock, warnings, admitted } = limiterOnRedis();
    // its first read times out: the configured figures (community, 10 a second) meanwhile, on the fallback buckets
    expect(await paused(() => admitted(`/${org}/chat/chatgroups`, 1))).toBe(1);
    // the app's settings and every app's mode are read together: one line a second says which failed first
    expect(warnings).toEqual([
      "im-rate-limit: WRN_STORE_DOWN: the store failed (the store did not answer within 250 ms); policy 'fallback' until it answers again",
      expect.stringMatching(
        new RegExp(
          `^im-rate-limit: WRN_SETTINGS_UNREAD: reading the run-time settings of ("${org}#chat"|every app) failed \\(the store did not answer\\); using the configured edition and overrides until it answers$`,
        ),
      ),
    ]);
    clock.advance(1000);
    // asked again: the operator's two a minute (kept for editionCacheMs, the configured ten would admit all four)
    expect(await admitted(`/${org}/chat/chatgroups`, 4)).toBe(2);
    expect(warnings.slice(2)).toEqual([
      'im-rate-limit: WRN_STORE_BACK: the store answers again; limits are shared again',
    ]);
  });

  it('keeps the last known settings meanwhile, and says so', async () => {
    const org = `known${Date.now()}`;
    await imRateLimit({ store: new RedisStore({ client }) }).setOverrides(`${org}#chat`, operatorsChoice);
    const { clock, warnings, admitted } = limiterOnRedis();
    expect(await admitted(`/${org}/chat/chatgroups`, 1)).toBe(1); // read: the operator's figures
    clock.advance(60_000); // editionCacheMs: the next request reads them again
    // on the fallback buckets, by the last known figures: two, not the configured ten
    expect(await paused(() => admitted(`/${org}/chat/chatgroups`, 4))).toBe(2);
    expect(warnings[1]).toMatch(
      new RegExp(
        `^im-rate-limit: WRN_SETTINGS_UNREAD: reading the run-time settings of ("${org}#chat"|every app) failed \\(the store did not answer\\); keeping the last known until it answers$`,
      ),
    );
  });
});
