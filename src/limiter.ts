import type { Request } from 'express';
import type { AdminChange } from './admin-change.js';
import { MemoMap } from './bounded-map.js';
import { assertEdition, assertMode, type Config, parseOverrides } from './config.js';
import type { AppSettings, AssumedSettings, EditionDirectory } from './edition-directory.js';
import { StoreError } from './errors.js';
import { DownloadShards } from './limiter/download-shards.js';
import type { RefusalCache } from './limiter/refusal-cache.js';
import { dayEdgesMs } from './limits/calendar.js';
import type { RouteMatch } from './limits/classify.js';
import { effectiveRules } from './limits/editions.js';
import { checkAppNames, checkPayload, type PayloadViolation } from './limits/payload.js';
import { checkPushes, pushesOf } from './limits/send.js';
import { burstOf, type Category, categories, type EditionRules, type Overrides } from './limits/table.js';
import { logWarning } from './log.js';
import { andThen, type MaybePromise } from './maybe-async.js';
import type { MembershipGate, MembershipStep, PendingMembership } from './membership/gate.js';
import type { Edition, Mode } from './options.js';
import {
  AppPlan,
  type CategoryPlan,
  type CheckSet,
  categoryKeys,
  type DownloadSet,
  type Policy,
  type SharedChecks,
  sharedChecks,
} from './plan.js';
import type { Failover, FailoverStore, SettingsUnread } from './store/failover-store.js';
import type { BucketCheck, Check, Reading, SettingsDiffer, WindowCheck } from './store/store.js';

/** What follows an admitted request: its body paced, its membership change concluded. */
export interface Admission {
  readonly paceBytesPerSecond?: number;
  /** Checks of negative cost to take (`Limiter.refund`) when the IM server refuses the request (4xx). */
  readonly refundOnRejection?: readonly Check[];
  readonly membership?: PendingMembership;
}

/**
 * A refusal the app's mode only reports: the request goes on to its handler, with what an admitted
 * one carries (pacing, a membership change to conclude), so report mode refuses nothing and changes
 * nothing else.
 */
interface Reported {
  readonly reported?: true;
  readonly admission?: Admission;
}

/** What the limiter decided about one request, in numbers; the Express layer turns it into an answer. */
export type Outcome =
  | (Reported & {
      readonly kind: 'decided';
      readonly allowed: boolean;
      /** The edition the app was held to. */
      readonly edition: Edition;
      /** Reported in headers: the policies of the first checks. */
      readonly policies: readonly Policy[];
      readonly readings: readonly Reading[];
      readonly checks: readonly Check[];
      /** Time in the store call, when someone observes decisions (`onDecision`, `metrics`); else 0. */
      readonly storeMs: number;
    })
  | (Reported & { readonly kind: 'payload'; readonly violation: PayloadViolation })
  | (Reported & { readonly kind: 'membership'; readonly user: string; readonly membership: 'groups' | 'chatrooms' })
  | (Reported & { readonly kind: 'unavailable' })
  | { readonly kind: 'unlimited'; readonly admission?: Admission };

const unavailable: Refusing = Object.freeze({ kind: 'unavailable' });
/**
 * A check of a download refused in this process that nothing read: the app's bucket when every shard
 * is remembered empty, the shard when the app's bucket is (as a Cluster reports a check it did not reach).
 */
const notRead: Reading = Object.freeze({ allowed: true, remaining: 0, resetMs: 0, retryAfterMs: 0 });
const unlimited: Outcome = Object.freeze({ kind: 'unlimited' });

type Decided = Extract<Outcome, { kind: 'decided' }>;
/** An outcome that refuses the request, unless the app's mode only reports it. */
type Refusing = Exclude<Outcome, { kind: 'unlimited' }>;

/**
 * One request as the limiter decides it: one object per request, made by the Express layer (which
 * keeps its own share of the request in it too) and filled in by each step here, so that no step
 * passes the others' state along as arguments, and the synchronous path allocates nothing more.
 */
