import { EventEmitter, once } from 'node:events';
import type { Server } from 'node:http';
import { finished } from 'node:stream';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { imRateLimit, MemoryStore, type Options } from '../../src/index.js';
import type { Check, Reading, Store } from '../../src/store/index.js';
import { FakeClock } from '../helpers.js';
import { type ExpressFactory, expressVersions } from '../support/express.js';
import { closeServer, connectTo, listen, postHead, postJson, readResponse, turn } from '../support/raw-http.js';

/** What the timeout middleware waits before it answers for the app. */
const TIMEOUT_MS = 250;

/** Long enough that only the timeout middleware, never the limiter's own store timeout, answers. */
const STORE_TIMEOUT_MS = 5000;

/** A send as the catalog knows it, and the same bytes for the routes outside it. */
const send = Buffer.from(JSON.stringify({ to: ['alice'], type: 'txt', body: { msg: 'hello' } }));

/** 1000 bytes of a send, of which a client that goes away sends the first 100. */
const longSend = (() => {
  const head = '{"to":["alice"],"type":"txt","body":{"msg":"';
  const tail = '"}}';
  return Buffer.from(head + 'x'.repeat(1000 - head.length - tail.length) + tail);
})();

/**
 * A MemoryStore that, while held, does not answer until released: the limiter is then waiting on
 * the store for as long as the test wants, past the timeout middleware's answer. Emits `take`.
 */
class HeldStore extends EventEmitter implements Store {
  held = false;
  private readonly pending: Array<() => void> = [];

  constructor(private readonly memory: MemoryStore) {
    super();
  }

  take(checks: readonly Check[]): readonly Reading[] | Promise<readonly Reading[]> {
    if (!this.held) return this.memory.take(checks);
    return new Promise((resolve) => {
      this.pending.push(() => resolve(this.memory.take(checks)));
      this.emit('take');
    });
  }

  /** Calls the store has not answered yet. */
  get waiting(): number {
    return this.pending.length;
  }

  /** Answers every held call; the limiter's continuations run in the next microtasks. */
  release(): void {
    this.held = false;
    for (const answer of this.pending.splice(0)) answer();
  }
}

/** As connect-timeout does: answers 503 once `ms` have passed without an answer. */
function timeout(ms: number, arrivals: EventEmitter): RequestHandler {
  return (req, res, next) => {
    arrivals.emit('request', req, res);
    const timer = setTimeout(() => res.status(503).json({ timeout: true }), ms);
    res.once('close', () => clearTimeout(timer));
    next();
  };
}

type Mount = 'middleware' | 'guard' | 'decorator';
const mounts: readonly Mount[] = ['middleware', 'guard', 'decorator'];

/** The limited route of each mount, for one app. */
const pathOf = (mount: Mount, app: string): string =>
  mount === 'middleware' ? `/acme/${app}/messages/users` : `/custom/acme/${app}/notify`;

interface Setup {
  /** Express 5 or 4, from `expressVersions`. */
  readonly express: ExpressFactory;
  readonly mount: Mount;
  /**
   * The guard's and the decorator's category. A guard reads the body only for checks that need it:
   * `users` (user-ID lengths) does on a POST, `messages` off the catalog does not.
   */
  readonly category: 'messages' | 'users';
  /** `express.json()` before the limiter, or given to it as `bodyParser`. */
  readonly parser: 'first' | 'option';
}

interface Harness {
  readonly server: Server;
  readonly store: HeldStore;
  /** Emits `request` (req, res) as each request arrives. */
  readonly arrivals: EventEmitter;
  /** Paths the route handler ran for. */
  readonly handled: string[];
  /** Errors that reached the app's error handler. */
  readonly errors: unknown[];
  readonly policy: string;
}

const servers = new Set<Server>();

async function harness({ express, mount, category, parser }: Setup): Promise<Harness> {
  const store = new HeldStore(new MemoryStore({ clock: new FakeClock().now }));
  const options: Options = { edition: 'enterprise', store, storeTimeoutMs: STORE_TIMEOUT_MS };
  if (parser === 'option') options.bodyParser = express.json();
  const limiter = imRateLimit(options);
  const arrivals = new EventEmitter();
  const handled: string[] = [];
  const errors: unknown[] = [];
  const handler = (req: Request, res: Response): void => {
    handled.push(req.path);
    res.json({ ok: true });
  };

  const app = express();
  app.use(timeout(TIMEOUT_MS, arrivals));
  if (parser === 'first') app.use(express.json());
  if (mount === 'middleware') {
    app.use(limiter);
    app.post('/:org/:app/messages/users', handler);
  } else if (mount === 'guard') {
    app.post('/custom/:org/:app/notify', limiter.guard(category), handler);
  } else {
    class Notifications {
      @limiter.limit(category)
      send(req: Request, res: Response, _next?: NextFunction) {
        handler(req, res);
      }
    }
    const controller = new Notifications();
    app.post('/custom/:org/:app/notify', (req, res, next) => controller.send(req, res, next));
  }
  app.use((error: unknown, _req: Request, _res: Response, next: NextFunction) => {
    errors.push(error);
    next(error);
  });

  const server = await listen(app);
  servers.add(server);
  const policy = `"${mount === 'middleware' ? 'messages' : category}";q=30;w=1`;
  return { server, store, arrivals, handled, errors, policy };
}

const unhandledRejections: unknown[] = [];
const uncaughtExceptions: unknown[] = [];
const onRejection = (reason: unknown): void => void unhandledRejections.push(reason);
const onException = (error: unknown): void => void uncaughtExceptions.push(error);

