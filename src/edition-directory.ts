import type { Request } from 'express';
import { BoundedMap } from './bounded-map.js';
import { monotonicNow } from './clock.js';
import { assertEdition, assertMode, type Config, parseOverrides } from './config.js';
import type { Overrides } from './limits/table.js';
import { type LogCode, type Logger, logWarning } from './log.js';
import { andThen, isPending } from './maybe-async.js';
import type { Edition, Mode } from './options.js';
import { withTimeout } from './store/deadlines.js';
import { describe, type FailoverStore } from './store/failover-store.js';
import { settingsKey } from './store/keys.js';
import type { Settings, SettingsCheck } from './store/store.js';

/** The run-time settings every app shares (the mode): app keys hold a `#`, so no app is named so. */
const EVERY_APP = 'every-app';

/** A failed answer is asked for again after this, not on every request. */
const RETRY_FAILED_MS = 1000;

/** The fields of an app's settings (`settingsKey`) this library reads, and a settings check compares. */
const SETTINGS_FIELDS: readonly string[] = Object.freeze(['edition', 'mode', 'overrides']);

/**
 * A request's store calls that carry a check of the app's settings: the first, and one more after
 * settings that differed (they changed again meanwhile only if another process changed them twice
 * within two calls); a call after that decides by what the last one answered.
 */
const CHECKED_CALLS = 2;

/** What an app's rules are made of. */
export interface AppSettings {
  readonly edition: Edition;
  readonly overrides: Overrides | undefined;
}

/** What `setEdition`, `setOverrides` and `setMode` chose for one app (or every app), as the store holds it. */
interface RunTime {
  readonly edition?: Edition;
  readonly mode?: Mode;
  readonly overrides?: Overrides;
  /**
   * The fields as the store holds them, as far as this process knows, a value ignored included: what
   * a check of the settings assumes. An unchanged `overrides` text keeps its object, and with it the
   * app's plan.
   */
  readonly stored: Settings;
}

/** An app with no run-time settings: one object for all of them. */
const NONE: RunTime = Object.freeze({ stored: Object.freeze({}) });

/**
 * The app's run-time settings a request assumed, for its store call to check (`Store.takeChecked`);
 * the answer goes back to `EditionDirectory.checked`.
 */
export interface AssumedSettings extends SettingsCheck {
  readonly appKey: string;
  /** The last known, if any: what the settings are assumed to be (none without). */
  readonly previous: RunTime | undefined;
  readonly assumed: RunTime;
  /** The choices made in this process when it was sent: a choice made since is newer than its answer. */
  readonly choices: number;
  /** Which of the request's checked calls this is, from 1. */
  readonly call: number;
}

/** Where the request path is told to check the settings it assumed in its store call. */
export interface SettingsCheckSink {
  settingsCheck: AssumedSettings | undefined;
}

interface Entry<T> {
  value: T | Promise<T>;
  /** The last answer that came, for `known` while the next is pending. */
  settled: T | undefined;
  expiresAt: number;
}

interface AppCacheOptions<T> {
  /** What `ttlMs` is measured by: monotonic, or a test's fake clock. */
  readonly clock: () => number;
  readonly ttlMs: number;
  readonly maxEntries: number;
  /** An answer that has not come within this long has failed; none when the asker times itself. */
  readonly timeoutMs?: number;
  /** What a failed answer is replaced by; `previous` is the app's last answer. */
  readonly fallback: (appKey: string, why: string, previous: T | undefined) => T;
}

/**
 * One answer per app from somewhere slow or fallible (a resolver, a database, the store), kept for
 * `ttlMs`; concurrent requests share one pending call. An answer that throws, rejects or has not
 * come within `timeoutMs` is replaced by `fallback`, and asked for again a second later.
 */
class AppCache<T> {
  private readonly entries: BoundedMap<string, Entry<T>>;
  /** How many answers were chosen here (`set`): an answer to a call sent before the last is older than it. */
  private chosen = 0;

  constructor(private readonly options: AppCacheOptions<T>) {
    this.entries = new BoundedMap(options.maxEntries);
  }

