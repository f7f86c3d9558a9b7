import type { ServerResponse } from 'node:http';
import type { ImErrorCode, Refusal, RefusalReason } from '../decision.js';
import type { Outcome } from '../limiter.js';
import type { HeaderStyle } from '../options.js';
import type { Policy } from '../plan.js';
import type { Reading } from '../store/store.js';

const exceptions: Record<ImErrorCode, string> = {
  reach_limit: 'ReachLimitException',
  resource_limited: 'ResourceLimitedException',
  illegal_argument: 'IllegalArgumentException',
  message_send_error: 'MessageSendErrorException',
  exceed_limit: 'ExceedLimitException',
  unsupported_media_type: 'UnsupportedMediaTypeException',
  service_unavailable: 'ServiceUnavailableException',
  resource_not_found: 'ResourceNotFoundException',
};

const descriptions = {
  reach_limit: 'This request has reached api limit',
  resource_limited: 'You have exceeded the limit of the community edition, please upgrade to the enterprise edition',
  service_unavailable: 'rate limit store unavailable',
} as const;

/**
 * The header text of each plan's policies in one form, formatted the first time it is reported:
 * keyed by the plan's own policy list, so each app's text is formatted once and dropped with its plan.
 */
function formattedOnce<T>(format: (policies: readonly Policy[]) => T): (policies: readonly Policy[]) => T {
  const formatted = new WeakMap<readonly Policy[], T>();
  return (policies) => {
    let text = formatted.get(policies);
    if (text === undefined) {
      text = format(policies);
      formatted.set(policies, text);
    }
    return text;
  };
}

/** Draft 8 lists every policy: `"messages";q=10;w=1, "messages-daily";q=20000;w=86400`, and `"messages"` per check. */
const draft8Of = formattedOnce((policies) => ({
  policy: policies.map((p) => `"${p.name}";q=${p.limit};w=${p.windowSeconds}`).join(', '),
  names: policies.map((p) => `"${p.name}"`),
}));

/** The other forms report one policy: its limit, and its draft 6 and 7 `RateLimit-Policy` (`10;w=1`). */
const singleOf = formattedOnce((policies) =>
  policies.map((p) => ({ limit: String(p.limit), policy: `${p.limit};w=${p.windowSeconds}` })),
);

const seconds = (ms: number): number => Math.ceil(ms / 1000);

/**
 * Writes the rate-limit headers in the configured form (drafts 6 and 7 exactly as express-rate-limit
 * writes them). Draft 8 lists every policy; draft 6, draft 7 and legacy can name only one, so they
 * report the tightest (the fewest remaining), the one a client must pace itself by.
 */
export function writeRateHeaders(
  res: ServerResponse,
  style: HeaderStyle,
  policies: readonly Policy[],
  readings: readonly Reading[],
): void {
  if (style === false) return;
  if (style === 'draft' || style === 'draft-8') {
    const plan = draft8Of(policies);
    let value = '';
    for (let i = 0; i < plan.names.length; i++) {
      const reading = readings[i] as Reading;
      value += `${i === 0 ? '' : ', '}${plan.names[i]};r=${reading.remaining};t=${seconds(reading.resetMs)}`;
    }
    res.setHeader('RateLimit-Policy', plan.policy);
    res.setHeader('RateLimit', value);
    return;
  }
  let tightest = 0; // readings past the policies (the cluster-wide downloads bucket) are not reported
  for (let i = 1; i < policies.length; i++) {
    if ((readings[i] as Reading).remaining < (readings[tightest] as Reading).remaining) tightest = i;
  }
  const { limit, policy } = singleOf(policies)[tightest] as { limit: string; policy: string };
  const { remaining, resetMs } = readings[tightest] as Reading;
  const reset = seconds(resetMs);
  switch (style) {
    case 'draft-7':
      res.setHeader('RateLimit-Policy', policy);
      res.setHeader('RateLimit', `limit=${limit}, remaining=${remaining}, reset=${reset}`);
      break;
    case 'draft-6':
      res.setHeader('RateLimit-Policy', policy);
      res.setHeader('RateLimit-Limit', limit);
      res.setHeader('RateLimit-Remaining', String(remaining));
      res.setHeader('RateLimit-Reset', String(reset));
      break;
    case 'legacy': // the reset in seconds from now, as draft 6 has it (express-rate-limit writes an epoch time)
      res.setHeader('X-RateLimit-Limit', limit);
      res.setHeader('X-RateLimit-Remaining', String(remaining));
      res.setHeader('X-RateLimit-Reset', String(reset));
      break;
  }
}

