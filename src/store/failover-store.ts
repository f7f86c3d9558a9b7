import { monotonicNow } from '../clock.js';
import { StoreError } from '../errors.js';
import { type Logger, logWarning } from '../log.js';
import { andThen, isPending, type MaybePromise, settle } from '../maybe-async.js';
import { Deadlines } from './deadlines.js';
import { type FailurePolicy, failurePolicy, type StoreErrorPolicy } from './failure-policy.js';
import { MemoryStore } from './memory-store.js';
import type { Check, Progress, Reading, Settings, SettingsCheck, SettingsDiffer, Store } from './store.js';

/** While a part of the store is failing, one call in this long probes it; the rest go straight to the policy. */
const PROBE_INTERVAL_MS = 1000;

export interface FailoverOptions {
  /** A call slower than this counts as a failure. */
  readonly timeoutMs: number;
  readonly logger: Logger;
  /** What a failed call becomes (`failure-policy.ts`). */
  readonly policy: StoreErrorPolicy;
  /** Told of every failed call (probes included), with what it threw; a throw of its own is ignored. */
  readonly onFailure?: (error: unknown) => void;
  /** A key's Redis Cluster slot, when the store is a Cluster: health is then kept per slot. */
  readonly slotOf?: (key: string) => number;
  /** Milliseconds that never step back; `monotonicNow` unless a test gives its own. */
  readonly clock?: () => number;
}

/** Whether one part of the store (the whole store, or one Cluster slot) answers. */
export class Health {
  down = false;
  /** While down: when the next call may probe. */
  probeAt = 0;

  constructor(readonly name: string) {}
}

/**
 * The health of the shared store, as seen by every call made to it: buckets and the membership
 * ledger live on the same Redis, so they fail together. On a Redis Cluster each slot has a health
 * of its own, so that a slow, dead or migrating master (or one half-moved slot) sends only the calls
 * for its keys to the policy. A call that throws, rejects or outlives `timeoutMs` marks its part
 * down; while it is down one call a second probes it (the probe's slot is claimed before it is sent,
 * so calls arriving meanwhile do not wait on it) and the others go straight to their fallback; the
 * first call that succeeds marks it up again. One warning when the first part goes down, one when
 * the last comes back. No call ever waits longer than `timeoutMs` for the store. A write its replicas
 * did not acknowledge (`ERR_STORE_REPLICAS`) goes to the policy alone: the store answered.
 */
export class Failover {
  /** The health of a store that is not a Cluster, and of calls that name no key. */
  readonly whole = new Health('the store');
  private readonly slots = new Map<number, Health>();
  private downParts = 0;
  private readonly now: () => number;
  /** What a failed call becomes, asked by every caller of the failover. */
  readonly policy: FailurePolicy;
  /** Every call to the store waits `timeoutMs` at most: one queue of deadlines and one timer for them all. */
  readonly deadlines: Deadlines;

  constructor(readonly options: FailoverOptions) {
    this.now = options.clock ?? monotonicNow;
    this.policy = failurePolicy(options.policy);
    this.deadlines = new Deadlines(options.timeoutMs);
  }

  /** Whether some decisions are being made without the shared store. */
  get degraded(): boolean {
    return this.downParts > 0;
  }

  /** The health that answers for `key`: its slot's on a Cluster, else the whole store's. */
  healthOf(key: string): Health {
    const { slotOf } = this.options;
    if (slotOf === undefined) return this.whole;
    const slot = slotOf(key);
    let health = this.slots.get(slot);
    if (health === undefined) {
      health = new Health(`slot ${slot}`);
      this.slots.set(slot, health);
    }
    return health;
  }

  /** Whether a call for `key` would reach the store now: its part is up, or due for a probe. */
  reaches(key: string): boolean {
    const health = this.healthOf(key);
    return !health.down || this.now() >= health.probeAt;
  }

  /** `call`'s answer, or `fallback()`'s when the part of the store it goes to failed or is down. */
  run<T, F>(call: () => MaybePromise<T>, fallback: () => F, health: Health = this.whole): MaybePromise<T | F> {
    if (health.down) {
      const now = this.now();
      if (now < health.probeAt) return fallback();
      health.probeAt = now + PROBE_INTERVAL_MS; // this call probes: the next ones do not wait on it
    }
    let answer: MaybePromise<T>;
    try {
      answer = call();
    } catch (error) {
      return this.failed(health, error, fallback);
    }
    if (!isPending(answer)) return this.answered(health, answer);
    return this.deadlines.race<T, T | F>(
      answer,
      (value) => this.answered(health, value),
      (error) => this.failed(health, error, fallback),
    );
  }

