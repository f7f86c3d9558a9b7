import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import type { Express } from 'express';
import request, { type Response } from 'supertest';
import { describe, expect, it } from 'vitest';
import { createDemoApp } from '../demo/app.js';
import { MemoryStore } from '../src/index.js';
import { FakeClock, imError } from './helpers.js';
import { closeServer, connectTo, listen, readResponse } from './support/raw-http.js';

const KiB = 1024;

/**
 * Random bytes with what a multipart parser or a text decoder could trip on spliced in: CRLFs, a blank
 * line, something shaped like a boundary, bytes that are not UTF-8 (a lone continuation byte, an
 * overlong NUL, a cut-short three-byte sequence, 0xFE 0xFF).
 */
function awkwardFile(bytes: number): Buffer {
  const file = randomBytes(bytes);
  const traps = [
    Buffer.from('\r\n'),
    Buffer.from('\r\n\r\n'),
    Buffer.from('\r\n--------------------------123456789012345678901234\r\n'),
    Buffer.from('\r\n--\r\nContent-Disposition: form-data; name="file"\r\n\r\n'),
    Buffer.from([0x80]),
    Buffer.from([0xc0, 0x80]),
    Buffer.from([0xe2, 0x82]),
    Buffer.from([0xfe, 0xff]),
  ];
  for (let at = 0, i = 0; at + 64 < bytes; at += 4093, i++) {
    (traps[i % traps.length] as Buffer).copy(file, at);
  }
  return file;
}

/** The demo with a fresh store, files bucket wide open and a fast pace: only the upload and download paths are under test. */
function demo(uploadMaxBytes?: number): Express {
  const files = { ratePerSecond: 1000, downloadBytesPerSecond: 8 * 1024 * KiB };
  const { app } = createDemoApp(
    { store: new MemoryStore({ clock: new FakeClock().now }), overrides: { 'acme#chat': { files } } },
    uploadMaxBytes === undefined ? {} : { uploadMaxBytes },
  );
  return app;
}

/** The response body as the bytes that arrived, whatever its type (superagent hands a parser the raw response stream). */
const bytes = (res: Response, done: (error: Error | null, body: Buffer) => void): void => {
  const stream = res as unknown as NodeJS.ReadableStream;
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  stream.on('end', () => done(null, Buffer.concat(chunks)));
};

const download = (app: Express, uuid: string) =>
  request(app).get(`/acme/chat/chatfiles/${uuid}`).buffer(true).parse(bytes);