beforeAll(() => {
  process.on('unhandledRejection', onRejection);
  process.on('uncaughtException', onException);
});
afterAll(() => {
  process.off('unhandledRejection', onRejection);
  process.off('uncaughtException', onException);
});
beforeEach(() => {
  unhandledRejections.length = 0;
  uncaughtExceptions.length = 0;
});
afterEach(async () => {
  await Promise.all([...servers].map(closeServer));
  servers.clear();
});

const expectProcessUnharmed = (): void =>
  expect({ unhandledRejections, uncaughtExceptions }).toEqual({ unhandledRejections: [], uncaughtExceptions: [] });

/** Resolves once `stream` has ended or closed, whichever way. */
const settled = (stream: NodeJS.ReadableStream | NodeJS.WritableStream): Promise<void> =>
  new Promise((resolve) => finished(stream, () => resolve()));

/** A normal send on a new connection is still answered, with the bucket as the test expects it. */
async function expectServed(h: Harness, path: string, remaining: number): Promise<void> {
  const { status, body, headers } = await postJson(h.server, path, JSON.parse(send.toString()));
  expect({ status, body, policy: headers['ratelimit-policy'], rateLimit: headers.ratelimit }).toEqual({
    status: 200,
    body: '{"ok":true}',
    policy: h.policy,
    rateLimit: `${h.policy.split(';')[0]};r=${remaining};t=1`,
  });
}

describe.each(expressVersions)('$name', ({ express }) => {
  describe.each(mounts)('a timeout middleware answers first (%s)', (mount) => {
    it('while the limiter waits on a slow store: the 503 stands, the limiter does nothing more', async () => {
      const h = await harness({ express, mount, category: 'messages', parser: 'first' });
      h.store.held = true;
      const socket = await connectTo(h.server);
      const answered = readResponse(socket);
      socket.write(postHead(pathOf(mount, 'chat'), send.length));
      socket.write(send);

      const response = await answered;
      expect(response.status).toBe(503);
      expect(response.body).toBe('{"timeout":true}');
      expect(h.store.waiting).toBe(1);
      h.store.release();
      await turn();

      expect(h.handled).toEqual([]);
      expect(h.errors).toEqual([]);
      expectProcessUnharmed();
      // the held call took its token when released: this is the app's second
      await expectServed(h, pathOf(mount, 'chat'), 28);
      socket.destroy();
    });

    it('while the limiter waits for the body: the 503 stands, the limiter does nothing more', async () => {
      const h = await harness({ express, mount, category: 'users', parser: 'option' });
      const arrival = once(h.arrivals, 'request') as Promise<[Request, Response]>;
      const socket = await connectTo(h.server);
      const answered = readResponse(socket);
      const half = send.length >> 1;
      socket.write(postHead(pathOf(mount, 'chat'), send.length));
      socket.write(send.subarray(0, half));
      const [req] = await arrival;

      const response = await answered;
      expect(response.status).toBe(503);
      expect(response.body).toBe('{"timeout":true}');
      const bodyRead = settled(req);
      socket.write(send.subarray(half));
      await bodyRead;
      await turn();

      expect(h.handled).toEqual([]);
      expect(h.errors).toEqual([]);
      expectProcessUnharmed();
      // whether a request answered by someone else still costs a token is not part of the contract:
      // the next request goes to another app
      await expectServed(h, pathOf(mount, 'other'), 29);
      socket.destroy();
    });
  });

  describe.each(mounts)('a client that goes away (%s)', (mount) => {
    it('mid-body: nothing is answered or handled, and the next client is served', async () => {
      const h = await harness({ express, mount, category: 'users', parser: 'option' });
      const arrival = once(h.arrivals, 'request') as Promise<[Request, Response]>;
      const socket = await connectTo(h.server);
      socket.write(postHead(pathOf(mount, 'chat'), longSend.length));
      socket.write(longSend.subarray(0, 100));
      const [req] = await arrival;

      const gone = settled(req);
      socket.destroy();
      await gone;
      await turn();

      expect(h.handled).toEqual([]);
      // the parser may report the aborted body through next(err); nothing else may reach the app
      expect(h.errors.filter((error) => (error as { type?: string }).type !== 'request.aborted')).toEqual([]);
      expectProcessUnharmed();
      // the body never arrived, so no token was taken
      await expectServed(h, pathOf(mount, 'chat'), 29);
    });

    it('while the store is slow: nothing is answered or handled, and the next client is served', async () => {
      const h = await harness({ express, mount, category: 'messages', parser: 'first' });
      h.store.held = true;
      const arrival = once(h.arrivals, 'request') as Promise<[Request, Response]>;
      const taken = once(h.store, 'take');
      const socket = await connectTo(h.server);
      const answeredInstead = readResponse(socket).then(({ status, body }) => {
        throw new Error(`answered ${status} ${body} instead of waiting on the store`);
      });
      socket.write(postHead(pathOf(mount, 'chat'), send.length));
      socket.write(send);
      const [[, res]] = await Promise.all([arrival, Promise.race([taken, answeredInstead])]);

      const gone = settled(res);
      socket.destroy();
      await gone;
      h.store.release();
      await turn();

      expect(h.handled).toEqual([]);
      expect(h.errors).toEqual([]);
      expectProcessUnharmed();
      // the held call took its token when released: this is the app's second
      await expectServed(h, pathOf(mount, 'chat'), 28);
    });
  });
});
