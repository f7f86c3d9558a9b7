import type { NextFunction, Request, RequestHandler, Response, Router } from 'express';
import { assertAppKey, assertCategory } from '../config.js';
import type { DecisionEvent } from '../decision.js';
import { ConfigError } from '../errors.js';
import type { Admission, AppState, Limiter, Outcome } from '../limiter.js';
import type { RouteMatch } from '../limits/classify.js';
import { needsBody } from '../limits/payload.js';
import type { Category, EditionRules, Overrides } from '../limits/table.js';
import { logWarning } from '../log.js';
import { isPending, type MaybePromise, onRejection, settle } from '../maybe-async.js';
import type { Edition, Mode, Options } from '../options.js';
import { type AdminOptions, adminRouter } from './admin.js';
import { type BodyState, readBody } from './body.js';
import { compose } from './compose.js';
import { decisionEvent, rateLimitInfo } from './decision-event.js';
import { followAdmission } from './follow-up.js';
import { guardMatch } from './guard.js';
import { type LimitDecorator, limitDecorator } from './limit-decorator.js';
import { RequestContext } from './request-context.js';
import { refusalOf, sendRefusal, unreadBody, writeRateHeaders } from './respond.js';

/**
 * Marks a request with the limiter that counted it, so a guard behind `app.use(limiter)` does not
 * count it again, and another instance it reaches can tell (`WRN_COUNTED_TWICE`). The mark is kept
 * in `res.locals`, the object Express makes for each request: a property added to `req`, whose
 * prototype Express has just swapped, changes its hidden class on every request (microseconds).
 */
const counted = Symbol('im-rate-limit.counted');
type Marks = { [counted]?: Limiter };
const countedBy = (res: Response): Limiter | undefined => (res.locals as Marks | undefined)?.[counted];

export interface GuardOptions {
  /**
   * The app a request belongs to; default: `req.params.org` and `req.params.app`. A route without
   * both needs it: there the guard passes a `ConfigError` to `next(err)` rather than guess.
   */
  readonly appKey?: (req: Request) => { org: string; app: string };
}

export interface ImRateLimit extends RequestHandler {
  /** Limits one route outside the catalog as `category`. */
  guard(category: Category, options?: GuardOptions): RequestHandler;
  /**
   * The same as a method decorator, for class-based controllers whose methods are Express handlers
   * `(req, res, next?)`: TC39 or legacy (`experimentalDecorators`); on anything but a method it throws.
   */
  limit(category: Category, options?: GuardOptions): LimitDecorator;
  /**
   * Moves an app to another edition at run time, without a restart: here from the next request, in
   * every process sharing the store within `editionCacheMs`. Resolves once the store holds it (or
   * failed to, with a warning); never rejects.
   */
  setEdition(appKey: string, edition: Edition): Promise<void>;
  /**
   * Replaces an app's overrides at run time, as `setEdition` does the edition (`{}`: none);
   * `undefined` removes them, back to the configured ones. Validated as the `overrides` option is.
   */
  setOverrides(appKey: string, overrides: Overrides | undefined): Promise<void>;
  /** The effective limits of one app. */
  rules(appKey: string): EditionRules;
  /** The app's edition and buckets as they stand, nothing taken; rejects with a `StoreError` when the store fails. */
  inspect(appKey: string): Promise<AppState>;
  /**
   * Holds every app (`setMode(mode)`) or one (`setMode(appKey, mode)`) to `'enforce'` or `'report'`
   * at run time, shared through the store as `setEdition` is; `undefined` removes that choice. Logged.
   */
  setMode(mode: Mode | undefined): Promise<void>;
  setMode(appKey: string, mode: Mode | undefined): Promise<void>;
  /** Fills the app's buckets again (one category, or all); the daily push quota and memberships stay. */
  reset(appKey: string, category?: Category): Promise<void>;
  /** Gives the app its whole daily push quota again. */
  resetDaily(appKey: string): Promise<void>;
  /** JSON endpoints for operators (inspect, reset, edition, overrides, mode): mount behind your own authentication. */
  admin(options?: AdminOptions): Router;
}

/**
 * The IM REST API's quotas as Express middleware: classifies every catalog route as Express routes
 * it, applies the app's edition and overrides, and answers 429 / 400 / 403 / 415 / 503 in the IM
 * server's error shape.
 *
 * @example
 * const limiter = imRateLimit({ edition: 'community' });
 * app.use(express.json(), limiter);
 */
