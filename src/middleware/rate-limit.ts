import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { assertAppKey, assertCategory, type Edition, type Options, parseOptions } from '../config.js';
import { ImRateLimitError } from '../errors.js';
import { Limiter, type Outcome } from '../limiter.js';
import { compileClassifier, type RouteMatch } from '../limits/classify.js';
import { needsBody } from '../limits/payload.js';
import { routes } from '../limits/routes.js';
import type { Category, EditionRules } from '../limits/table.js';
import { type BodyState, readBody } from './body.js';
import { followAdmission } from './follow-up.js';
import { guardMatch } from './guard.js';
import { answer, unreadBody } from './respond.js';

/** Marks a request the limiter has counted, so a guard behind `app.use(limiter)` does not count it again. */
const counted = Symbol('im-rate-limit.counted');
type Counted = Request & { [counted]?: true };

export interface GuardOptions {
  /** The app a request belongs to; default: `req.params.org`/`req.params.app`, else the first two path segments. */
  readonly appKey?: (req: Request) => { org: string; app: string };
}

type Handler = (this: unknown, req: Request, res: Response, next?: NextFunction) => unknown;

export interface ImRateLimit extends RequestHandler {
  /** Limits one route outside the catalog as `category`. */
  guard(category: Category, options?: GuardOptions): RequestHandler;
  /** The same as a TC39 method decorator, for class-based controllers. */
  limit(
    category: Category,
    options?: GuardOptions,
  ): <M extends Handler>(method: M, context: ClassMethodDecoratorContext) => M;
  /** Moves an app to another edition at run time, without a restart. */
  setEdition(appKey: string, edition: Edition): void;
  /** The effective limits of one app. */
  rules(appKey: string): EditionRules;
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
  const limiter = new Limiter(parseOptions(options));
  const { config } = limiter;
  const classifier = compileClassifier(routes, { nameCase: config.nameCase });
  let warnedNoParser = false;

  /**
   * Every path ends in exactly one of: an answer, `next()`, `next(err)`, or nothing at all when the
   * response was answered by someone else meanwhile (a timeout middleware) or its client has gone.
   * What it returns when asynchronous never rejects.
   */
  const run = (match: RouteMatch, req: Request, res: Response, next: NextFunction): undefined | Promise<void> => {
    (req as Counted)[counted] = true;
    if (!needsBody(match)) return decide(match, undefined, req, res, next);
    let state: BodyState | Promise<BodyState>;
    try {
      state = readBody(req, res, config.bodyParsers);
    } catch (error) {
      fail(error, res, next);
      return;
    }
    if (state instanceof Promise) {
      return state.then(
        (read) => afterBody(read, match, req, res, next),
        (error: unknown) => fail(error, res, next),
      );
    }
    return afterBody(state, match, req, res, next);
  };

  const afterBody = (
    state: BodyState,
    match: RouteMatch,
    req: Request,
    res: Response,
    next: NextFunction,
  ): undefined | Promise<void> => {
    if (state === 'read') return decide(match, req.body, req, res, next);
    if (state === 'unread') proceed(unreadBody, res, next);
    else fail(noParser(), res, next);
    return undefined;
  };

  const decide = (
    match: RouteMatch,
    body: unknown,
    req: Request,
    res: Response,
    next: NextFunction,
  ): undefined | Promise<void> => {
    let outcome: Outcome | Promise<Outcome>;
    try {
      outcome = limiter.decide(match, body, req);
    } catch (error) {
      fail(error, res, next);
      return;
    }
    if (!(outcome instanceof Promise)) return proceed(outcome, res, next);
    return outcome.then(
      (decided) => proceed(decided, res, next),
      (error: unknown) => fail(error, res, next),
    );
  };

  const proceed = (outcome: Outcome, res: Response, next: NextFunction): undefined => {
    if (res.headersSent || res.destroyed || res.socket?.destroyed) {
      abandon(outcome); // answered meanwhile, or the client is gone: neither answer nor run the handler
      return;
    }
    try {
      if (!answer(outcome, res, config)) return;
      if ('admission' in outcome && outcome.admission !== undefined) followAdmission(res, outcome.admission, limiter);
    } catch (error) {
      fail(error, res, next);
      return;
    }
    next();
  };

  /** An admitted request whose handler will not run gives back its membership reservation. */
  const abandon = (outcome: Outcome): void => {
    const pending = 'admission' in outcome ? outcome.admission?.membership : undefined;
    if (pending !== undefined) void limiter.conclude(pending, false, '');
  };

  const fail = (error: unknown, res: Response, next: NextFunction): undefined => {
    if (!res.headersSent) next(error);
  };

  const noParser = (): ImRateLimitError => {
    const error = new ImRateLimitError(
      'ERR_NO_BODY_PARSER',
      'im-rate-limit: this route is limited by its JSON body, but no body parser ran before the limiter: ' +
        'mount express.json() before it, or pass the parser as its bodyParser option',
    );
    if (!warnedNoParser) config.logger.warn(error.message);
    warnedNoParser = true;
    return error;
  };

  const middleware = function imRateLimitMiddleware(req: Request, res: Response, next: NextFunction): void {
    const match = (req as Counted)[counted] ? undefined : classifier.request(req);
    if (match === undefined) next();
    else void run(match, req, res, next);
  } as ImRateLimit;

  const guardOf = (category: Category, options: GuardOptions = {}) => {
    assertCategory(category, 'guard');
    return (req: Request, res: Response, next: NextFunction): undefined | Promise<void> => {
      if ((req as Counted)[counted]) {
        next();
        return;
      }
      let match: RouteMatch;
      try {
        match = guardMatch(category, req, config.nameCase, options.appKey);
      } catch (error) {
        fail(error, res, next); // the app's own appKey function threw
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
    return <M extends Handler>(method: M, _context: ClassMethodDecoratorContext): M =>
      function limited(this: unknown, req: Request, res: Response, next?: NextFunction) {
        let admitted = false;
        let failure: unknown;
        const after = (): unknown => {
          if (failure !== undefined) {
            if (next === undefined) throw failure;
            return next(failure);
          }
          return admitted ? method.call(this, req, res, next) : undefined; // refused: the guard answered
        };
        const settled = guard(req, res, (error?: unknown) => {
          if (error === undefined) admitted = true;
          else failure = error;
        });
        return settled instanceof Promise ? settled.then(after) : after();
      } as M;
  };

  middleware.setEdition = (appKey, edition) =>
    limiter.editions.set(assertAppKey(appKey, config.nameCase, 'setEdition'), edition);
  middleware.rules = (appKey) => limiter.rules(assertAppKey(appKey, config.nameCase, 'rules'));
  return middleware;
}