  /** The last answer, without asking. */
  known(appKey: string): T | undefined {
    return this.entries.get(appKey)?.settled;
  }

  /**
   * The answer (perhaps pending) while it stands; once it is due to be asked again, what `stale`
   * makes of the last answer, asking no one and keeping nothing.
   */
  freshOr<C>(
    appKey: string,
    stale: (appKey: string, previous: T | undefined, context: C) => T,
    context: C,
  ): T | Promise<T> {
    const cached = this.entries.get(appKey);
    if (cached !== undefined && cached.expiresAt > this.options.clock()) return cached.value;
    return stale(appKey, cached?.settled, context);
  }

  get choices(): number {
    return this.chosen;
  }

  /**
   * An answer that came with another call (a take), kept as if it had been asked for, unless a choice
   * was made here since that call was sent (`choices` then).
   */
  answered(appKey: string, value: T, choicesThen: number): void {
    if (choicesThen !== this.chosen) return;
    this.put(appKey, { value, settled: value, expiresAt: this.options.clock() + this.options.ttlMs });
  }

  /** A call that should have brought the answer failed: its fallback, kept a second, as a failed ask's. */
  unanswered(appKey: string, why: string, previous: T | undefined, choicesThen: number): T {
    const value = this.options.fallback(appKey, why, previous);
    if (choicesThen === this.chosen) {
      this.put(appKey, { value, settled: value, expiresAt: this.options.clock() + RETRY_FAILED_MS });
    }
    return value;
  }

  /** The answer while it stands, else `ask`'s (given the last answer and `context`: a caller on the hot path makes `ask` once). */
  get<C>(appKey: string, ask: (previous: T | undefined, context: C) => T | Promise<T>, context?: C): T | Promise<T> {
    const now = this.options.clock();
    const cached = this.entries.get(appKey);
    if (cached !== undefined && cached.expiresAt > now) return cached.value;
    const previous = cached?.settled;
    // `value` is the pending answer, set once asked: the entry is what a late answer settles
    const entry: Entry<T> = { value: previous as T, settled: previous, expiresAt: now + this.options.ttlMs };
    this.put(appKey, entry);
    entry.value = this.ask(appKey, ask, context as C, entry, previous);
    return entry.value;
  }

  /** An answer chosen here and now, kept as if it had been asked for. */
  set(appKey: string, value: T): void {
    this.chosen++;
    this.put(appKey, { value, settled: value, expiresAt: this.options.clock() + this.options.ttlMs });
  }

  /** Latest last, so that the oldest goes first past `maxEntries`. */
  private put(appKey: string, entry: Entry<T>): void {
    this.entries.delete(appKey);
    this.entries.set(appKey, entry);
  }

  private ask<C>(
    appKey: string,
    ask: (previous: T | undefined, context: C) => T | Promise<T>,
    context: C,
    entry: Entry<T>,
    previous: T | undefined,
  ): T | Promise<T> {
    const settle = (value: T): T => {
      entry.value = value;
      entry.settled = value;
      return value;
    };
    const fail = (error: unknown): T => {
      entry.expiresAt = this.options.clock() + RETRY_FAILED_MS;
      return settle(this.options.fallback(appKey, describe(error), previous));
    };
    let answer: T | Promise<T>;
    try {
      answer = ask(previous, context);
    } catch (error) {
      return fail(error);
    }
    if (!isPending(answer)) {
      entry.settled = answer; // `value` is set to it by `get`
      return answer;
    }
    const { timeoutMs } = this.options;
    return (timeoutMs === undefined ? answer : withTimeout(answer, timeoutMs, 'it')).then(settle, fail);
  }
}

/**
 * Which edition and overrides each app is on. A run-time choice (`setEdition`, `setOverrides`) comes
 * first: it is written to the store and read back once per app per `editionCacheMs`, so every process
 * sharing the store follows it within that time. Then the configured value, or the resolver (for the
 * edition) and the source (for overrides), each asked once per app per `editionCacheMs` with
 * concurrent requests sharing one call. A resolver or source that fails, answers what the table
 * cannot take, or has not answered within `resolverTimeoutMs` leaves the app on the table's first
 * (most restrictive) edition, or on the table's figures, until the next try a second later, with a
 * warning.
 */
