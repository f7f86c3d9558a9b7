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
  /** Commands sent together, answered together: needed only with `replicas` (the script and its `WAIT`). */
  pipeline?(commands: Array<Array<string | number>>): { exec(): Promise<Array<[Error | null, unknown]> | null> };
}

/** A write counts once this many replicas hold it, asked with Redis `WAIT` for at most `timeoutMs`. */
export interface ReplicaAck {
  readonly replicas: number;
  readonly timeoutMs: number;
}

/** A script's reply, and whether the replicas asked for acknowledged its write in time. */
export interface AcknowledgedReply {
  readonly reply: unknown;
  readonly acknowledged: boolean;
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

  /** The script's reply; never throws, rejects with a `StoreError` (a client that throws included). */
  run(client: RedisClient, keys: readonly string[], args: ReadonlyArray<string | number>): Promise<unknown> {
    const unreachable = notConnected(client);
    if (unreachable !== undefined) return Promise.reject(unreachable);
    const retried = (error: unknown): Promise<unknown> => {
      if (!String((error as Error | undefined)?.message).startsWith('NOSCRIPT')) throw redisError(error);
      return call(() => client.eval(this.source, keys.length, ...keys, ...args)).catch(rethrown);
    };
    return call(() => client.evalsha(this.sha, keys.length, ...keys, ...args)).catch(retried);
  }

  /**
   * Runs the script and `WAIT` in one pipeline: one round trip, on the node that ran the script (a
   * Cluster pipeline goes to the node of its keys), plus the replicas' acknowledgement. A failed
   * `WAIT` (e.g. sent to a replica) counts as not acknowledged.
   */
  async runAcknowledged(
    client: RedisClient,
    keys: readonly string[],
    args: ReadonlyArray<string | number>,
    ack: ReplicaAck,
  ): Promise<AcknowledgedReply> {
    const unreachable = notConnected(client);
    if (unreachable !== undefined) throw unreachable;
    const send = (command: 'evalsha' | 'eval', script: string) => {
      if (client.pipeline === undefined) throw new StoreError('ERR_STORE', 'the Redis client has no pipeline()');
      return client
        .pipeline([
          [command, script, keys.length, ...keys, ...args],
          ['wait', ack.replicas, ack.timeoutMs],
        ])
        .exec();
    };
    try {
      let results = await send('evalsha', this.sha);
      if (String(results?.[0]?.[0]?.message).startsWith('NOSCRIPT')) results = await send('eval', this.source);
      const [scriptError, reply] = results?.[0] ?? [new Error('no reply to the script')];
      if (scriptError) throw scriptError;
      const [waitError, count] = results?.[1] ?? [new Error('no reply to WAIT')];
      return { reply, acknowledged: waitError === null && Number(count) >= ack.replicas };
    } catch (error) {
      throw error instanceof StoreError ? error : redisError(error);
    }
  }
}

/** A write the replicas did not acknowledge in time, and that was undone. */
export function notAcknowledged(ack: ReplicaAck): StoreError {
  return new StoreError(
    'ERR_STORE_REPLICAS',
    `fewer than ${ack.replicas} replica(s) acknowledged the write within ${ack.timeoutMs} ms; it was undone`,
  );
}

/** The states of an ioredis client that has lost its connection (refused, reset or closed) and not regained it. */
const disconnected = new Set(['reconnecting', 'close', 'end']);

/**
 * The error of a call to a client that has lost its connection, or `undefined` when it may be sent:
 * ioredis would queue the call until it connects again, and the failover would report a timeout.
 */
export function notConnected(client: RedisClient): StoreError | undefined {
  const status = client.status as string;
  if (!disconnected.has(status)) return undefined;
  return new StoreError(
    'ERR_STORE',
    `Redis is not connected: the connection was refused or closed (ioredis status '${status}')`,
  );
}

/** A client's call, a synchronous throw included as a rejection. */
function call(send: () => Promise<unknown>): Promise<unknown> {
  try {
    return send();
  } catch (error) {
    return Promise.reject(error);
  }
}

const rethrown = (error: unknown): never => {
  throw redisError(error);
};

function redisError(error: unknown): StoreError {
  return new StoreError('ERR_STORE', `Redis failed: ${(error as Error | undefined)?.message ?? String(error)}`, {
    cause: error,
  });
}
