import cluster from 'node:cluster';
import type { Server } from 'node:http';
import express, { type ErrorRequestHandler, type Express } from 'express';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { imRateLimit, MemoryStore, type Validate, type WarningCode } from '../../src/index.js';
import type { Store } from '../../src/store/index.js';
import { linesInto } from '../helpers.js';

const send = { to: ['bob'], type: 'txt', body: { msg: 'hi' } };

/** A store that is not a MemoryStore: what a multi-process deployment should use. */
const sharedStore: Store = {
  take: (checks) => checks.map(() => ({ allowed: true, remaining: 9, resetMs: 1000, retryAfterMs: 0 })),
};

/** Sends `count` requests to one server in order; `path(i)` names the i-th. */
async function hit(app: Express, count: number, path: (i: number) => string): Promise<void> {
  const server: Server = app.listen(0);
  try {
    for (let i = 0; i < count; i++) await request(server).get(path(i));
  } finally {
    server.close();
  }
}

/** Each mistake, made with `validate`; resolves to what was logged. */
const mistakes: Record<WarningCode, { make: (validate?: Validate) => Promise<string[]>; message: string }> = {
  WRN_NOTHING_CLASSIFIED: {
    // the whole API under /api, the limiter at the root: it sees /api/acme/chat/…, no catalog route
    make: async (validate) => {
      const warnings: string[] = [];
      const app = express().use(imRateLimit({ validate, logger: linesInto(warnings) }));
      app.use('/api', (_req, res) => {
        res.json({ ok: true });
      });
      const paths = [`/api/acme/chat/users/${'x'.repeat(80)}`, '/api/acme/chat/users/alice', '/health'];
      await hit(app, 150, (i) => (i < 3 ? paths[i] : `/api/acme/chat/chatgroups/${i}`) as string);
      return warnings;
    },
    message:
      'im-rate-limit: WRN_NOTHING_CLASSIFIED: 100 requests reached the limiter and none was a route of the IM ' +
      `REST catalog (/{org}/{app}/…); it saw "/api/acme/chat/users/${'x'.repeat(39)}…", ` +
      '"/api/acme/chat/users/alice", "/health", "/api/acme/chat/chatgroups/3", "/api/acme/chat/chatgroups/4". ' +
      'Below "/api" they are catalog routes: give that prefix as the basePath option (docs/mounting.md → Mount points and basePath)',
  },
  WRN_MEMORY_STORE_MULTI_PROCESS: {
    make: async (validate) => {
      const warnings: string[] = [];
      vi.stubEnv('NODE_APP_INSTANCE', '2'); // PM2 names each instance of an app
      imRateLimit({ validate, logger: linesInto(warnings) }); // the default MemoryStore
      return warnings;
    },
    message:
      'im-rate-limit: WRN_MEMORY_STORE_MULTI_PROCESS: this process is PM2 instance 2, one of several, and the ' +
      'limiter counts in a MemoryStore (the default), which no other process sees: together they admit every ' +
      'limit once per process. Share a RedisStore between them',
  },
  WRN_COUNTED_TWICE: {
    // two limiters in one chain: the second lets a request the first counted through, and says so
    make: async (validate) => {
      const warnings: string[] = [];
      const logger = linesInto(warnings);
      const app = express().use(imRateLimit({ validate, logger }), imRateLimit({ validate, logger }));
      app.use((_req, res) => {
        res.json({ ok: true });
      });
      await hit(app, 3, () => '/acme/chat/users/alice?token=secret');
      return warnings;
    },
    message:
      'im-rate-limit: WRN_COUNTED_TWICE: GET "/acme/chat/users/alice" was counted by another im-rate-limit ' +
      'instance, and this one lets it through uncounted: mount one limiter, and use its guard() for routes ' +
      'outside the catalog',
  },
  WRN_PARSER_AFTER_LIMITER: {
    make: async (validate) => {
      const warnings: string[] = [];
      const errors: unknown[] = [];
      const app = express().use(imRateLimit({ validate, logger: linesInto(warnings) }));
      app.use(express.json(), (_req, res) => {
        res.json({ ok: true });
      });
      app.use(((error, _req, res, _next) => {
        errors.push(error.code);
        res.status(500).end();
      }) satisfies ErrorRequestHandler);
      for (let i = 0; i < 3; i++) await request(app).post('/acme/chat/messages/users').send(send);
      expect(errors).toEqual(['ERR_NO_BODY_PARSER', 'ERR_NO_BODY_PARSER', 'ERR_NO_BODY_PARSER']); // silenced or not
      return warnings;
    },
    message:
      'im-rate-limit: WRN_PARSER_AFTER_LIMITER: this route is limited by its JSON body, but no body parser ran ' +
      'before the limiter: mount express.json() before it, or pass the parser as its bodyParser option',
  },
};