export class EditionDirectory {
  private readonly warn: Warn;
  private readonly runTime: AppCache<RunTime>;
  /** Every app's settings (its mode), kept apart: a flood of invented apps cannot evict them. */
  private readonly everyAppRunTime: AppCache<RunTime>;
  private readonly resolved: AppCache<Edition>;
  private readonly sourced: AppCache<Overrides | undefined>;
  /**
   * The `overrides` option by app, in a Map: a property lookup would first intern each app key a
   * request names (a hash-table insert, and a string kept, per app).
   */
  private readonly optionOverrides: ReadonlyMap<string, Overrides>;

  constructor(
    private readonly config: Config,
    private readonly store: FailoverStore,
  ) {
    const { editionCacheMs: ttlMs, maxCachedApps: maxEntries, resolverTimeoutMs: timeoutMs, logger } = config;
    this.optionOverrides = new Map(Object.entries(config.overrides));
    // the store's clock when a test gave it one, so that moving it ages the answers too
    const clock = config.store.clock ?? monotonicNow;
    const warn = throttled(logger, clock);
    this.warn = warn;
    const runTimeFallback: AppCacheOptions<RunTime>['fallback'] = (appKey, why, previous) => {
      const meanwhile =
        previous === undefined ? 'using the configured edition and overrides' : 'keeping the last known';
      const whose = appKey === EVERY_APP ? 'every app' : JSON.stringify(appKey);
      warn(
        'WRN_SETTINGS_UNREAD',
        `reading the run-time settings of ${whose} failed (${why}); ${meanwhile} until it answers`,
        {
          ...(appKey === EVERY_APP ? {} : { appKey }),
          error: why,
        },
      );
      return previous ?? NONE;
    };
    this.runTime = new AppCache<RunTime>({ clock, ttlMs, maxEntries, fallback: runTimeFallback });
    this.everyAppRunTime = new AppCache<RunTime>({ clock, ttlMs, maxEntries: 1, fallback: runTimeFallback });
    const fallbackEdition = config.editions[0] as Edition;
    this.resolved = new AppCache<Edition>({
      clock,
      ttlMs,
      maxEntries,
      timeoutMs,
      fallback: (appKey, why) => {
        warn(
          'WRN_RESOLVER_FAILED',
          `the edition resolver failed for ${JSON.stringify(appKey)} (${why}); using ${fallbackEdition}`,
          { appKey, error: why, edition: fallbackEdition },
        );
        return fallbackEdition;
      },
    });
    this.sourced = new AppCache<Overrides | undefined>({
      clock,
      ttlMs,
      maxEntries,
      timeoutMs,
      fallback: (appKey, why) => {
        warn(
          'WRN_OVERRIDES_SOURCE_FAILED',
          `the overrides source failed for ${JSON.stringify(appKey)} (${why}); using the table's figures`,
          { appKey, error: why },
        );
        return undefined;
      },
    });
  }

  /** The edition as far as known without asking anyone: the table's first until the resolver answered. */
  known(appKey: string): Edition {
    return this.runTime.known(appKey)?.edition ?? this.knownConfiguredEdition(appKey);
  }

  /** The overrides as far as known without asking anyone. */
  knownOverrides(appKey: string): Overrides | undefined {
    return this.runTime.known(appKey)?.overrides ?? this.optionOverrides.get(appKey) ?? this.sourced.known(appKey);
  }

  /**
   * The app's edition and overrides; without `req`, the resolver is not asked (its last answer stands).
   * Given `request` (a request to decide), and a store that compares an app's settings in the same
   * call as a take (`Store.takeChecked`), settings due to be read again are not read: they are
   * assumed as last known (or none), and `request.settingsCheck` is what its store call checks
   * (`checked` takes the answer), so that a request makes one call whether its app is cached or not.
   */
  settingsOf(appKey: string, req?: Request, request?: SettingsCheckSink): AppSettings | Promise<AppSettings> {
    const runTime =
      request !== undefined && this.store.checksSettings
        ? this.runTime.freshOr(appKey, this.assume, request)
        : this.runTime.get(appKey, this.readAppRunTime, appKey);
    return this.withConfigured(appKey, req, runTime);
  }

