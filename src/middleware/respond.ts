import type { ServerResponse } from 'node:http';
import type { Config, HeaderStyle } from '../config.js';
import type { Outcome } from '../limiter.js';
import type { Policy } from '../plan.js';
import type { Reading } from '../store/store.js';

/** The IM REST API's error codes this library answers with (DESIGN §4). */
export type ErrorName =
  | 'reach_limit'
  | 'resource_limited'
  | 'illegal_argument'
  | 'message_send_error'
  | 'exceed_limit'
  | 'unsupported_media_type'
  | 'service_unavailable';

const exceptions: Record<ErrorName, string> = {
  reach_limit: 'ReachLimitException',
  resource_limited: 'ResourceLimitedException',
  illegal_argument: 'IllegalArgumentException',
  message_send_error: 'MessageSendErrorException',
  exceed_limit: 'ExceedLimitException',
  unsupported_media_type: 'UnsupportedMediaTypeException',
  service_unavailable: 'ServiceUnavailableException',
};

const descriptions = {
  reach_limit: 'This request has reached api limit',
  resource_limited: 'You have exceeded the limit of the community edition, please upgrade to the enterprise edition',
  service_unavailable: 'rate limit store unavailable',
} as const;

/** The header text of one list of policies, formatted the first time it is reported. */
interface PolicyHeaders {
  /** `"messages";q=10;w=1, "messages-daily";q=20000;w=86400` */
  readonly policy: string;
  /** `"messages"` per reported check, in check order. */
  readonly names: readonly string[];
}

/** Keyed by the plan's own policy list, so each app's text is formatted once and dropped with its plan. */
const formatted = new WeakMap<readonly Policy[], PolicyHeaders>();

function headersOf(policies: readonly Policy[]): PolicyHeaders {
  let headers = formatted.get(policies);
  if (headers === undefined) {
    headers = {
      policy: policies.map((p) => `"${p.name}";q=${p.limit};w=${p.windowSeconds}`).join(', '),
      names: policies.map((p) => `"${p.name}"`),
    };
    formatted.set(policies, headers);
  }
  return headers;
}

const seconds = (ms: number): number => Math.ceil(ms / 1000);

/** `RateLimit-Policy`/`RateLimit` (draft) or `X-RateLimit-*` (legacy, the tightest policy). */
export function writeRateHeaders(
  res: ServerResponse,
  style: HeaderStyle,
  policies: readonly Policy[],
  readings: readonly Reading[],
): void {
  if (style === 'draft') {
    const plan = headersOf(policies);
    let value = '';
    for (let i = 0; i < plan.names.length; i++) {
      const reading = readings[i] as Reading;
      value += `${i === 0 ? '' : ', '}${plan.names[i]};r=${reading.remaining};t=${seconds(reading.resetMs)}`;
    }
    res.setHeader('RateLimit-Policy', plan.policy);
    res.setHeader('RateLimit', value);
  } else if (style === 'legacy') {
    let tightest = 0;
    for (let i = 1; i < policies.length; i++) {
      if ((readings[i] as Reading).remaining < (readings[tightest] as Reading).remaining) tightest = i;
    }
    const reading = readings[tightest] as Reading;
    res.setHeader('X-RateLimit-Limit', String(policies[tightest]?.limit));
    res.setHeader('X-RateLimit-Remaining', String(reading.remaining));
    res.setHeader('X-RateLimit-Reset', String(seconds(reading.resetMs)));
  }
}

/** The parts of an error body around its timestamp, kept for the fixed descriptions (the 429s, the 503). */
const bodyParts = new Map<string, readonly [string, string]>();
const partsOf = (error: ErrorName, description: string): readonly [string, string] => [
  `{"error":"${error}","exception":"${exceptions[error]}","timestamp":`,
  `,"duration":0,"error_description":${JSON.stringify(description)}}`,
];
for (const error of Object.keys(descriptions) as Array<keyof typeof descriptions>) {
  bodyParts.set(error, partsOf(error, descriptions[error]));
}

/** Answers with the IM REST API's error shape; `Retry-After` in whole seconds, never early. */
function sendError(
  res: ServerResponse,
  status: number,
  error: ErrorName,
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
export const unreadBody: Outcome = Object.freeze({
  kind: 'payload',
  refusal: {
    error: 'unsupported_media_type',
    description: 'request body must be JSON (Content-Type: application/json)',
  } as const,
});

/**
 * Writes what the outcome says to the client; `true` when the request goes on to its handler.
 * Call it only on a response nobody has answered yet (`res.headersSent` is false).
 */
export function answer(outcome: Outcome, res: ServerResponse, config: Pick<Config, 'headers'>): boolean {
  switch (outcome.kind) {
    case 'decided': {
      writeRateHeaders(res, config.headers, outcome.policies, outcome.readings);
      if (outcome.allowed) return true;
      let retryAfterMs = 0;
      let daily = false;
      outcome.readings.forEach((reading, i) => {
        if (reading.allowed) return;
        retryAfterMs = Math.max(retryAfterMs, reading.retryAfterMs);
        if (outcome.checks[i]?.type === 'window') daily = true;
      });
      const error = daily ? 'resource_limited' : 'reach_limit';
      sendError(res, 429, error, descriptions[error], retryAfterMs);
      return false;
    }
    case 'payload': {
      const { error, description } = outcome.refusal;
      sendError(res, error === 'unsupported_media_type' ? 415 : 400, error, description);
      return false;
    }
    case 'membership':
      sendError(res, 403, 'exceed_limit', `user ${outcome.user} has joined too many ${outcome.membership}!`);
      return false;
    case 'unavailable':
      sendError(res, 503, 'service_unavailable', descriptions.service_unavailable);
      return false;
    case 'unlimited':
      return true;
  }
}
