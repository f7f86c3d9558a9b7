import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ReplicatedCluster,
  SENTINEL_MASTER_NAME,
  type SentinelSet,
  startReplicatedCluster,
  startSentinelSet,
} from '../support/redis-ha.js';

// Plain ioredis, no library code: proves the failover infrastructure itself. Slow CI machines need the room.
const TIMEOUT = 60_000;

describe('a replicated Redis Cluster', () => {
  let cluster: ReplicatedCluster | undefined;
  let client: Cluster | undefined;
  beforeAll(async () => {
    cluster = await startReplicatedCluster();
  }, TIMEOUT);
  afterAll(async () => {
    client?.disconnect();
    await cluster?.stop();
  }, TIMEOUT);

  it('serves a slot again from the promoted replica after its master is SIGKILLed', { timeout: TIMEOUT }, async () => {
    if (cluster === undefined) throw new Error('the cluster did not start');
    client = new Cluster(cluster.nodes.map(({ port }) => ({ host: '127.0.0.1', port })));
    const key = 'failover:{slot}';
    await client.set(key, 'before');
    const before = await cluster.masterOf(key);

    await cluster.kill(before);
    const promoted = await cluster.waitForFailover(before);

    // The written key may or may not have reached the replica: only the slot's availability is asserted.
    await client.set(key, 'after');
    expect(await client.get(key)).toBe('after');
    const after = await cluster.masterOf(key);
    expect(after.port).not.toBe(before.port);
    expect(after).toBe(promoted);
  });
});

describe('a Sentinel set', () => {
  let set: SentinelSet | undefined;
  let client: Redis | undefined;
  beforeAll(async () => {
    set = await startSentinelSet();
  }, TIMEOUT);
  afterAll(async () => {
    client?.disconnect();
    await set?.stop();
  }, TIMEOUT);

  it('lets the same client write to the promoted replica after the master is SIGKILLed', {
    timeout: TIMEOUT,
  }, async () => {
    if (set === undefined) throw new Error('the sentinel set did not start');
    client = new Redis({ sentinels: [...set.sentinelAddresses], name: SENTINEL_MASTER_NAME });
    client.on('error', () => {}); // refused reconnects while the master is down; commands report their own errors
    await client.set('failover:sentinel', 'before');

    await set.kill(set.master);
    const promoted = await set.waitForPromotion(set.master.port);

    await client.set('failover:sentinel', 'after');
    const direct = new Redis({ host: '127.0.0.1', port: promoted.port });
    try {
      expect(promoted.port).toBe(set.replica.port);
      expect(await direct.info('replication')).toContain('role:master');
      expect(await direct.get('failover:sentinel')).toBe('after');
    } finally {
      direct.disconnect();
    }
  });
});
