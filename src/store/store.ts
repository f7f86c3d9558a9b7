import type { MembershipLedger } from './ledger.js';

/**
 * A token bucket (GCRA): holds `capacity` tokens, refilled one every `intervalMs`.
 * A negative `cost` gives tokens back (never past `capacity`) and always passes.
 */
export interface BucketCheck {
  readonly type: 'bucket';
  readonly key: string;
  readonly capacity: number;
  readonly intervalMs: number;
  readonly cost: number;
}

/**
 * A calendar window: at most `limit` per window, the windows given by their edges, ascending ms
 * since the epoch (window i is [edgesMs[i], edgesMs[i + 1])), since a local day lasts 23, 24 or 25 h.
 * The store counts in the window that holds its own now (see `windowIndex`): the limiter sends the
 * days around its now, and the store's clock may be seconds apart. A negative `cost` gives back.
 */
export interface WindowCheck {
  readonly type: 'window';
  readonly key: string;
  readonly limit: number;
  readonly edgesMs: readonly number[];
  readonly cost: number;
}

export type Check = BucketCheck | WindowCheck;

/** What one check said. The numbers describe the state after the request (or as it stayed). */
export interface Reading {
  readonly allowed: boolean;
  /** Whole requests of cost 1 still admissible now. */
  readonly remaining: number;
  /** Until the bucket is full again, or the window ends. */
  readonly resetMs: number;
  /** Until this check would admit the request; 0 when it did. */
  readonly retryAfterMs: number;
}

/**
 * The store port: decides every check of one request in one round trip, all or nothing — tokens
 * are taken from every check only if every check passes. Time is the store's own.
 * May answer synchronously (the in-memory store does, to spare a promise per request).
 */
export interface Store {
  /** A store that decides in several calls (a Cluster's slots) notes in `progress` the key of the call it is on. */
  take(checks: readonly Check[], progress?: Progress): readonly Reading[] | Promise<readonly Reading[]>;
  /** The clock the store decides by, when this process knows it: window edges are computed around it. */
  readonly clock?: () => number;
  /** Forgets these buckets and windows: each reads full (or unused) again. Optional: `reset()` needs it. */
  reset?(keys: readonly string[]): void | Promise<void>;
  /**
   * The run-time settings held under `key` (`{}` when none). Optional: a store without it keeps
   * `setEdition` and `setOverrides` in the process that made them.
   */
  readSettings?(key: string): Settings | Promise<Settings>;
  /** Sets fields of the settings under `key`; a `null` field is removed. Kept until removed: no expiry. */
  writeSettings?(key: string, fields: Readonly<Record<string, string | null>>): void | Promise<void>;
  /**
   * `take`, in the same call as a comparison of the settings under `settings.key` (the app's, under
   * its hash tag) with what the caller assumed: when they are as assumed, the checks are decided and
   * their readings answered; when not, nothing is taken and the answer is what the store holds.
   * Optional: without it the limiter reads an app's settings in a call of their own (`readSettings`).
   */
  takeChecked?(
    checks: readonly Check[],
    settings: SettingsCheck,
    progress?: Progress,
  ): readonly Reading[] | SettingsDiffer | Promise<readonly Reading[] | SettingsDiffer>;
  /**
   * The membership ledger kept beside the buckets, under keys starting `keyPrefix`: what
   * `membership: 'ledger'` (the default) uses. Optional: without it memberships are counted in this
   * process, so the group and chat-room caps hold per process.
   */
  ledger?(keyPrefix: string): MembershipLedger;
  /**
   * `true` when other processes count in the same place (Redis, a database): a ledger kept in this
   * process beside it is then warned of (`WRN_LEDGER_PER_PROCESS`).
   */
  readonly shared?: boolean;
}

/** Where a call made of several calls got to: the failover blames a failure on that call's slot. */
export interface Progress {
  key?: string;
}

/** An app's run-time settings as a store keeps them: a few named texts. */
export type Settings = Readonly<Record<string, string>>;

/** The settings a `takeChecked` assumes: `fields` of those under `key`, each as in `expected` (absent there: not held). */
export interface SettingsCheck {
  readonly key: string;
  readonly fields: readonly string[];
  readonly expected: Settings;
}

/** `takeChecked`'s answer when the settings were not as assumed: nothing was taken. */
export interface SettingsDiffer {
  /** The checked fields the store holds (a field it does not hold is absent). */
  readonly stored: Settings;
}

/** The window of `edgesMs` that holds `nowMs`, as the index of its start; the first or last when outside. */
export function windowIndex(edgesMs: readonly number[], nowMs: number): number {
  let i = 0;
  while (i < edgesMs.length - 2 && nowMs >= (edgesMs[i + 1] as number)) i++;
  return i;
}