export interface RequestState {
  readonly match: RouteMatch;
  /** For the edition resolver. */
  readonly req: Request;
  /** The parsed body, when the route's checks read it. */
  body: unknown;
  /** The app's plan, once its settings are known (or assumed). */
  plan: AppPlan | undefined;
  /** The app's settings as assumed, when not read within `editionCacheMs`: its store call checks them. */
  settingsCheck: AssumedSettings | undefined;
  /** The checks the request takes, and the set they come from (rate, send or download). */
  set: CheckSet | undefined;
  checks: readonly Check[];
  /** When the store call began, when someone observes decisions; else 0. */
  startedAt: number;
  /** The refusals' clock when the store call was sent, when a refusal may be remembered; else 0. */
  sentAt: number;
  /**
   * Decided again, the store having held other settings than assumed: the refusal cache, which counts
   * each request it lets through as a token taken, counted it the first time and is not asked again.
   */
  decidedAgain: boolean;
}

/** What a limiter is made of, built from the options by the composition root (`middleware/compose.ts`). */
export interface LimiterParts {
  /** The store's health: every store call goes through it. */
  readonly failover: Failover;
  readonly store: FailoverStore;
  readonly editions: EditionDirectory;
  /** Absent when `membership` is `false`. */
  readonly memberships: MembershipGate | undefined;
  /** Refusals that stand for a while, answered without a store call; absent when `refusalCache` is `false`. */
  readonly refusals: RefusalCache | undefined;
  /** The refusals' clock: the store's when this process knows it, else a monotonic one. */
  readonly refusalClock: () => number;
  /** Logs a run-time change and tells `onAdminChange`. */
  readonly audit: (change: AdminChange) => void;
}

/** One app's state as `inspect` reads it, nothing taken. */
export interface AppState {
  readonly edition: Edition;
  /** Each category's bucket: its capacity, the requests it admits now, and how long until it is full again. */
  readonly categories: { readonly [C in Category]: { limit: number; remaining: number; msUntilFull: number } };
  /** Today's pushes, when the edition has a daily quota. */
  readonly daily?: { used: number; remaining: number; resetMs: number };
  /** What the limits are made of, so an operator can see why the app has them. */
  readonly settings: AppSettingsView;
}

/** An app's configuration as `inspect` shows it: each setting, and where it comes from. */
export interface AppSettingsView {
  readonly edition: { readonly value: Edition; readonly from: 'setEdition' | 'option' | 'resolver' };
  /** The figures `setOverrides` chose, and the configured ones (the `overrides` option or source); the first win. */
  readonly overrides: { readonly runTime: Overrides | null; readonly configured: Overrides | null };
  /**
   * The mode `setMode` chose for the app, for every app, and the `mode` option (`'function'` when it
   * decides per request); `effective` is what each category is held to now.
   */
  readonly mode: {
    readonly app: Mode | null;
    readonly everyApp: Mode | null;
    readonly option: Mode | 'function';
    readonly effective: { readonly [C in Category]: Mode };
  };
}

/**
 * Decides: a classified request and its body in, an `Outcome` out. Rules come from the app's
 * edition and overrides, compiled once per app into checks; every store call goes through the
 * failover, which owns timeouts and the store-down policy.
 */
export class Limiter {
  private readonly editions: EditionDirectory;
  private readonly failover: Failover;
  private readonly store: FailoverStore;
  private readonly plans: MemoMap<string, AppPlan>;
  private readonly shared: SharedChecks;
  /** Which shard of the cluster-wide downloads bucket each download tries. */
  private readonly downloads: DownloadShards;
  private readonly memberships: MembershipGate | undefined;
  /** Whether anyone reads decisions: only then is the store call timed. */
  private readonly observed: boolean;
  private readonly refusals: RefusalCache | undefined;
  private readonly refusalClock: () => number;
  private readonly audit: (change: AdminChange) => void;
  private modeFunctionFailed = false;

  constructor(
    private readonly config: Config,
    parts: LimiterParts,
  ) {
    this.observed = config.onDecision !== undefined || config.metrics !== undefined;
    this.shared = sharedChecks(config.keyPrefix, config.clusterDownloadsPerSecond, config.clusterDownloadsShards);
    this.plans = new MemoMap(config.maxCachedApps);
    this.failover = parts.failover;
    this.store = parts.store;
    this.editions = parts.editions;
    this.memberships = parts.memberships;
    this.refusals = parts.refusals;
    this.downloads = new DownloadShards(this.shared.downloadShards, parts.refusals, (shard) =>
      this.failover.reaches(shard.key),
    );
    this.refusalClock = parts.refusalClock;
    this.audit = parts.audit;
  }

