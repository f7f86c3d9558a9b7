import { randomUUID } from 'node:crypto';
import { Cluster, Redis } from 'ioredis';
import { describe, expect, inject, it } from 'vitest';
import { RedisStore, StoreError } from '../../src/index.js';
import { dayEdgesMs } from '../../src/limits/calendar.js';
import type { BucketCheck, SettingsCheck } from '../../src/store/index.js';
import { checkedAnswerOf, readingsAt, unexpectedReply } from '../../src/store/take-batch.js';
import { clusterClient, singleClient } from '../support/clients.js';
import { storeContract } from './contract.js';

const single = singleClient();
const cluster = clusterClient();

storeContract('RedisStore on one redis-server', (clock) => new RedisStore({ client: single, clock }));
storeContract('RedisStore on a 3-node Redis Cluster', (clock) => new RedisStore({ client: cluster, clock }));

describe('RedisStore', () => {
  it('uses Redis TIME when given no clock, and sets a TTL on every key it writes', async () => {
    const store = new RedisStore({ client: single });
    const key = `t:{ttl-${Date.now()}}:b`;
    const day = `t:{ttl-${Date.now()}}:d`;
    const readings = await store.take([
      { type: 'bucket', key, capacity: 10, intervalMs: 100, cost: 3 },
      { type: 'window', key: day, limit: 5, edgesMs: dayEdgesMs('UTC', Date.now()), cost: 1 },
    ]);
    expect(readings.map((r) => [r.allowed, r.remaining])).toEqual([
      [true, 7],
      [true, 4],
    ]);
    const [seconds, micros] = (await single.time()) as [number, number];
    const endOfDay = (Math.floor((Number(seconds) * 1000 + Number(micros) / 1000) / 86_400_000) + 1) * 86_400_000;
    const bucketTtl = await single.pttl(key);
    expect(bucketTtl).toBeGreaterThan(0);
    expect(bucketTtl).toBeLessThanOrEqual(300); // three tokens' worth of refill
    expect(await single.pttl(day)).toBeLessThanOrEqual(endOfDay - Number(seconds) * 1000);
  });

  it('exposes a clock only when given one: otherwise Redis TIME decides, which this process cannot read', () => {
    const clock = () => 0;
    expect(new RedisStore({ client: single, clock }).clock).toBe(clock);
    expect(new RedisStore({ client: single }).clock).toBeUndefined();
  });

  it('sends the script again after SCRIPT FLUSH, and only then', async () => {
    const store = new RedisStore({ client: single });
    const check = { type: 'bucket', key: `t:{flush-${Date.now()}}:b`, capacity: 5, intervalMs: 1000, cost: 1 } as const;
    await store.take([check]);
    await single.script('FLUSH');
    expect((await store.take([check]))[0]).toMatchObject({ allowed: true, remaining: 3 });
    expect((await store.take([check]))[0]).toMatchObject({ allowed: true, remaining: 2 });
  });

  it('reads four integers per check from the reply, allowed being 0 or 1, and nothing else', () => {
    expect(readingsAt([1, 9, 100, 0], 0, 1)).toEqual([{ allowed: true, remaining: 9, resetMs: 100, retryAfterMs: 0 }]);
    expect(readingsAt([1, 9, 100, 0, 0, 0, 5, 5], 4, 1)).toEqual([
      { allowed: false, remaining: 0, resetMs: 5, retryAfterMs: 5 },
    ]);
    expect(readingsAt([1, 2, 3], 0, 1)).toBeUndefined();
    expect(readingsAt([2, 0, 0, 0], 0, 1)).toBeUndefined();
    expect(readingsAt([1, -1, 0, 0], 0, 1)).toBeUndefined();
    expect(readingsAt([1, 0, '7', 0], 0, 1)).toBeUndefined();
    expect(unexpectedReply('OK')).toEqual(
      new StoreError('ERR_STORE_REPLY', 'unexpected reply from the Redis script: "OK"'),
    );
  });

  it('on a Cluster, gives the app its token back when the cluster-wide bucket refuses', async () => {
    const store = new RedisStore({ client: cluster });
    const id = Date.now();
    const app = { type: 'bucket', key: `t:{app-${id}}:files:rate`, capacity: 10, intervalMs: 100, cost: 1 } as const;
    const global = {
      type: 'bucket',
      key: `t:{global-${id}}:files:downloads`,
      capacity: 2,
      intervalMs: 1e9,
      cost: 1,
    } as const;
    expect((await store.take([app, global])).map((r) => r.allowed)).toEqual([true, true]);
    expect((await store.take([app, global])).map((r) => r.allowed)).toEqual([true, true]);
    expect((await store.take([app, global])).map((r) => r.allowed)).toEqual([true, false]);
    // two taken for good, the third given back
    expect((await store.take([app]))[0]).toMatchObject({ allowed: true, remaining: 7 });
  });

  it('on a Cluster, gives the app its token back when the call to the cluster-wide bucket fails', async () => {
    // this client gives up on a call after 200 ms; the node of the global key holds writes for longer
    const ports = inject('clusterPorts');
    const impatient = new Cluster(
      ports.map((port) => ({ host: '127.0.0.1', port })),
      { redisOptions: { commandTimeout: 200 } },
    );
    const store = new RedisStore({ client: impatient });
    const id = randomUUID();
    const bucket = (key: string): BucketCheck => ({ type: 'bucket', key, capacity: 10, intervalMs: 1e9, cost: 1 });
    const global = bucket(`t:{global-${id}}:files:downloads`);
    const globalPort = await portOf(global.key);
    let n = 0;
    while ((await portOf(`t:{app-${id}-${n}}:files:rate`)) === globalPort) n++;
    const app = bucket(`t:{app-${id}-${n}}:files:rate`);
    const pauser = new Redis({ host: '127.0.0.1', port: globalPort });
    try {
      expect((await store.take([app]))[0]).toMatchObject({ allowed: true, remaining: 9 });
      await pauser.call('CLIENT', 'PAUSE', '10000', 'WRITE');
      await expect(store.take([app, global])).rejects.toThrow(/Redis failed: Command timed out/);
      await pauser.call('CLIENT', 'UNPAUSE');
      expect((await store.take([{ ...app, cost: 0 }]))[0]).toMatchObject({ allowed: true, remaining: 9 });
    } finally {
      await pauser.call('CLIENT', 'UNPAUSE');
      pauser.disconnect();
      impatient.disconnect();
    }
  });
});

