import { StoreError } from '../errors.js';
import type { Logger } from '../log.js';
import { checkEviction } from './eviction-check.js';
import { hashTagOf } from './keys.js';
import { LuaScript, type RedisClient } from './lua-script.js';
import type { Check, Reading, Settings, Store } from './store.js';
import { takeScript } from './take-script.js';

export interface RedisStoreOptions {
  /** The application's ioredis client, `Redis` or `Cluster`; the store never connects or closes it. */
  readonly client: RedisClient;
  /**
   * Time in ms for the script instead of Redis `TIME`: for tests with a fake clock only. Redis still
   * expires keys by its own clock, so under a given clock every key lives an hour at least.
   */
  readonly clock?: () => number;
  /** Where the warning goes when Redis may evict the limiter's keys (`maxmemory-policy`). Default `console`. */
  readonly logger?: Logger;
}

const take = new LuaScript(takeScript);
// scripts rather than plain commands, so the client needs nothing more than EVALSHA, and errors are `StoreError`s
const del = new LuaScript(`return redis.call('DEL', unpack(KEYS))`);
const readHash = new LuaScript(`return redis.call('HGETALL', KEYS[1])`);
/** ARGV: field, value, …; an empty value removes the field. */
const writeHash = new LuaScript(`
for i = 1, #ARGV, 2 do
  if ARGV[i + 1] == '' then redis.call('HDEL', KEYS[1], ARGV[i]) else redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
end
return 1
`);
const FIELDS_PER_READING = 4;

/**
 * Limits shared by every process on one Redis, Sentinel set or Redis Cluster. One Lua script
 * decides all the checks of a request (EVALSHA; the script is sent again only on NOSCRIPT, after a
 * restart, failover or SCRIPT FLUSH). Checks under different hash tags on a Cluster (an app's bucket
 * and the cluster-wide downloads bucket) are decided one slot after the other; a refusal or a failed
 * call in a later slot gives back what the earlier ones took, so the request still takes all or nothing.
 */
export class RedisStore implements Store {
  /** The application's client, also where the membership ledger lives. */
  readonly client: RedisClient;
  /** Present only when given: otherwise the store decides by Redis `TIME`, which this process cannot read. */
  readonly clock?: () => number;

  constructor(options: RedisStoreOptions) {
    this.client = options.client;
    if (options.clock !== undefined) this.clock = options.clock;
    void checkEviction(this.client, options.logger ?? console);
  }

  take(checks: readonly Check[]): Promise<readonly Reading[]> {
    if (!this.client.isCluster || checks.length === 1) return this.run(checks);
    const groups = bySlot(checks);
    return groups.length === 1 ? this.run(checks) : this.takeSlotBySlot(checks, groups);
  }

  /** Deletes the keys; one app's keys share a hash tag, so this is one call on a Cluster too. */
  async reset(keys: readonly string[]): Promise<void> {
    if (keys.length > 0) await del.run(this.client, keys, []);
  }

  /** Settings are a hash under the app's hash tag, without expiry. */
  async readSettings(key: string): Promise<Settings> {
    const flat = await readHash.run(this.client, [key], []);
    const settings: Record<string, string> = {};
    if (Array.isArray(flat))
      for (let i = 0; i + 1 < flat.length; i += 2) settings[String(flat[i])] = String(flat[i + 1]);
    return settings;
  }

  async writeSettings(key: string, fields: Readonly<Record<string, string | null>>): Promise<void> {
    const args = Object.entries(fields).flatMap(([field, value]) => [field, value ?? '']);
    await writeHash.run(this.client, [key], args);
  }

  private async takeSlotBySlot(
    checks: readonly Check[],
    groups: ReadonlyArray<readonly Check[]>,
  ): Promise<readonly Reading[]> {
    const readings = new Map<Check, Reading>();
    for (const [index, group] of groups.entries()) {
      let answer: Reading[];
      try {
        answer = await this.run(group);
      } catch (error) {
        // the call may have failed before or after its script ran: the earlier slots' tokens go back either way
        await this.giveBack(groups.slice(0, index));
        throw error;
      }
      for (let i = 0; i < group.length; i++) readings.set(group[i] as Check, answer[i] as Reading);
      if (!answer.every((reading) => reading.allowed)) {
        await this.giveBack(groups.slice(0, index));
        break;
      }
    }
    return checks.map((check) => readings.get(check) ?? notReached);
  }

  /** Refunds what earlier slots took; a refund that fails too is lost, as the request's own call was. */
  private async giveBack(taken: ReadonlyArray<readonly Check[]>): Promise<void> {
    await Promise.allSettled(taken.map((group) => this.run(group.map(refund))));
  }

  private run(checks: readonly Check[]): Promise<Reading[]> {
    const keys = checks.map((check) => check.key);
    const args: Array<string | number> = [this.clock === undefined ? '' : this.clock()];
    for (const check of checks) {
      if (check.type === 'bucket') args.push('b', check.capacity, check.intervalMs, check.cost);
      else args.push('w', check.limit, check.cost, check.edgesMs.length, ...check.edgesMs);
    }
    return take.run(this.client, keys, args).then((reply) => parseReply(reply, checks.length));
  }
}

/** A check in a later slot that a refusal in an earlier one kept the request from reaching. */
const notReached: Reading = Object.freeze({ allowed: true, remaining: 0, resetMs: 0, retryAfterMs: 0 });
const refund = (check: Check): Check => ({ ...check, cost: -check.cost });

/** Checks grouped by hash tag, in the order each tag first appears. */
function bySlot(checks: readonly Check[]): Check[][] {
  const groups = new Map<string, Check[]>();
  for (const check of checks) {
    const tag = hashTagOf(check.key);
    const group = groups.get(tag);
    if (group === undefined) groups.set(tag, [check]);
    else group.push(check);
  }
  return [...groups.values()];
}

/** The script's reply, checked: four integers per check, allowed being 0 or 1. */
export function parseReply(reply: unknown, count: number): Reading[] {
  if (!Array.isArray(reply) || reply.length !== count * FIELDS_PER_READING || !reply.every(Number.isInteger)) {
    throw new StoreError(
      'ERR_STORE_REPLY',
      `unexpected reply from the Redis script: ${JSON.stringify(reply)?.slice(0, 200)}`,
    );
  }
  const readings: Reading[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const at = i * FIELDS_PER_READING;
    const allowed = reply[at] as number;
    const remaining = reply[at + 1] as number;
    const resetMs = reply[at + 2] as number;
    const retryAfterMs = reply[at + 3] as number;
    if ((allowed !== 0 && allowed !== 1) || remaining < 0) {
      throw new StoreError('ERR_STORE_REPLY', `unexpected reading from the Redis script: ${JSON.stringify(reply)}`);
    }
    readings[i] = { allowed: allowed === 1, remaining, resetMs, retryAfterMs };
  }
  return readings;
}
