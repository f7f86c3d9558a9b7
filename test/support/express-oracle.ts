import { once } from 'node:events';
import { IncomingMessage, ServerResponse } from 'node:http';
import { type AddressInfo, connect, Socket } from 'node:net';
import express, { type Express } from 'express';
import type { Route } from '../../src/catalog.js';

/** What Express did with a request: ran a catalog route with these `req.params`, or none (and why not). */
export type Dispatch =
  | { readonly method: string; readonly path: string; readonly params: Readonly<Record<string, string>> }
  | { readonly none: string };

/** Where a route handler writes what it ran: a header, so it also comes back over HTTP, even for HEAD. */
const ROUTE_HEADER = 'x-oracle-route';

/** JSON with everything outside printable ASCII escaped (`\uXXXX`), so any value fits a header. */
const asciiJson = (value: unknown): string =>
  JSON.stringify(value).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

/**
 * An Express app with every catalog route registered in catalog order as `/:org/:app/<path>`, and
 * nothing else: each handler records its route and `req.params`, and ends.
 */
export function oracleApp(catalog: readonly Route[], createApp: () => Express = express): Express {
  const app = createApp();
  for (const route of catalog) {
    const path = `/:org/:app/${route.path.replace(/\{(\w+)\}/g, ':$1')}`;
    const method = route.method.toLowerCase() as 'get' | 'post' | 'put' | 'delete';
    app[method](path, (req, res) => {
      res.setHeader(ROUTE_HEADER, asciiJson({ method: route.method, path: route.path, params: { ...req.params } }));
      res.end();
    });
  }
  return app;
}

const routeOf = (header: unknown): Dispatch | undefined =>
  typeof header === 'string' ? (JSON.parse(header) as Dispatch) : undefined;

/** Express 5's `app.handle`, which the typings leave out. */
type Handle = (req: IncomingMessage, res: ServerResponse, done: (err?: { message?: string }) => void) => void;

/**
 * Dispatches one request in-process through the app: a real IncomingMessage and ServerResponse, no
 * socket I/O. Settles when a handler ends the response (so does Express's automatic OPTIONS
 * answer) or when Express gives up (404, or an error such as a param that fails to decode: 400);
 * either may happen after a setImmediate.
 */
export function dispatch(app: Express, method: string, target: string): Promise<Dispatch> {
  return new Promise((resolve) => {
    const req = new IncomingMessage(new Socket());
    req.method = method;
    req.url = target;
    req.headers = { host: 'x' };
    const res = new ServerResponse(req);
    let settled = false;
    const settle = (outcome: Dispatch): void => {
      if (!settled) resolve(outcome);
      settled = true;
    };
    // an own property: Express swaps the response's prototype, not its own properties
    res.end = (() => {
      settle(routeOf(res.getHeader(ROUTE_HEADER)) ?? { none: `answered ${res.statusCode} without a route` });
      return res;
    }) as ServerResponse['end'];
    (app as unknown as { handle: Handle }).handle(req, res, (err) =>
      settle({ none: err === undefined || err === null ? 'not found (404)' : `error: ${err.message}` }),
    );
  });
}

/** A request as Node's HTTP parser handed it to the server. */
export interface Received {
  readonly method: string;
  readonly url: string;
}

/** What became of one raw request: `received` is undefined when Node's parser rejected it. */
export interface Exchange {
  readonly received: Received | undefined;
  readonly dispatch: Dispatch;
}

export interface OracleServer {
  send(method: string, target: string): Promise<Exchange>;
  close(): Promise<void>;
}

/**
 * Serves the app on a loopback port. `send` writes one raw request (`<method> <target> HTTP/1.1`,
 * the target's UTF-8 bytes as they are) on a new connection, so Node's own parser is in the loop.
 */
export async function serve(app: Express): Promise<OracleServer> {
  const received = new Map<string, Received>();
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  // before Express sees it: what the parser made of the request line, by the request's X-Case id
  server.prependListener('request', (req: IncomingMessage) => {
    received.set(String(req.headers['x-case']), { method: req.method ?? '', url: req.url ?? '' });
  });
  const { port } = server.address() as AddressInfo;
  let cases = 0;

  const send = (method: string, target: string): Promise<Exchange> =>
    new Promise((resolve, reject) => {
      const id = String(++cases);
      const socket = connect(port, '127.0.0.1');
      const chunks: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      // the server may drop a connection whose request it rejected: what it sent so far is the answer
      socket.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code !== 'ECONNRESET' && err.code !== 'EPIPE') reject(err);
      });
      socket.on('close', () => {
        const head = Buffer.concat(chunks).toString('latin1').split('\r\n\r\n', 1)[0] ?? '';
        const lines = head.split('\r\n');
        const header = lines.find((line) => line.toLowerCase().startsWith(`${ROUTE_HEADER}:`));
        resolve({
          received: received.get(id),
          dispatch: routeOf(header?.slice(ROUTE_HEADER.length + 1).trim()) ?? { none: lines[0] || 'no answer' },
        });
      });
      socket.end(`${method} ${target} HTTP/1.1\r\nHost: x\r\nX-Case: ${id}\r\nConnection: close\r\n\r\n`);
    });

  const close = (): Promise<void> =>
    new Promise((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
  return { send, close };
}
