import type { Express } from 'express';
import { Cluster, Redis } from 'ioredis';
import request from 'supertest';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { RedisStore } from '../../src/index.js';
import { sharedChecks } from '../../src/plan.js';
import { slotOf } from '../../src/store/slot.js';
import { appWith, FakeClock, linesInto } from '../helpers.js';
import { type RedisProcess, startCluster } from '../support/redis.js';

/**
 * A Redis Cluster of this file's own (a master is paused, a slot migrated here), and a limiter
 * under `deny` on it, so that every request the policy answers is a 503 that can be counted.
 */
let nodes: RedisProcess[];
/** A direct connection to each node, by port, for CLIENT PAUSE, CLUSTER SETSLOT and MIGRATE. */
const direct = new Map<number, Redis>();
let client: Cluster;
/** Each test's own limiter, so that no slot is down from the test before. */
let app: Express;
/** The store's clock, which the failover's one-second probe follows: a test moves it rather than waits. */
let clock: FakeClock;
const warnings: string[] = [];
const GLOBAL = 'imrl:{global}:files:downloads';

beforeAll(async () => {
  nodes = await startCluster();
  for (const { port } of nodes) {
    const node = new Redis({ port, host: '127.0.0.1' });
    node.on('error', () => {});
    direct.set(port, node);
  }
  // TRYAGAIN retried every 10 ms rather than 100: ioredis gives up within the store's timeout
  client = new Cluster(
    nodes.map(({ port }) => ({ host: '127.0.0.1', port })),
    { retryDelayOnTryAgain: 10 },
  );
  client.on('error', () => {});
});
beforeEach(() => {
  warnings.length = 0;
  clock = new FakeClock();
  app = appWith({
    store: new RedisStore({ client, clock: clock.now }),
    onStoreError: 'deny',
    storeTimeoutMs: 1000, // what marks a paused master's slots down; a healthy master answers in ms
    refusalCache: false,
    logger: linesInto(warnings),
    overrides: Object.fromEntries(
      Array.from({ length: 200 }, (_, i) => [`acme#a${i}`, { messages: { ratePerSecond: 1 / 3600, burst: 100 } }]),
    ),
  }).app;
});
afterAll(async () => {
  client?.disconnect();
  for (const node of direct.values()) node.disconnect();
  await Promise.all((nodes ?? []).map((node) => node.stop()));
});

const node = (port: number) => direct.get(port) as Redis;

/** The port of the master that serves `slot` now. */
async function masterOf(slot: number): Promise<number> {
  const ranges = await node(nodes[0]?.port as number).cluster('SLOTS');
  const port = ranges.find(([start, end]) => slot >= start && slot <= end)?.[2]?.[1];
  if (port === undefined) throw new Error(`no master serves slot ${slot}`);
  return port;
}

/** Apps `a<from>`, … with their slot, by the port of their master, `count` per master in slots of their own. */
async function appsByMaster(count: number, from: number): Promise<Map<number, Array<{ name: string; slot: number }>>> {
  const byMaster = new Map<number, Array<{ name: string; slot: number }>>();
  for (let i = from; i < from + 100; i++) {
    const slot = slotOf(`{acme#a${i}}`);
    const port = await masterOf(slot);
    const apps = byMaster.get(port) ?? [];
    if (apps.length < count && !apps.some((other) => other.slot === slot)) apps.push({ name: `a${i}`, slot });
    byMaster.set(port, apps);
  }
  return byMaster;
}

const get = async (path: string) => (await request(app).get(path)).status;
const send = (name: string) =>
  request(app)
    .post(`/acme/${name}/messages/users`)
    .send({ to: ['u'], type: 'txt', body: { msg: 'hi' } });

describe('a paused master', () => {
  it('sends only the calls for its keys to the policy: the downloads bucket failing affects downloads only', {
    timeout: 30_000,
  }, async () => {
    const paused = await masterOf(slotOf(GLOBAL));
    const byMaster = await appsByMaster(2, 0);
    const healthy = [...byMaster].filter(([port]) => port !== paused).flatMap(([, apps]) => apps);
    const beside = byMaster.get(paused)?.[0]; // an app whose keys live on the paused master
    expect(healthy).toHaveLength(4);
    if (beside === undefined) throw new Error('no app on the paused master');
    for (const { name } of [...healthy, beside]) expect(await get(`/acme/${name}/chatgroups`)).toBe(200);
    expect(await get(`/acme/${healthy[0]?.name}/chatfiles/f`)).toBe(200); // every master has the script

    warnings.length = 0;
    await node(paused).client('PAUSE', 20_000, 'WRITE');
    try {
      const rounds: number[][] = [];
      for (let round = 0; round < 3; round++) {
        const statuses: number[] = [];
        for (const { name } of healthy) statuses.push(await get(`/acme/${name}/chatgroups`));
        statuses.push(await get(`/acme/${healthy[1]?.name}/chatfiles/f`));
        statuses.push(await get(`/acme/${beside.name}/chatgroups`));
        for (const { name } of healthy) statuses.push(await get(`/acme/${name}/chatgroups`));
        rounds.push(statuses);
      }
      const once = [200, 200, 200, 200, 503, 503, 200, 200, 200, 200];
      expect(rounds).toEqual([once, once, once]);
      expect(warnings).toHaveLength(1); // the first slot down; the others add no line
      expect(warnings[0]).toMatch(
        /^im-rate-limit: WRN_STORE_DOWN: the store failed for slot \d+ \(the store did not answer within 1000 ms\)/,
      );
    } finally {
      await node(paused).client('UNPAUSE');
    }
  });
});

