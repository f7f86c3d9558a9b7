import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest, type Server } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Express, Response } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { imRateLimit } from '../../src/index.js';
import { type ExpressFactory, expressVersions } from '../support/express.js';
import { closeServer, listen } from '../support/raw-http.js';

const KiB = 1024;
const MiB = 1024 * KiB;
/** More than the pacer's 16 KiB slices and its 64 KiB buffer: the body goes out in many paced writes. */
const content = randomBytes(200 * KiB);
const dir = mkdtempSync(join(tmpdir(), 'imrl-pacer-length-'));
const file = join(dir, 'file.bin');
/** Two-, three- and four-byte UTF-8 characters: its byte length is not its length. */
const text = 'héllo wörld, 你好, 🙂 '.repeat(4000);
const hex = content.subarray(0, 50 * KiB).toString('hex');
/** A view into the middle of a larger buffer: its bytes, and its length, are the view's alone. */
const view = new Uint8Array(content.buffer, content.byteOffset + 1000, 100 * KiB);

beforeAll(() => writeFileSync(file, content));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Each file UUID answers with one way of writing a body. */
const handlers: Record<string, (res: Response) => void> = {
  'end-buffer': (res) => res.end(content),
  'end-string': (res) => res.type('text/plain').end(text),
  'end-hex': (res) => res.end(hex, 'hex'),
  'end-view': (res) => res.end(view),
  'end-callback': (res) => res.end(content, () => undefined),
  'end-empty': (res) => res.end(),
  'length-pipe': (res) => {
    res.setHeader('Content-Length', content.length);
    createReadStream(file).pipe(res);
  },
  'send-file': (res) => res.sendFile(file),
  'send-buffer': (res) => res.send(content),
  'write-then-end': (res) => {
    for (let at = 0; at < content.length; at += 50 * KiB) res.write(content.subarray(at, at + 50 * KiB));
    res.end();
  },
  'write-then-end-buffer': (res) => {
    res.write(content.subarray(0, 1000));
    res.end(content.subarray(1000));
  },
  'pipe-without-length': (res) => {
    createReadStream(file).pipe(res);
  },
  'head-sent-then-end': (res) => {
    res.writeHead(200);
    res.end(content);
  },
  'chunked-set-then-end': (res) => {
    res.setHeader('Transfer-Encoding', 'chunked');
    res.end(content);
  },
  'trailer-then-end': (res) => {
    if (res.req.method === 'HEAD') return void res.end(); // Node throws on trailers without a body
    res.setHeader('Trailer', 'X-Checksum');
    res.addTrailers({ 'X-Checksum': 'abc' });
    res.end(content);
  },
  'length-removed-then-end': (res) => {
    res.removeHeader('Content-Length');
    res.end(content);
  },
  'no-content': (res) => res.status(204).end(content),
  'not-modified': (res) => res.status(304).end(),
};

/** The same handlers on a bare Express app (Node frames the answer) and behind the limiter (paced). */
function appOf(express: ExpressFactory, paced: boolean): Express {
  const app = express();
  if (paced) {
    // a fast pace, so the suite is quick; every answer still goes through the pacer's slices
    const figures = { ratePerSecond: 10_000, downloadBytesPerSecond: 8 * MiB };
    app.use(imRateLimit({ clusterDownloadsPerSecond: 10_000, overrides: { 'acme#chat': { files: figures } } }));
  }
  app.get('/:org/:app/chatfiles/:uuid', (req, res) => handlers[String(req.params.uuid)]?.(res));
  return app;
}

interface Answer {
  status: number;
  contentLength: string | undefined;
  transferEncoding: string | undefined;
  contentType: string | undefined;
  body: Buffer;
}

