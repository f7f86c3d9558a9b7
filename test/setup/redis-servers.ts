import type {} from 'vitest';
import type { TestProject } from 'vitest/node';
import { startCluster, startRedis } from '../support/redis.js';

declare module 'vitest' {
  export interface ProvidedContext {
    redisPort: number;
    clusterPorts: number[];
  }
}

/** One real redis-server and one real 3-node Redis Cluster for the whole run, stopped by pid at the end. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const [single, cluster] = await Promise.all([startRedis(), startCluster()]);
  project.provide('redisPort', single.port);
  project.provide(
    'clusterPorts',
    cluster.map((node) => node.port),
  );
  return async () => {
    await Promise.all([single, ...cluster].map((server) => server.stop()));
  };
}
