import { StoreError } from '../errors.js';
import { type Logger, logWarning } from '../log.js';
import { MemoryStore } from './memory-store.js';
import type { Check, Reading, Settings, Store } from './store.js';

/** While the store is failing, one call in this long probes it; the rest go straight to the fallback. */
const PROBE_INTERVAL_MS = 1000;

export interface FailoverOptions {
  /** A call slower than this counts as a failure. */
  readonly timeoutMs: number;
  readonly logger: Logger;
  /** What a failed call becomes: `fallback` decides on this process alone, the others answer nothing. */
  readonly policy: 'fallback' | 'allow' | 'deny';
  /** Told of every failed call (probes included), with what it threw; a throw of its own is ignored. */
  readonly onFailure?: (error: unknown) => void;
}

/**
 * The health of the shared store, as one view for every call made to it: buckets and the membership
 * ledger live on the same Redis, so they fail together. A call that throws, rejects or outlives
 * `timeoutMs` marks the store down; while it is down one call a second probes it and the others go
 * straight to their fallback without waiting; the first call that succeeds marks it up again. One
 * warning each way. No call ever waits longer than `timeoutMs` for the store.
 */
export class Failover {
  private down = false;
  private probeAt = 0;

  constructor(readonly options: FailoverOptions) {}

  /** Whether decisions are being made without the shared store. */
  get degraded(): boolean {
    return this.down;
  }

  /** `call`'s answer, or `fallback()`'s when the store failed or is down. */
  run<T, F>(call: () => T | Promise<T>, fallback: () => F): T | F | Promise<T | F> {
    if (this.down && Date.now() < this.probeAt) return fallback();
    let answer: T | Promise<T>;
    try {
      answer = call();
    } catch (error) {
      return this.failed(error, fallback);
    }
    if (!(answer instanceof Promise)) return this.answered(answer);
    return withTimeout(answer, this.options.timeoutMs).then(
      (value) => this.answered(value),
      (error: unknown) => this.failed(error, fallback),
    );
  }

  private answered<T>(value: T): T {
    if (this.down) {
      this.down = false;
      logWarning(this.options.logger, 'WRN_STORE_BACK', 'the store answers again; limits are shared again');
    }
    return value;
  }

  private failed<F>(error: unknown, fallback: () => F): F {
    this.probeAt = Date.now() + PROBE_INTERVAL_MS;
    try {
      this.options.onFailure?.(error);
    } catch {
      // a hook that throws must not turn a store failure into a failed request
    }
    if (!this.down) {
      this.down = true;
      logWarning(
        this.options.logger,
        'WRN_STORE_DOWN',
        `the store failed (${describe(error)}); policy '${this.options.policy}' until it answers again`,
        { policy: this.options.policy, error: describe(error) },
      );
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

  constructor(
    readonly store: Store,
    private readonly failover: Failover,
    private readonly processes: number,
  ) {}

  take(checks: readonly Check[]): readonly Reading[] | undefined | Promise<readonly Reading[] | undefined> {
    return this.failover.run(
      () => this.store.take(checks),
      () => this.onFallback(checks),
    );
  }

  /**
   * Forgets the keys in the shared store and in the fallback buckets: whether the shared store did
   * (false when it failed, is down, or cannot reset).
   */
  reset(keys: readonly string[]): boolean | Promise<boolean> {
    this.fallback?.reset(keys);
    const reset = this.store.reset?.bind(this.store);
    if (reset === undefined) return false;
    return this.failover.run(
      () => done(reset(keys)),
      () => false,
    );
  }

  /** The settings under `key`, or `undefined` when the store did not answer. */
  readSettings(key: string): Settings | undefined | Promise<Settings | undefined> {
    const read = this.store.readSettings?.bind(this.store);
    if (read === undefined) return this.settingsHere().readSettings(key);
    return this.failover.run(
      () => read(key),
      () => undefined,
    );
  }

  /** Whether the store took the settings (false when it failed or is down). */
  writeSettings(key: string, fields: Readonly<Record<string, string | null>>): boolean | Promise<boolean> {
    const write = this.store.writeSettings?.bind(this.store);
    if (write === undefined) {
      this.settingsHere().writeSettings(key, fields);
      return true;
    }
    return this.failover.run(
      () => done(write(key, fields)),
      () => false,
    );
  }

  private settingsHere(): MemoryStore {
    this.ownSettings ??= new MemoryStore();
    return this.ownSettings;
  }

  private onFallback(checks: readonly Check[]): readonly Reading[] | undefined {
    if (this.failover.options.policy !== 'fallback') return undefined;
    this.fallback ??= new MemoryStore({ logger: this.failover.options.logger });
    return this.fallback.take(this.processes === 1 ? checks : checks.map((check) => share(check, this.processes)));
  }
}

/** `true` once a store operation answering nothing has completed. */
const done = (answer: void | Promise<void>): true | Promise<true> =>
  answer instanceof Promise ? answer.then(() => true) : true;

/** A check holding one process's share of its figures. */
function share(check: Check, processes: number): Check {
  if (check.type === 'window') return { ...check, limit: Math.max(1, Math.floor(check.limit / processes)) };
  return {
    ...check,
    capacity: Math.max(1, Math.floor(check.capacity / processes)),
    intervalMs: check.intervalMs * processes,
  };
}

/**
 * Rejects when the store has not answered within `ms`. The verdict waits one turn of the event loop
 * past the timer, so a reply that arrived while this process was busy is not mistaken for a timeout.
 */
export function withTimeout<T>(promise: Promise<T>, ms: number, who = 'the store'): Promise<T> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => {
      setImmediate(() => {
        if (!settled) reject(new StoreError('ERR_STORE_TIMEOUT', `${who} did not answer within ${ms} ms`));
      });
    }, ms);
    promise.then(
      (value) => {
        settled = true;
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        settled = true;
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

export function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