  /**
   * As `run`, for a call made of calls to several parts one after the other (a Cluster's slots, in
   * the order of `parts`): it goes to the policy while any part is down and not due for a probe, and
   * a failure is blamed on the part it was calling when it failed (`progress.key`).
   */
  runAcross<T, F>(
    parts: readonly Health[],
    call: (progress: Progress) => MaybePromise<T>,
    fallback: () => F,
  ): MaybePromise<T | F> {
    let now = 0;
    for (const part of parts) {
      if (!part.down) continue;
      now ||= this.now();
      if (now < part.probeAt) return fallback();
    }
    for (const part of parts) if (part.down) part.probeAt = now + PROBE_INTERVAL_MS;
    const progress: Progress = {};
    /** The parts the call reached: those up to the one it last called. */
    const reached = (none: number): number =>
      progress.key === undefined ? none : Math.max(1, parts.indexOf(this.healthOf(progress.key)) + 1);
    const answered = (value: T): T => {
      const count = reached(parts.length);
      for (let i = 0; i < count; i++) this.answered(parts[i] as Health, value);
      return value;
    };
    const failed = (error: unknown): F => {
      const count = reached(1);
      for (let i = 0; i < count - 1; i++) this.answered(parts[i] as Health, undefined);
      return this.failed(parts[count - 1] as Health, error, fallback);
    };
    let answer: MaybePromise<T>;
    try {
      answer = call(progress);
    } catch (error) {
      return failed(error);
    }
    return isPending(answer)
      ? this.deadlines.race<T, T | F>(answer, answered, failed)
      : settle(answer, answered, failed);
  }

  private answered<T>(health: Health, value: T): T {
    if (health.down) {
      health.down = false;
      if (--this.downParts === 0) {
        logWarning(this.options.logger, 'WRN_STORE_BACK', 'the store answers again; limits are shared again');
      }
    }
    return value;
  }

  private failed<F>(health: Health, error: unknown, fallback: () => F): F {
    try {
      this.options.onFailure?.(error);
    } catch {
      // a hook that throws must not turn a store failure into a failed request
    }
    // the store answered, its replicas did not: this call goes to the policy, the others (buckets
    // that wait for no replica, other apps) are still decided in the store
    if (error instanceof StoreError && error.code === 'ERR_STORE_REPLICAS') {
      this.answered(health, undefined);
      return fallback();
    }
    health.probeAt = this.now() + PROBE_INTERVAL_MS;
    if (!health.down) {
      health.down = true;
      if (this.downParts++ === 0) {
        const where = health === this.whole ? '' : ` for ${health.name}`;
        logWarning(
          this.options.logger,
          'WRN_STORE_DOWN',
          `the store failed${where} (${describe(error)}); policy '${this.policy.name}' until it answers again`,
          { policy: this.policy.name, error: describe(error), ...(where === '' ? {} : { part: health.name }) },
        );
      }
    }
    return fallback();
  }
}

/**
 * The buckets through the failover: the shared store's readings while it answers; while it does not,
 * under `fallback` the same checks on per-process buckets, each holding `1 / processes` of its
 * figures (N processes on their own buckets would otherwise admit N times the limit), and under
 * `allow` or `deny` no readings at all (`undefined`), for the limiter to admit or refuse.
 */
export class FailoverStore {
  private fallback: MemoryStore | undefined;
  /** Where run-time settings live when the store cannot keep them: this process only. */
  private ownSettings: MemoryStore | undefined;
  /** Whether the store can compare an app's settings in the same call as a take (`takeChecked`). */
  readonly checksSettings: boolean;

  constructor(
    readonly store: Store,
    private readonly failover: Failover,
    private readonly processes: number,
  ) {
    this.checksSettings = store.takeChecked !== undefined;
  }

  /** `sharedOnly`: the shared store's readings or none, never this process's fallback buckets (`inspect`). */
  take(checks: readonly Check[], sharedOnly = false): MaybePromise<readonly Reading[] | undefined> {
    const onFallback = sharedOnly ? () => undefined : () => this.onFallback(checks);
    return this.run(checks, (progress) => this.store.take(checks, progress), onFallback);
  }

