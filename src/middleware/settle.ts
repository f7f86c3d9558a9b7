import type { ServerResponse } from 'node:http';
import type { Admission, Limiter } from '../limiter.js';
import type { PendingMembership } from '../memberships.js';
import { throttle } from './throttle.js';

/** Enough of a response body to read a created group's ID from. */
const CAPTURE_BYTES = 64 * 1024;

/** Carries out what an admitted request still needs once its handler answers. */
export function followAdmission(res: ServerResponse, admission: Admission, limiter: Limiter): void {
  if (admission.paceBytesPerSecond !== undefined) throttle(res, admission.paceBytesPerSecond);
  if (admission.membership !== undefined) settleBeforeAnswer(res, admission.membership, limiter);
}

/**
 * Records a membership change before the response leaves, so a client that reads the answer and
 * joins again meets a ledger that already knows: `res.end` waits for the ledger. A response that
 * never ends (the client went away) undoes a reservation.
 */
function settleBeforeAnswer(res: ServerResponse, pending: PendingMembership, limiter: Limiter): void {
  const chunks: Buffer[] = [];
  let captured = 0;
  const keep = (chunk: unknown, encoding: unknown): void => {
    if (!pending.creates || captured >= CAPTURE_BYTES || chunk == null || typeof chunk === 'function') return;
    const bytes = Buffer.isBuffer(chunk)
      ? chunk
      : Buffer.from(chunk as string, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
    chunks.push(bytes);
    captured += bytes.length;
  };
  let settled = false;
  const settle = (succeeded: boolean): Promise<void> => {
    settled = true;
    return limiter.settle(pending, succeeded, Buffer.concat(chunks).toString('utf8'));
  };

  const write = res.write as (...args: unknown[]) => boolean;
  const end = res.end as (...args: unknown[]) => ServerResponse;
  res.write = function (this: ServerResponse, chunk: unknown, ...rest: unknown[]) {
    keep(chunk, rest[0]);
    return write.call(this, chunk, ...rest);
  } as ServerResponse['write'];
  res.end = function (this: ServerResponse, ...args: unknown[]) {
    if (settled) return end.apply(this, args);
    keep(args[0], args[1]);
    void settle(res.statusCode >= 200 && res.statusCode < 300).then(() => end.apply(this, args));
    return this;
  } as ServerResponse['end'];
  res.once('close', () => {
    if (!settled) void settle(false);
  });
}
