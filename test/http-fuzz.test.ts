import type { Server } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { brotliCompressSync, constants, deflateSync, gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDemoApp } from '../demo/app.js';
import { routes } from '../src/catalog.js';
import { MemoryStore } from '../src/index.js';
import { concretePath, FakeClock } from './helpers.js';
import { closeServer, listen, turn } from './support/raw-http.js';

/** Fixed so a failure replays: fast-check prints it with the counterexample's path. */
const SEED = 20_261_128;
const RUNS = 2500;
/** A request with no status line back within this is a hang. */
const ANSWER_WITHIN_MS = 5000;

const DEPTH = 10_000;
/**
 * Large or raw parts of a body, named in the generated recipe so a counterexample prints short,
 * and expanded into bytes when the request is sent.
 */
const named = new Map<string, Buffer>([
  ['<deep-array>', Buffer.from(`${'['.repeat(DEPTH)}${']'.repeat(DEPTH)}`)],
  ['<deep-object>', Buffer.from(`${'{"a":'.repeat(DEPTH)}1${'}'.repeat(DEPTH)}`)],
  ['<100k-list>', Buffer.from(JSON.stringify(Array.from({ length: 100_000 }, (_, i) => `u${i}`)))],
  ['<2MB-string>', Buffer.from(JSON.stringify('x'.repeat(2 * 1024 * 1024)))],
  ['<invalid-utf8>', Buffer.from([0xff, 0xfe, 0xc0, 0xaf, 0xed, 0xa0, 0x80])],
]);
const placeholder = /(<[\w-]+>)/;

const expand = (recipe: string): Buffer =>
  Buffer.concat(recipe.split(placeholder).map((piece) => named.get(piece) ?? Buffer.from(piece, 'utf8')));

/** Fields the limiter or the demo's handlers read. */
const fields = ['msg', 'body', 'ext', 'to', 'target', 'usernames', 'members', 'username', 'owner', 'from', 'type'];
const hostileKeys = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf'];
/** JSON values of every type, for a field that expects one. */
const values = ['1', '"x"', 'null', 'true', '{}', '[]', '[1,null,{}]', '{"toString":1}', '[{"valueOf":{}}]', '1e400'];

/** A body recipe (see `named`); `undefined`: no body at all. */
const body = fc.oneof(
  { arbitrary: fc.constantFrom(undefined, ''), weight: 4 },
  {
    arbitrary: fc
      .array(fc.constantFrom('alice', 'bob', 'x'.repeat(70)), { maxLength: 4 })
      .map((to) => JSON.stringify({ to, type: 'txt', body: { msg: 'hi' }, ext: { k: 1 } })),
    weight: 4,
  },
  {
    arbitrary: fc
      .tuple(
        fc.constantFrom(...fields),
        fc.constantFrom('<deep-array>', '<deep-object>', '<100k-list>', '<2MB-string>'),
      )
      .map(([field, part]) => `{"${field}":${part}}`),
    weight: 3,
  },
  { arbitrary: fc.constantFrom('<deep-array>', '<deep-object>', '<100k-list>'), weight: 1 },
  {
    arbitrary: fc
      .tuple(fc.constantFrom(...hostileKeys), fc.constantFrom(...values), fc.constantFrom(...fields))
      .map(([key, value, field]) => `{"${key}":${value},"${field}":[{"${key}":${value}}],"to":["a"]}`),
    weight: 4,
  },
  {
    arbitrary: fc
      .tuple(fc.constantFrom(...fields), fc.constantFrom(...values))
      .map(([field, value]) => `{"${field}":${value}}`),
    weight: 6,
  },
  {
    arbitrary: fc.constantFrom(...fields).map((field) => `{"${field}":["a"],"${field}":"b","${field}":{"${field}":1}}`),
    weight: 2,
  },
  { arbitrary: fc.constantFrom(...fields).map((field) => `{"${field}":[1e400,-1e400],"n":-1e400}`), weight: 1 },
  { arbitrary: fc.constantFrom(...fields).map((field) => `{"${field}":"<invalid-utf8>"}`), weight: 2 },
  {
    arbitrary: fc.constantFrom('"x"', '123', 'null', 'true', '[null]', '[1]', '[]', '{}', '[{"username":{}}]'),
    weight: 4,
  },
  { arbitrary: fc.string({ maxLength: 64 }), weight: 2 },
);

const anyMethod = fc.oneof(
  { arbitrary: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'PATCH', 'OPTIONS'), weight: 12 },
  { arbitrary: fc.constantFrom('get', 'FOO', 'TRACE', 'P OST', '\x00', ''), weight: 1 },
);

