import type { ErrorRequestHandler, Request, RequestHandler, Response } from 'express';

const exceptions = {
  illegal_argument: 'IllegalArgumentException',
  request_entity_too_large: 'RequestEntityTooLargeException',
  unsupported_media_type: 'UnsupportedMediaTypeException',
  service_resource_not_found: 'ServiceResourceNotFoundException',
  internal_server_error: 'InternalServerErrorException',
  unauthorized: 'UnauthorizedException',
} as const;

export type ImError = keyof typeof exceptions;

/** A request the demo cannot take: `checked` answers it 400 `illegal_argument`. */
export class BadRequest extends Error {}

/** Answers with the IM REST API's error shape. */
export function refuse(res: Response, status: number, error: ImError, description: string): void {
  res.status(status).json({
    error,
    exception: exceptions[error],
    timestamp: Date.now(),
    duration: 0,
    error_description: description,
  });
}

/** What is read and dropped of a refused body, at most, before its connection is closed. */
const DRAIN_MAX_BYTES = 1024 * 1024;

/**
 * Answers at once, on a connection that closes after it; reads and drops what the client is still
 * sending, so that it reads the answer, up to `DRAIN_MAX_BYTES`: a client that keeps sending is cut off.
 */
export function refuseBody(req: Request, res: Response, status: number, error: ImError, description: string): void {
  res.setHeader('Connection', 'close');
  refuse(res, status, error, description);
  let drained = 0;
  req.on('data', (chunk: Buffer) => {
    drained += chunk.length;
    if (drained > DRAIN_MAX_BYTES) req.socket.destroy();
  });
  req.resume();
}

/**
 * A body no parser took (JSON goes to the JSON parser, uploads to their own): the route does not
 * read it, so it is refused at once, unread, rather than buffered.
 */
export const refuseUnreadBody: RequestHandler = (req, res, next) => {
  const carries = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length']) > 0;
  if (!carries || req.readableEnded) return next();
  refuseBody(
    req,
    res,
    415,
    'unsupported_media_type',
    'this route takes no body but JSON (Content-Type: application/json)',
  );
};

/** Any path outside the catalog. */
export const unknownRoute: RequestHandler = (_req, res) =>
  refuse(res, 404, 'service_resource_not_found', 'no such route');

/**
 * Fixed descriptions of body-parser's refusals: their messages may quote the body (a JSON syntax
 * error names the text around it), and no answer echoes a body.
 */
const parserErrors: Readonly<Record<string, [number, ImError, string]>> = {
  'entity.parse.failed': [400, 'illegal_argument', 'the request body is not valid JSON'],
  'entity.verify.failed': [400, 'illegal_argument', 'the request body failed verification'],
  'entity.too.large': [413, 'request_entity_too_large', 'the request body is larger than this route accepts'],
  'request.aborted': [400, 'illegal_argument', 'the request body was cut short'],
  'request.size.invalid': [400, 'illegal_argument', 'the request body does not match its Content-Length'],
  'encoding.unsupported': [415, 'unsupported_media_type', 'the Content-Encoding of the body is not supported'],
  'charset.unsupported': [415, 'unsupported_media_type', 'the charset of the body is not supported'],
};

/**
 * The last handler: every error ends as the IM error body. A client error (`status` 4xx, as Express
 * and body-parser give it) keeps its status with a fixed description; anything else is a 500 that
 * names nothing of the server (no message, stack or path), and is logged here instead.
 */
export const answerErrors: ErrorRequestHandler = (error: unknown, req, res, next) => {
  if (res.headersSent) return next(error); // Express closes the connection: nothing more can be said
  const { type, status } = (error ?? {}) as { type?: unknown; status?: unknown };
  const known = typeof type === 'string' ? parserErrors[type] : undefined;
  if (known !== undefined) return refuse(res, ...known);
  if (typeof status === 'number' && status >= 400 && status < 500) {
    if (status === 404) return unknownRoute(req, res, next);
    return refuse(res, status, 'illegal_argument', 'the request is malformed');
  }
  console.error('demo: an error while answering', req.method, req.path, error);
  refuse(res, 500, 'internal_server_error', 'the server failed to answer this request');
};
