import type { Server } from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';
import type { Express } from 'express';

/** Serves `app` on a loopback port. */
export function listen(app: Express): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = app.listen(0, '127.0.0.1', (error?: Error) => (error ? reject(error) : resolve(server)));
  });
}

/** Drops every connection, then waits for the server to stop. */
export function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

/** A raw TCP connection to `server`, so a test writes exactly the bytes it means to. */
export function connectTo(server: Server): Promise<Socket> {
  const { port } = server.address() as AddressInfo;
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
  });
}

export interface RawResponse {
  readonly status: number;
  /** Lower-cased names. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/** The request line and headers of a JSON POST; the body is written separately. */
export function postHead(path: string, contentLength: number, extra = ''): string {
  return `POST ${path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${contentLength}\r\n${extra}\r\n`;
}

/**
 * Reads one response framed by Content-Length (what Express sends for `res.json`), leaving the
 * connection open: a test may go on writing the request body after the answer.
 */
export function readResponse(socket: Socket): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    let received = Buffer.alloc(0);
    const done = (error?: Error, response?: RawResponse): void => {
      socket.off('data', onData).off('end', onEnd).off('error', onError);
      if (error) reject(error);
      else resolve(response as RawResponse);
    };
    const onData = (chunk: Buffer): void => {
      received = Buffer.concat([received, chunk]);
      const split = received.indexOf('\r\n\r\n');
      if (split === -1) return;
      const [statusLine = '', ...lines] = received.subarray(0, split).toString('latin1').split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const colon = line.indexOf(':');
        headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
      }
      const length = Number(headers['content-length'] ?? 0);
      const body = received.subarray(split + 4);
      if (body.length < length) return;
      done(undefined, { status: Number(statusLine.split(' ')[1]), headers, body: body.toString('utf8', 0, length) });
    };
    const onEnd = (): void => done(new Error(`connection closed before a whole response: ${received.toString()}`));
    const onError = (error: Error): void => done(error);
    socket.on('data', onData).on('end', onEnd).on('error', onError);
  });
}

/** One complete JSON POST on a fresh connection, closed after the answer. */
export async function postJson(server: Server, path: string, body: unknown): Promise<RawResponse> {
  const socket = await connectTo(server);
  const json = Buffer.from(JSON.stringify(body));
  const response = readResponse(socket);
  socket.write(postHead(path, json.length, 'Connection: close\r\n'));
  socket.write(json);
  try {
    return await response;
  } finally {
    socket.destroy();
  }
}

/**
 * One turn of the event loop: every promise continuation queued before it has run, and Node has
 * reported any rejection left unhandled (it does so when the microtask queue drains).
 */
export const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