  /**
   * The app's settings from the store; every app's mode is read after them, not beside them: while
   * the store is down, the app's read is the one probe, and a refusal, which needs the mode, mostly
   * finds it here.
   */
  private readonly readAppRunTime = (previous: RunTime | undefined, appKey: string): RunTime | Promise<RunTime> =>
    andThen(this.readRunTime(appKey, previous), this.thenEveryApp);

  private readonly thenEveryApp = (read: RunTime): RunTime => {
    this.everyApp();
    return read;
  };

  /** The run-time choices, else the configured edition and overrides. */
  private withConfigured(
    appKey: string,
    req: Request | undefined,
    runTime: RunTime | Promise<RunTime>,
  ): AppSettings | Promise<AppSettings> {
    if (isPending(runTime)) return runTime.then((now) => this.configured(appKey, req, now));
    return this.configured(appKey, req, runTime);
  }

  private configured(appKey: string, req: Request | undefined, runTime: RunTime): AppSettings | Promise<AppSettings> {
    const edition = runTime.edition ?? this.configuredEdition(appKey, req);
    const overrides = runTime.overrides ?? this.configuredOverrides(appKey);
    if (isPending(edition) || isPending(overrides))
      return Promise.all([edition, overrides]).then(([e, o]) => ({ edition: e, overrides: o }));
    return { edition, overrides };
  }

  /** The app's settings as last known (or none), to be checked by the request's store call. */
  private readonly assume = (appKey: string, previous: RunTime | undefined, request: SettingsCheckSink): RunTime => {
    const assumed = previous ?? NONE;
    request.settingsCheck = this.checkOf(appKey, previous, assumed, 1);
    return assumed;
  };

  private checkOf(appKey: string, previous: RunTime | undefined, assumed: RunTime, call: number): AssumedSettings {
    const key = settingsKey(this.config.keyPrefix, appKey);
    const choices = this.runTime.choices;
    return { key, fields: SETTINGS_FIELDS, expected: assumed.stored, appKey, previous, assumed, choices, call };
  }

  /**
   * A request's store call answered the check of the settings it assumed: they were as assumed
   * (`true`), so they stand for `editionCacheMs`; or it did not answer (`false`), so the last known
   * stand, with a warning, until another call tries a second later (as a failed read).
   */
  checked(check: AssumedSettings, asAssumed: boolean): void {
    const { appKey, choices } = check;
    if (!asAssumed) {
      this.runTime.unanswered(appKey, 'the store did not answer', check.previous, choices);
      return;
    }
    this.runTime.answered(appKey, check.assumed, choices);
    this.everyApp();
  }

  /**
   * A request's store call found the app's settings other than assumed, and took nothing: they are
   * taken as read (a value the table cannot take ignored, with a warning), and the request is decided
   * again by them; its next call checks them again, unless it has had its checked calls.
   */
  differ(
    check: AssumedSettings,
    stored: Settings,
    req: Request,
    request: SettingsCheckSink,
  ): AppSettings | Promise<AppSettings> {
    const { appKey, choices } = check;
    const read = this.runTimeOf(appKey, stored, check.assumed);
    this.runTime.answered(appKey, read, choices);
    this.everyApp();
    request.settingsCheck = check.call < CHECKED_CALLS ? this.checkOf(appKey, read, read, check.call + 1) : undefined;
    return this.withConfigured(appKey, req, read);
  }

  /**
   * The run-time settings of the app (or of every app, `undefined`), read from the store unless read
   * within `editionCacheMs`: a process that has not read them yet would otherwise replace what the
   * store holds with the one setting it changes (the app's edition lost to an operator's mode).
   */
  current(appKey: string | undefined): unknown {
    const key = appKey ?? EVERY_APP;
    return this.cacheOf(key).get(key, (previous) => this.readRunTime(key, previous));
  }

