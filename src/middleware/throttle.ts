import type { ServerResponse } from 'node:http';

/** Bytes handed to the socket at a time: small enough to pace smoothly, large enough to be cheap. */
const SLICE_BYTES = 16 * 1024;
/** Body bytes a paced response holds before `write()` returns false and a piped source pauses. */
const HIGH_WATER_BYTES = 64 * 1024;

type WriteCallback = (error?: Error | null) => void;
type Pending = { bytes: Buffer; callback: WriteCallback | undefined };

/** What Node passes a write callback on a stream already destroyed. */
function destroyedError(): Error {
  return Object.assign(new Error('Cannot call write after a stream was destroyed'), { code: 'ERR_STREAM_DESTROYED' });
}

/** A chunk of `write`/`end` as bytes (a view, not a copy, where it can be); undefined for none. */
function bytesOf(chunk: unknown, encoding: unknown): Buffer | undefined {
  if (chunk === undefined || chunk === null || typeof chunk === 'function') return undefined;
  if (Buffer.isBuffer(chunk)) return chunk;
  if (typeof chunk === 'string') {
    return Buffer.from(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
  }
  const view = chunk as Uint8Array;
  return Buffer.from(view.buffer, view.byteOffset, view.byteLength);
}

/**
 * Whether Node sends this response without a body (HEAD, 204, 304, 1xx), as `http` decides it once
 * the status is final: it drops what is written, so there is nothing to pace and the answer must
 * not wait for bytes that never leave.
 */
function bodiless(res: ServerResponse): boolean {
  const status = res.statusCode;
  return status === 204 || status === 304 || (status >= 100 && status < 200) || res.req?.method === 'HEAD';
}

/**
 * Whether Node would frame `end(body)`, called before anything is written, by the body's length (the
 * rule of its `_storeHeader`): headers not sent yet, and no length, transfer coding or trailer declared,
 * nor a length removed on purpose.
 */
function framedByLength(res: ServerResponse): boolean {
  return (
    !res.headersSent &&
    !res.hasHeader('content-length') &&
    !res.hasHeader('transfer-encoding') &&
    !res.hasHeader('trailer') &&
    (res as { _removedContLen?: boolean })._removedContLen !== true
  );
}

/**
 * Paces a response body to `bytesPerSecond` (500 KB/s per download by default): by any moment `t` after the first byte is
 * due, at most `bytesPerSecond × t` bytes have been handed to the socket, so a download can never
 * beat the pace. It wraps `res.write` and `res.end`, so it holds for `res.send`, `stream.pipe(res)`
 * and `res.sendFile` alike; `write()` returns false past a small buffer, so a piped source waits
 * (memory does not grow with the file); a client that goes away releases everything at once.
 *
 * The framing is the one Node would have chosen unpaced: a `Content-Length` the handler set is kept
 * (the body goes out under it slice by slice), `res.end(body)` with nothing written before gets
 * `Content-Length` from the body's byte length (Node's own rule for `end(body)`, which paced slices
 * would otherwise turn into a chunked transfer), and a body written without a length stays chunked.
 * A response without a body (HEAD, 204, 304) goes straight through, unpaced.
 */
export function throttle(res: ServerResponse, bytesPerSecond: number): void {
  const write = res.write.bind(res) as (chunk: unknown, ...rest: unknown[]) => boolean;
  const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse;
  const queue: Pending[] = [];
  let queuedBytes = 0;
  let sentBytes = 0;
  let startedAt = 0;
  let timer: NodeJS.Timeout | undefined;
  let ending: { callback: (() => void) | undefined; done: boolean } | undefined;
  let needDrain = false;
  let waitingForSocket = false;
  let closed = false;
  /** Whether the handler has written or ended: the status is final then, and so is the choice below. */
  let begun = false;
  /** A response without a body: every call goes to Node as it came. */
  let passThrough = false;
  /** Decides, on the handler's first write or end, whether this response is paced at all. */
  const begin = (): void => {
    begun = true;
    passThrough = bodiless(res);
  };

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
    if (event !== 'drain' || passThrough) return emit(event, ...args);
    if (waitingForSocket && !closed) {
      waitingForSocket = false;
      pump();
    }
    return true;
  }) as ServerResponse['emit'];

  const enqueue = (bytes: Buffer | undefined, callback: WriteCallback | undefined): void => {
    if (bytes === undefined || bytes.length === 0) return;
    if (startedAt === 0) startedAt = performance.now();
    queue.push({ bytes, callback });
    queuedBytes += bytes.length;
    if (timer === undefined && !waitingForSocket) pump();
  };

  res.write = ((chunk: unknown, encoding?: unknown, callback?: unknown): boolean => {
    if (!begun) begin();
    if (passThrough) return write(chunk, encoding, callback);
    const done = (typeof encoding === 'function' ? encoding : callback) as WriteCallback | undefined;
    if (closed) {
      if (done !== undefined) process.nextTick(done, destroyedError()); // as Node calls back on a destroyed stream
      return false;
    }
    enqueue(bytesOf(chunk, encoding), done);
    if (queuedBytes >= HIGH_WATER_BYTES) needDrain = true;
    return !needDrain;
  }) as ServerResponse['write'];

  res.end = ((chunk?: unknown, encoding?: unknown, callback?: unknown): ServerResponse => {
    const wrote = begun;
    if (!begun) begin();
    if (passThrough) return end(chunk, encoding, callback);
    if (ending !== undefined || closed) return res;
    const done = (typeof chunk === 'function' ? chunk : typeof encoding === 'function' ? encoding : callback) as
      | (() => void)
      | undefined;
    ending = { callback: done, done: false };
    const bytes = bytesOf(chunk, typeof encoding === 'function' ? undefined : encoding);
    // the whole body in one call: Node would send it with its length, and so does the pacer
    if (bytes !== undefined && !wrote && framedByLength(res)) res.setHeader('Content-Length', bytes.length);
    enqueue(bytes, undefined);
    if (timer === undefined && !waitingForSocket) pump();
    return res;
  }) as ServerResponse['end'];

  // the client went away: what waited on a write hears of it, as Node tells it, and nothing is held
  res.once('close', () => {
    closed = true;
    if (timer !== undefined) clearTimeout(timer);
    const waiting = queue.splice(0);
    queuedBytes = 0;
    for (const { callback } of waiting) if (callback !== undefined) process.nextTick(callback, destroyedError());
  });
}
