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
    const t=performance.now(); cluster = await startReplicatedCluster(); console.log('TIMING cluster start', Math.round(performance.now()-t));
  }, TIMEOUT);
  afterAll(async () => {
    client?.disconnect();
    const t=performance.now(); await cluster?.stop(); console.log('TIMING cluster stop', Math.round(performance.now()-t));
  }, TIMEOUT);

  it('serves a slot again from the promoted replica after its master is SIGKILLed', { timeout: TIMEOUT }, async () => {
    if (cluster === undefined) throw new Error('the cluster did not start');
    client = new Cluster(cluster.nodes.map(({ port }) => ({ host: '127.0.0.1', port })));
    const key = 'failover:{slot}';
    await client.set(key, 'before');
    const before = await cluster.masterOf(key);

    let t=performance.now(); await cluster.kill(before);
    const promoted = await cluster.waitForFailover(before); console.log('TIMING cluster failover', Math.round(performance.now()-t)); t=performance.now();

    // The written key may or may not have reached the replica: only the slot's availability is asserted.
    await client.set(key, 'after');
    expect(await client.get(key)).toBe('after');
    const after = await cluster.masterOf(key);
    expect(after.port).not.toBe(before.port);
    expect(after).toBe(promoted); console.log('TIMING cluster after', Math.round(performance.now()-t));
  });
});

describe('a Sentinel set', () => {
  let set: SentinelSet | undefined;
  let client: Redis | undefined;
  beforeAll(async () => {
    const t=performance.now(); set = await startSentinelSet(); console.log('TIMING sentinel start', Math.round(performance.now()-t));
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
    await client.set('failover:sentinel', 'before');

    let t=performance.now(); await set.kill(set.master);
    const promoted = await set.waitForPromotion(set.master.port); console.log('TIMING sentinel promotion', Math.round(performance.now()-t)); t=performance.now();

    await client.set('failover:sentinel', 'after'); console.log('TIMING sentinel write after', Math.round(performance.now()-t));
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
