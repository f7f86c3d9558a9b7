import type { Server } from 'node:http';
import express, { type Request, type Response } from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { imRateLimit, MemoryStore, type Options } from '../../src/index.js';
import { STORE_TIMEOUT_MS } from '../helpers.js';
import { singleClient } from '../support/clients.js';
import { closeServer, connectTo, listen, type RawResponse, readResponse } from '../support/raw-http.js';
import { bothStores } from '../support/stores.js';

/** One request with exactly this request-target (no client library normalizes it), on a fresh connection. */
async function raw(server: Server, method: string, target: string, body?: unknown): Promise<RawResponse> {
  const socket = await connectTo(server);
  const payload = body === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(body));
  const response = readResponse(socket);
  const type = body === undefined ? '' : 'Content-Type: application/json\r\n';
  socket.write(
    `${method} ${target} HTTP/1.1\r\nHost: x\r\n${type}Content-Length: ${payload.length}\r\nConnection: close\r\n\r\n`,
  );
  socket.write(payload);
  try {
    return await response;
  } finally {
    socket.destroy();
  }
}

const servers: Server[] = [];
const admin = singleClient();
afterEach(async () => {
  await Promise.all(servers.splice(0).map(closeServer));
});

describe.each(bothStores())('every spelling of a request is charged where Express routes it (%s)', (_, setup) => {
  /** The limiter in front of catalog routes registered as an IM server registers them; counts handler runs. */
  const serve = async (options: Options = {}) => {
    const under = setup();
    const json = express.json();
    const app = express().use(
      imRateLimit({ store: under.store, storeTimeoutMs: STORE_TIMEOUT_MS, bodyParser: json, ...options }),
      json,
    );
    const handled: string[] = [];
    const handler = (req: Request, res: Response) => {
      handled.push(`${req.params.org}/${req.params.app}`);
      res.json({ ok: true });
    };
    app.post('/:org/:app/messages/users', handler);
    app.get('/:org/:app/users/:username', handler);
    const appKey = (req: Request) => ({ org: String(req.params[0]), app: String(req.params[1]) });
    app.post(
      /^\/([^/]+)\/([^/]+)\/notify$/,
      imRateLimit({ store: under.store, storeTimeoutMs: STORE_TIMEOUT_MS }).guard('messages', { appKey }),
      handler,
    );
    const server = await listen(app);
    servers.push(server);
    return { ...under, server, handled };
  };
  const send = { to: ['bob'], type: 'txt', body: { msg: 'hi' } };
  const admitted = (responses: RawResponse[]) => responses.filter((r) => r.status === 200).length;

  it('charges a fragment, the absolute form, other cases and encodings of one send to one bucket', async () => {
    const { server, app, handled } = await serve();
    const spellings = [
      `/acme/${app}/messages/users#`,
      `/acme/${app}/messages/users#x/y`,
      `http://x/acme/${app}/messages/users`,
      `/ACME/${app.toUpperCase()}/MESSAGES/users`,
      `/%61cme/${app}/messages/users/`,
    ];
    const responses: RawResponse[] = [];
    for (let i = 0; i < 40; i++) responses.push(await raw(server, 'POST', spellings[i % 5] as string, send));
    expect(admitted(responses)).toBe(10);
    expect(handled).toHaveLength(10);
    expect(responses.filter((r) => r.status === 429)).toHaveLength(30);
  });

  it('holds a 10 KB message behind a fragment to the 4 KB limit', async () => {
    const { server, app, handled } = await serve();
    const big = { to: ['bob'], type: 'txt', body: { msg: 'x'.repeat(10_000) } };
    const refused = await raw(server, 'POST', `/acme/${app}/messages/users#`, big);
    expect(refused.status).toBe(400);
    expect(JSON.parse(refused.body).error).toBe('message_send_error');
    expect(handled).toEqual([]);
  });

  it('matches upper-case literals whatever the characters of a parameter (İ lower-cases to two)', async () => {
    const { server, app } = await serve();
    const responses: RawResponse[] = [];
    for (let i = 0; i < 15; i++) responses.push(await raw(server, 'GET', `/acme/${app}/USERS/al%C4%B0ce`));
    expect(admitted(responses)).toBe(10);
  });

  it('keys every percent-encoding and letter case of an app name to one app, on catalog routes and guards', async () => {
    const { server, app } = await serve();
    const encodings = [...app].map((_, i) => {
      const hex = app.charCodeAt(i).toString(16);
      return `${app.slice(0, i)}%${i % 2 ? hex.toUpperCase() : hex}${app.slice(i + 1)}`;
    });
    const catalog: RawResponse[] = [];
    for (const name of [...encodings, app.toUpperCase(), app])
      catalog.push(await raw(server, 'GET', `/acme/${name}/users/u`));
    expect(admitted(catalog)).toBe(10);
    const guarded: RawResponse[] = [];
    for (const name of [...encodings, app.toUpperCase(), app])
      guarded.push(await raw(server, 'POST', `/AcMe/${name}/notify`));
    expect(admitted(guarded)).toBe(10);
  });

  it("keeps apps apart by case with nameCase: 'sensitive'", async () => {
    const { server, app } = await serve({ nameCase: 'sensitive' });
    const responses: RawResponse[] = [];
    for (let i = 0; i < 12; i++) responses.push(await raw(server, 'GET', `/acme/${app}/users/u`));
    for (let i = 0; i < 12; i++) responses.push(await raw(server, 'GET', `/ACME/${app}/users/u`));
    expect(admitted(responses)).toBe(20);
  });

  it('never lets a # or % in a name reach another app: a%23b/c and a/b%23c are two apps', async () => {
    const { server, app } = await serve();
    const responses: RawResponse[] = [];
    for (let i = 0; i < 12; i++) responses.push(await raw(server, 'GET', `/a%23${app}/c/users/u`));
    for (let i = 0; i < 12; i++) responses.push(await raw(server, 'GET', `/a/${app}%23c/users/u`));
    expect(admitted(responses)).toBe(20);
  });

  it('refuses an org or app name over 64 characters with 400, before it costs anything', async () => {
    const { server, app, store } = await serve();
    for (const target of [`/${'o'.repeat(65)}/${app}/users/u`, `/acme/${app}${'a'.repeat(65)}/users/u`]) {
      const refused = await raw(server, 'GET', target);
      expect(refused.status).toBe(400);
      expect(JSON.parse(refused.body)).toMatchObject({ error: 'illegal_argument' });
    }
    expect(JSON.parse((await raw(server, 'GET', `/${'o'.repeat(65)}/${app}/users/u`)).body).error_description).toBe(
      'org_name is longer than 64 characters',
    );
    // nothing was kept for the refused names
    if (store instanceof MemoryStore) expect(store.size).toBe(0);
    else expect(await admin.keys(`imrl:{${'o'.repeat(65)}*`)).toEqual([]);
    // 64 characters is a name
    expect((await raw(server, 'GET', `/${'o'.repeat(64)}/${app}/users/u`)).status).toBe(200);
  });
});
