import type { ServerResponse } from 'node:http';
import zlib from 'node:zlib';
import type { Admission, Limiter } from '../limiter.js';
import { andThen } from '../maybe-async.js';
import { type PendingMembership, readsAnswer } from '../membership/gate.js';
import type { Check } from '../store/store.js';
import { throttle } from './throttle.js';

/** Enough of a response body to read a created group's ID or a batch add's new members from. */
const CAPTURE_BYTES = 64 * 1024;

/** Carries out what an admitted request still needs once its handler answers. */
export function followAdmission(res: ServerResponse, admission: Admission, limiter: Limiter): void {
  if (admission.paceBytesPerSecond !== undefined) throttle(res, admission.paceBytesPerSecond);
  if (admission.refundOnRejection !== undefined) refundOnRejection(res, admission.refundOnRejection, limiter);
  if (admission.membership !== undefined) concludeOnAnswer(res, admission.membership, limiter);
}

/**
 * A download the IM server refused (4xx: no such file, an app it does not know) gives back what
 * `checks` name, its cluster-wide token: otherwise requests for invented apps' files would drain
 * the bucket every app shares. Read on the handler's own `res.end`, once, so a client that hangs up
 * before the answer does not keep the token taken.
 */
function refundOnRejection(res: ServerResponse, checks: readonly Check[], limiter: Limiter): void {
  const end = res.end as (...args: unknown[]) => ServerResponse;
  let answered = false;
  res.end = function (this: ServerResponse, ...args: unknown[]) {
    if (!answered) {
      answered = true;
      if (res.statusCode >= 400 && res.statusCode < 500) limiter.refund(checks);
    }
    return end.apply(this, args);
  } as ServerResponse['end'];
}

/**
 * Concludes a membership change on the handler's own answer (its status, and for a created group or
 * a batch add its body), before that answer leaves, so a client that reads it and joins again meets
 * a ledger that already knows: `res.end` waits for the ledger (never longer than the store's
 * timeout). A client that goes away changes nothing: the handler may still complete the join; a
 * handler that never answers leaves its reservation to lapse.
 */
function concludeOnAnswer(res: ServerResponse, pending: PendingMembership, limiter: Limiter): void {
  const capture = readsAnswer(pending);
  const chunks: Buffer[] = [];
  let captured = 0;
  const keep = (chunk: unknown, encoding: unknown): void => {
    if (!capture || captured >= CAPTURE_BYTES || chunk == null || typeof chunk === 'function') return;
    const bytes = Buffer.isBuffer(chunk)
      ? chunk
      : Buffer.from(chunk as string, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
    chunks.push(bytes);
    captured += bytes.length;
  };
  let concluded = false;
  const write = res.write as (...args: unknown[]) => boolean;
  const end = res.end as (...args: unknown[]) => ServerResponse;
  res.write = function (this: ServerResponse, chunk: unknown, ...rest: unknown[]) {
    keep(chunk, rest[0]);
    return write.call(this, chunk, ...rest);
  } as ServerResponse['write'];
  res.end = function (this: ServerResponse, ...args: unknown[]) {
    if (concluded) return end.apply(this, args);
    concluded = true;
    keep(args[0], args[1]);
    const succeeded = res.statusCode >= 200 && res.statusCode < 300;
    const body = capture ? decoded(Buffer.concat(chunks), res.getHeader('content-encoding')) : '';
    void andThen(limiter.conclude(pending, succeeded, body), () => end.apply(this, args));
    return this;
  } as ServerResponse['end'];
}

/** A captured answer as text, inflated when a `compression()` after the limiter encoded it. */
function decoded(bytes: Buffer, encoding: unknown): string {
  const options = { maxOutputLength: CAPTURE_BYTES, finishFlush: zlib.constants.Z_SYNC_FLUSH };
  try {
    if (encoding === 'gzip') return zlib.gunzipSync(bytes, options).toString('utf8');
    if (encoding === 'deflate') return zlib.inflateSync(bytes, options).toString('utf8');
    if (encoding === 'br') {
      return zlib.brotliDecompressSync(bytes, { maxOutputLength: CAPTURE_BYTES }).toString('utf8');
    }
  } catch {
    return ''; // cut short at CAPTURE_BYTES, or not what it said: no ID to read
  }
  return bytes.toString('utf8');
}