describe('a slot migrated under traffic', () => {
  it('refuses by the policy only the half-moved slot, then answers through ASK and MOVED', {
    timeout: 60_000,
  }, async () => {
    const byMaster = await appsByMaster(2, 100);
    const [[source = 0, [moving, beside] = []] = [], [target = 0, [elsewhere] = []] = []] = [...byMaster];
    if (moving === undefined || beside === undefined || elsewhere === undefined) {
      throw new Error('the cluster has three masters with two apps each');
    }
    for (let i = 0; i < 3; i++) expect((await send(moving.name)).status).toBe(200);
    for (const { name } of [beside, elsewhere]) expect(await get(`/acme/${name}/chatgroups`)).toBe(200);
    const ids = new Map<number, string>();
    for (const port of direct.keys()) ids.set(port, String(await node(port).cluster('MYID')));
    const { slot } = moving;
    const migrate = async (keys: string[]) => {
      await node(source).call('MIGRATE', '127.0.0.1', target, '', 0, 5000, 'KEYS', ...keys);
    };
    const keys = (await node(source).cluster('GETKEYSINSLOT', slot, 100)) as string[];
    expect(keys.sort()).toEqual([
      `imrl:{acme#${moving.name}}:messages:daily`,
      `imrl:{acme#${moving.name}}:messages:rate`,
    ]);

    await node(target).cluster('SETSLOT', slot, 'IMPORTING', ids.get(source) as string);
    await node(source).cluster('SETSLOT', slot, 'MIGRATING', ids.get(target) as string);
    await migrate([keys[1] as string]); // the rate bucket moved, the daily window not yet: TRYAGAIN

    warnings.length = 0;
    const during: number[] = [];
    during.push((await send(moving.name)).status); // redirected until ioredis gives up: the slot is down
    during.push(await get(`/acme/${beside.name}/chatgroups`)); // the same master, another slot
    during.push(await get(`/acme/${elsewhere.name}/chatgroups`));
    during.push(await get(`/acme/${moving.name}/chatgroups`)); // the down slot: the policy, at once
    during.push((await send(moving.name)).status);
    expect(during).toEqual([503, 200, 200, 503, 503]);
    expect(warnings).toEqual([
      expect.stringMatching(
        new RegExp(
          `^im-rate-limit: WRN_STORE_DOWN: the store failed for slot ${slot} \\(Redis failed: Too many Cluster redirections`,
        ),
      ),
    ]);

    // every key moved, the slot still MIGRATING: the source answers ASK, the target decides
    await migrate([keys[0] as string]);
    clock.advance(1000);
    const answered = await send(moving.name);
    expect(answered.status).toBe(200); // the probe, one second after the failure
    const remaining = Number(/"messages";r=(\d+)/.exec(String(answered.headers.ratelimit))?.[1]);
    expect(remaining).toBeLessThan(97); // the moved bucket, 4 sends taken: not a fresh one (99)
    expect(await node(source).cluster('COUNTKEYSINSLOT', slot)).toBe(0);
    expect(await node(target).cluster('COUNTKEYSINSLOT', slot)).toBe(2);

    // the slot assigned to its new master: MOVED, and ioredis learns the new map
    for (const port of direct.keys()) await node(port).cluster('SETSLOT', slot, 'NODE', ids.get(target) as string);
    const after = [(await send(moving.name)).status, await get(`/acme/${moving.name}/chatgroups`)];
    after.push(await get(`/acme/${beside.name}/chatgroups`), await get(`/acme/${elsewhere.name}/chatgroups`));
    expect(after).toEqual([200, 200, 200, 200]);
    expect(await masterOf(slot)).toBe(target);
    expect(warnings.at(-1)).toBe('im-rate-limit: WRN_STORE_BACK: the store answers again; limits are shared again');
  });
});

describe('a paused master holding one shard of the downloads bucket', () => {
  it('holds an app to its own files bucket, though its downloads are decided partly in Redis, partly in the fallback', {
    timeout: 30_000,
  }, async () => {
    // with shards an app's downloads span slots: had those of the paused shard's slot gone to the
    // fallback while the others went to Redis, the app would have taken its bucket in both places
    // (19 of 10 admitted). A download skips a shard whose slot is down while another's is up.
    const shards = sharedChecks('imrl', 300, 3).downloadShards;
    const shardMasters = await Promise.all(shards.map((shard) => masterOf(slotOf(shard.key))));
    const byMaster = await appsByMaster(1, 0);
    const [appMaster, [target] = []] = [...byMaster][0] ?? [];
    const paused = shardMasters.find((port) => port !== appMaster);
    if (target === undefined || paused === undefined) throw new Error('no app and shard on different masters');
    const fallbackApp = appWith({
      store: new RedisStore({ client, clock: clock.now }),
      onStoreError: 'fallback', // one process: the fallback holds the whole of each bucket
      storeTimeoutMs: 1000,
      refusalCache: false,
      clusterDownloadsShards: 3,
      logger: linesInto(warnings),
      overrides: { [`acme#${target.name}`]: { files: { ratePerSecond: 1 / 3600, burst: 10 } } },
    }).app;
    const download = async () => (await request(fallbackApp).get(`/acme/${target.name}/chatfiles/f`)).status;
    // every master knows the script: a download of another app tries each shard in turn
    const [, [warm] = []] = [...byMaster][1] ?? [];
    for (let i = 0; i < 3; i++)
      expect(await request(fallbackApp).get(`/acme/${warm?.name}/chatfiles/f`)).toMatchObject({ status: 200 });
    await node(paused).client('PAUSE', 20_000, 'WRITE');
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 30; i++) statuses.push(await download());
      // the app's files bucket holds 10 and refills one an hour: 10 admitted, wherever decided
      expect(statuses.filter((status) => status === 200)).toHaveLength(10);
    } finally {
      await node(paused).client('UNPAUSE');
    }
  });
});