  /** Whether some decisions are being made without the shared store. */
  get degraded(): boolean {
    return this.failover.degraded;
  }

  /** The app's edition as far as known without asking anyone (its resolver, the store). */
  knownEdition(appKey: string): Edition {
    return this.editions.known(appKey);
  }

  /** Takes checks of negative cost, giving tokens back, through the failover like every store call; never rejects. */
  refund(checks: readonly Check[]): void {
    // the failover settles every call; a refund's readings tell nothing, but its bucket has a token again:
    // a refusal this process remembers of it no longer stands, nor one answered while the refund was on its way
    this.refunded(undefined, checks);
    void andThen(this.store.take(checks), this.refunded, checks);
  }

  /** Forgets the refusals remembered of the buckets given tokens back (made once). */
  private readonly refunded = (_: unknown, checks: readonly Check[]): void => {
    for (const check of checks) this.refusals?.forgetKey(check.key);
  };

  /** Records a membership change once the IM server has answered; never rejects. */
  conclude(pending: PendingMembership, succeeded: boolean, responseBody: string): MaybePromise<void> {
    return this.memberships?.conclude(pending, succeeded, responseBody);
  }

  /** The effective rules of an app under its current edition and overrides (nobody is asked for this). */
  rules(appKey: string): EditionRules {
    return effectiveRules(this.config.table, this.editions.known(appKey), this.editions.knownOverrides(appKey));
  }

  /** The app's edition and buckets as they stand, nothing taken (a check of cost 0 takes nothing, on every store). */
  async inspect(appKey: string): Promise<AppState> {
    const settings = await this.editions.settingsOf(appKey);
    const plan = this.planFor(appKey, settings);
    const buckets = categories.map((category) => ({
      ...(plan.category(category).rate.checks[0] as BucketCheck),
      cost: 0,
    }));
    const send = plan.category('messages').send;
    const day = send === undefined ? undefined : (this.withDailyCost(send.checks, 0)[1] as WindowCheck);
    // the app's shared state or a StoreError: the fallback's buckets are this process's alone
    const readings = await this.store.take(day === undefined ? buckets : [...buckets, day], true);
    if (readings === undefined) throw new StoreError('ERR_STORE', 'im-rate-limit: the store is unavailable');
    const state = Object.fromEntries(
      buckets.map((bucket, i) => {
        const { remaining, resetMs } = readings[i] as Reading;
        return [categories[i], { limit: bucket.capacity, remaining, msUntilFull: resetMs }];
      }),
    ) as AppState['categories'];
    const view = await this.settingsView(appKey, settings.edition);
    if (day === undefined) return { edition: settings.edition, categories: state, settings: view };
    const { remaining, resetMs } = readings[buckets.length] as Reading;
    const daily = { used: day.limit - remaining, remaining, resetMs };
    return { edition: settings.edition, categories: state, daily, settings: view };
  }

  private async settingsView(appKey: string, edition: Edition): Promise<AppSettingsView> {
    await this.editions.chosenMode(appKey); // every app's mode, read if not known
    const effective = Object.fromEntries(
      await Promise.all(categories.map(async (category) => [category, await this.modeOf(appKey, category)])),
    ) as AppSettingsView['mode']['effective'];
    const { runTime, configured } = this.editions.knownOverrideSources(appKey);
    const { app, everyApp } = this.editions.knownModes(appKey);
    const { mode } = this.config;
    return {
      edition: { value: edition, from: this.editions.editionSource(appKey) },
      overrides: { runTime: runTime ?? null, configured: configured ?? null },
      mode: {
        app: app ?? null,
        everyApp: everyApp ?? null,
        option: typeof mode === 'string' ? mode : 'function',
        effective,
      },
    };
  }

