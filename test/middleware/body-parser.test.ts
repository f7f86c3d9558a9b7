import { createHmac } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import type { ErrorRequestHandler, Express, RequestHandler } from 'express';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { imRateLimit, MemoryStore } from '../../src/index.js';
import { FakeClock, linesInto } from '../helpers.js';
import { type ExpressFactory, expressVersions } from '../support/express.js';

const secret = 'hmac-secret';
const sign = (body: Buffer | string) => createHmac('sha256', secret).update(body).digest('hex');

/**
 * An IM server whose JSON parser has a 10 KB limit and an HMAC `verify`, mounted before the limiter
 * or after it (then handed to it as `bodyParser`). Counts verify calls and handler runs.
 */
function server(express: ExpressFactory, order: 'parser first' | 'limiter first') {
  const seen = { verified: 0, handled: 0 };
  const json = express.json({
    limit: '10kb',
    verify: (req, _res, buffer) => {
      seen.verified++;
      if (req.headers['x-signature'] !== sign(buffer)) throw Object.assign(new Error('bad signature'), { status: 403 });
    },
  });
  const store = new MemoryStore({ clock: new FakeClock().now });
  const app = express();
  if (order === 'parser first') app.use(json, imRateLimit({ store }));
  else app.use(imRateLimit({ store, bodyParser: json }), json);
  app.post('/:org/:app/messages/users', (_req, res) => {
    seen.handled++;
    res.json({ ok: true });
  });
  app.use(((error, _req, res, _next) => {
    res.status(error.status ?? 500).json({ parserError: error.type ?? error.message });
  }) satisfies ErrorRequestHandler);
  return { app, seen };
}

const sendTo = (app: Express, body: Buffer | string, headers: Record<string, string> = {}) =>
  request(app)
    .post('/acme/chat/messages/users')
    .set({ 'Content-Type': 'application/json', 'X-Signature': sign(body), ...headers })
    .serialize((raw: unknown) => raw as string) // bytes as they are, gzip included
    .send(body);

const message = (text: string) => JSON.stringify({ to: ['bob'], type: 'txt', body: { msg: text } });

describe.each(expressVersions)('$name', ({ express }) => {
  describe.each(['parser first', 'limiter first'] as const)("the app's body parser stays in charge (%s)", (order) => {
    it('applies its limit: a 900 KB message is refused 413 by the parser and never reaches the handler', async () => {
      const { app, seen } = server(express, order);
      const response = await sendTo(app, message('x'.repeat(900 * 1024)));
      expect(response.status).toBe(413);
      expect(response.body).toEqual({ parserError: 'entity.too.large' });
      expect(seen.handled).toBe(0);
    });

    it('runs verify exactly once per body, and a failed verify refuses the request', async () => {
      const { app, seen } = server(express, order);
      const ok = await sendTo(app, message('hi'));
      expect(ok.status).toBe(200);
      expect(ok.headers.ratelimit).toBe('"messages";r=9;t=1, "messages-daily";r=19999;t=43200');
      expect(seen).toEqual({ verified: 1, handled: 1 });
      const forged = await sendTo(app, message('hi'), { 'X-Signature': 'forged' });
      expect(forged.status).toBe(403);
      expect(seen).toEqual({ verified: 2, handled: 1 });
    });

    it('inflates a gzip body as the app does, and measures the message it inflated', async () => {
      const { app, seen } = server(express, order);
      const small = gzipSync(message('hi'));
      const ok = await sendTo(app, small, { 'Content-Encoding': 'gzip', 'X-Signature': sign(message('hi')) });
      expect(ok.status).toBe(200);
      const big = message('x'.repeat(5000)); // 5 KB inflated, far less on the wire
      const refused = await sendTo(app, gzipSync(big), { 'Content-Encoding': 'gzip', 'X-Signature': sign(big) });
      expect(refused.status).toBe(400);
      expect(refused.body.error).toBe('message_send_error');
      expect(seen.handled).toBe(1);
    });

    it('answers 415 for a body of a type the app does not parse, on a route whose limits read the body', async () => {
      const { app, seen } = server(express, order);
      const response = await sendTo(app, message('x'.repeat(9000)), { 'Content-Type': 'text/plain' });
      expect(response.status).toBe(415);
      expect(response.body).toMatchObject({
        error: 'unsupported_media_type',
        error_description: 'request body must be JSON (Content-Type: application/json)',
      });
      expect(seen.handled).toBe(0);
    });
  });

  describe('with no parser before the limiter and none given to it', () => {
    it('fails the request with ERR_NO_BODY_PARSER and says how to mount it, once in the log', async () => {
      const warnings: string[] = [];
      const errors: unknown[] = [];
      const app = express();
      app.use(imRateLimit({ logger: linesInto(warnings) }), express.json());
      app.post('/:org/:app/messages/users', ((_req, res) => res.json({ ok: true })) satisfies RequestHandler);
      app.use(((error, _req, res, _next) => {
        errors.push(error.code);
        res.status(500).end();
      }) satisfies ErrorRequestHandler);
      for (let i = 0; i < 2; i++) expect((await sendTo(app, message('hi'))).status).toBe(500);
      expect(errors).toEqual(['ERR_NO_BODY_PARSER', 'ERR_NO_BODY_PARSER']);
      expect(warnings).toEqual([
        'im-rate-limit: WRN_PARSER_AFTER_LIMITER: this route is limited by its JSON body, but no body parser ran ' +
          'before the limiter: mount express.json() before it, or pass the parser as its bodyParser option',
      ]);
      // a route whose limits do not read the body is limited as ever
      expect((await request(app).get('/acme/chat/users/alice')).status).toBe(404);
      expect((await request(app).get('/acme/chat/users/alice')).headers.ratelimit).toBe('"users";r=8;t=1');
    });
  });
});