describe('the demo IM server: files', () => {
  it('keeps a multipart upload and serves it back byte-identical, with its type and exact length', async () => {
    const app = demo();
    const file = awkwardFile(384 * KiB);
    expect(() => new TextDecoder('utf-8', { fatal: true }).decode(file)).toThrow(TypeError);
    expect(file.includes('\r\n')).toBe(true);

    const upload = await request(app)
      .post('/acme/chat/chatfiles')
      .attach('file', file, { filename: 'photo.bin', contentType: 'application/x-im-test' });
    expect(upload.status).toBe(200);
    expect(upload.body.entities).toEqual([
      { uuid: expect.any(String), type: 'chatfile', 'share-secret': expect.any(String), size: file.length },
    ]);
    const uuid = upload.body.entities[0].uuid as string;

    const got = await download(app, uuid);
    expect(got.status).toBe(200);
    expect(got.headers['content-type']).toBe('application/x-im-test');
    expect(got.headers['content-length']).toBe(String(file.length));
    expect(got.headers['transfer-encoding']).toBeUndefined();
    expect(got.headers['x-content-type-options']).toBe('nosniff');
    expect(Buffer.isBuffer(got.body) && got.body.equals(file)).toBe(true);

    const head = await request(app).head(`/acme/chat/chatfiles/${uuid}`);
    expect(head.status).toBe(200);
    expect(head.headers['content-type']).toBe('application/x-im-test');
    expect(head.headers['content-length']).toBe(String(file.length));
  });

  it("takes the part's type as the client named it from the file name (curl -F file=@photo.jpg)", async () => {
    const app = demo();
    const file = awkwardFile(20 * KiB);
    const upload = await request(app).post('/acme/chat/chatfiles').attach('file', file, 'photo.jpg');
    const got = await download(app, upload.body.entities[0].uuid);
    expect(got.headers['content-type']).toBe('image/jpeg');
    expect(got.headers['content-length']).toBe(String(file.length));
    expect(Buffer.isBuffer(got.body) && got.body.equals(file)).toBe(true);
  });

  it('keeps the first file part of a form; fields and later files are read and dropped', async () => {
    const app = demo();
    const first = awkwardFile(10 * KiB);
    const upload = await request(app)
      .post('/acme/chat/chatfiles')
      .field('restrict-access', 'true')
      .attach('file', first, { filename: 'a.bin', contentType: 'application/x-first' })
      .attach('other', randomBytes(KiB), { filename: 'b.bin', contentType: 'application/x-second' });
    expect(upload.status).toBe(200);
    expect(upload.body.entities[0].size).toBe(first.length);
    const got = await download(app, upload.body.entities[0].uuid);
    expect(got.headers['content-type']).toBe('application/x-first');
    expect(Buffer.isBuffer(got.body) && got.body.equals(first)).toBe(true);
  });

  it('still keeps a raw body as it came, with the request Content-Type', async () => {
    const app = demo();
    const file = awkwardFile(100 * KiB);
    const upload = await request(app)
      .post('/acme/chat/chatfiles')
      .set('Content-Type', 'application/octet-stream')
      .send(file);
    expect(upload.status).toBe(200);
    expect(upload.body.entities[0].size).toBe(file.length);
    const got = await download(app, upload.body.entities[0].uuid);
    expect(got.headers['content-type']).toBe('application/octet-stream');
    expect(got.headers['content-length']).toBe(String(file.length));
    expect(got.headers['transfer-encoding']).toBeUndefined();
    expect(Buffer.isBuffer(got.body) && got.body.equals(file)).toBe(true);
  });

  it('answers 400 illegal_argument to a multipart body without a file part, and to one that does not parse', async () => {
    const app = demo();
    const fieldsOnly = await request(app).post('/acme/chat/chatfiles').field('file', 'not a file');
    expect(fieldsOnly.status).toBe(400);
    expect(fieldsOnly.body).toEqual(
      imError(
        'illegal_argument',
        'IllegalArgumentException',
        'the multipart body has no file part (curl -F file=@photo.jpg)',
      ),
    );

    const noBoundary = await request(app)
      .post('/acme/chat/chatfiles')
      .set('Content-Type', 'multipart/form-data')
      .send(Buffer.from('--x\r\n'));
    expect(noBoundary.status).toBe(400);
    expect(noBoundary.body).toEqual(
      imError(
        'illegal_argument',
        'IllegalArgumentException',
        'malformed multipart body: Multipart: Boundary not found',
      ),
    );

    const cutShort = await request(app)
      .post('/acme/chat/chatfiles')
      .set('Content-Type', 'multipart/form-data; boundary=x')
      .send(Buffer.from('--x\r\nContent-Disposition: form-data; name="file"; filename="a.bin"\r\n\r\nhalf a fi'));
    expect(cutShort.status).toBe(400);
    expect(cutShort.body).toEqual(
      imError('illegal_argument', 'IllegalArgumentException', 'malformed multipart body: Unexpected end of form'),
    );
  });

  it('answers 415 to a compressed multipart body', async () => {
    const app = demo();
    const form = Buffer.from(
      '--x\r\nContent-Disposition: form-data; name="file"; filename="a.bin"\r\n\r\nabc\r\n--x--\r\n',
    );
    const gzipped = await request(app)
      .post('/acme/chat/chatfiles')
      .set('Content-Type', 'multipart/form-data; boundary=x')
      .set('Content-Encoding', 'gzip')
      .send(gzipSync(form));
    expect(gzipped.status).toBe(415);
    expect(gzipped.body).toEqual(
      imError('unsupported_media_type', 'UnsupportedMediaTypeException', 'a multipart upload cannot be gzip-encoded'),
    );
  });

  it('holds an upload to uploadMaxBytes: a file of exactly that size is kept, one byte more is 413', async () => {
    const max = 64 * KiB;
    const app = demo(max);
    const tooLarge = imError(
      'request_entity_too_large',
      'RequestEntityTooLargeException',
      `the file is larger than ${max} bytes`,
    );

    const exact = awkwardFile(max);
    const kept = await request(app)
      .post('/acme/chat/chatfiles')
      .attach('file', exact, { filename: 'a.bin', contentType: 'application/octet-stream' });
    expect(kept.status).toBe(200);
    expect(kept.body.entities[0].size).toBe(max);
    expect((await download(app, kept.body.entities[0].uuid)).body.equals(exact)).toBe(true);

    const over = await request(app)
      .post('/acme/chat/chatfiles')
      .attach('file', awkwardFile(max + 1), { filename: 'a.bin', contentType: 'application/octet-stream' });
    expect(over.status).toBe(413);
    expect(over.body).toEqual(tooLarge);

    // many times the bound: the rest of the body is read and dropped, and the answer still arrives
    const far = await request(app)
      .post('/acme/chat/chatfiles')
      .attach('file', randomBytes(40 * max), { filename: 'a.bin', contentType: 'application/octet-stream' });
    expect(far.status).toBe(413);
    expect(far.body).toEqual(tooLarge);

    const rawExact = await request(app)
      .post('/acme/chat/chatfiles')
      .set('Content-Type', 'application/octet-stream')
      .send(exact);
    expect(rawExact.status).toBe(200);
    const rawOver = await request(app)
      .post('/acme/chat/chatfiles')
      .set('Content-Type', 'application/octet-stream')
      .send(awkwardFile(max + 1));
    expect(rawOver.status).toBe(413);
    expect(rawOver.body).toEqual(tooLarge);
  });

  it('holds the whole multipart body to uploadMaxBytes and 64 KiB of envelope, dropped parts included', async () => {
    const max = 64 * KiB;
    const app = demo(max);
    const upload = await request(app)
      .post('/acme/chat/chatfiles')
      .attach('file', randomBytes(KiB), { filename: 'a.bin', contentType: 'application/octet-stream' })
      .attach('dropped', randomBytes(max + 64 * KiB), { filename: 'b.bin', contentType: 'application/octet-stream' });
    expect(upload.status).toBe(413);
    expect(upload.body).toEqual(
      imError(
        'request_entity_too_large',
        'RequestEntityTooLargeException',
        `the upload is larger than ${max + 64 * KiB} bytes`,
      ),
    );
  });

  it('a client that hangs up mid-upload costs nothing: the next upload is kept', async () => {
    const app = demo(64 * KiB);
    const server = await listen(app);
    try {
      for (const sent of [10 * KiB, 100 * KiB]) {
        // below the bound, and past it (the upload has been refused and is being read off when the client goes)
        const socket = await connectTo(server);
        socket.write(
          'POST /acme/chat/chatfiles HTTP/1.1\r\nHost: localhost\r\nContent-Type: multipart/form-data; boundary=x\r\n' +
            'Content-Length: 1000000\r\n\r\n--x\r\nContent-Disposition: form-data; name="file"; filename="a.bin"\r\n\r\n',
        );
        await new Promise<void>((resolve) => socket.write(randomBytes(sent), () => resolve()));
        socket.destroy();
      }
      const file = awkwardFile(KiB);
      const upload = await request(server)
        .post('/acme/chat/chatfiles')
        .attach('file', file, { filename: 'a.bin', contentType: 'application/octet-stream' });
      expect(upload.status).toBe(200);
      expect((await download(app, upload.body.entities[0].uuid)).body.equals(file)).toBe(true);
    } finally {
      await closeServer(server);
    }
  });

  it('keeps a raw body whose type merely mentions json as it came (only application/json is parsed)', async () => {
    const app = demo();
    const server = await listen(app);
    try {
      for (const type of ['application/ld+json', 'application/octet-stream; x=json']) {
        const file = awkwardFile(4 * KiB);
        // raw, as sent: supertest would serialise a Buffer it is told is JSON
        const socket = await connectTo(server);
        socket.write(
          `POST /acme/chat/chatfiles HTTP/1.1\r\nHost: localhost\r\nContent-Type: ${type}\r\n` +
            `Content-Length: ${file.length}\r\n\r\n`,
        );
        socket.write(file);
        const upload = await readResponse(socket);
        socket.destroy();
        expect(upload.status).toBe(200);
        const got = await download(app, JSON.parse(upload.body).entities[0].uuid);
        expect({ type: got.headers['content-type'], same: got.body.equals(file) }).toStrictEqual({ type, same: true });
      }
    } finally {
      await closeServer(server);
    }
  });

  it('answers a refused upload at once, while the client is still sending, and closes the connection', async () => {
    const app = demo(64 * KiB);
    const server = await listen(app);
    try {
      const socket = await connectTo(server);
      socket.on('error', () => {});
      socket.write(
        'POST /acme/chat/chatfiles HTTP/1.1\r\nHost: localhost\r\nContent-Type: multipart/form-data; boundary=x\r\n' +
          'Content-Length: 100000000\r\n\r\n--x\r\nContent-Disposition: form-data; name="file"; filename="a.bin"\r\n\r\n',
      );
      socket.write(randomBytes(200 * KiB)); // past the bound; 99.8 MB more announced, never sent
      const response = await readResponse(socket);
      expect(response.status).toBe(413);
      expect(response.headers.connection).toBe('close');
    } finally {
      await closeServer(server);
    }
  });

  it('keeps a JSON body as its text, as before', async () => {
    const app = demo();
    const upload = await request(app).post('/acme/chat/chatfiles').send({ owner: 'alice' });
    expect(upload.status).toBe(200);
    const got = await download(app, upload.body.entities[0].uuid);
    expect(got.headers['content-type']).toBe('application/json');
    expect(got.body.toString('utf8')).toBe('{"owner":"alice"}');
  });
});