  /**
   * Fills the app's buckets again, of one category or all; the daily push quota is left alone
   * (`resetDaily`), and so are memberships. Rejects with a `StoreError` when the store failed or
   * cannot reset.
   */
  async reset(appKey: string, category?: Category, actor?: string): Promise<void> {
    const reset = category === undefined ? categories : [category];
    const before = await this.remainingOf(appKey);
    await this.forget(reset.map((c) => categoryKeys(appKey, c, this.config.keyPrefix).rate));
    const rules = this.rules(appKey);
    const pick = (of: (c: Category) => number) => Object.fromEntries(reset.map((c) => [c, of(c)]));
    this.audit({
      action: 'reset',
      appKey,
      before: before && { remaining: pick((c) => before.categories[c].remaining) },
      after: { remaining: pick((c) => burstOf(rules[c])) },
      ...(actor === undefined ? {} : { actor }),
    });
  }

  /** Gives the app its whole daily push quota again; rejects as `reset` does. */
  async resetDaily(appKey: string, actor?: string): Promise<void> {
    const before = await this.remainingOf(appKey);
    await this.forget([categoryKeys(appKey, 'messages', this.config.keyPrefix).daily]);
    const used = before?.daily?.used;
    this.audit({
      action: 'reset-daily',
      appKey,
      before: used === undefined ? undefined : { used },
      after: { used: 0 },
      ...(actor === undefined ? {} : { actor }),
    });
  }

  /** The app's state for an audit event's `before`; none when the store cannot tell. */
  private remainingOf(appKey: string): Promise<AppState | undefined> {
    return this.inspect(appKey).catch(() => undefined);
  }

  private async forget(keys: readonly string[]): Promise<void> {
    this.forgetRefusals();
    const reset = await this.store.reset(keys);
    this.forgetRefusals(); // and those answered while it was being reset
    if (!reset) {
      throw new StoreError(
        'ERR_STORE',
        'im-rate-limit: the store did not reset the buckets (it failed, or has no reset())',
      );
    }
  }

  /** Moves an app to an edition at run time; resolves to whether the store took it. */
  setEdition(appKey: string, edition: unknown, path: string, actor?: string): Promise<boolean> {
    assertEdition(this.config.editions, edition, path);
    return this.afterRead(appKey, () => {
      const before = this.editions.known(appKey);
      const took = this.changingFigures(this.editions.setEdition(appKey, edition, path));
      return this.audited(took, { action: 'edition', appKey, before, after: edition }, actor);
    });
  }

  /** Replaces an app's overrides at run time (`undefined`: back to the configured ones); as `setEdition`. */
  setOverrides(appKey: string, overrides: unknown, path: string, actor?: string): Promise<boolean> {
    if (overrides !== undefined) parseOverrides(overrides, path);
    return this.afterRead(appKey, () => {
      const before = this.editions.knownOverrideSources(appKey).runTime ?? null;
      const took = this.changingFigures(this.editions.setOverrides(appKey, overrides, path));
      const after = this.editions.knownOverrideSources(appKey).runTime ?? null;
      return this.audited(took, { action: 'overrides', appKey, before, after }, actor);
    });
  }

  /**
   * Chooses the mode at run time, of one app or (`appKey` undefined) of every app; `undefined` removes
   * the choice. Shared through the store as the edition is; resolves to whether the store took it.
   */
  setMode(appKey: string | undefined, mode: unknown, path: string, actor?: string): Promise<boolean> {
    if (mode !== undefined) assertMode(mode, path);
    return this.afterRead(appKey, () => {
      const known = this.editions.knownModes(appKey ?? '');
      const before = (appKey === undefined ? known.everyApp : known.app) ?? null;
      const took = this.changingFigures(this.editions.setMode(appKey, mode, path));
      const change = { action: 'mode', before, after: mode ?? null } as const;
      return this.audited(took, appKey === undefined ? change : { ...change, appKey }, actor);
    });
  }

  /**
   * A change once the settings it changes one of are known (invalid values thrown before): it keeps
   * the others the store holds, and its audit event tells what it replaced.
   */
  private afterRead(appKey: string | undefined, change: () => Promise<boolean>): Promise<boolean> {
    const read = this.editions.current(appKey);
    return read instanceof Promise ? read.then(change) : change();
  }