/** The parts of an error body around its timestamp, kept for the fixed descriptions (the 429s, the 503). */
const bodyParts = new Map<string, readonly [string, string]>();
const partsOf = (error: ImErrorCode, description: string): readonly [string, string] => [
  `{"error":"${error}","exception":"${exceptions[error]}","timestamp":`,
  `,"duration":0,"error_description":${JSON.stringify(description)}}`,
];
for (const error of Object.keys(descriptions) as Array<keyof typeof descriptions>) {
  bodyParts.set(error, partsOf(error, descriptions[error]));
}

/** Answers with the IM REST API's error shape; `Retry-After` in whole seconds, never early. */
export function sendError(
  res: ServerResponse,
  status: number,
  error: ImErrorCode,
  description: string,
  retryAfterMs?: number,
): void {
  const fixed = bodyParts.get(error);
  const [head, tail] =
    fixed !== undefined && description === descriptions[error as keyof typeof descriptions]
      ? fixed
      : partsOf(error, description);
  const body = head + Date.now() + tail;
  res.statusCode = status;
  if (retryAfterMs !== undefined) res.setHeader('Retry-After', String(Math.max(1, seconds(retryAfterMs))));
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.end(body);
}

/** The answer to a body of a type the app's parsers do not read, on a route whose checks need it. */
export const unreadBody: Extract<Outcome, { kind: 'payload' }> = Object.freeze({
  kind: 'payload',
  violation: {
    error: 'unsupported_media_type',
    description: 'request body must be JSON (Content-Type: application/json)',
  } as const,
});

/** The refusal an outcome is, if any: what the client is told, and why. */
export function refusalOf(outcome: Outcome): Refusal | undefined {
  switch (outcome.kind) {
    case 'decided': {
      if (outcome.allowed) return undefined;
      let retryAfterMs = 0;
      let reason: RefusalReason = 'rate';
      for (let i = 0; i < outcome.readings.length; i++) {
        const reading = outcome.readings[i] as Reading;
        if (reading.allowed) continue;
        retryAfterMs = Math.max(retryAfterMs, reading.retryAfterMs);
        if (outcome.checks[i]?.type === 'window') reason = 'daily';
        else if (i >= outcome.policies.length && reason === 'rate') reason = 'downloads'; // the cluster-wide bucket
      }
      const error = reason === 'daily' ? 'resource_limited' : 'reach_limit';
      return { status: 429, error, description: descriptions[error], reason, retryAfterMs };
    }
    case 'payload': {
      const { error, description } = outcome.violation;
      const status = error === 'unsupported_media_type' ? 415 : 400;
      return { status, error, description, reason: 'payload', retryAfterMs: 0 };
    }
    case 'membership': {
      const description = `user ${outcome.user} has joined too many ${outcome.membership}!`;
      return { status: 403, error: 'exceed_limit', description, reason: 'membership', retryAfterMs: 0 };
    }
    case 'unavailable':
      return {
        status: 503,
        error: 'service_unavailable',
        description: descriptions.service_unavailable,
        reason: 'store',
        retryAfterMs: 0,
      };
    case 'unlimited':
      return undefined;
  }
}

/**
 * Answers a refusal with the IM REST API's error body (and `Retry-After` on a 429). Call it only on
 * a response nobody has answered yet (`res.headersSent` is false).
 */
export function sendRefusal(res: ServerResponse, refusal: Refusal): void {
  const retryAfterMs = refusal.status === 429 ? refusal.retryAfterMs : undefined;
  sendError(res, refusal.status, refusal.error, refusal.description, retryAfterMs);
}
