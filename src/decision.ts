import type { Category } from './limits/table.js';

/** The IM REST API's error codes this library answers with (the `error` of its error bodies). */
export type ImErrorCode =
  | 'reach_limit'
  | 'resource_limited'
  | 'illegal_argument'
  | 'message_send_error'
  | 'exceed_limit'
  | 'unsupported_media_type'
  | 'service_unavailable'
  | 'resource_not_found';

/** Why a request was refused (or, in report mode, would have been). */
export type RefusalReason = 'rate' | 'daily' | 'downloads' | 'payload' | 'membership' | 'store';

/** A refusal as a client would be told of it: what `onRefused` receives, and the built-in IM body says. */
export interface Refusal {
  readonly status: number;
  /** The IM REST API's error code: `reach_limit`, `resource_limited`, `illegal_argument`, … */
  readonly error: ImErrorCode;
  readonly description: string;
  readonly reason: RefusalReason;
  /** When the request could be admitted; 0 when waiting does not help. */
  readonly retryAfterMs: number;
}

/** One classified request's decision, as `onDecision` and the metrics see it. */
export interface DecisionEvent {
  readonly appKey: string;
  readonly category: Category;
  readonly edition: string;
  readonly outcome: 'admitted' | 'refused' | 'reported';
  /** Present unless admitted. */
  readonly reason?: RefusalReason;
  /** The figure of the tightest check (the one that refused, else the one with the fewest left); 0 when none ran. */
  readonly limit: number;
  readonly remaining: number;
  readonly retryAfterMs: number;
  /** Time in the store call. */
  readonly storeMs: number;
  /** Decided without the shared store (it was down). */
  readonly degraded: boolean;
}

/** What a handler finds in `res.locals.rateLimit` on an admitted classified request. */
export interface RateLimitInfo {
  readonly appKey: string;
  readonly category: Category;
  readonly edition: string;
  readonly limit: number;
  readonly remaining: number;
  readonly resetMs: number;
}