  /** Audits a change once the store has answered (it holds in this process either way). */
  private audited(took: Promise<boolean>, change: AdminChange, actor: string | undefined): Promise<boolean> {
    return took.then((stored) => {
      this.audit(actor === undefined ? change : { ...change, actor });
      return stored;
    });
  }

  /**
   * Refusals remembered in this process stand for the figures they were answered under: forgotten
   * when they change, and again once the store took the change (a refusal answered meanwhile).
   */
  private changingFigures(took: boolean | Promise<boolean>): Promise<boolean> {
    this.forgetRefusals();
    return Promise.resolve(took).then((stored) => {
      this.forgetRefusals();
      return stored;
    });
  }

  private forgetRefusals(): void {
    this.refusals?.clear();
  }

  /** Decides a classified request; `request.body` is the parsed body when the route's checks read it. */
  decide(request: RequestState): MaybePromise<Outcome> {
    const { match } = request;
    const violation = checkAppNames(match, this.config.appNameMaxChars);
    if (violation !== undefined) return this.refuse(match, { kind: 'payload', violation }, nothingAdmitted);
    return andThen(this.editions.settingsOf(match.appKey, request.req, request), this.limit, request);
  }

  /** The request held to the app's plan: its payload, then one store call. Made once: no closure per request. */
  private readonly limit = (settings: AppSettings, request: RequestState): MaybePromise<Outcome> => {
    const { match, body } = request;
    const plan = this.planFor(match.appKey, settings);
    request.plan = plan;
    const violation = checkPayload(match, body, plan.rules);
    if (violation !== undefined) {
      if (request.settingsCheck !== undefined) return this.readSettingsFirst(request);
      this.tookNothing(request);
      // reported, it takes no tokens (as it takes none refused), but keeps the ledger and is paced
      return this.refuse(match, { kind: 'payload', violation }, () => this.admit(request, undefined));
    }
    const category = plan.category(match.category);
    const { sends, downloadsFile } = match.route;
    let set = category.rate;
    let checks = set.checks;
    if (sends !== undefined && category.send !== undefined) {
      set = category.send;
      const pushes = this.config.dailyQuota.countBy === 'call' ? 1 : pushesOf(sends, body);
      const never = checkPushes(pushes, (set.checks[1] as WindowCheck).limit);
      if (never !== undefined) {
        if (request.settingsCheck !== undefined) return this.readSettingsFirst(request);
        this.tookNothing(request);
        // a payload refusal like any other: reported, it goes on taking nothing
        return this.refuse(match, { kind: 'payload', violation: never }, () => this.admit(request, undefined));
      }
      checks = this.withDailyCost(set.checks, pushes);
    } else if (downloadsFile && category.download !== undefined) {
      request.set = category.download;
      return this.download(request, category);
    }
    request.set = set;
    request.checks = checks;
    const { refusals } = this;
    if (refusals !== undefined && !request.decidedAgain) {
      const standing = refusals.refused(checks);
      if (standing !== undefined && request.settingsCheck === undefined) return this.refusedHere(request, standing);
      // settings only assumed: a refusal standing for the figures, not the mode, is not answered here; the store checks them
    }
    return this.send(request, this.judge);
  };

  /**
   * A request decided again refused for its payload: the refusal cache counted its first checks as
   * let through (a token taken), and it took nothing; their refusals are read again from the store.
   */
  private tookNothing(request: RequestState): void {
    const { refusals } = this;
    if (refusals === undefined || !request.decidedAgain) return;
    for (const check of request.checks) refusals.forgetKey(check.key);
  }

  /**
   * A payload refused under settings only assumed: the app's settings are read (a call of their own)
   * and the request decided again, since the figures it was refused by may not be the app's.
   */
  private readSettingsFirst(request: RequestState): MaybePromise<Outcome> {
    request.settingsCheck = undefined;
    return andThen(this.editions.settingsOf(request.match.appKey, request.req), this.limit, request);
  }