/** One request on its own connection, read as the bytes and framing headers that arrived. */
function fetchRaw(server: Server, method: string, path: string, headers: Record<string, string> = {}): Promise<Answer> {
  const { port } = server.address() as AddressInfo;
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          contentLength: res.headers['content-length'],
          transferEncoding: res.headers['transfer-encoding'],
          contentType: res.headers['content-type'],
          body: Buffer.concat(chunks),
        }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

/** An answer with its body as a digest: a deep comparison of two 200 KiB buffers goes byte by byte, slowly. */
const summary = ({ body, ...framing }: Answer) => ({
  ...framing,
  bodyBytes: body.length,
  bodySha256: createHash('sha256').update(body).digest('hex'),
});

describe.each(expressVersions)('the download pacer keeps the framing Node would have chosen ($name)', ({ express }) => {
  let bare: Server;
  let paced: Server;
  beforeAll(async () => {
    [bare, paced] = await Promise.all([listen(appOf(express, false)), listen(appOf(express, true))]);
  });
  afterAll(async () => {
    await Promise.all([closeServer(bare), closeServer(paced)]);
  });
  const get = (style: string) => fetchRaw(paced, 'GET', `/acme/chat/chatfiles/${style}`);

  it.each([
    ['end-buffer', content],
    ['end-callback', content],
    ['end-hex', content.subarray(0, 50 * KiB)],
    ['end-view', Buffer.from(view)],
    ['length-pipe', content],
    ['send-file', content],
    ['send-buffer', content],
  ])(
    '%s: Content-Length is the exact byte length, no Transfer-Encoding, the body byte-identical',
    async (style, expected) => {
      const answer = await get(style);
      expect(answer).toMatchObject({
        status: 200,
        contentLength: String(expected.length),
        transferEncoding: undefined,
      });
      expect(answer.body.equals(expected)).toBe(true);
    },
  );

  it('res.end(string): Content-Length counts the UTF-8 bytes, not the characters', async () => {
    const answer = await get('end-string');
    const bytes = Buffer.byteLength(text, 'utf8');
    expect(bytes).toBeGreaterThan(text.length);
    expect(answer).toMatchObject({ status: 200, contentLength: String(bytes), transferEncoding: undefined });
    expect(answer.body.toString('utf8')).toBe(text);
  });

  it('res.end() with no body: Content-Length 0', async () => {
    expect(await get('end-empty')).toMatchObject({ status: 200, contentLength: '0', transferEncoding: undefined });
  });

  it.each([
    'write-then-end',
    'write-then-end-buffer',
    'pipe-without-length',
    'head-sent-then-end',
    'chunked-set-then-end',
    'trailer-then-end',
    'length-removed-then-end',
  ])('%s: written without a length, it stays chunked', async (style) => {
    const answer = await get(style);
    expect(answer).toMatchObject({ status: 200, contentLength: undefined, transferEncoding: 'chunked' });
    expect(answer.body.equals(content)).toBe(true);
  });

  it('204 and 304 carry no body and no framing', async () => {
    for (const style of ['no-content', 'not-modified']) {
      const answer = await get(style);
      expect(answer, style).toMatchObject({ contentLength: undefined, transferEncoding: undefined });
      expect(answer.body.length, style).toBe(0);
    }
  });

  it('a conditional GET of res.send(buffer) answers 304 with no body, as unpaced', async () => {
    const { headers } = await new Promise<{ headers: Record<string, string | string[] | undefined> }>((resolve) => {
      const { port } = paced.address() as AddressInfo;
      httpRequest({ host: '127.0.0.1', port, path: '/acme/chat/chatfiles/send-buffer', agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve({ headers: res.headers }));
      }).end();
    });
    const etag = String(headers.etag);
    const answer = await fetchRaw(paced, 'GET', '/acme/chat/chatfiles/send-buffer', { 'If-None-Match': etag });
    expect(answer).toMatchObject({ status: 304, contentLength: undefined, transferEncoding: undefined });
    expect(answer.body.length).toBe(0);
  });

  it('every style, GET and HEAD, answers with the status, framing, type and bytes of the unpaced app', async () => {
    for (const method of ['GET', 'HEAD']) {
      for (const style of Object.keys(handlers)) {
        const path = `/acme/chat/chatfiles/${style}`;
        const [unpaced, pacedAnswer] = await Promise.all([fetchRaw(bare, method, path), fetchRaw(paced, method, path)]);
        expect(summary(pacedAnswer), `${method} ${style}`).toEqual(summary(unpaced));
      }
    }
  });

  it('HEAD of res.send(buffer), res.sendFile and a piped stream with a length: that length, no body', async () => {
    for (const style of ['send-buffer', 'send-file', 'length-pipe']) {
      const answer = await fetchRaw(paced, 'HEAD', `/acme/chat/chatfiles/${style}`);
      expect(answer, style).toMatchObject({
        status: 200,
        contentLength: String(content.length),
        transferEncoding: undefined,
      });
      expect(answer.body.length, style).toBe(0);
    }
  });
});