  /**
   * `take` with the app's settings compared in the same call (a store without `takeChecked` is not
   * asked this: `checksSettings`). When the store did not answer, the settings are `unread` and the
   * readings are the fallback's, as `take`'s.
   */
  takeChecked(
    checks: readonly Check[],
    settings: SettingsCheck,
  ): MaybePromise<readonly Reading[] | SettingsDiffer | SettingsUnread> {
    const { store } = this;
    return this.run(
      checks,
      (progress) => (store.takeChecked as NonNullable<Store['takeChecked']>).call(store, checks, settings, progress),
      () => ({ unread: this.onFallback(checks) }),
    );
  }

  /** A call for these checks through the failover: on their slot, or across theirs (a download on a Cluster). */
  private run<T, F>(
    checks: readonly Check[],
    call: (progress: Progress | undefined) => MaybePromise<T>,
    onFallback: () => F,
  ): MaybePromise<T | F> {
    const { failover } = this;
    if (failover.options.slotOf === undefined || checks.length === 0) {
      return failover.run(() => call(undefined), onFallback);
    }
    // on a Cluster: the slot of each check, as one health unless a check lives elsewhere (the downloads bucket)
    const first = failover.healthOf((checks[0] as Check).key);
    let parts: Health[] | undefined;
    for (let i = 1; i < checks.length; i++) {
      const part = failover.healthOf((checks[i] as Check).key);
      if (part === first || parts?.includes(part)) continue;
      parts ??= [first];
      parts.push(part);
    }
    if (parts === undefined) return failover.run(() => call(undefined), onFallback, first);
    return failover.runAcross(parts, call, onFallback);
  }

  /**
   * Forgets the keys in the shared store and in the fallback buckets: whether the shared store did
   * (false when it failed, is down, or cannot reset).
   */
  reset(keys: readonly string[]): MaybePromise<boolean> {
    this.fallback?.reset(keys);
    const reset = this.store.reset?.bind(this.store);
    if (reset === undefined) return false;
    // one app's keys: one slot
    return this.failover.run(
      () => done(reset(keys)),
      () => false,
      keys.length === 0 ? this.failover.whole : this.failover.healthOf(keys[0] as string),
    );
  }

  /** The settings under `key`, or `undefined` when the store did not answer. */
  readSettings(key: string): MaybePromise<Settings | undefined> {
    const read = this.store.readSettings?.bind(this.store);
    if (read === undefined) return this.settingsHere().readSettings(key);
    return this.failover.run(
      () => read(key),
      () => undefined,
      this.failover.healthOf(key),
    );
  }

  /** Whether the store took the settings (false when it failed or is down). */
  writeSettings(key: string, fields: Readonly<Record<string, string | null>>): MaybePromise<boolean> {
    const write = this.store.writeSettings?.bind(this.store);
    if (write === undefined) {
      this.settingsHere().writeSettings(key, fields);
      return true;
    }
    return this.failover.run(
      () => done(write(key, fields)),
      () => false,
      this.failover.healthOf(key),
    );
  }

  private settingsHere(): MemoryStore {
    this.ownSettings ??= new MemoryStore();
    return this.ownSettings;
  }

  private onFallback(checks: readonly Check[]): readonly Reading[] | undefined {
    if (!this.failover.policy.countsHere) return undefined;
    this.fallback ??= new MemoryStore({ logger: this.failover.options.logger });
    return this.fallback.take(this.processes === 1 ? checks : checks.map((check) => share(check, this.processes)));
  }
}

/** `takeChecked`'s answer when the store did not answer: the settings were not read; the fallback's readings, if any. */
export interface SettingsUnread {
  readonly unread: readonly Reading[] | undefined;
}

/** `true` once a store operation answering nothing has completed. */
const done = (answer: MaybePromise<void>): MaybePromise<true> => andThen(answer, completed);
const completed = (): true => true;

/** A check holding one process's share of its figures. */
function share(check: Check, processes: number): Check {
  if (check.type === 'window') return { ...check, limit: Math.max(1, Math.floor(check.limit / processes)) };
  return {
    ...check,
    capacity: Math.max(1, Math.floor(check.capacity / processes)),
    intervalMs: check.intervalMs * processes,
  };
}

export function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
