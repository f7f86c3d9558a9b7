import type {} from 'vitest';
import type { TestProject } from 'vitest/node';
import { type RedisProcess, startCluster, startRedis } from '../support/redis.js';

declare module 'vitest' {
  export interface ProvidedContext {
    redisPort: number;
    clusterPorts: number[];
  }
}

/** One real redis-server and one real 3-node Redis Cluster for the whole run, stopped by pid at the end. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started = await Promise.allSettled([startRedis(), startCluster()]);
  const servers = started.flatMap((result) =>
    result.status === 'fulfilled' ? (Array.isArray(result.value) ? result.value : [result.value]) : [],
  );
  const failed = started.find((result) => result.status === 'rejected');
  if (failed !== undefined) {
    await Promise.all(servers.map((server) => server.stop())); // leave nothing running behind a failed setup
    throw failed.reason;
  }
  const [single, cluster] = started.map((result) => (result as PromiseFulfilledResult<unknown>).value) as [
    RedisProcess,
    RedisProcess[],
  ];
  project.provide('redisPort', single.port);
  project.provide(
    'clusterPorts',
    cluster.map((node) => node.port),
  );
  return async () => {
    await Promise.all([single, ...cluster].map((server) => server.stop()));
  };
}
