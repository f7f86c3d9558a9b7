import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import compression from 'compression';
import type { Request, Response } from 'express';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { imRateLimit, MemoryStore, RedisStore } from '../../src/index.js';
import { MembershipGate } from '../../src/membership/gate.js';
import { MemoryLedger } from '../../src/membership/memory-ledger.js';
import { classify } from '../../src/middleware/classify-request.js';
import { Failover } from '../../src/store/failover-store.js';
import type { Store } from '../../src/store/index.js';
import { FakeClock, STORE_TIMEOUT_MS } from '../helpers.js';
import { clusterClient, singleClient } from '../support/clients.js';
import { expressVersions } from '../support/express.js';
import { closeServer, connectTo, listen, readResponse } from '../support/raw-http.js';

const HOLD_MS = 60_000;
const single = singleClient();
const cluster = clusterClient();

const backends: Array<[string, (clock: FakeClock) => Store]> = [
  ['MemoryStore', (clock) => new MemoryStore({ clock: clock.now })],
  ['RedisStore', (clock) => new RedisStore({ client: single, clock: clock.now })],
  ['RedisStore on a Redis Cluster', (clock) => new RedisStore({ client: cluster, clock: clock.now })],
];

/** Counts events; `reach(n)` settles once `n` have happened. */
class Counter {
  private n = 0;
  private readonly waiting: Array<[number, () => void]> = [];

  tick(): void {
    this.n++;
    for (const [at, wake] of this.waiting) if (this.n >= at) wake();
  }

  reach(at: number): Promise<void> {
    return this.n >= at ? Promise.resolve() : new Promise((resolve) => this.waiting.push([at, resolve]));
  }
}

/** A promise a test resolves by hand. */
function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve = (): void => {};
  const promise = new Promise<void>((done) => {
    resolve = done;
  });
  return { promise, resolve };
}

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map(closeServer));
});

