import type { NextFunction, Request, RequestHandler, Response, Router } from 'express';
import { assertAppKey, assertCategory, parseOptions } from '../config.js';
import type { DecisionEvent } from '../decision.js';
import { ConfigError, ImRateLimitError } from '../errors.js';
import { type Admission, type AppState, Limiter, type Outcome } from '../limiter.js';
import { compileClassifier, type RouteMatch } from '../limits/classify.js';
import { needsBody } from '../limits/payload.js';
import { routes } from '../limits/routes.js';
import type { Category, EditionRules, Overrides } from '../limits/table.js';
import { logWarning } from '../log.js';
import type { Edition, Mode, Options } from '../options.js';
import { type AdminOptions, adminRouter } from './admin.js';
import { type BodyState, readBody } from './body.js';
import { decisionEvent, rateLimitInfo } from './decision-event.js';
import { followAdmission } from './follow-up.js';
import { guardMatch } from './guard.js';
import { createMetrics } from './metrics.js';
import { refusalOf, sendRefusal, unreadBody, writeRateHeaders } from './respond.js';
import { Validations } from './validations.js';

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

export type { AppState };

/** A controller method that handles a request as Express calls it; `next` is absent when called directly. */
type Handler = (this: unknown, req: Request, res: Response, next: NextFunction) => unknown;

/**
 * A method decorator of either kind: TC39 (`(method, context)`, TypeScript 5 by default) or legacy
 * (`(target, key, descriptor)`, under `experimentalDecorators`, as NestJS projects compile).
 */
export interface LimitDecorator {
  <M extends Handler>(method: M, context: ClassMethodDecoratorContext): M;
  <T>(target: object, key: string | symbol, descriptor: TypedPropertyDescriptor<T>): TypedPropertyDescriptor<T>;
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
  const parsed = parseOptions(options);
  const metrics = parsed.metrics && createMetrics(parsed.metrics, parsed.store.constructor?.name || 'Store');
  const limiter = new Limiter(parsed, metrics?.storeFailed);
  metrics?.watch(limiter.failover);
  const { config } = limiter;
  const classifier = compileClassifier(routes, { nameCase: config.nameCase, basePath: config.basePath });
  const validations = new Validations(config);
  const { onDecision, onRefused, skip } = config;
  /** Whether decisions become events: for `onDecision`, the metrics, or both. */
  const observed = onDecision !== undefined || metrics !== undefined;
  const failedHooks = new Set<string>();

  /**
   * Every path ends in exactly one of: an answer, `next()`, `next(err)`, or nothing at all when the
   * response was answered by someone else meanwhile (a timeout middleware) or its client has gone.
   * What it returns when asynchronous never rejects.
   */
  const run = (match: RouteMatch, req: Request, res: Response, next: NextFunction): undefined | Promise<void> => {
    res.locals ??= Object.create(null); // Express makes it; a bare http server does not
    (res.locals as Marks)[counted] = limiter;
    if (!needsBody(match)) return decide(match, undefined, req, res, next, false);
    let state: BodyState | Promise<BodyState>;
    try {
      state = readBody(req, res, config.bodyParsers);
    } catch (error) {
      fail(error, res, next);
      return;
    }
    if (state instanceof Promise) {
      return state.then(
        (read) => afterBody(read, match, req, res, next, true),
        (error: unknown) => fail(error, res, next),
      );
    }
    return afterBody(state, match, req, res, next, false);
  };

  const afterBody = (
    state: BodyState,
    match: RouteMatch,
    req: Request,
    res: Response,
    next: NextFunction,
    waited: boolean,
  ): undefined | Promise<void> => {
    if (state === 'read') return decide(match, req.body, req, res, next, waited);
    if (state !== 'unread') {
      fail(validations.noParser(), res, next);
      return undefined;
    }
    const outcome = limiter.refuse(match, unreadBody, () => undefined);
    if (!(outcome instanceof Promise)) return proceed(match, outcome, req, res, next, waited);
    return outcome.then(
      (decided) => proceed(match, decided, req, res, next, true),
      (error: unknown) => fail(error, res, next),
    );
  };

  const decide = (
    match: RouteMatch,
    body: unknown,
    req: Request,
    res: Response,
    next: NextFunction,
    waited: boolean,
  ): undefined | Promise<void> => {
    let outcome: Outcome | Promise<Outcome>;
    try {
      outcome = limiter.decide(match, body, req);
    } catch (error) {
      fail(error, res, next);
      return;
    }
    if (!(outcome instanceof Promise)) return proceed(match, outcome, req, res, next, waited);
    return outcome.then(
      (decided) => proceed(match, decided, req, res, next, true),
      (error: unknown) => fail(error, res, next),
    );
  };