describe('warnings for a limiter mounted wrong', () => {
  beforeEach(() => {
    vi.stubEnv('NODE_APP_INSTANCE', undefined); // one process, unless a test says otherwise
  });
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  for (const [code, { make, message }] of Object.entries(mistakes) as Array<
    [WarningCode, (typeof mistakes)[WarningCode]]
  >) {
    describe(code, () => {
      it('is logged once per limiter, with its code', async () => {
        expect(await make()).toEqual([message]);
        expect(await make(true)).toEqual([message]);
      });

      it('is silenced by validate: false, and by its own code', async () => {
        expect(await make(false)).toEqual([]);
        expect(await make({ [code]: false })).toEqual([]);
      });

      it('is not silenced by another code', async () => {
        const other = Object.keys(mistakes).find((name) => name !== code) as WarningCode;
        expect(await make({ [other]: false, [code]: true })).toEqual([message]);
      });
    });
  }

  it('WRN_MEMORY_STORE_MULTI_PROCESS: in a cluster worker, and for a MemoryStore of its own', () => {
    const warnings: string[] = [];
    Object.defineProperty(cluster, 'isWorker', { value: true, configurable: true, writable: true });
    try {
      imRateLimit({ store: new MemoryStore(), logger: linesInto(warnings) });
    } finally {
      Object.defineProperty(cluster, 'isWorker', { value: false, configurable: true, writable: true });
    }
    expect(warnings).toEqual([
      expect.stringMatching(
        /^im-rate-limit: WRN_MEMORY_STORE_MULTI_PROCESS: this process is a cluster worker, one of several/,
      ),
    ]);
  });
});

describe('a correct setup logs nothing', () => {
  beforeEach(() => {
    vi.stubEnv('NODE_APP_INSTANCE', undefined);
  });
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('catalog routes and others, the parser first, a guard behind app.use of the same limiter', async () => {
    const warnings: string[] = [];
    const limiter = imRateLimit({ logger: linesInto(warnings) });
    const app = express().use(express.json(), limiter);
    app.get('/:org/:app/chatgroups', limiter.guard('groups'), (_req, res) => {
      res.json({ ok: true });
    });
    app.use((_req, res) => {
      res.json({ ok: true });
    });
    await request(app).post('/acme/chat/messages/users').send(send);
    await hit(app, 150, (i) => (i % 2 === 0 ? '/acme/chat/chatgroups' : `/health/${i}`));
    expect(warnings).toEqual([]);
  });

  it('requests skipped by skip are not taken for a limiter mounted wrong', async () => {
    const warnings: string[] = [];
    const app = express().use(imRateLimit({ skip: () => true, logger: linesInto(warnings) }));
    app.use((_req, res) => {
      res.json({ ok: true });
    });
    await hit(app, 120, () => '/health');
    expect(warnings).toEqual([]);
  });

  it('a store shared between processes, in a PM2 instance', () => {
    const warnings: string[] = [];
    vi.stubEnv('NODE_APP_INSTANCE', '0');
    imRateLimit({ store: sharedStore, logger: linesInto(warnings) });
    expect(warnings).toEqual([]);
  });
});
