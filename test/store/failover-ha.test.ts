import type { Server } from 'node:http';
import express from 'express';
import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { imRateLimit, RedisStore } from '../../src/index.js';
import { linesInto } from '../helpers.js';
import { closeServer, listen } from '../support/raw-http.js';
import {
  type ReplicatedCluster,
  SENTINEL_MASTER_NAME,
  type SentinelSet,
  startReplicatedCluster,
  startSentinelSet,
} from '../support/redis-ha.js';
import { timedClient } from '../support/timed-client.js';

/** Starting six nodes and failing over take seconds on a slow CI machine. */
const TIMEOUT = 90_000;
const STORE_TIMEOUT_MS = 300;
/**
 * What a loaded machine may add to the store's timeout, three times over. A request that waited for
 * the failover would take seconds too, so the count of requests answered during it tells them apart.
 */
const MARGIN_MS = 2700;
const RECOVERED = 'im-rate-limit: WRN_STORE_BACK: the store answers again; limits are shared again';

/**
 * Runs a limiter on `client` behind a real server, kills the master that holds the app's keys with
 * traffic flowing, and checks what a client of the IM server sees throughout: every request is
 * answered, within the timeout, with no unhandled rejection; once the replica is promoted,
 * decisions land in Redis again (the bucket key reappears where the store now writes).
 */
async function failOverMidTraffic(client: Redis | Cluster, killMaster: () => Promise<() => Promise<void>>) {
  const warnings: string[] = [];
  const limiter = imRateLimit({
    store: new RedisStore({ client }),
    overrides: { 'ha#app': { groups: { ratePerSecond: 1, burst: 100_000 } } }, // no loop here empties it
    storeTimeoutMs: STORE_TIMEOUT_MS,
    logger: linesInto(warnings),
  });
  const server: Server = await listen(express().use(limiter, (_req, res) => res.json({ ok: true })));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/ha/app/chatgroups`;
  const key = 'imrl:{ha#app}:groups:rate';
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  const traffic = timedClient(url);
  const call = traffic.get;
  try {
    for (let i = 0; i < 10; i++) expect(await call()).toBe(200);
    expect(await client.exists(key)).toBe(1);

    const promoted = killMaster();
    let during = 0;
    let failedOver = false;
    void promoted.then(() => {
      failedOver = true;
    });
    while (!failedOver) {
      expect(await call()).toBe(200); // the per-process fallback decides meanwhile
      during++;
    }
    const afterwards = await promoted;
    await afterwards();
    // failure detection alone takes a second (node timeout, down-after): answered within the store's
    // timeout, requests go on meanwhile; one that waited for the failover would hold up the rest
    expect(during).toBeGreaterThanOrEqual(5);
    expect(traffic.slowestMs).toBeLessThan(STORE_TIMEOUT_MS + MARGIN_MS);

    // one request a second probes the store while it is down: call, a few times a second, until a probe finds it back
    await vi.waitFor(
      async () => {
        expect(await call()).toBe(200);
        expect(warnings.at(-1)).toBe(RECOVERED);
      },
      { timeout: 20_000, interval: 100 },
    );
    await client.del(key); // whatever the replica had, start from nothing: the next decision must write it
    expect(await call()).toBe(200);
    expect(await client.exists(key)).toBe(1);
    expect(unhandled).toEqual([]);
  } finally {
    process.off('unhandledRejection', onUnhandled);
    await closeServer(server);
  }
}

describe('a Redis Cluster with replicas, its master killed mid-traffic', () => {
  let cluster: ReplicatedCluster | undefined;
  let client: Cluster | undefined;
  beforeAll(async () => {
    cluster = await startReplicatedCluster();
  }, TIMEOUT);
  afterAll(async () => {
    client?.disconnect();
    await cluster?.stop();
  }, TIMEOUT);

  it('answers every request within the timeout, then decides in Redis again on the promoted replica', {
    timeout: TIMEOUT,
  }, async () => {
    const ha = cluster as ReplicatedCluster;
    client = new Cluster(ha.nodes.map(({ port }) => ({ host: '127.0.0.1', port })));
    client.on('error', () => {}); // the application's client: its reconnect errors are its own to log
    await failOverMidTraffic(client, async () => {
      const master = await ha.masterOf('imrl:{ha#app}:groups:rate');
      await ha.kill(master);
      const promoted = await ha.waitForFailover(master);
      return async () => {
        expect((await ha.masterOf('imrl:{ha#app}:groups:rate')).port).toBe(promoted.port);
      };
    });
  });
});

describe('a Sentinel set, its master killed mid-traffic', () => {
  let set: SentinelSet | undefined;
  let client: Redis | undefined;
  beforeAll(async () => {
    set = await startSentinelSet();
  }, TIMEOUT);
  afterAll(async () => {
    client?.disconnect();
    await set?.stop();
  }, TIMEOUT);

  it('answers every request within the timeout, then decides in Redis again on the promoted replica', {
    timeout: TIMEOUT,
  }, async () => {
    const ha = set as SentinelSet;
    client = new Redis({ sentinels: [...ha.sentinelAddresses], name: SENTINEL_MASTER_NAME });
    client.on('error', () => {}); // refused reconnects while the master is down: the application's to log
    await failOverMidTraffic(client, async () => {
      await ha.kill(ha.master);
      const promoted = await ha.waitForPromotion(ha.master.port);
      return async () => {
        expect(promoted.port).toBe(ha.replica.port);
        const direct = new Redis({ port: promoted.port, host: '127.0.0.1' });
        try {
          expect(await direct.info('replication')).toContain('role:master');
        } finally {
          direct.disconnect();
        }
      };
    });
  });
});
