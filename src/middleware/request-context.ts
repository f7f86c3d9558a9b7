import type { NextFunction, Request, Response } from 'express';
import type { RequestState } from '../limiter.js';
import type { RouteMatch } from '../limits/classify.js';
import type { AppPlan, CheckSet } from '../plan.js';
import type { Check } from '../store/store.js';

const noChecks: readonly Check[] = [];

/**
 * One classified request on its way through the middleware and the limiter: the one object made per
 * request, which every step reads rather than passing it on as arguments. Every field is set here,
 * so that all of them share one shape.
 */
export class RequestContext implements RequestState {
  /**
   * Whether the limiter waited (for the body, for the store): only then is the response asked
   * whether it was answered meanwhile, or its client has gone.
   */
  waited = false;
  body: unknown = undefined;
  plan: AppPlan | undefined = undefined;
  settingsCheck: RequestState['settingsCheck'] = undefined;
  set: CheckSet | undefined = undefined;
  checks: readonly Check[] = noChecks;
  startedAt = 0;
  sentAt = 0;
  decidedAgain = false;

  constructor(
    readonly match: RouteMatch,
    readonly req: Request,
    readonly res: Response,
    readonly next: NextFunction,
  ) {}
}
