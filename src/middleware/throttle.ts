import type { ServerResponse } from 'node:http';

/** Bytes handed to the socket at a time: small enough to pace smoothly, large enough to be cheap. */
const SLICE_BYTES = 16 * 1024;
/** Body bytes a paced response holds before `write()` returns false and a piped source pauses. */
const HIGH_WATER_BYTES = 64 * 1024;

type WriteCallback = (error?: Error | null) => void;
type Pending = { bytes: Buffer; callback: WriteCallback | undefined };

/**
 * Paces a response body to `bytesPerSecond` (500 KB/s per download by default): by any moment `t` after the first byte is
 * due, at most `bytesPerSecond × t` bytes have been handed to the socket, so a download can never
 * beat the pace. It wraps `res.write` and `res.end`, so it holds for `res.send`, `stream.pipe(res)`
 * and `res.sendFile` alike; `write()` returns false past a small buffer, so a piped source waits
 * (memory does not grow with the file); a client that goes away releases everything at once.
 */
export function throttle(res: ServerResponse, bytesPerSecond: number): void {
  const write = res.write.bind(res) as (chunk: Buffer, callback?: WriteCallback) => boolean;
  const end = res.end.bind(res) as (callback?: () => void) => ServerResponse;
  const queue: Pending[] = [];
  let queuedBytes = 0;
  let sentBytes = 0;
  let startedAt = 0;
  let timer: NodeJS.Timeout | undefined;
  let ending: { callback: (() => void) | undefined; done: boolean } | undefined;
  let needDrain = false;
  let waitingForSocket = false;
  let closed = false;

  const emit = res.emit.bind(res) as (event: string, ...args: unknown[]) => boolean;

  const pump = (): void => {
    timer = undefined;
    while (queue.length > 0 && !closed && !waitingForSocket) {
      const head = queue[0] as Pending;
      const slice = head.bytes.length > SLICE_BYTES ? head.bytes.subarray(0, SLICE_BYTES) : head.bytes;
      const dueAt = startedAt + ((sentBytes + slice.length) / bytesPerSecond) * 1000;
      const waitMs = dueAt - performance.now();
      if (waitMs > 0) {
        timer = setTimeout(pump, Math.ceil(waitMs));
        return;
      }
      const last = slice === head.bytes;
      if (last) queue.shift();
      else head.bytes = head.bytes.subarray(slice.length);
      queuedBytes -= slice.length;
      sentBytes += slice.length;
      if (!write(slice, last ? head.callback : undefined)) waitingForSocket = true;
    }
    if (closed) return;
    if (needDrain && queuedBytes < HIGH_WATER_BYTES) {
      needDrain = false;
      emit('drain');
    }
    if (queue.length === 0 && ending !== undefined && !ending.done) {
      ending.done = true; // once: a 'drain' above may have re-entered pump and ended already
      end(ending.callback);
    }
  };

  // The socket's 'drain' is the pacer's to hear: what waits on `res` (a piped source) must wait for
  // the pacer's own queue instead, or it would refill it at the socket's speed.
  res.emit = ((event: string, ...args: unknown[]): boolean => {
    if (event !== 'drain') return emit(event, ...args);
    if (waitingForSocket && !closed) {
      waitingForSocket = false;
      pump();
    }
    return true;
  }) as ServerResponse['emit'];

  const enqueue = (chunk: unknown, encoding: unknown, callback: WriteCallback | undefined): void => {
    if (chunk === undefined || chunk === null) return;
    const bytes = Buffer.isBuffer(chunk)
      ? chunk
      : typeof chunk === 'string'
        ? Buffer.from(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8')
        : Buffer.from(chunk as Uint8Array);
    if (bytes.length === 0) return;
    if (startedAt === 0) startedAt = performance.now();
    queue.push({ bytes, callback });
    queuedBytes += bytes.length;
    if (timer === undefined && !waitingForSocket) pump();
  };

  res.write = ((chunk: unknown, encoding?: unknown, callback?: unknown): boolean => {
    const done = (typeof encoding === 'function' ? encoding : callback) as WriteCallback | undefined;
    if (closed) return false;
    enqueue(chunk, encoding, done);
    if (queuedBytes >= HIGH_WATER_BYTES) needDrain = true;
    return !needDrain;
  }) as ServerResponse['write'];

  res.end = ((chunk?: unknown, encoding?: unknown, callback?: unknown): ServerResponse => {
    const done = [chunk, encoding, callback].find((arg) => typeof arg === 'function') as (() => void) | undefined;
    if (ending !== undefined || closed) return res;
    ending = { callback: done, done: false };
    if (typeof chunk !== 'function') enqueue(chunk, typeof encoding === 'function' ? undefined : encoding, undefined);
    if (timer === undefined && !waitingForSocket) pump();
    return res;
  }) as ServerResponse['end'];

  res.once('close', () => {
    closed = true;
    if (timer !== undefined) clearTimeout(timer);
    queue.length = 0;
    queuedBytes = 0;
  });
}