  /**
   * The answer of a take that checked the app's settings: as assumed, the readings are judged; other
   * than assumed, nothing was taken and the request is decided again by the settings the store holds;
   * not answered, the fallback's readings (if any) are judged.
   */
  private readonly checked = (
    answer: readonly Reading[] | SettingsDiffer | SettingsUnread,
    request: RequestState,
  ): MaybePromise<Outcome> => {
    const check = request.settingsCheck as AssumedSettings;
    if ('stored' in answer) {
      request.decidedAgain = true;
      return andThen(this.editions.differ(check, answer.stored, request.req, request), this.limit, request);
    }
    request.settingsCheck = undefined; // a download's second shard checks them no more
    const unread = 'unread' in answer;
    this.editions.checked(check, !unread);
    return this.judge(unread ? answer.unread : answer, request);
  };

  /**
   * A download: the app's files bucket and one shard of the cluster-wide bucket in one store call,
   * then a second shard if the first had no token. It starts one shard further on than this
   * process's last download, past the shards whose refusal is remembered; when every one is, it is
   * refused here, as the store would refuse it (ARCHITECTURE.md → Remembered refusals).
   */
  private download(request: RequestState, category: CategoryPlan): MaybePromise<Outcome> {
    const { appBucket } = category.download as DownloadSet;
    const { downloads, refusals } = this;
    if (request.decidedAgain) {
      // the shard it was let through to, asked again: counted once
      return this.sendDownload(request, appBucket, downloads.indexOf(request.checks[1] as Check), this.judge);
    }
    const first = downloads.nextTurn();
    if (refusals === undefined) {
      // no refusal remembered: the first shard the store would be asked for
      return this.sendDownload(request, appBucket, downloads.untried(first, downloads.shards.length), this.judge);
    }
    // settings only assumed: the store checks them, so no refusal here (it stands for the figures, not the mode)
    const assumed = request.settingsCheck !== undefined;
    const appRefused = refusals.refused(category.rate.checks); // the files bucket alone, as an upload takes it
    if (appRefused !== undefined && !assumed) {
      request.checks = downloads.checksOf(appBucket, first);
      return this.refusedHere(request, [appRefused[0] as Reading, notRead]);
    }
    const shard = downloads.untried(first, downloads.shards.length);
    if (shard === -1 && assumed) return this.sendDownload(request, appBucket, downloads.soonest, this.judge);
    if (shard === -1) {
      // no call: the app's bucket, which a call would have counted as let through, is read again next time
      refusals.forgetKey(appBucket.key);
      request.checks = downloads.checksOf(appBucket, downloads.soonest);
      return this.refusedHere(request, [notRead, downloads.soonestReading as Reading]);
    }
    return this.sendDownload(request, appBucket, shard, this.judge);
  }

  /** A download's app bucket and one shard to the store. */
  private sendDownload(
    request: RequestState,
    appBucket: BucketCheck,
    shard: number,
    judge: (readings: readonly Reading[] | undefined, request: RequestState) => MaybePromise<Outcome>,
  ): MaybePromise<Outcome> {
    request.checks = this.downloads.checksOf(appBucket, shard);
    return this.send(request, judge);
  }

  /** The request's checks to the store; `judge` takes its readings. */
  private send(
    request: RequestState,
    judge: (readings: readonly Reading[] | undefined, request: RequestState) => MaybePromise<Outcome>,
  ): MaybePromise<Outcome> {
    // a download's second shard is timed from its first
    if (judge === this.judge) request.startedAt = this.observed ? performance.now() : 0;
    request.sentAt = this.refusals === undefined ? 0 : this.refusalClock();
    // the app's settings only assumed: checked in the same call (the first: its `judge` is `this.judge`)
    const check = request.settingsCheck;
    if (check !== undefined) return andThen(this.store.takeChecked(request.checks, check), this.checked, request);
    return andThen(this.store.take(request.checks), judge, request);
  }

  /** A refusal that stands in this process for exactly these checks, answered without the store. */
  private refusedHere(request: RequestState, readings: readonly Reading[]): MaybePromise<Outcome> {
    const { match, checks } = request;
    const { edition } = request.plan as AppPlan;
    const { policies } = request.set as CheckSet;
    const refused: Decided = { kind: 'decided', allowed: false, edition, policies, readings, checks, storeMs: 0 };
    return this.refuse(match, refused, () => this.admit(request, refused));
  }

