import type { IncomingMessage } from 'node:http';

export type BodyRead = { readonly body: unknown } | { readonly refusal: 'too_large' | 'invalid_json' };

const none: BodyRead = Object.freeze({ body: undefined });

/**
 * The JSON body of a request that no body parser has read yet, read once: it is left on `req.body`,
 * and the stream ends consumed, so an `express.json()` after the limiter sees a finished request
 * and keeps it rather than reading again.
 */
export function readJsonBody(
  req: IncomingMessage & { body?: unknown },
  maxBytes: number,
): BodyRead | Promise<BodyRead> {
  const type = req.headers['content-type'];
  const hasBody = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
  if (!hasBody || type === undefined || !/\bjson\b/i.test(type) || req.readableEnded || req.complete) return none;
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (read: BodyRead): void => {
      req.off('data', onData).off('end', onEnd).off('error', onError);
      resolve(read);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > maxBytes) {
        req.resume(); // drain the rest so the connection can answer
        finish({ refusal: 'too_large' });
      } else chunks.push(chunk);
    };
    const onEnd = (): void => {
      const text = Buffer.concat(chunks, size).toString('utf8');
      try {
        req.body = text.length === 0 ? undefined : JSON.parse(text);
        finish({ body: req.body });
      } catch {
        finish({ refusal: 'invalid_json' });
      }
    };
    const onError = (): void => finish({ refusal: 'invalid_json' });
    req.on('data', onData).on('end', onEnd).on('error', onError);
  });
}