describe("RedisStore.takeChecked: a take and the app's settings in one call", () => {
  const fields = ['edition', 'mode', 'overrides'];
  const checkOf = (key: string, expected: Record<string, string>): SettingsCheck => ({ key, fields, expected });

  for (const [where, client] of [
    ['one redis-server', single],
    ['a 3-node Redis Cluster', cluster],
  ] as const) {
    describe(`on ${where}`, () => {
      const store = new RedisStore({ client });
      const appKeys = () => {
        const tag = `{checked-${randomUUID()}}`;
        const bucket: BucketCheck = {
          type: 'bucket',
          key: `t:${tag}:users:rate`,
          capacity: 5,
          intervalMs: 1e9,
          cost: 1,
        };
        return { bucket, settings: `t:${tag}:settings` };
      };

      it('takes when the app holds no settings and none were assumed, in one script call', async () => {
        const { bucket, settings } = appKeys();
        expect(await store.takeChecked([bucket], checkOf(settings, {}))).toEqual([
          { allowed: true, remaining: 4, resetMs: 1e9, retryAfterMs: 0 },
        ]);
      });

      it('takes when every checked field is held as assumed (fields not checked are not compared)', async () => {
        const { bucket, settings } = appKeys();
        await client.hset(settings, { edition: 'pro', overrides: '{"users":{"burst":3}}', other: 'x' });
        const answer = await store.takeChecked(
          [bucket],
          checkOf(settings, { edition: 'pro', overrides: '{"users":{"burst":3}}' }),
        );
        expect(answer).toMatchObject([{ allowed: true, remaining: 4 }]);
      });

      it('takes nothing and answers the fields as held when one differs, is missing, or is held unassumed', async () => {
        const { bucket, settings } = appKeys();
        await client.hset(settings, { edition: 'enterprise', mode: 'report' });
        for (const expected of [
          { edition: 'pro', mode: 'report' },
          { mode: 'report' },
          { edition: 'enterprise' },
          {},
        ]) {
          expect(await store.takeChecked([bucket], checkOf(settings, expected))).toEqual({
            stored: { edition: 'enterprise', mode: 'report' },
          });
        }
        // an empty text is held, and is not "not held"
        await client.hset(settings, 'overrides', '');
        expect(await store.takeChecked([bucket], checkOf(settings, { edition: 'enterprise', mode: 'report' }))).toEqual(
          { stored: { edition: 'enterprise', mode: 'report', overrides: '' } },
        );
        expect(await client.get(bucket.key)).toBeNull(); // nothing was taken
        expect(await store.take([{ ...bucket, cost: 0 }])).toMatchObject([{ remaining: 5 }]);
      });

      it('answers the readings of a refusal when the settings are as assumed', async () => {
        const { bucket, settings } = appKeys();
        const costly = { ...bucket, cost: 6 };
        expect(await store.takeChecked([costly], checkOf(settings, {}))).toMatchObject([
          { allowed: false, remaining: 5 },
        ]);
      });
    });
  }

  it("on a Cluster, checks the settings with the app's slot before the cluster-wide bucket is reached", async () => {
    const { bucket, settings } = (() => {
      const tag = `{checked-${randomUUID()}}`;
      return {
        bucket: { type: 'bucket', key: `t:${tag}:files:rate`, capacity: 5, intervalMs: 1e9, cost: 1 } as BucketCheck,
        settings: `t:${tag}:settings`,
      };
    })();
    const global: BucketCheck = {
      type: 'bucket',
      key: `t:{g-${randomUUID()}}:d`,
      capacity: 5,
      intervalMs: 1e9,
      cost: 1,
    };
    const store = new RedisStore({ client: cluster });
    await cluster.hset(settings, 'edition', 'pro');
    expect(await store.takeChecked([bucket, global], checkOf(settings, {}))).toEqual({ stored: { edition: 'pro' } });
    expect(await cluster.get(global.key)).toBeNull();
    expect(await store.takeChecked([bucket, global], checkOf(settings, { edition: 'pro' }))).toMatchObject([
      { allowed: true, remaining: 4 },
      { allowed: true, remaining: 4 },
    ]);
  });

  it('with replicas to wait for, answers settings that differ at once (nothing was written), and undoes a take not acknowledged', async () => {
    const store = new RedisStore({ client: single, replicas: 1, replicaTimeoutMs: 10 }); // this server has no replica
    const tag = `{checked-${randomUUID()}}`;
    const settings = `t:${tag}:settings`;
    const bucket: BucketCheck = {
      type: 'bucket',
      key: `t:${tag}:messages:rate`,
      capacity: 5,
      intervalMs: 1e9,
      cost: 1,
    };
    const day = {
      type: 'window',
      key: `t:${tag}:messages:daily`,
      limit: 5,
      edgesMs: dayEdgesMs('UTC', Date.now()),
      cost: 1,
    } as const;
    await single.hset(settings, 'edition', 'pro');
    expect(await store.takeChecked([bucket, day], checkOf(settings, {}))).toEqual({ stored: { edition: 'pro' } });
    await expect(store.takeChecked([bucket, day], checkOf(settings, { edition: 'pro' }))).rejects.toThrow(
      'fewer than 1 replica(s) acknowledged the write within 10 ms; it was undone',
    );
    expect(
      await store.take([
        { ...bucket, cost: 0 },
        { ...day, cost: 0 },
      ]),
    ).toMatchObject([{ remaining: 5 }, { remaining: 5 }]);
  });

  it("rejects a reply that is not the readings then the settings' answer", () => {
    const reading = [1, 9, 100, 0];
    expect(checkedAnswerOf([...reading, 1], 1, fields)).toEqual([
      { allowed: true, remaining: 9, resetMs: 100, retryAfterMs: 0 },
    ]);
    expect(checkedAnswerOf([...reading, 0, 'pro', null, '{}'], 1, fields)).toEqual({
      stored: { edition: 'pro', overrides: '{}' },
    });
    expect(() => checkedAnswerOf(reading, 1, fields)).toThrow(/unexpected reply from the Redis script/);
    expect(() => checkedAnswerOf([...reading, 1, 'pro'], 1, fields)).toThrow(/unexpected reply/);
    expect(() => checkedAnswerOf([...reading, 0, 'pro'], 1, fields)).toThrow(/unexpected reply/);
    expect(() => checkedAnswerOf([...reading, 0, 'pro', 7, null], 1, fields)).toThrow(/unexpected reply/);
    expect(() => checkedAnswerOf([2, 9, 100, 0, 1], 1, fields)).toThrow(/unexpected reply/);
  });
});

/** The port of the Cluster node that holds `key`'s slot. */
async function portOf(key: string): Promise<number> {
  const slot = (await cluster.cluster('KEYSLOT', key)) as number;
  const range = (await cluster.cluster('SLOTS')).find(([from, to]) => slot >= from && slot <= to);
  const port = range?.[2]?.[1];
  if (port === undefined) throw new Error(`no node holds slot ${slot}`);
  return port;
}
