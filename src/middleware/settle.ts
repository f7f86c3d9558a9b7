import type { ServerResponse } from 'node:http';
import type { Admission, Limiter } from '../limiter.js';
import { throttle } from './throttle.js';

/** Enough of a response body to read a created group's ID from. */
const CAPTURE_BYTES = 64 * 1024;

/** Carries out what an admitted request still needs once its handler answers. */
export function followAdmission(res: ServerResponse, admission: Admission, limiter: Limiter): void {
  if (admission.paceBytesPerSecond !== undefined) throttle(res, admission.paceBytesPerSecond);
  const pending = admission.membership;
  if (pending === undefined) return;
  const body = pending.creates ? captureBody(res) : undefined;
  let settled = false;
  const settle = (succeeded: boolean): void => {
    if (settled) return;
    settled = true;
    void limiter.settle(pending, succeeded, body?.text() ?? '');
  };
  res.once('finish', () => settle(res.statusCode >= 200 && res.statusCode < 300));
  res.once('close', () => settle(false)); // the client went away before the answer was complete
}

/** Keeps a copy of the first bytes a handler writes, leaving what it writes untouched. */
function captureBody(res: ServerResponse): { text(): string } {
  const chunks: Buffer[] = [];
  let size = 0;
  const keep = (chunk: unknown, encoding: unknown): void => {
    if (size >= CAPTURE_BYTES || chunk === undefined || chunk === null || typeof chunk === 'function') return;
    const bytes = Buffer.isBuffer(chunk)
      ? chunk
      : Buffer.from(chunk as string, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
    chunks.push(bytes);
    size += bytes.length;
  };
  const write = res.write;
  const end = res.end;
  res.write = function (this: ServerResponse, chunk: unknown, ...rest: unknown[]) {
    keep(chunk, rest[0]);
    return (write as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
  } as ServerResponse['write'];
  res.end = function (this: ServerResponse, chunk?: unknown, ...rest: unknown[]) {
    keep(chunk, rest[0]);
    return (end as (...args: unknown[]) => ServerResponse).call(this, chunk, ...rest);
  } as ServerResponse['end'];
  return { text: () => Buffer.concat(chunks).toString('utf8') };
}
