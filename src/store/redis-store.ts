import { ConfigError, StoreError } from '../errors.js';
import type { Logger } from '../log.js';
import { checkEviction } from './eviction-check.js';
import { hashTagOf } from './keys.js';
import type { MembershipLedger } from './ledger.js';
import { LuaScript, notAcknowledged, type RedisClient, type ReplicaAck } from './lua-script.js';
import { RedisLedger } from './redis-ledger.js';
import type { Check, Progress, Reading, Settings, SettingsCheck, SettingsDiffer, Store } from './store.js';
import { takeScript } from './take-script.js';

export interface RedisStoreOptions {
  /** The application's ioredis client, `Redis` or `Cluster`; the store never connects or closes it. */
  readonly client: RedisClient;
  /**
   * Time in ms for the script instead of Redis `TIME`: for tests with a fake clock only. Redis still
   * expires keys by its own clock, so under a given clock every key lives an hour at least.
   */
  readonly clock?: () => number;
  /**
   * Replicas that must hold a membership reservation or a send's daily count before it is admitted
   * (Redis `WAIT`, pipelined with the script). Not acknowledged within `replicaTimeoutMs`: the write
   * is undone and the call fails (`onStoreError` decides). Default 0: not asked, so a failover may
   * lose what the replica had not yet received.
   */
  readonly replicas?: number;
  /** How long `WAIT` waits for the replicas; keep it below `storeTimeoutMs`. Default 20. */
  readonly replicaTimeoutMs?: number;
  /** Where the warning goes when Redis may evict the limiter's keys (`maxmemory-policy`). Default `console`. */
  readonly logger?: Logger;
}

