import type { DecisionEvent, RateLimitInfo, Refusal } from '../decision.js';
import type { Outcome } from '../limiter.js';
import type { RouteMatch } from '../limits/classify.js';
import type { Reading } from '../store/store.js';

type Decided = Extract<Outcome, { kind: 'decided' }>;

/**
 * The check a decision is best described by: the one that refused, else the reported one with the
 * fewest left (a community send reports its bucket and its day).
 */
function tightest(outcome: Decided): number {
  let index = -1;
  const reported = outcome.policies.length;
  for (let i = 0; i < outcome.readings.length; i++) {
    const reading = outcome.readings[i] as Reading;
    if (!reading.allowed) return i;
    if (i < reported && (index === -1 || reading.remaining < (outcome.readings[index] as Reading).remaining)) index = i;
  }
  return index;
}

function limitOf(outcome: Decided, index: number): number {
  const check = outcome.checks[index];
  return check === undefined ? 0 : check.type === 'bucket' ? check.capacity : check.limit;
}

export function decisionEvent(
  match: RouteMatch,
  edition: string,
  outcome: Outcome,
  refusal: Refusal | undefined,
  reported: boolean,
  degraded: boolean,
): DecisionEvent {
  let limit = 0;
  let remaining = 0;
  let storeMs = 0;
  if (outcome.kind === 'decided') {
    const index = tightest(outcome);
    limit = limitOf(outcome, index);
    remaining = outcome.readings[index]?.remaining ?? 0;
    storeMs = outcome.storeMs;
  }
  const verdict = refusal === undefined ? 'admitted' : reported ? 'reported' : 'refused';
  return {
    appKey: match.appKey,
    category: match.category,
    edition,
    outcome: verdict,
    ...(refusal === undefined ? {} : { reason: refusal.reason }),
    limit,
    remaining,
    retryAfterMs: refusal?.retryAfterMs ?? 0,
    storeMs,
    degraded,
  };
}

/** What `res.locals.rateLimit` says of an admitted request the store decided. */
export function rateLimitInfo(match: RouteMatch, edition: string, outcome: Decided): RateLimitInfo {
  const index = tightest(outcome);
  const reading = outcome.readings[index];
  return {
    appKey: match.appKey,
    category: match.category,
    edition,
    limit: limitOf(outcome, index),
    remaining: reading?.remaining ?? 0,
    resetMs: reading?.resetMs ?? 0,
  };
}
