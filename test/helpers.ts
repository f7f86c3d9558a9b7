import type { Server } from 'node:http';
import express, { type Express } from 'express';
import { expect, onTestFinished } from 'vitest';
import { type ImRateLimit, imRateLimit, type Logger, MemoryStore, type Options } from '../src/index.js';
import type { LogFields } from '../src/log.js';
import type { ExpressFactory } from './support/express.js';
import { closeServer, listen } from './support/raw-http.js';

/**
 * The `storeTimeoutMs` of a test through real Redis whose subject is not the timeout: a busy machine
 * (two other suites, a CPU burner) can hold a call past the 50 ms default, and the failure policy
 * would then decide in the store's place.
 */
export const STORE_TIMEOUT_MS = 10_000;

/** The IM REST API's error body, with its exact code and description (any timestamp). */
export const imError = (error: string, exception: string, description: string) => ({
  error,
  exception,
  timestamp: expect.any(Number),
  duration: 0,
  error_description: description,
});

/** A clock the tests move by hand. */
export class FakeClock {
  constructor(public nowMs = Date.UTC(2026, 10, 28, 12, 0, 0)) {}
  readonly now = (): number => this.nowMs;
  advance(ms: number): void {
    this.nowMs += ms;
  }
}

/** A logger that keeps each warning's line in `lines`, and its fields in `records` when given. */
export function linesInto(lines: string[], records?: LogFields[]): Logger {
  return {
    warn(fields, message) {
      lines.push(message);
      records?.push(fields);
    },
  };
}

/** What `appWith` and `clockedApp` take besides the limiter's options. */
export interface AppOptions extends Options {
  /** `express.json()` mounted before the limiter, rather than given to it as its `bodyParser`. */
  jsonFirst?: boolean;
  /** The Express to build the app with (`expressVersions` in `support/express.ts`); Express 5 by default. */
  express?: ExpressFactory;
}

/**
 * An Express app with the limiter mounted before `express.json()`, which it is given as its
 * `bodyParser` (or after it, with `jsonFirst`), and a handler on every path that answers 200 with
 * the body it saw.
 */
export function appWith(options: AppOptions = {}): { app: Express; limiter: ImRateLimit } {
  const { jsonFirst = false, express: factory = express, ...limiterOptions } = options;
  const json = factory.json({ limit: '2mb' });
  const timed = { storeTimeoutMs: STORE_TIMEOUT_MS, ...limiterOptions };
  const limiter = imRateLimit(jsonFirst ? timed : { bodyParser: json, ...timed });
  const app = factory();
  if (jsonFirst) app.use(json);
  app.use(limiter);
  if (!jsonFirst) app.use(json);
  app.use((req, res) => {
    res.json({ ok: true, body: req.body ?? null });
  });
  return { app, limiter };
}

/** A limiter on a MemoryStore driven by a fake clock. */
export function clockedApp(options: AppOptions = {}) {
  const clock = new FakeClock();
  const store = new MemoryStore({ clock: clock.now });
  return { clock, store, ...appWith({ store, ...options }) };
}

/**
 * `app` served on a loopback port until the running test ends, for a test that sends hundreds of
 * requests: given an app rather than a server, supertest starts and stops a server for each one.
 */
export async function serving(app: Express): Promise<Server> {
  const server = await listen(app);
  onTestFinished(() => closeServer(server));
  return server;
}

/** A concrete request path for a `routes.json` pattern (`/{org}/{app}/...`), with realistic parameter values. */
export function concretePath(pattern: string, org = 'acme', app = 'chat'): string {
  const values: Record<string, string> = {
    org,
    app,
    username: 'Alice.Smith-01_X',
    friend: 'bob_2',
    blocked: 'carol-3',
    group_id: '1234567890123',
    chatroom_id: '987654321',
    uuid: '8f7c6b2a-1d2e-11ee-9c5b-0242ac120002',
    msg_id: '1153322387736448012',
    time: '2026112812',
    resource: 'android_7f3e',
    chattype: 'user',
    key: 'app',
    file_id: 'f-42',
    thread_id: '177916702949377',
    expiry: '86400',
    status: '1',
    query_type: '0',
    name: 'welcome',
  };
  return pattern.replace(/\{(\w+)\}/g, (_, name: string) => values[name] ?? `v-${name}`);
}
