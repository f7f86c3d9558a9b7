import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { assertCategory, type Edition, type Options, parseOptions } from '../config.js';
import { Limiter, type Outcome } from '../limiter.js';
import { classify, type RouteMatch } from '../limits/classify.js';
import type { Category, EditionRules } from '../limits/table.js';
import { guardMatch } from './guard.js';
import { answer } from './respond.js';
import { followAdmission } from './settle.js';

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
 * The IM REST API's quotas as Express middleware: classifies every catalog route, applies the
 * app's edition and overrides, and answers 429 / 400 / 503 in the IM server's error shape.
 *
 * @example
 * const limiter = imRateLimit({ edition: 'community' });
 * app.use(express.json(), limiter);
 */
export function imRateLimit(options: Options = {}): ImRateLimit {
  const limiter = new Limiter(parseOptions(options));

  /** Decides and answers; settles (when asynchronous) once `next` was called or the refusal sent. */
  const run = (match: RouteMatch, req: Request, res: Response, next: NextFunction): undefined | Promise<void> => {
    (req as Counted)[counted] = true;
    let outcome: Outcome | Promise<Outcome>;
    try {
      outcome = limiter.decide(match, req);
    } catch (error) {
      next(error);
      return;
    }
    if (outcome instanceof Promise) return outcome.then((decided) => proceed(decided, res, next), next);
    proceed(outcome, res, next);
  };

  const proceed = (outcome: Outcome, res: Response, next: NextFunction): void => {
    if (!answer(outcome, res, limiter.config)) return;
    if ('admission' in outcome && outcome.admission !== undefined) followAdmission(res, outcome.admission, limiter);
    next();
  };

  const middleware = function imRateLimitMiddleware(req: Request, res: Response, next: NextFunction): void {
    const match = (req as Counted)[counted] ? undefined : classify(req.method, req.url);
    if (match === undefined) next();
    else run(match, req, res, next);
  } as ImRateLimit;

  const guardOf = (category: Category, options: GuardOptions = {}) => {
    assertCategory(category, 'guard');
    return (req: Request, res: Response, next: NextFunction): undefined | Promise<void> => {
      if (!(req as Counted)[counted]) return run(guardMatch(category, req, options.appKey), req, res, next);
      next();
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

  middleware.setEdition = (appKey, edition) => limiter.editions.set(appKey, edition);
  middleware.rules = (appKey) => limiter.rules(appKey);
  return middleware;
}
