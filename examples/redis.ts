// The Redis clients and stores of docs/redis.md: type-checked by `npm run typecheck`, run by
// test/examples-redis.test.ts against a real redis-server and Redis Cluster.
import { imRateLimit, RedisStore } from 'im-rate-limit';
import { Cluster, Redis } from 'ioredis';

type Node = { host: string; port: number };

// #region clients
/** One Redis server. */
export const oneServer = (url: string) => new Redis(url); // 'redis://10.0.0.2:6379'

/**
 * A Redis Cluster, from any of its nodes: ioredis finds the others. `retryDelayOnTryAgain` well below
 * the limiter's `storeTimeoutMs` (ioredis's default is 100 ms), so that ioredis gives up on a
 * half-moved slot, rather than the timeout.
 */
export const cluster = (nodes: Node[]) => new Cluster(nodes, { retryDelayOnTryAgain: 10 });

/** A master and its replicas behind Sentinel: ioredis asks the sentinels where the master named 'im' is. */
export const sentinels = (nodes: Node[]) => new Redis({ sentinels: nodes, name: 'im' });
// #endregion

// #region limiter
export function limiterOn(client: Redis | Cluster) {
  client.on('error', () => {}); // else ioredis prints a stack trace per failed reconnect; the limiter logs the outage
  return imRateLimit({ store: new RedisStore({ client }) });
}
// #endregion

// #region replicas
/** Joins and a send's daily count are admitted only once one replica holds them (Redis WAIT, 20 ms at most). */
export const storeWaitingForAReplica = (client: Redis | Cluster) =>
  new RedisStore({ client, replicas: 1, replicaTimeoutMs: 20 });
// #endregion