  private cacheOf(key: string): AppCache<RunTime> {
    return key === EVERY_APP ? this.everyAppRunTime : this.runTime;
  }

  /** Chooses the app's edition at run time; resolves to whether the store took it. */
  setEdition(appKey: string, edition: unknown, path: string): boolean | Promise<boolean> {
    assertEdition(this.config.editions, edition, path);
    const known = this.runTime.known(appKey) ?? NONE;
    this.runTime.set(appKey, { ...known, edition, stored: { ...known.stored, edition } });
    return this.store.writeSettings(settingsKey(this.config.keyPrefix, appKey), { edition });
  }

  /**
   * Replaces the app's overrides at run time (`{}`: none), or with `undefined` removes that choice,
   * back to the configured ones; resolves to whether the store took it.
   */
  setOverrides(appKey: string, overrides: unknown, path: string): boolean | Promise<boolean> {
    const { overrides: _, stored, ...rest } = this.runTime.known(appKey) ?? NONE;
    const { overrides: __, ...others } = stored;
    let text: string | null = null;
    if (overrides === undefined) this.runTime.set(appKey, { ...rest, stored: others });
    else {
      const parsed = parseOverrides(overrides, path);
      text = JSON.stringify(parsed);
      this.runTime.set(appKey, { ...rest, overrides: parsed, stored: { ...others, overrides: text } });
    }
    return this.store.writeSettings(settingsKey(this.config.keyPrefix, appKey), { overrides: text });
  }

  /**
   * The mode chosen at run time for the app, else for every app; `undefined` when neither was. The
   * app's own was read with its settings; every app's is one more key, read once per `editionCacheMs`.
   */
  chosenMode(appKey: string): Mode | undefined | Promise<Mode | undefined> {
    const own = this.runTime.known(appKey)?.mode;
    if (own !== undefined) return own;
    return andThen(this.everyApp(), (all) => all.mode);
  }

  private everyApp(): RunTime | Promise<RunTime> {
    return this.everyAppRunTime.get(EVERY_APP, this.readEveryApp);
  }

  private readonly readEveryApp = (previous: RunTime | undefined): RunTime | Promise<RunTime> =>
    this.readRunTime(EVERY_APP, previous);

  /** What `setMode` chose, for the app and for every app, as far as known without asking. */
  knownModes(appKey: string): { app: Mode | undefined; everyApp: Mode | undefined } {
    return { app: this.runTime.known(appKey)?.mode, everyApp: this.everyAppRunTime.known(EVERY_APP)?.mode };
  }

  /** Where the app's edition comes from: `setEdition`, the `edition` option, or its resolver. */
  editionSource(appKey: string): 'setEdition' | 'option' | 'resolver' {
    if (this.runTime.known(appKey)?.edition !== undefined) return 'setEdition';
    return typeof this.config.edition === 'string' ? 'option' : 'resolver';
  }

  /** The overrides `setOverrides` chose, and the configured ones (the option's, or the source's last answer). */
  knownOverrideSources(appKey: string): { runTime: Overrides | undefined; configured: Overrides | undefined } {
    const configured = this.optionOverrides.get(appKey) ?? this.sourced.known(appKey);
    return { runTime: this.runTime.known(appKey)?.overrides, configured };
  }

  /**
   * Chooses the mode at run time, of one app or (`appKey` undefined) of every app; `undefined`
   * removes the choice. Resolves to whether the store took it.
   */
  setMode(appKey: string | undefined, mode: unknown, path: string): boolean | Promise<boolean> {
    if (mode !== undefined) assertMode(mode, path);
    const key = appKey ?? EVERY_APP;
    const cache = this.cacheOf(key);
    const { mode: _, stored, ...rest } = cache.known(key) ?? NONE;
    const { mode: __, ...others } = stored;
    cache.set(key, mode === undefined ? { ...rest, stored: others } : { ...rest, mode, stored: { ...others, mode } });
    return this.store.writeSettings(settingsKey(this.config.keyPrefix, key), { mode: mode ?? null });
  }

