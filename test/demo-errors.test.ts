import express from 'express';
import request from 'supertest';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createDemoApp } from '../demo/app.js';
import { answerErrors } from '../demo/errors.js';
import { MemoryStore } from '../src/index.js';
import { FakeClock, imError } from './helpers.js';
import { closeServer, connectTo, listen, readResponse } from './support/raw-http.js';

const KiB = 1024;

const demo = () => createDemoApp({ store: new MemoryStore({ clock: new FakeClock().now }) }).app;

/** What a stack trace or a file path would show. */
const leaks = /\bat [\w.<>]+ \(|node_modules|\/work\/|\.ts:\d|\.js:\d/;

afterEach(() => {
  vi.restoreAllMocks();
});

describe('the demo IM server: every error is the IM JSON error body', () => {
  it.each([
    ['a send, parsed by the limiter', 'post', '/acme/chat/messages/users'],
    ['a route the limiter does not read, parsed by the demo', 'put', '/acme/chat/users/alice'],
  ] as const)(
    'malformed JSON on %s: 400 illegal_argument, no stack, no path, no body quoted',
    async (_what, method, path) => {
      const answer = await request(demo())
        [method](path)
        .set('Content-Type', 'application/json')
        .send('{"to":["alice"],"secret-token-xyz"');
      expect(answer.status).toBe(400);
      expect(answer.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(answer.body).toStrictEqual(
        imError('illegal_argument', 'IllegalArgumentException', 'the request body is not valid JSON'),
      );
      expect(answer.text).not.toMatch(leaks);
      expect(answer.text).not.toContain('secret-token-xyz');
    },
  );

  it('a JSON body over the 1 MB limit: 413 request_entity_too_large', async () => {
    const answer = await request(demo())
      .put('/acme/chat/users/alice')
      .send({ nickname: 'x'.repeat(1024 * KiB) });
    expect(answer.status).toBe(413);
    expect(answer.body).toStrictEqual(
      imError(
        'request_entity_too_large',
        'RequestEntityTooLargeException',
        'the request body is larger than this route accepts',
      ),
    );
  });

  it('a path outside the catalog, and a path that does not decode: 404 and 400 as JSON', async () => {
    const app = demo();
    const unknown = await request(app).get('/acme/chat/no/such/route');
    expect(unknown.status).toBe(404);
    expect(unknown.body).toStrictEqual(
      imError('service_resource_not_found', 'ServiceResourceNotFoundException', 'no such route'),
    );
    const undecodable = await request(app).get('/acme/chat/users/%E0%A4%A');
    expect(undecodable.status).toBe(400);
    expect(undecodable.body).toStrictEqual(
      imError('illegal_argument', 'IllegalArgumentException', 'the request is malformed'),
    );
  });

  it('a failure inside the server: 500 that names nothing of it, logged on the server instead', async () => {
    const logged = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    const app = express();
    app.get('/boom', () => {
      throw new Error('cannot open /work/secret/config.json');
    });
    app.use(answerErrors);
    const answer = await request(app).get('/boom');
    expect(answer.status).toBe(500);
    expect(answer.body).toStrictEqual(
      imError('internal_server_error', 'InternalServerErrorException', 'the server failed to answer this request'),
    );
    expect(answer.text).not.toMatch(leaks);
    expect(logged).toHaveBeenCalledTimes(1);
  });
});

describe('the demo IM server: bodies', () => {
  it('a raw body on a route that takes none is refused 415, unread and unechoed', async () => {
    const answer = await request(demo())
      .get('/acme/chat/users')
      .set('Content-Type', 'application/octet-stream')
      .send(Buffer.alloc(2 * KiB, 0x41));
    expect(answer.status).toBe(415);
    expect(answer.headers.connection).toBe('close');
    expect(answer.body).toStrictEqual(
      imError(
        'unsupported_media_type',
        'UnsupportedMediaTypeException',
        'this route takes no body but JSON (Content-Type: application/json)',
      ),
    );
  });

  it('answers a 2 MB octet-stream to a body-less route with a small 415 before the client has sent it all', async () => {
    const server = await listen(demo());
    try {
      const socket = await connectTo(server);
      socket.on('error', () => undefined);
      socket.write(
        'GET /acme/chat/users HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/octet-stream\r\n' +
          `Content-Length: ${2048 * KiB}\r\n\r\n`,
      );
      socket.write(Buffer.alloc(256 * KiB, 0x41)); // an eighth of what was announced; the rest never comes
      const answer = await readResponse(socket);
      socket.destroy();
      expect(answer.status).toBe(415);
      expect(answer.headers.connection).toBe('close');
      expect(Number(answer.headers['content-length'])).toBe(Buffer.byteLength(answer.body));
      expect(Buffer.byteLength(answer.body)).toBeLessThan(256);
      expect(JSON.parse(answer.body).error).toBe('unsupported_media_type');
    } finally {
      await closeServer(server);
    }
  });

  it("never echoes a JSON body: a route without its own handler answers only its path's parameters", async () => {
    const answer = await request(demo())
      .put('/acme/chat/users/alice')
      .send({ nickname: 'Al', note: 'x'.repeat(10 * KiB) });
    expect(answer.status).toBe(200);
    expect(answer.body.data).toStrictEqual({ result: true, username: 'alice' });
    expect(answer.text).not.toContain('xxxxxxxxxx');
  });
});