const DEFAULT_REPLICA_TIMEOUT_MS = 20;

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
  /** Every process on this Redis counts in the same buckets. */
  readonly shared = true;
  /** The application's client, also where the membership ledger lives. */
  readonly client: RedisClient;
  /** Present only when given: otherwise the store decides by Redis `TIME`, which this process cannot read. */
  readonly clock?: () => number;
  /** Present when `replicas` is above 0: the writes a failover must not lose wait for them. */
  readonly replicaAck?: ReplicaAck;

  constructor(options: RedisStoreOptions) {
    this.client = options.client;
    if (options.clock !== undefined) this.clock = options.clock;
    const { replicas = 0, replicaTimeoutMs = DEFAULT_REPLICA_TIMEOUT_MS } = options;
    if (!Number.isSafeInteger(replicas) || replicas < 0) {
      throw new ConfigError('ERR_INVALID_OPTION', 'replicas', `must be a whole number, 0 or more (got ${replicas})`);
    }
    if (!Number.isSafeInteger(replicaTimeoutMs) || replicaTimeoutMs < 1) {
      // WAIT with 0 would wait for ever
      throw new ConfigError(
        'ERR_INVALID_OPTION',
        'replicaTimeoutMs',
        `must be a whole number of ms, 1 or more (got ${replicaTimeoutMs})`,
      );
    }
    if (replicas > 0) {
      if (typeof this.client.pipeline !== 'function') {
        throw new ConfigError(
          'ERR_INVALID_OPTION',
          'client',
          'must have pipeline() (an ioredis client does) when replicas is above 0',
        );
      }
      this.replicaAck = { replicas, timeoutMs: replicaTimeoutMs };
    }
    void checkEviction(this.client, options.logger ?? console);
  }

  take(checks: readonly Check[], progress?: Progress): Promise<readonly Reading[]> {
    if (!this.client.isCluster || checks.length === 1) return this.run(checks);
    const groups = bySlot(checks);
    return groups.length === 1 ? this.run(checks) : this.takeSlotBySlot(checks, groups, progress);
  }

  /**
   * `take` with the app's settings compared in the same script call (check kind 's'). On a Cluster
   * they go with the first check's slot, the app's: its settings share its hash tag.
   */
  takeChecked(
    checks: readonly Check[],
    settings: SettingsCheck,
    progress?: Progress,
  ): Promise<readonly Reading[] | SettingsDiffer> {
    if (!this.client.isCluster || checks.length === 1) return this.run(checks, settings);
    const groups = bySlot(checks);
    return groups.length === 1 ? this.run(checks, settings) : this.takeSlotBySlot(checks, groups, progress, settings);
  }

  /** Memberships beside the buckets; holds lapse by the store's clock (a test's, or Redis `TIME`). */
  ledger(keyPrefix: string): MembershipLedger {
    return new RedisLedger(this.client, keyPrefix, { clock: this.clock, replicaAck: this.replicaAck });
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

  private takeSlotBySlot(
    checks: readonly Check[],
    groups: ReadonlyArray<readonly Check[]>,
    progress: Progress | undefined,
  ): Promise<readonly Reading[]>;
  private takeSlotBySlot(
    checks: readonly Check[],
    groups: ReadonlyArray<readonly Check[]>,
    progress: Progress | undefined,
    settings: SettingsCheck,
  ): Promise<readonly Reading[] | SettingsDiffer>;
  /** The slots one after the other, the settings (if any) checked with the first: nothing is taken yet if they differ. */
  private async takeSlotBySlot(
    checks: readonly Check[],
    groups: ReadonlyArray<readonly Check[]>,
    progress: Progress | undefined,
    settings?: SettingsCheck,
  ): Promise<readonly Reading[] | SettingsDiffer> {
    const readings = new Map<Check, Reading>();
    for (const [index, group] of groups.entries()) {
      if (progress !== undefined) progress.key = (group[0] as Check).key; // a failure from here on is this slot's
      let answer: Reading[] | SettingsDiffer;
      try {
        answer = await this.run(group, index === 0 ? settings : undefined);
      } catch (error) {
        // the call may have failed before or after its script ran: the earlier slots' tokens go back either way
        await this.giveBack(groups.slice(0, index));
        throw error;
      }
      if (!Array.isArray(answer)) return answer; // the first slot's call: nothing was taken anywhere
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

  private run(checks: readonly Check[]): Promise<Reading[]>;
  private run(checks: readonly Check[], settings: SettingsCheck | undefined): Promise<Reading[] | SettingsDiffer>;
  private run(checks: readonly Check[], settings?: SettingsCheck): Promise<Reading[] | SettingsDiffer> {
    const keys = checks.map((check) => check.key);
    const args: Array<string | number> = [this.clock === undefined ? '' : this.clock()];
    for (const check of checks) {
      if (check.type === 'bucket') args.push('b', check.capacity, check.intervalMs, check.cost);
      else args.push('w', check.limit, check.cost, check.edgesMs.length, ...check.edgesMs);
    }
    if (settings !== undefined) {
      keys.push(settings.key);
      args.push('s', settings.fields.length);
      for (const field of settings.fields) {
        const expected = settings.expected[field];
        args.push(field, expected === undefined ? '' : `=${expected}`);
      }
    }
    if (this.replicaAck === undefined || !checks.some(countsAcrossFailover)) {
      return take.run(this.client, keys, args).then((reply) => parseAnswer(reply, checks.length, settings));
    }
    return this.runAcknowledged(checks, keys, args, settings, this.replicaAck);
  }

  /** The take, admitted only once the replicas hold it; otherwise undone, and the call fails. */
  private async runAcknowledged(
    checks: readonly Check[],
    keys: readonly string[],
    args: ReadonlyArray<string | number>,
    settings: SettingsCheck | undefined,
    ack: ReplicaAck,
  ): Promise<Reading[] | SettingsDiffer> {
    const { reply, acknowledged } = await take.runAcknowledged(this.client, keys, args, ack);
    const readings = parseAnswer(reply, checks.length, settings);
    if (!Array.isArray(readings)) return readings; // settings that differ: nothing was written
    if (acknowledged || !readings.every((reading) => reading.allowed)) return readings; // a refusal wrote nothing
    // should the undo fail too, the count stays on this master alone: too high, never too low
    await this.run(checks.map(refund)).catch(() => {});
    throw notAcknowledged(ack);
  }
}

/** A send's daily count: a failover must not lose it (the per-second buckets refill within a second anyway). */
const countsAcrossFailover = (check: Check): boolean => check.type === 'window' && check.cost > 0;

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
  if (!Array.isArray(reply) || reply.length !== count * FIELDS_PER_READING) throw unexpectedReply(reply);
  return readingsOf(reply, count);
}

/**
 * The reply of a take with the settings checked: the readings then 1 when the settings were as
 * assumed; else the readings of nothing taken, then 0 and each checked field as held (null: not held).
 */
export function parseCheckedReply(
  reply: unknown,
  count: number,
  fields: readonly string[],
): Reading[] | SettingsDiffer {
  const at = count * FIELDS_PER_READING;
  if (!Array.isArray(reply)) throw unexpectedReply(reply);
  const same = reply[at] === 1 && reply.length === at + 1;
  if (!same && (reply[at] !== 0 || reply.length !== at + 1 + fields.length)) throw unexpectedReply(reply);
  const readings = readingsOf(reply, count);
  if (same) return readings;
  const stored: Record<string, string> = {};
  for (let j = 0; j < fields.length; j++) {
    const held: unknown = reply[at + 1 + j];
    if (typeof held === 'string') stored[fields[j] as string] = held;
    else if (held !== null) throw unexpectedReply(reply);
  }
  return { stored };
}

function parseAnswer(reply: unknown, count: number, settings: SettingsCheck | undefined): Reading[] | SettingsDiffer {
  return settings === undefined ? parseReply(reply, count) : parseCheckedReply(reply, count, settings.fields);
}

function unexpectedReply(reply: unknown): StoreError {
  return new StoreError(
    'ERR_STORE_REPLY',
    `unexpected reply from the Redis script: ${JSON.stringify(reply)?.slice(0, 200)}`,
  );
}

/** The first `count` readings of a reply at least that long, four integers each. */
function readingsOf(reply: readonly unknown[], count: number): Reading[] {
  for (let i = 0; i < count * FIELDS_PER_READING; i++) if (!Number.isInteger(reply[i])) throw unexpectedReply(reply);
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