  /** The store's readings as an outcome; admitted requests go on to `admit`. Made once, as `limit`. */
  private readonly judge = (readings: readonly Reading[] | undefined, request: RequestState): MaybePromise<Outcome> =>
    this.verdict(readings, request, true);

  /** As `judge`, for a download's second shard: it tries no third. */
  private readonly judgeLastShard = (
    readings: readonly Reading[] | undefined,
    request: RequestState,
  ): MaybePromise<Outcome> => this.verdict(readings, request, false);

  private verdict(
    readings: readonly Reading[] | undefined,
    request: RequestState,
    otherShard: boolean,
  ): MaybePromise<Outcome> {
    const { match, startedAt, checks } = request;
    const plan = request.plan as AppPlan;
    const set = request.set as CheckSet;
    if (readings === undefined) {
      if ('appBucket' in set) this.unanswered(checks);
      if (this.failover.policy.admitsUncounted) return this.admit(request, undefined);
      return this.refuse(match, unavailable, () => this.admit(request, undefined));
    }
    let allowed = true;
    for (let i = 0; i < readings.length; i++) if (!(readings[i] as Reading).allowed) allowed = false;
    const storeMs = startedAt === 0 ? 0 : performance.now() - startedAt;
    const { edition } = plan;
    const decided: Decided = { kind: 'decided', allowed, edition, policies: set.policies, readings, checks, storeMs };
    if (allowed) return this.admit(request, decided);
    // a refusal of the per-process fallback buckets proves nothing of the shared store's
    const remembers = this.refusals !== undefined && !this.failover.degraded;
    if (!('appBucket' in set)) {
      if (remembers) this.refusals?.remember(checks, readings, request.sentAt);
      return this.refuse(match, decided, () => this.admit(request, decided));
    }
    if (remembers) this.rememberDownload(request, readings);
    else this.unanswered(checks);
    if (otherShard && (readings[0] as Reading).allowed) {
      // the app's bucket passed and the shard had no token: one other shard before refusing
      const { downloads } = this;
      const other = downloads.untried(downloads.indexOf(checks[1] as Check) + 1, downloads.shards.length - 1);
      // not to a shard the store would not be asked for: the app's bucket would be taken in the fallback too
      if (other !== -1 && this.failover.reaches((downloads.shards[other] as Check).key)) {
        return this.sendDownload(request, (set as DownloadSet).appBucket, other, this.judgeLastShard);
      }
    }
    return this.refuse(match, decided, () => this.admit(request, decided));
  }

  /**
   * A download's refusal, remembered check by check: the app's bucket under its own key (as an
   * upload's), the shard under the shard's, for every app's downloads. What the store said replaces
   * what was remembered: a check that passed (or that a Cluster did not reach) is forgotten, since
   * the cache counted it as let through and it took nothing.
   */
  private rememberDownload(request: RequestState, readings: readonly Reading[]): void {
    const refusals = this.refusals as RefusalCache;
    const [app, shard] = request.checks as [Check, Check];
    const appReading = readings[0] as Reading;
    refusals.forgetKey(app.key);
    if (!appReading.allowed) {
      const files = (request.plan as AppPlan).category(request.match.category).rate.checks;
      refusals.remember(files, [appReading], request.sentAt);
    }
    this.downloads.answered(shard, readings[1] as Reading, request.sentAt);
  }

  /** A download the store did not answer: what the cache counted as let through took nothing it knows of. */
  private unanswered(checks: readonly Check[]): void {
    for (const check of checks) this.refusals?.forgetKey(check.key);
  }

  /** The mode a request of `category` is held to: `setMode`'s for the app, else for every app, else the option's. */
  modeOf(appKey: string, category: Category): Mode | Promise<Mode> {
    return andThen(this.editions.chosenMode(appKey), (chosen) => chosen ?? this.configuredMode(appKey, category));
  }

  /** A mode function that throws, or answers anything but `'report'` (a promise included), enforces. */
  private configuredMode(appKey: string, category: Category): Mode {
    const { mode, logger } = this.config;
    if (typeof mode === 'string') return mode;
    try {
      return mode(appKey, category) === 'report' ? 'report' : 'enforce';
    } catch (error) {
      if (!this.modeFunctionFailed) {
        logWarning(logger, 'WRN_HOOK_THREW', `mode threw (${String(error)}); ignored`, { hook: 'mode' });
      }
      this.modeFunctionFailed = true;
      return 'enforce';
    }
  }

