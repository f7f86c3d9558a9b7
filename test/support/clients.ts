import { Cluster, Redis } from 'ioredis';
import { afterAll, inject } from 'vitest';

/** A client of the run's redis-server, closed after the file's tests. */
export function singleClient(): Redis {
  const client = new Redis({ port: inject('redisPort'), host: '127.0.0.1' });
  afterAll(() => client.quit());
  return client;
}

/** A client of the run's 3-node Redis Cluster, closed after the file's tests. */
export function clusterClient(): Cluster {
  const client = new Cluster(inject('clusterPorts').map((port) => ({ host: '127.0.0.1', port })));
  afterAll(() => client.quit());
  return client;
}