/** 32 MiB: at the default 500 KiB/s it would take 64 s, past the test's timeout, if the pacer held it. */
const large = Buffer.alloc(32 * MiB, 1);

describe.each(expressVersions)('a response without a body is not paced ($name)', ({ express }) => {
  let server: Server;
  beforeAll(async () => {
    const app = express().use(imRateLimit());
    app.get('/:org/:app/chatfiles/:uuid', (req, res) => {
      if (req.params.uuid === 'no-content') res.status(204).end(large);
      else res.setHeader('Content-Length', large.length).end(large);
    });
    server = await listen(app);
  });
  afterAll(() => closeServer(server));

  it('HEAD answers its headers, with the length a GET would have, and no body', async () => {
    const answer = await fetchRaw(server, 'HEAD', '/acme/chat/chatfiles/large');
    expect(answer).toMatchObject({ status: 200, contentLength: String(large.length), transferEncoding: undefined });
    expect(answer.body.length).toBe(0);
  });

  it('204 answers at once, with no body', async () => {
    const answer = await fetchRaw(server, 'GET', '/acme/chat/chatfiles/no-content');
    expect(answer).toMatchObject({ status: 204, contentLength: undefined, transferEncoding: undefined });
    expect(answer.body.length).toBe(0);
  });
});

describe.each(expressVersions)('a client that leaves a paced download ($name)', ({ express }) => {
  it('has every write callback called, with an error, as Node calls them unpaced', async () => {
    let settled!: (outcome: { written: number; error: string }) => void;
    const outcome = new Promise<{ written: number; error: string }>((resolve) => {
      settled = resolve;
    });
    const app = express();
    app.use(imRateLimit({ overrides: { 'acme#chat': { files: { downloadBytesPerSecond: 64 * KiB } } } }));
    app.get('/:org/:app/chatfiles/:uuid', async (_req, res) => {
      let written = 0;
      try {
        // backpressure the callback way: each write waits for the last one's callback
        for (let i = 0; i < 100; i++) {
          await new Promise<void>((resolve, reject) =>
            res.write(Buffer.alloc(64 * KiB, 97), (error) => (error ? reject(error) : resolve())),
          );
          written++;
        }
        res.end();
        settled({ written, error: '' });
      } catch (error) {
        settled({ written, error: (error as { code?: string }).code ?? String(error) });
      }
    });
    const server = await listen(app);
    try {
      const { port } = server.address() as AddressInfo;
      const client = connect(port, '127.0.0.1');
      client.on('error', () => {});
      client.write('GET /acme/chat/chatfiles/u HTTP/1.1\r\nHost: x\r\n\r\n');
      await once(client, 'data'); // the download has begun: the client leaves
      client.destroy();
      const { written, error } = await outcome;
      expect(error).toBe('ERR_STREAM_DESTROYED');
      expect(written).toBeLessThan(100);
    } finally {
      await closeServer(server);
    }
  });
});
