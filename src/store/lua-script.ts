import { createHash } from 'node:crypto';
import { StoreError } from '../errors.js';

/**
 * The part of an ioredis `Redis` or `Cluster` client the Redis adapters use, written out so that a
 * project without ioredis type-checks this package's declarations (an ioredis client is one).
 */
export interface RedisClient {
  evalsha(sha: string, numKeys: number, ...keysAndArgs: Array<string | number>): Promise<unknown>;
  eval(script: string, numKeys: number, ...keysAndArgs: Array<string | number>): Promise<unknown>;
  /** `true` on a Redis Cluster client, whose keys of different hash tags cannot share a call. */
  readonly isCluster?: boolean;
  /** ioredis's connection state: `ready` once connected; `reconnecting` after a refused or closed connection. */
  readonly status?: string;
}

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
    // ioredis would queue the call until it connects again, and the failover would report a timeout
    if (disconnected.has(client.status as string)) return Promise.reject(notConnected(client.status as string));
    return client.evalsha(this.sha, keys.length, ...keys, ...args).catch((error: unknown) => {
      if (!String((error as Error | undefined)?.message).startsWith('NOSCRIPT')) throw redisError(error);
      return client.eval(this.source, keys.length, ...keys, ...args).catch((retryError: unknown) => {
        throw redisError(retryError);
      });
    });
  }
}

/** The states of an ioredis client that has lost its connection (refused, reset or closed) and not regained it. */
const disconnected = new Set(['reconnecting', 'close', 'end']);

function notConnected(status: string): StoreError {
  return new StoreError(
    'ERR_STORE',
    `Redis is not connected: the connection was refused or closed (ioredis status '${status}')`,
  );
}

function redisError(error: unknown): StoreError {
  return new StoreError('ERR_STORE', `Redis failed: ${(error as Error | undefined)?.message ?? String(error)}`, {
    cause: error,
  });
}
