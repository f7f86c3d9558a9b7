import { Redis } from 'ioredis';
import request from 'supertest';
import { describe, expect, it, vi } from 'vitest';
import { MemoryStore } from '../../src/index.js';
import { RedisLedger } from '../../src/store/redis-ledger.js';
import { appWith } from '../helpers.js';
import { ownRedis } from '../support/own-redis.js';

/** What this test is about: a reply later than this is a timeout. */
const STORE_TIMEOUT_MS = 100;
/** Redis answers nothing this long: ten times the timeout, so a slow machine still times out first. */
const PAUSE_MS = 1000;

describe('a reservation whose reply comes after the timeout', () => {
  // a server of its own: CLIENT PAUSE stops every client of it
  const redis = ownRedis();

  it('is released once the reply arrives: the next join of the user is admitted, not refused at the cap', async () => {
    // the buckets in this process, so that only the reservation meets the paused Redis
    const options = {
      store: new MemoryStore(),
      membership: new RedisLedger(redis.client, 'imrl'),
      overrides: { 'acme#app': { groups: { maxJoinedPerUser: 1 } } },
      onStoreError: 'deny' as const,
      logger: { warn: () => {} },
    };
    const first = appWith({ ...options, storeTimeoutMs: STORE_TIMEOUT_MS }).app;
    // a second process of the same app, whose view of the store the timeout did not mark down
    const second = appWith({ ...options, storeTimeoutMs: 10_000 }).app;
    const joined = 'imrl:{acme#app}:groups:joined:bob';

    const admin = new Redis({ port: redis.server.port, host: '127.0.0.1' });
    try {
      await admin.call('CLIENT', 'PAUSE', PAUSE_MS, 'ALL');
      const late = await request(first).post('/acme/app/chatgroups/g1/users/bob');
      expect(late.status).toBe(503);
      await redis.client.ping(); // answered after the reservation, on the same connection: the script has run
      // its reply, nobody's any more, gives the place back
      await vi.waitFor(async () => expect(await admin.scard(joined)).toBe(0), { timeout: 10_000, interval: 50 });
    } finally {
      admin.disconnect();
    }
    const next = await request(second).post('/acme/app/chatgroups/g2/users/bob');
    expect(next.status).toBe(200);
    expect(await redis.client.smembers(joined)).toEqual(['g2']);
  });
});