  /**
   * Carries the outcome out: rate headers, the decision reported to `onDecision`, then the refusal
   * answered (by `onRefused` or the IM body), or, when admitted or only reported, the handler.
   * Whether the response was answered meanwhile or its client has gone is asked only when the
   * limiter `waited` (for the store, for the body), or when an admission holds something to give
   * back: the first property read on an Express `res` costs about 0.4 µs (a lookup through its
   * swapped prototype), a fifth of what the limiter adds to a request.
   */
  const proceed = (
    match: RouteMatch,
    outcome: Outcome,
    req: Request,
    res: Response,
    next: NextFunction,
    waited: boolean,
  ): undefined => {
    const holds = 'admission' in outcome && outcome.admission !== undefined;
    if ((waited || holds) && (res.headersSent || res.destroyed || res.socket?.destroyed)) {
      abandon(outcome); // answered meanwhile, or the client is gone: neither answer nor run the handler
      return;
    }
    try {
      if (outcome.kind === 'decided') writeRateHeaders(res, config.headers, outcome.policies, outcome.readings);
      const refusal = refusalOf(outcome);
      const reported = refusal !== undefined && 'reported' in outcome && outcome.reported === true;
      if (observed || (refusal === undefined && outcome.kind === 'decided')) {
        const edition = outcome.kind === 'decided' ? outcome.edition : limiter.editions.known(match.appKey);
        if (observed) {
          const event = decisionEvent(match, edition, outcome, refusal, reported, limiter.failover.degraded);
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
          if (answered instanceof Promise) answered.catch((error: unknown) => fail(error, res, next));
        }
        return;
      }
      if (holds) followAdmission(res, (outcome as { admission: Admission }).admission, limiter);
    } catch (error) {
      fail(error, res, next);
      return;
    }
    next();
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

  /** Hands an event to `onDecision`, which can never break a request: a throw is caught and logged once. */
  const report = (event: DecisionEvent): void => {
    try {
      const done: unknown = onDecision?.(event);
      if (done instanceof Promise) done.catch((error: unknown) => hookFailed('onDecision', error));
    } catch (error) {
      hookFailed('onDecision', error);
    }
  };

  /** An admitted request whose handler will not run gives back its membership hold and its download token. */
  const abandon = (outcome: Outcome): void => {
    const admission = 'admission' in outcome ? outcome.admission : undefined;
    if (admission?.membership !== undefined) void limiter.conclude(admission.membership, false, '');
    if (admission?.refundOnRefusal !== undefined) limiter.refund(admission.refundOnRefusal);
  };

  const fail = (error: unknown, res: Response, next: NextFunction): undefined => {
    if (!res.headersSent) next(error);
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
    else void run(match, req, res, next);
  } as ImRateLimit;

  const guardOf = (category: Category, options: GuardOptions = {}) => {
    assertCategory(category, 'guard');
    if (options.appKey !== undefined && typeof options.appKey !== 'function') {
      throw new ConfigError('ERR_INVALID_OPTION', 'guard.appKey', 'must be a function (req) => { org, app }');
    }
    return (req: Request, res: Response, next: NextFunction): undefined | Promise<void> => {
      if (alreadyCounted(req, res) || skipped(req)) {
        next();
        return;
      }
      let match: RouteMatch;
      try {
        match = guardMatch(category, req, config.nameCase, options.appKey);
      } catch (error) {
        fail(error, res, next); // the app's own appKey function threw, or the route names no app
        return;
      }
      return run(match, req, res, next);
    };
  };

  middleware.guard = (category, options) => {
    const guard = guardOf(category, options);
    return function imRateLimitGuard(req, res, next) {
      void guard(req, res, next);
    };
  };

  middleware.limit = (category, options) => {
    const guard = guardOf(category, options);
    const limited = <M extends Handler>(method: M): M =>
      function limited(this: unknown, req: Request, res: Response, next?: NextFunction) {
        // called without next: the router's own, which Express 4 and 5 set, rather than a rejection Express 4 drops
        const forward = next ?? (req as { next?: NextFunction }).next;
        const failed = (error: unknown): unknown => {
          if (forward === undefined) throw error;
          return forward(error);
        };
        let admitted = false;
        let decided = false;
        let failure: unknown;
        const after = (): unknown => {
          decided = true;
          if (failure !== undefined) return failed(failure);
          return admitted ? method.call(this, req, res, next as NextFunction) : undefined; // refused: the guard answered
        };
        const settled = guard(req, res, (error?: unknown) => {
          if (decided) {
            if (error !== undefined) forward?.(error); // an onRefused that rejected after the guard was done
          } else if (error === undefined) admitted = true;
          else failure = error;
        });
        if (!(settled instanceof Promise)) return after();
        // the method's own throw, once the guard waited for the store, would be a rejection Express 4 drops
        return settled.then(() => {
          try {
            return after();
          } catch (error) {
            return failed(error);
          }
        });
      } as M;
    return ((...args: unknown[]) => decorate(args, limited, category)) as LimitDecorator;
  };

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
  middleware.admin = (options) => adminRouter(limiter, options);
  middleware.rules = (appKey) => limiter.rules(assertAppKey(appKey, config.nameCase, 'rules'));
  return middleware;
}

/** Applies `wrap` to the method a decorator call of either kind names; throws on any other use. */
function decorate(args: unknown[], wrap: (method: Handler) => Handler, category: Category): unknown {
  const [first, second, third] = args;
  const context = second as Partial<ClassMethodDecoratorContext> | undefined;
  if (args.length === 2 && typeof context === 'object' && context !== null && 'kind' in context) {
    if (context.kind === 'method' && typeof first === 'function') return wrap(first as Handler);
    throw misused(category, `${/^[aeiou]/.test(String(context.kind)) ? 'an' : 'a'} ${context.kind}`);
  }
  const descriptor = third as PropertyDescriptor | undefined;
  if (args.length === 3 && typeof descriptor === 'object' && descriptor !== null) {
    if (typeof descriptor.value === 'function') return { ...descriptor, value: wrap(descriptor.value as Handler) };
    throw misused(category, descriptor.get || descriptor.set ? 'an accessor' : 'a property');
  }
  throw misused(category, args.length === 1 ? 'a class' : 'something that is not a method');
}

const misused = (category: Category, what: string): ImRateLimitError =>
  new ImRateLimitError(
    'ERR_INVALID_DECORATOR',
    `im-rate-limit: @limiter.limit(${JSON.stringify(category)}) decorates a class method that is an Express ` +
      `handler (req, res, next?); it was applied to ${what}`,
  );