describe.each(expressVersions)('$name', ({ express }) => {
  describe.each(backends)('memberships settle on the answer, on %s', (_, makeStore) => {
    /**
     * A small IM server (real group state) behind the limiter, each user capped at `cap` groups and
     * `cap` chat rooms. A single join can be held at a stage (`pause`) until the test lets it go.
     */
    const im = async (options: { cap?: number; compress?: boolean } = {}) => {
      const { cap = 3, compress = false } = options;
      const clock = new FakeClock();
      const app = `app-${randomUUID().slice(0, 8)}`;
      const fast = { maxJoinedPerUser: cap, ratePerSecond: 1e6 };
      const limiter = imRateLimit({
        store: makeStore(clock),
        storeTimeoutMs: STORE_TIMEOUT_MS,
        bodyParser: express.json(),
        membershipHoldMs: HOLD_MS,
        overrides: { [`acme#${app}`]: { groups: fast, chatrooms: fast, users: { ratePerSecond: 1e6 } } },
      });
      const rooms = { chatgroups: new Map<string, Set<string>>(), chatrooms: new Map<string, Set<string>>() };
      const hooks = {
        /** Where a single join waits for `gate`: before it adds the user, or after (before it answers). */
        pause: undefined as 'before' | 'after' | undefined,
        gate: deferred(),
        /** Who a batch add adds, and whether its answer names them. */
        batchAccepts: (_user: string): boolean => true,
        batchNames: true,
        userExists: true,
      };
      const entered = new Counter();
      const hungUp = new Counter();
      const ended = new Counter();
      let next = 0;

      const server = express();
      // before the limiter: counts the answers that really leave, once the ledger has concluded
      server.use((_req, res, go) => {
        const end = res.end;
        res.end = function (this: Response, ...args: unknown[]) {
          ended.tick();
          return (end as (...a: unknown[]) => Response).apply(this, args);
        } as Response['end'];
        go();
      });
      server.use(limiter);
      if (compress) server.use(compression({ threshold: 0 }));
      server.use(express.json());
      for (const kind of ['chatgroups', 'chatrooms'] as const) {
        const idKey = kind === 'chatgroups' ? 'groupid' : 'id';
        const room = (req: Request) => rooms[kind].get(String(req.params.id));
        server.post(`/:org/:app/${kind}`, (req, res) => {
          const id = `${kind}-${next++}`;
          rooms[kind].set(id, new Set([req.body.owner, ...(req.body.members ?? [])]));
          res.json({ data: { [idKey]: id } });
        });
        server.post(`/:org/:app/${kind}/:id/users/:user`, async (req, res) => {
          res.on('close', () => {
            if (!res.writableFinished) hungUp.tick();
          });
          const stage = hooks.pause;
          if (stage !== undefined) entered.tick();
          if (stage === 'before') await hooks.gate.promise;
          if (room(req) === undefined) return void res.status(404).json({ error: 'resource_not_found' });
          room(req)?.add(String(req.params.user));
          if (stage === 'after') await hooks.gate.promise;
          res.json({ data: { result: true } });
        });
        server.post(`/:org/:app/${kind}/:id/users`, (req, res) => {
          const added = (req.body.usernames as string[]).filter(hooks.batchAccepts);
          for (const user of added) room(req)?.add(user);
          res.json({ data: hooks.batchNames ? { newmembers: added } : { action: 'add_member' } });
        });
        server.delete(`/:org/:app/${kind}/:id`, (req, res) => {
          rooms[kind].delete(String(req.params.id));
          res.json({ data: { success: true } });
        });
        server.delete(`/:org/:app/${kind}/:id/users/:user`, (req, res) => {
          room(req)?.delete(String(req.params.user));
          res.json({ data: { result: true } });
        });
      }
      server.delete('/:org/:app/users/:user', (req, res) => {
        if (!hooks.userExists) return void res.status(404).json({ error: 'service_resource_not_found' });
        for (const kind of ['chatgroups', 'chatrooms'] as const) {
          for (const members of rooms[kind].values()) members.delete(String(req.params.user));
        }
        res.json({ entities: [{ username: req.params.user }] });
      });
      const listening = await listen(server);
      servers.push(listening);

      const base = `/acme/${app}`;
      const open = (kind: 'chatgroups' | 'chatrooms', id: string) => rooms[kind].set(id, new Set());
      const join = (id: string, user: string, kind: 'chatgroups' | 'chatrooms' = 'chatgroups') =>
        request(listening).post(`${base}/${kind}/${id}/users/${user}`);
      /** The groups (or chat rooms) the IM server has `user` in. */
      const groupsOf = (user: string, kind: 'chatgroups' | 'chatrooms' = 'chatgroups') =>
        [...rooms[kind]].filter(([, members]) => members.has(user)).map(([id]) => id);
      return { clock, hooks, entered, hungUp, ended, listening, base, open, join, groupsOf };
    };

    it('keeps the reservations of clients that hang up while the handler completes the join', async () => {
      const { hooks, entered, hungUp, ended, listening, base, open, join, groupsOf } = await im({ cap: 3 });
      for (let i = 1; i <= 7; i++) open('chatgroups', `g${i}`);
      hooks.pause = 'before';
      const refused = new Counter();
      const statuses: number[] = [];
      const sockets = await Promise.all(
        [1, 2, 3, 4, 5, 6].map(async (i) => {
          const socket = await connectTo(listening);
          readResponse(socket).then(
            (response) => {
              statuses.push(response.status);
              refused.tick();
            },
            () => undefined,
          );
          socket.write(`POST ${base}/chatgroups/g${i}/users/alice HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n`);
          return socket;
        }),
      );
      await Promise.all([entered.reach(3), refused.reach(3)]);
      expect(statuses).toEqual([403, 403, 403]);
      for (const socket of sockets) socket.destroy(); // every client hangs up before the handlers answer
      await hungUp.reach(3);
      hooks.gate.resolve(); // the handlers complete the joins, answering no one
      await ended.reach(6);
      hooks.pause = undefined;

      expect(groupsOf('alice')).toHaveLength(3);
      expect((await join('g7', 'alice')).status).toBe(403);
      const [first] = groupsOf('alice') as [string];
      expect((await request(listening).delete(`${base}/chatgroups/${first}/users/alice`)).status).toBe(200);
      expect((await join('g7', 'alice')).status).toBe(200); // exactly 3 counted: one leave makes room for one
      expect((await join(first, 'alice')).status).toBe(403);
      expect(groupsOf('alice')).toHaveLength(3);
    });

    it('lets the reservation of a join whose handler never answers lapse after membershipHoldMs', async () => {
      const { clock, hooks, entered, open, join, groupsOf } = await im({ cap: 3 });
      for (let i = 1; i <= 4; i++) open('chatgroups', `g${i}`);
      expect((await join('g1', 'bob')).status).toBe(200);
      expect((await join('g2', 'bob')).status).toBe(200);
      hooks.pause = 'before';
      void join('g3', 'bob').then(
        () => undefined,
        () => undefined, // the server closes under it
      );
      await entered.reach(1);
      hooks.pause = undefined;
      expect((await join('g4', 'bob')).status).toBe(403); // g3 is held
      clock.advance(HOLD_MS - 1);
      expect((await join('g4', 'bob')).status).toBe(403);
      clock.advance(1);
      expect((await join('g4', 'bob')).status).toBe(200);
      expect(groupsOf('bob')).toEqual(['g1', 'g2', 'g4']);
    });

    it.each([
      ['before', 404],
      ['after', 200],
    ] as const)(
      'leaves no phantom membership when a dissolve races a join (join held %s adding)',
      async (stage, status) => {
        const { hooks, entered, listening, base, open, join, groupsOf } = await im({ cap: 3 });
        for (let i = 1; i <= 5; i++) open('chatgroups', `g${i}`);
        expect((await join('g1', 'cy')).status).toBe(200);
        expect((await join('g2', 'cy')).status).toBe(200);
        hooks.pause = stage;
        const racing = join('g3', 'cy');
        const answered = racing.then((response) => response.status);
        await entered.reach(1);
        hooks.pause = undefined;
        expect((await request(listening).delete(`${base}/chatgroups/g3`)).status).toBe(200);
        hooks.gate.resolve();
        expect(await answered).toBe(status);
        expect(groupsOf('cy')).toEqual(['g1', 'g2']);
        expect((await join('g4', 'cy')).status).toBe(200); // g3 does not count
        expect((await join('g5', 'cy')).status).toBe(403);
      },
    );

    it("confirms the users a batch add's answer names and releases the rest; all when it names none", async () => {
      const { clock, hooks, base, listening, open, join } = await im({ cap: 1 });
      for (let i = 1; i <= 4; i++) open('chatgroups', `g${i}`);
      hooks.batchAccepts = (user) => user === 'Amy';
      const batch = (id: string, usernames: string[]) =>
        request(listening).post(`${base}/chatgroups/${id}/users`).send({ usernames });
      expect((await batch('g1', ['Amy', 'bo', 'cy'])).status).toBe(200); // added only Amy, named as such
      expect((await join('g2', 'bo')).status).toBe(200);
      expect((await join('g2', 'cy')).status).toBe(200);
      expect((await join('g2', 'amy')).status).toBe(403);

      hooks.batchAccepts = () => true;
      hooks.batchNames = false;
      expect((await batch('g3', ['dee', 'eli'])).status).toBe(200);
      clock.advance(HOLD_MS); // confirmed, not held: nothing lapses
      expect((await join('g4', 'dee')).status).toBe(403);
      expect((await join('g4', 'eli')).status).toBe(403);
      expect((await join('g4', 'amy')).status).toBe(403);
    });

    it('clears a deleted user from every group and chat room once the IM server has deleted them', async () => {
      const { hooks, base, listening, open, join, groupsOf } = await im({ cap: 2 });
      for (let i = 1; i <= 4; i++) open('chatgroups', `g${i}`);
      for (let i = 1; i <= 3; i++) open('chatrooms', `r${i}`);
      for (const user of ['zed', 'lou']) {
        for (const group of ['g1', 'g2']) expect((await join(group, user)).status).toBe(200);
        expect((await join('r1', user, 'chatrooms')).status).toBe(200);
        expect((await join('r2', user, 'chatrooms')).status).toBe(200);
      }
      hooks.userExists = false;
      expect((await request(listening).delete(`${base}/users/zed`)).status).toBe(404);
      expect((await join('g3', 'zed')).status).toBe(403); // not deleted: nothing cleared
      hooks.userExists = true;
      expect((await request(listening).delete(`${base}/users/zed`)).status).toBe(200);
      expect(groupsOf('zed')).toEqual([]);
      expect((await join('g3', 'zed')).status).toBe(200);
      expect((await join('g4', 'zed')).status).toBe(200);
      expect((await join('r3', 'zed', 'chatrooms')).status).toBe(200);
      expect((await join('g3', 'lou')).status).toBe(403); // the others keep theirs
      expect((await join('r3', 'lou', 'chatrooms')).status).toBe(403);
    });

    it('reads a created group’s ID through compression() mounted after the limiter', async () => {
      const { base, listening } = await im({ cap: 1, compress: true });
      const create = () =>
        request(listening).post(`${base}/chatgroups`).set('Accept-Encoding', 'gzip').send({ owner: 'ned' });
      const created = await create();
      expect(created.status).toBe(200);
      expect(created.headers['content-encoding']).toBe('gzip');
      expect((await create()).status).toBe(403);
      const id = created.body.data.groupid as string;
      expect((await request(listening).delete(`${base}/chatgroups/${id}`)).status).toBe(200); // known by its ID
      expect((await create()).status).toBe(200);
    });
  });
});

describe('the reservation token of a group being created', () => {
  it('is unique across machines: 2 × 1000 creates on two gates give 2000 distinct tokens', () => {
    const tokens: string[] = [];
    const recording = new MemoryLedger();
    const reserve = recording.reserve.bind(recording);
    recording.reserve = (appKey, kind, group, users, max, holdMs) => {
      tokens.push(group);
      return reserve(appKey, kind, group, users, max, holdMs);
    };
    const failover = new Failover({ timeoutMs: 1000, logger: { warn: () => {} }, policy: 'fallback' });
    const machines = [1, 2].map(() => new MembershipGate(recording, failover, 'insensitive', HOLD_MS));
    const match = classify('POST', '/acme/chat/chatgroups');
    const rules = imRateLimit().rules('acme#chat');
    if (match === undefined) throw new Error('the create route is in the catalog');
    for (let i = 0; i < 1000; i++) for (const gate of machines) gate.reserve(match, { owner: `u${i}` }, rules);
    expect(new Set(tokens).size).toBe(2000);
    expect(
      tokens.every((token) =>
        /^pending-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(token),
      ),
    ).toBe(true);
  });
});
