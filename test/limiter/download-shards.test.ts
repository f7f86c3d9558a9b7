import type { Server } from 'node:http';
import express from 'express';
import { Cluster, Redis } from 'ioredis';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { imRateLimit, type Options, RedisStore } from '../../src/index.js';
import { sharedChecks } from '../../src/plan.js';
import { slotOf } from '../../src/store/slot.js';
import { FakeClock, STORE_TIMEOUT_MS, serving } from '../helpers.js';
import { clusterClient } from '../support/clients.js';
import { type RedisProcess, startCluster } from '../support/redis.js';

const uuid = '8f7c6b2a-1d2e-11ee-9c5b-0242ac120002';
/** Apps whose own files buckets never refuse: only the cluster-wide bucket does. */
const apps = ['a0', 'a1', 'a2', 'a3'];
const overrides = Object.fromEntries(apps.map((app) => [`acme#${app}`, { files: { ratePerSecond: 1e4, burst: 1e6 } }]));
let prefixes = 0;

/**
 * `count` limiter processes on `client` under the store's fake `clock`, with a key prefix of their own
 * (Redis keeps the buckets of other tests); `download(p, app)` asks process p and resolves to the status.
 */
async function processes(client: Cluster, clock: FakeClock, count: number, options: Options) {
  const keyPrefix = `shards${process.pid}x${prefixes++}`;
  const limiters = Array.from({ length: count }, () =>
    imRateLimit({
      store: new RedisStore({ client, clock: clock.now }),
      overrides,
      keyPrefix,
      storeTimeoutMs: STORE_TIMEOUT_MS,
      ...options,
    }),
  );
  const servers = await Promise.all(
    limiters.map((limiter) =>
      serving(
        express().use(limiter, (_req, res) => {
          res.end('file bytes');
        }),
      ),
    ),
  );
  const download = async (p: number, app: string) =>
    (await request(servers[p] as Server).get(`/acme/${app}/chatfiles/${uuid}`)).status;
  /** Each app's run-time settings read (a script call of its own), so that a count of calls holds downloads alone. */
  const settingsRead = (names: readonly string[]) =>
    Promise.all(limiters.flatMap((limiter) => names.map((name) => limiter.inspect(`acme#${name}`))));
  return { download, settingsRead };
}

/** The master (its port) holding each key's slot, from the Cluster's own slot table. */
async function mastersOf(client: Cluster, keys: readonly string[]): Promise<number[]> {
  const table = await client.cluster('SLOTS');
  return keys.map((key) => {
    const slot = slotOf(key);
    const range = table.find(([first, last]) => slot >= first && slot <= last);
    return range?.[2]?.[1] as number;
  });
}

/**
 * The downloads of the bound test, by step: how far the clock moves, then how many each of two
 * processes asks, one after the other. Two floods, each well above 300/s from each process (0 to 4
 * each every 0 to 12 ms, after a burst), with a pause between that refills every shard.
 */
function timeline(): Array<[number, number]> {
  let state = 7;
  const next = (n: number) => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return Math.floor((state / 2147483648) * n);
  };
  const steps: Array<[number, number]> = [[0, 360]];
  const flood = (count: number) => {
    for (let i = 0; i < count; i++) steps.push([next(13), next(5) + next(5)]);
  };
  flood(150);
  steps.push([1500, 330]);
  flood(100);
  return steps;
}
const FLOODS = 2;

describe('the cluster-wide downloads bucket in shards, on the Redis Cluster', () => {
  const client = clusterClient();

  it('puts 3 shards on the 3 masters of a default-created Cluster, and 16 on them 6/5/5', async () => {
    const three = sharedChecks('imrl', 300, 3).downloadShards.map((shard) => shard.key);
    expect(new Set(await mastersOf(client, three)).size).toBe(3);
    const sixteen = await mastersOf(
      client,
      sharedChecks('imrl', 300, 16).downloadShards.map((shard) => shard.key),
    );
    const perMaster = [...new Set(sixteen)].map((port) => sixteen.filter((p) => p === port).length);
    expect(perMaster.sort()).toEqual([5, 5, 6]);
  });

  it('never admits more than one bucket could, nor fewer than it admits of the same downloads less 2 a shard per flood', async () => {
    /** Each download's admission time, on the same downloads, for one bucket and for 3 and 16 shards. */
    const admittedAt = new Map<number, number[]>();
    for (const shards of [1, 3, 16]) {
      const clock = new FakeClock();
      const { download } = await processes(client, clock, 2, { clusterDownloadsShards: shards });
      const times: number[] = [];
      let asked = 0;
      for (const [advanceMs, count] of timeline()) {
        clock.advance(advanceMs);
        for (let i = 0; i < count; i++, asked++) {
          if ((await download(asked % 2, apps[asked % apps.length] as string)) === 200) times.push(clock.nowMs);
        }
      }
      admittedAt.set(shards, times);
    }
    const one = admittedAt.get(1) as number[];
    for (const shards of [1, 3, 16]) {
      const times = admittedAt.get(shards) as number[];
      // one bucket of 300 a second: at most 300 at one instant, 300 + 300 × T in any T seconds
      expect(mostWithin(times, 0)).toBe(300); // each burst, at once
      expect(mostWithin(times, 1000)).toBeLessThanOrEqual(600);
      expect(mostWithin(times, 100)).toBeLessThanOrEqual(330);
      expect(times.length).toBeLessThanOrEqual(300 + (300 * ((times.at(-1) as number) - (times[0] as number))) / 1000);
      expect(times.length).toBeGreaterThanOrEqual(one.length - 2 * shards * FLOODS);
    }
    expect(admittedAt.get(3)?.length).toBeGreaterThan(1000); // the floods refused some: the bound was tested
  }, 120_000);
});