export function imRateLimit(options: Options = {}): ImRateLimit {
  const { config, limiter, metrics, classifier, validations } = compose(options);
  const { onDecision, onRefused, skip } = config;
  /** Whether decisions become events: for `onDecision`, the metrics, or both. */
  const observed = onDecision !== undefined || metrics !== undefined;
  const failedHooks = new Set<string>();

  /**
   * Every path ends in exactly one of: an answer, `next()`, `next(err)`, or nothing at all when the
   * response was answered by someone else meanwhile (a timeout middleware) or its client has gone.
   * What it returns when asynchronous never rejects. Each step takes the request's context, and is
   * made once here: the synchronous path makes no closure.
   */
  const run = (context: RequestContext): MaybePromise<void> => {
    const { req, res } = context;
    res.locals ??= Object.create(null); // Express makes it; a bare http server does not
    (res.locals as Marks)[counted] = limiter;
    if (!needsBody(context.match)) return decide(context);
    let state: MaybePromise<BodyState>;
    try {
      state = readBody(req, res, config.bodyParsers);
    } catch (error) {
      return fail(error, context);
    }
    if (isPending(state)) context.waited = true;
    return settle(state, afterBody, fail, context);
  };

  const afterBody = (state: BodyState, context: RequestContext): MaybePromise<void> => {
    if (state === 'read') {
      context.body = context.req.body;
      return decide(context);
    }
    if (state !== 'unread') return fail(validations.noParser(), context);
    const outcome = limiter.refuse(context.match, unreadBody, nothingAdmitted);
    if (isPending(outcome)) context.waited = true;
    return settle(outcome, proceed, fail, context);
  };

  const decide = (context: RequestContext): MaybePromise<void> => {
    let outcome: MaybePromise<Outcome>;
    try {
      outcome = limiter.decide(context);
    } catch (error) {
      return fail(error, context);
    }
    if (isPending(outcome)) context.waited = true;
    return settle(outcome, proceed, fail, context);
  };

  /**
   * Carries the outcome out: rate headers, the decision reported to `onDecision`, then the refusal
   * answered (by `onRefused` or the IM body), or, when admitted or only reported, the handler.
   * Whether the response was answered meanwhile or its client has gone is asked only when the
   * limiter `waited` (for the store, for the body), or when an admission holds something to give
   * back: the first property read on an Express `res` costs about 0.4 µs (a lookup through its
   * swapped prototype), a fifth of what the limiter adds to a request.
   */
  const proceed = (outcome: Outcome, context: RequestContext): undefined => {
    const { match, req, res } = context;
    const holds = 'admission' in outcome && outcome.admission !== undefined;
    if ((context.waited || holds) && (res.headersSent || res.destroyed || res.socket?.destroyed)) {
      abandon(outcome); // answered meanwhile, or the client is gone: neither answer nor run the handler
      return;
    }
    try {
      if (outcome.kind === 'decided') writeRateHeaders(res, config.headers, outcome.policies, outcome.readings);
      const refusal = refusalOf(outcome);
      const reported = refusal !== undefined && 'reported' in outcome && outcome.reported === true;
      if (observed || (refusal === undefined && outcome.kind === 'decided')) {
        const edition = outcome.kind === 'decided' ? outcome.edition : limiter.knownEdition(match.appKey);
        if (observed) {
          const event = decisionEvent(match, edition, outcome, refusal, reported, limiter.degraded);
          if (onDecision !== undefined) report(event);
          metrics?.record(event, outcome.kind === 'decided');
        }
        if (refusal === undefined && outcome.kind === 'decided')
          res.locals.rateLimit = rateLimitInfo(match, edition, outcome);
      }
      if (refusal !== undefined && !reported) {
        if (onRefused === undefined) sendRefusal(res, refusal);
        else {
          const answered = onRefused(req, res, refusal);
          if (isPending(answered)) answered.catch((error: unknown) => fail(error, context));
        }
        return;
      }
      if (holds) followAdmission(res, (outcome as { admission: Admission }).admission, limiter);
    } catch (error) {
      return fail(error, context);
    }
    context.next();
  };

  /** Only a synchronous `true` skips: a promise, a throw or anything else counts the request. */
  const skipped = (req: Request): boolean => {
    if (skip === undefined) return false;
    try {
      return skip(req) === true;
    } catch (error) {
      hookFailed('skip', error);
      return false;
    }
  };

  /** A user's hook that failed, logged once per hook: it never breaks a request. */
  const hookFailed = (hook: 'onDecision' | 'skip', error: unknown): void => {
    if (failedHooks.has(hook)) return;
    failedHooks.add(hook);
    logWarning(config.logger, 'WRN_HOOK_THREW', `${hook} threw (${String(error)}); ignored`, { hook });
  };
  const onDecisionFailed = (error: unknown): void => hookFailed('onDecision', error);

  /** Hands an event to `onDecision`, which can never break a request: a throw is caught and logged once. */
  const report = (event: DecisionEvent): void => {
    try {
      onRejection(onDecision?.(event), onDecisionFailed);
    } catch (error) {
      onDecisionFailed(error);
    }
  };

  /** An admitted request whose handler will not run gives back its membership hold and its download token. */
  const abandon = (outcome: Outcome): void => {
    const admission = 'admission' in outcome ? outcome.admission : undefined;
    if (admission?.membership !== undefined) void limiter.conclude(admission.membership, false, '');
    if (admission?.refundOnRejection !== undefined) limiter.refund(admission.refundOnRejection);
  };

  const fail = (error: unknown, { res, next }: RequestContext): undefined => {
    if (!res.headersSent) next(error);
    return undefined;
  };

  /** Whether a limiter has counted the request; another instance having done so is a mistake to warn of. */
  const alreadyCounted = (req: Request, res: Response): boolean => {
    const by = countedBy(res);
    if (by !== undefined && by !== limiter) validations.countedTwice(req);
    return by !== undefined;
  };

  const middleware = function imRateLimitMiddleware(req: Request, res: Response, next: NextFunction): void {
    const match =
      alreadyCounted(req, res) || skipped(req) ? undefined : validations.classified(req, classifier.request(req));
    if (match === undefined) next();
    else void run(new RequestContext(match, req, res, next));
  } as ImRateLimit;

  const guardOf = (category: Category, options: GuardOptions = {}) => {
    assertCategory(category, 'guard');
    if (options.appKey !== undefined && typeof options.appKey !== 'function') {
      throw new ConfigError('ERR_INVALID_OPTION', 'guard.appKey', 'must be a function (req) => { org, app }');
    }
    return (req: Request, res: Response, next: NextFunction): MaybePromise<void> => {
      if (alreadyCounted(req, res) || skipped(req)) {
        next();
        return;
      }
      let match: RouteMatch;
      try {
        match = guardMatch(category, req, config.nameCase, options.appKey);
      } catch (error) {
        // the app's own appKey function threw, or the route names no app
        if (!res.headersSent) next(error);
        return;
      }
      return run(new RequestContext(match, req, res, next));
    };
  };

  middleware.guard = (category, options) => {
    const guard = guardOf(category, options);
    return function imRateLimitGuard(req, res, next) {
      void guard(req, res, next);
    };
  };

  middleware.limit = (category, options) => limitDecorator(guardOf(category, options), category);

  // the failover has warned of a store that did not take it
  const done = (took: Promise<boolean>): Promise<void> => took.then(() => undefined);
  middleware.setEdition = (appKey, edition) =>
    done(limiter.setEdition(assertAppKey(appKey, config.nameCase, 'setEdition'), edition, 'setEdition'));
  middleware.setOverrides = (appKey, overrides) =>
    done(limiter.setOverrides(assertAppKey(appKey, config.nameCase, 'setOverrides'), overrides, 'setOverrides'));
  middleware.inspect = (appKey) => limiter.inspect(assertAppKey(appKey, config.nameCase, 'inspect'));
  middleware.setMode = ((...args: [Mode | undefined] | [string, Mode | undefined]) => {
    const [appKey, mode] =
      args.length === 2 ? [assertAppKey(args[0], config.nameCase, 'setMode'), args[1]] : [undefined, args[0]];
    return done(limiter.setMode(appKey, mode, 'setMode'));
  }) as ImRateLimit['setMode'];
  middleware.reset = (appKey, category) => {
    if (category !== undefined) assertCategory(category, 'reset');
    return limiter.reset(assertAppKey(appKey, config.nameCase, 'reset'), category);
  };
  middleware.resetDaily = (appKey) => limiter.resetDaily(assertAppKey(appKey, config.nameCase, 'resetDaily'));
  middleware.admin = (options) => adminRouter(limiter, config, options);
  middleware.rules = (appKey) => limiter.rules(assertAppKey(appKey, config.nameCase, 'rules'));
  return middleware;
}

const nothingAdmitted = (): undefined => undefined;