  private knownConfiguredEdition(appKey: string): Edition {
    const { edition } = this.config;
    return typeof edition === 'string'
      ? edition
      : (this.resolved.known(appKey) ?? (this.config.editions[0] as Edition));
  }

  private configuredEdition(appKey: string, req: Request | undefined): Edition | Promise<Edition> {
    const { edition: resolver, editions } = this.config;
    if (typeof resolver === 'string' || req === undefined) return this.knownConfiguredEdition(appKey);
    return this.resolved.get(appKey, () =>
      andThen(resolver(appKey, req), (edition: unknown) => {
        if (typeof edition === 'string' && editions.includes(edition)) return edition;
        throw new Error(`answered ${JSON.stringify(edition)}, which the table does not name`);
      }),
    );
  }

  private configuredOverrides(appKey: string): Overrides | undefined | Promise<Overrides | undefined> {
    const source = this.config.overridesSource;
    if (source === undefined) return this.optionOverrides.get(appKey);
    return this.sourced.get(appKey, () =>
      andThen(source.get(appKey), (answer: unknown) => (answer === undefined ? undefined : parseOverrides(answer, ''))),
    );
  }

  /**
   * The app's run-time settings from the store. A read that failed throws, so that the cache keeps
   * its fallback (the last known) for a second rather than for `editionCacheMs` as if it were an answer.
   */
  private readRunTime(appKey: string, previous: RunTime | undefined): RunTime | Promise<RunTime> {
    return andThen(this.store.readSettings(settingsKey(this.config.keyPrefix, appKey)), (settings) => {
      if (settings === undefined) throw new Error('the store did not answer');
      return this.runTimeOf(appKey, settings, previous);
    });
  }

  /** Stored settings checked as the options are: a value this process's table cannot take is ignored, with a warning. */
  private runTimeOf(appKey: string, settings: Settings, previous: RunTime | undefined): RunTime {
    const { edition, mode, overrides: text } = settings;
    if (edition === undefined && mode === undefined && text === undefined) return NONE;
    const runTime: { -readonly [K in keyof RunTime]: RunTime[K] } = { stored: settings };
    const ignore = (what: string, why: string): void =>
      this.warn('WRN_SETTINGS_IGNORED', `the store holds ${what} for ${JSON.stringify(appKey)} (${why}); ignored`, {
        appKey,
        error: why,
      });
    if (edition !== undefined) {
      if (this.config.editions.includes(edition)) runTime.edition = edition;
      else ignore(`edition ${JSON.stringify(edition)}`, 'the table does not name it');
    }
    if (mode === 'enforce' || mode === 'report') runTime.mode = mode;
    else if (mode !== undefined) ignore(`mode ${JSON.stringify(mode)}`, "it is neither 'enforce' nor 'report'");
    if (text !== undefined && text === previous?.stored.overrides && previous.overrides !== undefined) {
      runTime.overrides = previous.overrides;
    } else if (text !== undefined) {
      try {
        runTime.overrides = parseOverrides(JSON.parse(text), '');
      } catch (error) {
        ignore('overrides', describe(error));
      }
    }
    return runTime;
  }
}

/** A warning a second at most: each app a client invents could otherwise log one (the rest are counted). */
const WARN_INTERVAL_MS = 1000;

type Warn = (code: LogCode, message: string, fields: Readonly<Record<string, unknown>>) => void;

function throttled(logger: Logger, clock: () => number): Warn {
  let quietUntil = Number.NEGATIVE_INFINITY;
  let suppressed = 0;
  return (code, message, fields) => {
    const now = clock();
    if (now < quietUntil) {
      suppressed++;
      return;
    }
    if (suppressed === 0) logWarning(logger, code, message, fields);
    else
      logWarning(logger, code, `${message} (and ${suppressed} more like it since the last)`, { ...fields, suppressed });
    quietUntil = now + WARN_INTERVAL_MS;
    suppressed = 0;
  };
}
