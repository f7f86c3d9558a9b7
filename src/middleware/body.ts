import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestHandler } from 'express';

/**
 * Where a request's body stands once the app's parsers had their turn: `read` (parsed, or there
 * was none), `unread` (the app's parsers passed it by: a type they do not parse), or `no-parser`
 * (no parser has run before the limiter, and none was given to it).
 *
 * Whether a parser read the body is told by the request stream (it has ended), never by `req.body`:
 * a body-parser that passes a body by still sets that (`{}` in body-parser 1, Express 4's;
 * `undefined` in 2, Express 5's). That it is set is how a parser that ran before the limiter shows.
 */
export type BodyState = 'read' | 'unread' | 'no-parser';

/**
 * Brings a request's body to where the checks can read it the way the app reads it. A body that no
 * parser has consumed yet goes through the app's own parsers (`bodyParser`) now, so their limit,
 * verify, inflation and charset apply to it exactly once: a parser mounted again after the limiter
 * finds the body consumed and passes (body-parser checks that: `req._body` in 1, the request's end
 * in 2). A parser's refusal (413, 400, 415, a failed `verify`) rejects, for `next(err)`, as if the
 * parser had been mounted first.
 * Answers at once when there is nothing to read.
 */
export function readBody(
  req: IncomingMessage & { body?: unknown },
  res: ServerResponse,
  parsers: readonly RequestHandler[],
): BodyState | Promise<BodyState> {
  if (!carriesBody(req) || req.readableEnded) return 'read';
  if (parsers.length === 0) return 'body' in req ? 'unread' : 'no-parser';
  return new Promise((resolve, reject) => {
    let index = 0;
    const step = (error?: unknown): void => {
      const parser = parsers[index++];
      if (error !== undefined && error !== null) reject(error);
      else if (req.readableEnded || parser === undefined) resolve(req.readableEnded ? 'read' : 'unread');
      else run(parser);
    };
    const run = (parser: RequestHandler): void => {
      let called = false;
      const next = (error?: unknown): void => {
        if (called) return; // a parser that calls next twice
        called = true;
        step(error);
      };
      try {
        (parser as (req: unknown, res: unknown, next: (error?: unknown) => void) => void)(req, res, next);
      } catch (error) {
        next(error);
      }
    };
    step();
  });
}

/** A request with a body to read: chunked, or a non-zero length (an empty POST has nothing to parse). */
function carriesBody(req: IncomingMessage): boolean {
  const { headers } = req;
  return headers['transfer-encoding'] !== undefined || Number(headers['content-length']) > 0;
}
