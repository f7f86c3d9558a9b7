import { ConfigError } from '../errors.js';
import type { Logger } from '../log.js';
import { checkEviction } from './eviction-check.js';
import { hashTagOf } from './keys.js';
import type { MembershipLedger } from './ledger.js';
import { LuaScript, notAcknowledged, type RedisClient, type ReplicaAck } from './lua-script.js';
import { RedisLedger } from './redis-ledger.js';
import type { Check, Progress, Reading, Settings, SettingsCheck, SettingsDiffer, Store } from './store.js';
import { checkedAnswerOf, figuresOf, readingsOf, TakeBatcher } from './take-batch.js';
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

/**
 * Limits shared by every process on one Redis, Sentinel set or Redis Cluster. One Lua script
 * decides all the checks of a request (EVALSHA; the script is sent again only on NOSCRIPT, after a
 * restart, failover or SCRIPT FLUSH), in one call with the other requests of the same turn of the
 * event loop (`TakeBatcher`). Checks under different hash tags on a Cluster (an app's bucket
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
  /** Where decisions wait for the next call of the take script. */
  private readonly batcher: TakeBatcher;

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
    this.batcher = new TakeBatcher(take, this.client, this.clock);
    void checkEviction(this.client, options.logger ?? console);
  }

  take(checks: readonly Check[], progress?: Progress): Promise<readonly Reading[]> {
    if (checks.length === 0) return Promise.resolve([]); // no key: nothing to ask (an empty MGET fails)
    if (!this.client.isCluster || checks.length === 1) return this.run(checks);
    const groups = bySlot(checks);
    return groups.length === 1 ? this.run(checks) : this.takeSlotBySlot(checks, groups, progress);
  }

  /**
   * `take` with the app's settings compared in the same script call (check kind 's'), batched as
   * `take`. On a Cluster they go with the checks of the app's slot, first: its settings share its
   * hash tag, and when they differ no other slot has been reached.
   */
  takeChecked(
    checks: readonly Check[],
    settings: SettingsCheck,
    progress?: Progress,
  ): Promise<readonly Reading[] | SettingsDiffer> {
    if (!this.client.isCluster) return this.run(checks, settings);
    const groups = bySlot(checks);
    const tag = hashTagOf(settings.key);
    const own = groups.findIndex((group) => hashTagOf((group[0] as Check).key) === tag);
    if (own === -1) groups.unshift([]);
    else if (own > 0) groups.unshift(...groups.splice(own, 1));
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
      // a failure from here on is this slot's
      if (progress !== undefined) progress.key = group[0]?.key ?? (settings as SettingsCheck).key;
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

  /**
   * One request's checks in one slot, with its settings compared if given: in the next batch,
   * unless a failover must not lose them.
   */
  private run(checks: readonly Check[]): Promise<Reading[]>;
  private run(checks: readonly Check[], settings: SettingsCheck | undefined): Promise<Reading[] | SettingsDiffer>;
  private run(checks: readonly Check[], settings?: SettingsCheck): Promise<Reading[] | SettingsDiffer> {
    if (this.replicaAck === undefined || !checks.some(countsAcrossFailover)) {
      return settings === undefined ? this.batcher.take(checks) : this.batcher.takeChecked(checks, settings);
    }
    return this.runAcknowledged(checks, settings, this.replicaAck);
  }

  /** The take in a call of its own, admitted only once the replicas hold it; otherwise undone, and the call fails. */
  private async runAcknowledged(
    checks: readonly Check[],
    settings: SettingsCheck | undefined,
    ack: ReplicaAck,
  ): Promise<Reading[] | SettingsDiffer> {
    const keys: string[] = [];
    const texts: string[] = [];
    const figures = figuresOf(checks, keys, settings, texts);
    const args = [this.clock === undefined ? '' : this.clock(), figures, ...texts];
    const { reply, acknowledged } = await take.runAcknowledged(this.client, keys, args, ack);
    const readings =
      settings === undefined
        ? readingsOf(reply, checks.length)
        : checkedAnswerOf(reply, checks.length, settings.fields);
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