/** Routes whose checks read the body: sends, membership lists, user IDs. */
const bodyRoutes = routes.filter(
  (route) =>
    route.sends !== undefined ||
    route.membership !== undefined ||
    ((route.category === 'users' || route.category === 'contacts') &&
      route.method !== 'GET' &&
      route.method !== 'DELETE'),
);

/** Parameter values: odd encodings, too long, several at once, raw bytes past ASCII. */
const oddParam = fc.constantFrom(
  '%',
  '%zz',
  '%00',
  '%2F',
  '%2e%2e',
  '%C0%AF',
  '%E2%82',
  '%ff',
  '%25',
  'a,b,c',
  'x'.repeat(70),
  'x'.repeat(9000),
  'caf\xc3\xa9',
  '..',
  '%F0%9F%98%80',
);

/** A catalog route made concrete, mostly with its own method. */
const catalogRequest = fc
  .record({
    route: fc.oneof({ arbitrary: fc.constantFrom(...bodyRoutes), weight: 3 }, fc.constantFrom(...routes)),
    other: fc.option(anyMethod, { freq: 4 }),
    org: fc.constantFrom('acme', 'ACME', 'other', 'o'.repeat(80)),
    app: fc.constantFrom('chat', 'Chat', 'two', '%63hat'),
    param: fc.option(oddParam, { freq: 3 }),
  })
  .map(({ route, other, org, app, param }) => ({
    method: other ?? route.method,
    target:
      param === null
        ? concretePath(`/{org}/{app}/${route.path}`, org, app)
        : `/${org}/${app}/${route.path.replace(/\{\w+\}/g, param)}`,
  }));

const request = fc.oneof(
  { arbitrary: catalogRequest, weight: 10 },
  {
    arbitrary: fc
      .tuple(
        catalogRequest,
        fc.constantFrom(
          (t: string) => `${t}#fragment`,
          (t: string) => `${t}?limit=-1&cursor=%zz&to=a&to=b`,
          (t: string) => `http://localhost${t}`,
          (t: string) => `${t}/`,
          (t: string) => `/${t}`,
          (t: string) => t.toUpperCase(),
          (t: string) => t.replace(/\/(\w)/, '/%$1'),
          (t: string) => `${t}/${'y'.repeat(20_000)}`,
        ),
      )
      .map(([{ method, target }, mutate]) => ({ method, target: mutate(target) })),
    weight: 6,
  },
  {
    arbitrary: fc.record({
      method: anyMethod,
      target: fc.oneof(
        fc.constantFrom('*', '', '/', 'acme/chat/users', '//acme//chat//users', '/acme/chat/users\x7f', ' '),
        fc.string({ unit: 'binary', maxLength: 40 }).map((s) => `/${s}`),
      ),
    }),
    weight: 2,
  },
);

const contentType = fc.oneof(
  { arbitrary: fc.constant('application/json'), weight: 8 },
  {
    arbitrary: fc.constantFrom(
      undefined,
      'application/json; charset=utf-8',
      'application/json; charset=utf-16',
      'application/json; charset=bogus',
      'text/plain',
      'application/octet-stream',
      'application/x-www-form-urlencoded',
      'application/merge-patch+json',
      'json',
    ),
    weight: 8,
  },
);

const contentEncoding = fc.oneof(
  { arbitrary: fc.constant(undefined), weight: 8 },
  { arbitrary: fc.constantFrom('identity', 'gzip', 'deflate', 'br', 'bogus', 'gzip, gzip'), weight: 4 },
);

const compress: Record<string, (bytes: Buffer) => Buffer> = {
  gzip: gzipSync,
  deflate: deflateSync,
  // brotli's default quality takes a second on the larger bodies; the server decodes any quality alike
  br: (bytes) => brotliCompressSync(bytes, { params: { [constants.BROTLI_PARAM_QUALITY]: 4 } }),
};

const exchangeSpec = fc.record({
  request,
  contentType,
  contentEncoding,
  /** The body as encoded (when the encoding is one zlib knows), or sent raw under the encoding's name. */
  encodeBody: fc.boolean(),
  framing: fc.oneof(
    { arbitrary: fc.constant('length'), weight: 7 },
    { arbitrary: fc.constant('chunked'), weight: 2 },
    { arbitrary: fc.constant('both'), weight: 1 },
  ),
  chunkSize: fc.integer({ min: 1, max: 4096 }),
  body,
});
type ExchangeSpec = typeof exchangeSpec extends fc.Arbitrary<infer T> ? T : never;

