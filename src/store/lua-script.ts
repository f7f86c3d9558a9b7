import { createHash } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { StoreError } from '../errors.js';

/** The part of an ioredis `Redis` or `Cluster` client the Redis adapters use. */
export type RedisClient = Pick<Redis | Cluster, 'evalsha' | 'eval' | 'smembers'> & { readonly isCluster?: boolean };

/**
 * A Lua script run by its SHA (computed here, never hard-coded); the source is sent again only when
 * Redis answers NOSCRIPT (after a restart, a failover or SCRIPT FLUSH). Every failure is a `StoreError`.
 */
export class LuaScript {
  private readonly sha: string;

  constructor(private readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  run(client: RedisClient, keys: readonly string[], args: ReadonlyArray<string | number>): Promise<unknown> {
    return client.evalsha(this.sha, keys.length, ...keys, ...args).catch((error: unknown) => {
      if (!String((error as Error | undefined)?.message).startsWith('NOSCRIPT')) throw redisError(error);
      return client.eval(this.source, keys.length, ...keys, ...args).catch((retryError: unknown) => {
        throw redisError(retryError);
      });
    });
  }
}

function redisError(error: unknown): StoreError {
  return new StoreError('ERR_STORE', `Redis failed: ${(error as Error | undefined)?.message ?? String(error)}`, {
    cause: error,
  });
}