/** The most admitted within any `ms` (both ends in), from the sorted times. */
function mostWithin(times: readonly number[], ms: number): number {
  let most = 0;
  for (let first = 0, last = 0; last < times.length; last++) {
    while ((times[last] as number) - (times[first] as number) > ms) first++;
    most = Math.max(most, last - first + 1);
  }
  return most;
}

describe('a download flood, remembered', () => {
  /** A Cluster of this file's own: INFO commandstats counts exactly this file's calls. */
  let nodes: RedisProcess[];
  let client: Cluster;
  let admins: Redis[];
  beforeAll(async () => {
    nodes = await startCluster();
    admins = nodes.map(({ port }) => new Redis({ port, host: '127.0.0.1' }));
    client = new Cluster(nodes.map(({ port }) => ({ host: '127.0.0.1', port })));
  }, 60_000);
  afterAll(async () => {
    client?.disconnect();
    for (const admin of admins ?? []) admin.disconnect();
    await Promise.all((nodes ?? []).map((node) => node.stop()));
  });
  /** Script calls every master has served since the last reading. */
  const calls = async () => {
    let total = 0;
    for (const admin of admins) {
      const stats = await admin.info('commandstats');
      for (const match of stats.matchAll(/^cmdstat_(?:evalsha|eval):calls=(\d+)/gm)) total += Number(match[1]);
      await admin.config('RESETSTAT');
    }
    return total;
  };

  it('stops reaching the masters once every shard is remembered empty, and admits each token as it comes', async () => {
    const clock = new FakeClock();
    const { download, settingsRead } = await processes(client, clock, 1, { clusterDownloadsShards: 3 });
    const unremembering = await processes(client, clock, 1, { clusterDownloadsShards: 3, refusalCache: false });
    const unremembered = unremembering.download;
    await Promise.all([settingsRead(apps), unremembering.settingsRead(apps)]);
    const flood = async (of: typeof download, count: number) => {
      let admitted = 0;
      for (let i = 0; i < count; i++) if ((await of(0, apps[i % apps.length] as string)) === 200) admitted++;
      return admitted;
    };
    await calls();
    expect(await flood(download, 300)).toBe(300); // 100 a shard, each download the app's slot and a shard's
    expect(await calls()).toBe(600);
    // refused: 3 calls a shard tried (the app's slot, the shard, the app's token given back), two shards
    // for the first; one for the next, the third (the two others remembered); none after
    expect(await flood(download, 100)).toBe(0);
    expect(await calls()).toBe(9);
    // without remembered refusals each refused download tries two shards: 6 calls
    expect(await flood(unremembered, 300)).toBe(300);
    await calls();
    expect(await flood(unremembered, 100)).toBe(0);
    expect(await calls()).toBe(600);

    clock.advance(10); // a token in each shard (100 a second each)
    expect(await flood(download, 100)).toBe(3);
    expect(await calls()).toBe(6); // the three admitted; then each shard is remembered until its next token
    clock.advance(5);
    expect(await flood(download, 100)).toBe(0);
    expect(await calls()).toBe(0);
    clock.advance(5);
    expect(await flood(download, 100)).toBe(3);
  });

  it('remembers an app’s own files bucket refusing its downloads', async () => {
    const clock = new FakeClock();
    const { download, settingsRead } = await processes(client, clock, 1, {
      overrides: { 'acme#small': { files: { ratePerSecond: 1, burst: 2 } } },
    });
    await settingsRead(['small']);
    await calls();
    const statuses: number[] = [];
    for (let i = 0; i < 50; i++) statuses.push(await download(0, 'small'));
    expect(statuses.filter((status) => status === 200)).toHaveLength(2);
    expect(await calls()).toBe(2 * 2 + 1); // the app's slot refused the third: the shard not reached; then none
  });
});