/** The bytes of one request, framed by Content-Length, chunked, or (a smuggling attempt) both. */
function bytesOf(spec: ExchangeSpec): Buffer[] {
  const encoder = spec.contentEncoding === undefined ? undefined : compress[spec.contentEncoding];
  const raw = spec.body === undefined ? undefined : expand(spec.body);
  const payload = raw !== undefined && spec.encodeBody && encoder ? encoder(raw) : raw;
  let head = `${spec.request.method} ${spec.request.target} HTTP/1.1\r\nHost: localhost\r\n`;
  if (spec.contentType !== undefined) head += `Content-Type: ${spec.contentType}\r\n`;
  if (spec.contentEncoding !== undefined) head += `Content-Encoding: ${spec.contentEncoding}\r\n`;
  if (payload === undefined) return [Buffer.from(`${head}\r\n`, 'latin1')];
  if (spec.framing !== 'chunked') head += `Content-Length: ${payload.length}\r\n`;
  if (spec.framing === 'length') return [Buffer.from(`${head}\r\n`, 'latin1'), payload];
  head += 'Transfer-Encoding: chunked\r\n';
  // at most ~64 chunks, so a 2 MB body is not a million writes
  const size = Math.max(spec.chunkSize, Math.ceil(payload.length / 64));
  const pieces: Buffer[] = [Buffer.from(`${head}\r\n`, 'latin1')];
  for (let at = 0; at < payload.length; at += size) {
    const chunk = payload.subarray(at, at + size);
    pieces.push(Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n'));
  }
  pieces.push(Buffer.from('0\r\n\r\n'));
  return pieces;
}

type Answer = { status: number } | { failure: 'no answer in time' | 'closed without a status line' | 'garbled' };

/** Sends one request on its own connection and reads back its status line; a reset after it does not matter. */
function exchange(server: Server, parts: readonly Buffer[]): Promise<Answer> {
  const { port } = server.address() as AddressInfo;
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let received = '';
    const finish = (answer: Answer): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(answer);
    };
    const timer = setTimeout(() => finish({ failure: 'no answer in time' }), ANSWER_WITHIN_MS);
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
      const end = received.indexOf('\r\n');
      if (end === -1) return;
      const status = /^HTTP\/1\.1 (\d{3}) /.exec(received.slice(0, end + 2));
      finish(status ? { status: Number(status[1]) } : { failure: 'garbled' });
    });
    // the server may answer and close before the whole body is written: the status line decides
    socket.on('error', () => undefined);
    socket.on('close', () => finish({ failure: 'closed without a status line' }));
    for (const part of parts) socket.write(part);
  });
}

describe('the demo server under generated hostile requests', () => {
  const clock = new FakeClock();
  const unhandledRejections: unknown[] = [];
  const uncaughtExceptions: unknown[] = [];
  const onRejection = (reason: unknown): void => void unhandledRejections.push(reason);
  const onException = (error: unknown): void => void uncaughtExceptions.push(error);
  let server: Server;

  beforeAll(async () => {
    process.on('unhandledRejection', onRejection);
    process.on('uncaughtException', onException);
    const { app } = createDemoApp({ edition: 'enterprise', store: new MemoryStore({ clock: clock.now }) });
    server = await listen(app);
  });
  afterAll(async () => {
    await closeServer(server);
    process.off('unhandledRejection', onRejection);
    process.off('uncaughtException', onException);
  });

  it(`answers ${RUNS} requests, each below 500 and within ${ANSWER_WITHIN_MS} ms, and the process never sees an unhandled error`, async () => {
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(exchangeSpec, async (spec) => {
        clock.advance(60_000); // every bucket full again: the request reaches its handler unless refused for itself
        const answer = await exchange(server, bytesOf(spec));
        await turn(); // lets a rejection the request left behind surface now, against this request
        expect({ unhandledRejections, uncaughtExceptions }).toEqual({
          unhandledRejections: [],
          uncaughtExceptions: [],
        });
        expect(answer).toEqual({ status: expect.any(Number) });
        const { status } = answer as { status: number };
        expect(status).toBeLessThan(500);
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
      }),
      { seed: SEED, numRuns: RUNS, endOnFailure: true },
    );
    // the generator reaches the handlers as well as the refusals (a body of a type no parser reads is refused 415)
    expect(statuses.get(200)).toBeGreaterThan(RUNS / 25);
  }, 60_000);
});
