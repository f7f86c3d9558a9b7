import { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { type RedisProcess, startRedis } from './redis.js';

/** A redis-server of one file's own and a client of it, both set before the file's tests run. */
export interface OwnRedis {
  readonly server: RedisProcess;
  readonly client: Redis;
}

/**
 * Starts a redis-server for the calling file alone, so that what it does there (CLIENT PAUSE, SLOWLOG,
 * CONFIG SET, an outage) reaches no other suite; stopped by pid after the file's tests.
 */
export function ownRedis(): OwnRedis {
  const own = {} as { server: RedisProcess; client: Redis };
  beforeAll(async () => {
    own.server = await startRedis();
    own.client = new Redis({ port: own.server.port, host: '127.0.0.1' });
    await own.client.ping();
  });
  afterAll(async () => {
    own.client?.disconnect();
    await own.server?.stop();
  });
  return own;
}