  /**
   * A refusal as the app's mode has it: enforced, or only reported. A reported request goes on with
   * what `admitted` gives an admitted one (pacing, a membership change to conclude), so that report
   * mode refuses nothing and changes nothing else. Asked only on refusals: admissions never wait for it.
   */
  refuse(
    match: RouteMatch,
    refusal: Refusing,
    admitted: () => Outcome | Promise<Outcome> | undefined,
  ): Outcome | Promise<Outcome> {
    return andThen(this.modeOf(match.appKey, match.category), (mode) => {
      if (mode !== 'report') return refusal;
      return andThen(admitted(), (outcome): Outcome => {
        const admission = outcome !== undefined && 'admission' in outcome ? outcome.admission : undefined;
        return admission === undefined ? { ...refusal, reported: true } : { ...refusal, reported: true, admission };
      });
    });
  }

  /** What an admitted request still needs: download pacing, a membership reservation. */
  private admit(request: RequestState, decided: Decided | undefined): MaybePromise<Outcome> {
    const { match, body } = request;
    const plan = request.plan as AppPlan;
    const admitted = (admission: Admission): Outcome =>
      decided === undefined ? { kind: 'unlimited', admission } : { ...decided, admission };
    if (match.route.downloadsFile) {
      const paceBytesPerSecond = plan.rules.files.downloadBytesPerSecond;
      // only what the store took can be given back: nothing was under `allow`, nor for a refusal reported
      if (decided?.allowed !== true) return admitted({ paceBytesPerSecond });
      const refundOnRejection = this.shared.downloadRefunds[this.downloads.indexOf(request.checks[1] as Check)];
      return admitted(
        refundOnRejection === undefined ? { paceBytesPerSecond } : { paceBytesPerSecond, refundOnRejection },
      );
    }
    const { memberships } = this;
    if (match.route.membership === undefined || memberships === undefined) return decided ?? unlimited;
    const outcome = (taken: MembershipStep, capped: boolean): Outcome | Promise<Outcome> => {
      if ('refused' in taken) {
        const refused: Refusing = { kind: 'membership', user: taken.refused, membership: taken.kind };
        // reported, the join is held past the cap: its user counts it once the IM server has made it
        return capped ? this.refuse(match, refused, () => andThen(reserve(false), (t) => outcome(t, false))) : refused;
      }
      // a cap cannot be checked without the shared ledger: only 'allow' lets such a join through
      if ('unchecked' in taken) {
        if (this.failover.policy.admitsUncheckedJoin) return decided ?? unlimited;
        return this.refuse(match, unavailable, nothingAdmitted);
      }
      return taken.pending === undefined ? (decided ?? unlimited) : admitted({ membership: taken.pending });
    };
    const reserve = (capped: boolean) => memberships.reserve(match, body, plan.rules, capped);
    return andThen(reserve(true), (taken) => outcome(taken, true));
  }

  /**
   * The daily window takes `cost` pushes over its time zone's calendar days, computed around the
   * store's clock when known (the store still picks the day by its own).
   */
  private withDailyCost(checks: readonly Check[], cost: number): Check[] {
    const [rate, day] = checks as [BucketCheck, WindowCheck];
    const { dailyQuota, store } = this.config;
    return [rate, { ...day, cost, edgesMs: dayEdgesMs(dailyQuota.timeZone, store.clock?.() ?? Date.now()) }];
  }

  /** The app's cached plan while its edition and overrides are the same; compiled anew when either changed. */
  private planFor(appKey: string, { edition, overrides }: AppSettings): AppPlan {
    const cached = this.plans.get(appKey);
    if (cached !== undefined && cached.edition === edition && cached.overrides === overrides) return cached;
    const rules = effectiveRules(this.config.table, edition, overrides);
    const plan = new AppPlan(appKey, edition, rules, this.shared, overrides);
    this.plans.set(appKey, plan);
    return plan;
  }
}

const nothingAdmitted = (): undefined => undefined;
