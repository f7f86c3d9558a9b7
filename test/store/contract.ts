import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/index.js';
import type { BucketCheck, Check, Reading, Store, WindowCheck } from '../../src/store/index.js';
import { FakeClock } from '../helpers.js';

/** A generated request: one app's keys (each with its own figures), and a cost for each. */
interface RequestSpec {
  app: string;
  keys: ReadonlyArray<'slow' | 'fast' | 'day'>;
  costs: readonly number[];
}

/**
 * The store contract (ARCHITECTURE.md → The store port and its contract): every store, fed the
 * same checks at the same (fake) times, gives the same decisions. `makeStore` builds a store that
 * reads time from the clock it is given.
 */
export function storeContract(name: string, makeStore: (clock: () => number) => Store): void {
  describe(`store contract: ${name}`, () => {
    const setup = () => {
      const clock = new FakeClock();
      const store = makeStore(clock.now);
      const id = randomUUID();
      const bucket = (capacity: number, perSecond: number, cost = 1, key = 'b'): BucketCheck => ({
        type: 'bucket',
        key: `t:{${id}}:${key}`,
        capacity,
        intervalMs: 1000 / perSecond,
        cost,
      });
      const window = (limit: number, edgesMs: readonly number[], cost = 1, key = 'w'): WindowCheck => ({
        type: 'window',
        key: `t:{${id}}:${key}`,
        limit,
        edgesMs,
        cost,
      });
      /** The edges of windows of `spanMs` shifted by `offsetMs` around `atMs`, as the limiter sends them. */
      const every = (spanMs: number, offsetMs = 0, atMs = clock.nowMs): number[] => {
        const index = Math.floor((atMs + offsetMs) / spanMs);
        return [-1, 0, 1, 2].map((k) => (index + k) * spanMs - offsetMs);
      };
      const take = async (...checks: Check[]): Promise<readonly Reading[]> => store.take(checks);
      const admitted = async (times: number, ...checks: Check[]): Promise<number> => {
        let count = 0;
        for (let i = 0; i < times; i++) if ((await take(...checks)).every((r) => r.allowed)) count++;
        return count;
      };
      return { clock, bucket, window, every, take, admitted };
    };

    it('admits a full bucket, then refuses with the wait until the next token', async () => {
      const { bucket, take, admitted } = setup();
      expect(await take(bucket(10, 10))).toEqual([{ allowed: true, remaining: 9, resetMs: 100, retryAfterMs: 0 }]);
      expect(await admitted(9, bucket(10, 10))).toBe(9);
      expect(await take(bucket(10, 10))).toEqual([{ allowed: false, remaining: 0, resetMs: 1000, retryAfterMs: 100 }]);
    });

    it('refills at the stated rate', async () => {
      const { clock, bucket, admitted } = setup();
      expect(await admitted(30, bucket(10, 10))).toBe(10);
      clock.advance(250);
      expect(await admitted(5, bucket(10, 10))).toBe(2);
      clock.advance(5_000);
      expect(await admitted(30, bucket(10, 10))).toBe(10);
    });

    it('holds 1 call per minute', async () => {
      const { clock, bucket, take, admitted } = setup();
      const perMinute = bucket(1, 1 / 60);
      expect(await admitted(3, perMinute)).toBe(1);
      clock.advance(59_999);
      expect(await take(perMinute)).toEqual([{ allowed: false, remaining: 0, resetMs: 1, retryAfterMs: 1 }]);
      clock.advance(1);
      expect(await admitted(3, perMinute)).toBe(1);
    });

    it('keeps 30/s exact despite 1000/30 not being a whole number', async () => {
      const { clock, bucket, admitted } = setup();
      expect(await admitted(90, bucket(30, 30))).toBe(30);
      clock.advance(1000);
      expect(await admitted(90, bucket(30, 30))).toBe(30);
      clock.advance(100);
      expect(await admitted(10, bucket(30, 30))).toBe(3);
    });

    it("admits exactly its capacity in a burst at any rate, at today's times in ms since the epoch", async () => {
      // each token adds the interval to a time of ~1.8e12 ms, rounded: 7/s, 60/s and 600/s once admitted one too few
      for (const perSecond of [7, 60, 70, 600, 1000 / 3, 2999]) {
        const { clock, bucket, take, admitted } = setup();
        clock.advance(0.123_456_789); // a time between whole milliseconds
        const check = bucket(perSecond >= 1000 ? 1000 : Math.round(perSecond), perSecond, 1, `burst-${perSecond}`);
        expect(await admitted(check.capacity, check)).toBe(check.capacity);
        expect(await take(check)).toEqual([
          {
            allowed: false,
            remaining: 0,
            resetMs: Math.ceil(check.capacity * check.intervalMs - 1e-9),
            retryAfterMs: Math.ceil(check.intervalMs - 1e-9),
          },
        ]);
        clock.advance(1000);
        expect(await admitted(check.capacity + 2, check)).toBe(Math.min(check.capacity, Math.floor(perSecond)));
      }
    });

    it('admits no more than its capacity, nor its rate, when the interval is a few units in the last place of the time', async () => {
      // at 1.8e12 ms a double steps by 2^-12 ms: 1/912,000 s is 4.49 steps, and each token once added 4 (112 of 100 admitted)
      for (const perSecond of [1e6, 912_000, 700_000]) {
        const { clock, bucket, admitted } = setup();
        clock.advance(0.123_456_789);
        const check = bucket(100, perSecond, 1, `fine-${perSecond}`);
        expect(await admitted(150, check)).toBe(100);
        clock.advance(0.5); // half a millisecond refills 500, 456 and 350 tokens: the 100 of a full bucket
        expect(await admitted(150, check)).toBe(100);
      }
    });

    it("reads a refill of exactly one interval as one token, whatever the time's last place", async () => {
      for (const perSecond of [30, 7, 3000]) {
        const { clock, bucket, admitted } = setup();
        const check = bucket(perSecond, perSecond, 1, `refill-${perSecond}`);
        expect(await admitted(perSecond + 1, check)).toBe(perSecond);
        clock.advance(1000 / perSecond); // the clock lands between whole milliseconds, rounded to its last place
        expect(await admitted(3, check)).toBe(1);
      }
    });

    it('takes a cost above 1 whole or not at all', async () => {
      const { bucket, take } = setup();
      expect((await take(bucket(10, 10, 4)))[0]).toMatchObject({ allowed: true, remaining: 6 });
      expect((await take(bucket(10, 10, 4)))[0]).toMatchObject({ allowed: true, remaining: 2 });
      expect(await take(bucket(10, 10, 4))).toEqual([
        { allowed: false, remaining: 2, resetMs: 800, retryAfterMs: 200 },
      ]);
      expect((await take(bucket(10, 10, 2)))[0]).toMatchObject({ allowed: true, remaining: 0 });
    });

    it('decides several checks all or nothing', async () => {
      const { bucket, window, every, take } = setup();
      for (let i = 0; i < 3; i++)
        expect((await take(bucket(5, 1), window(3, every(60_000)))).map((r) => r.allowed)).toEqual([true, true]);
      const refused = await take(bucket(5, 1), window(3, every(60_000)));
      expect(refused.map((r) => r.allowed)).toEqual([true, false]);
      expect(refused[0]).toMatchObject({ remaining: 2 }); // the bucket reads as it stayed
      expect((await take(bucket(5, 1)))[0]).toMatchObject({ allowed: true, remaining: 1 });
      // and the other way round: a refusing bucket leaves the window alone
      expect((await take(bucket(5, 1, 3), window(10, every(60_000), 1, 'w2'))).map((r) => r.allowed)).toEqual([
        false,
        true,
      ]);
      expect((await take(window(10, every(60_000), 1, 'w2')))[0]).toMatchObject({ allowed: true, remaining: 9 });
    });

    it('counts calendar windows and starts afresh when one rolls over', async () => {
      const { clock, window, every, take, admitted } = setup();
      clock.nowMs = Date.UTC(2026, 10, 28, 23, 59, 0);
      const day = every(86_400_000);
      expect(await take(window(3, day, 2))).toEqual([
        { allowed: true, remaining: 1, resetMs: 60_000, retryAfterMs: 0 },
      ]);
      expect(await take(window(3, day, 2))).toEqual([
        { allowed: false, remaining: 1, resetMs: 60_000, retryAfterMs: 60_000 },
      ]);
      expect(await admitted(3, window(3, day))).toBe(1);
      clock.advance(60_000); // the same edges: the store moves on to the next window by itself
      expect(await take(window(3, day))).toEqual([
        { allowed: true, remaining: 2, resetMs: 86_400_000, retryAfterMs: 0 },
      ]);
      expect(await admitted(5, window(3, every(86_400_000)))).toBe(2);
    });

    it('shifts windows by their edges (a day in UTC+8 ends at 16:00 UTC)', async () => {
      const { clock, window, every, take } = setup();
      const eightHours = 8 * 3_600_000;
      clock.nowMs = Date.UTC(2026, 10, 28, 15, 0, 0);
      const days = every(86_400_000, eightHours);
      expect((await take(window(1, days)))[0]).toMatchObject({ allowed: true, resetMs: 3_600_000 });
      expect((await take(window(1, days)))[0]?.allowed).toBe(false);
      clock.advance(3_600_000);
      expect((await take(window(1, days)))[0]).toMatchObject({ allowed: true, resetMs: 86_400_000 });
    });

    it('counts windows of uneven length: a 23-hour day, then a 25-hour one', async () => {
      const { clock, window, take } = setup();
      const hour = 3_600_000;
      const start = Date.UTC(2026, 10, 28);
      const edges = [start, start + 24 * hour, start + 47 * hour, start + 72 * hour];
      clock.nowMs = start + 24 * hour;
      expect(await take(window(2, edges, 2))).toEqual([
        { allowed: true, remaining: 0, resetMs: 23 * hour, retryAfterMs: 0 },
      ]);
      clock.advance(23 * hour - 1);
      expect(await take(window(2, edges))).toEqual([{ allowed: false, remaining: 0, resetMs: 1, retryAfterMs: 1 }]);
      clock.advance(1);
      expect(await take(window(2, edges, 2))).toEqual([
        { allowed: true, remaining: 0, resetMs: 25 * hour, retryAfterMs: 0 },
      ]);
      clock.advance(25 * hour - 1000);
      expect(await take(window(2, edges))).toEqual([
        { allowed: false, remaining: 0, resetMs: 1000, retryAfterMs: 1000 },
      ]);
    });

    it("picks the window by its own clock when the limiter's is a few seconds off", async () => {
      const { clock, window, every, take } = setup();
      const midnight = Date.UTC(2026, 10, 29);
      // the limiter, 5 s ahead, already sends the days around the 29th; the store is still on the 28th
      clock.nowMs = midnight - 2000;
      expect(await take(window(3, every(86_400_000, 0, midnight + 3000), 3))).toEqual([
        { allowed: true, remaining: 0, resetMs: 2000, retryAfterMs: 0 },
      ]);
      clock.advance(1000);
      expect(await take(window(3, every(86_400_000, 0, midnight + 4000)))).toEqual([
        { allowed: false, remaining: 0, resetMs: 1000, retryAfterMs: 1000 },
      ]);
      // past midnight by the store's clock, while the limiter, 5 s behind, still sends the 28th's days
      clock.nowMs = midnight + 2000;
      expect(await take(window(3, every(86_400_000, 0, midnight - 3000)))).toEqual([
        { allowed: true, remaining: 2, resetMs: 86_398_000, retryAfterMs: 0 },
      ]);
      expect(await take(window(3, every(86_400_000, 0, midnight + 2000)))).toEqual([
        { allowed: true, remaining: 1, resetMs: 86_398_000, retryAfterMs: 0 },
      ]);
    });

    it('reads windows of any number of edges among other checks', async () => {
      const { clock, bucket, window, take } = setup();
      const now = clock.nowMs;
      const long = [now - 3000, now - 2000, now - 1000, now + 4000, now + 9000];
      expect(
        await take(window(2, [now - 1000, now + 1000], 1, 'short'), bucket(5, 1), window(3, long, 2, 'long')),
      ).toEqual([
        { allowed: true, remaining: 1, resetMs: 1000, retryAfterMs: 0 },
        { allowed: true, remaining: 4, resetMs: 1000, retryAfterMs: 0 },
        { allowed: true, remaining: 1, resetMs: 4000, retryAfterMs: 0 },
      ]);
    });

    it('counts in the first window when its clock lies before the edges', async () => {
      const { clock, window, take } = setup();
      const edges = [clock.nowMs + 1000, clock.nowMs + 2000, clock.nowMs + 3000];
      expect(await take(window(5, edges))).toEqual([{ allowed: true, remaining: 4, resetMs: 2000, retryAfterMs: 0 }]);
      clock.advance(1500);
      expect(await take(window(5, edges))).toEqual([{ allowed: true, remaining: 3, resetMs: 500, retryAfterMs: 0 }]);
    });

    it('gives tokens back with a negative cost, never past capacity', async () => {
      const { bucket, window, every, take, admitted } = setup();
      expect(await admitted(5, bucket(3, 1))).toBe(3);
      expect((await take(bucket(3, 1, -1)))[0]).toMatchObject({ allowed: true, remaining: 1 });
      expect((await take(bucket(3, 1, -10)))[0]).toMatchObject({ allowed: true, remaining: 3 });
      expect(await admitted(5, bucket(3, 1))).toBe(3);
      expect(await admitted(3, window(2, every(60_000)))).toBe(2);
      expect((await take(window(2, every(60_000), -1)))[0]).toMatchObject({ allowed: true, remaining: 1 });
    });

    it('decides requests asked at once as it would one after the other: each all or nothing, in order', async () => {
      // a store may send concurrent requests together (the RedisStore does: one script call per turn
      // of the event loop, per Cluster slot); each must still see exactly what the ones before it left
      const request: fc.Arbitrary<RequestSpec> = fc.record({
        app: fc.constantFrom('a', 'b', 'c'), // a hash tag each: on a Cluster, a slot each
        keys: fc.subarray(['slow', 'fast', 'day'] as const, { minLength: 1 }),
        costs: fc.array(fc.integer({ min: -2, max: 3 }), { minLength: 3, maxLength: 3 }), // refunds, readings (0), takes
      });
      const round = fc.record({
        advanceMs: fc.integer({ min: 0, max: 1500 }),
        requests: fc.array(request, { minLength: 1, maxLength: 12 }),
      });
      await fc.assert(
        fc.asyncProperty(fc.array(round, { minLength: 1, maxLength: 6 }), async (rounds) => {
          const clock = new FakeClock();
          const store = makeStore(clock.now);
          const sequential = new MemoryStore({ clock: clock.now });
          const id = randomUUID();
          for (const { advanceMs, requests } of rounds) {
            clock.advance(advanceMs);
            const minute = Math.floor(clock.nowMs / 60_000) * 60_000; // minute-long windows, so that they roll over
            const edgesMs = [minute - 60_000, minute, minute + 60_000, minute + 120_000];
            const checksOf = ({ app, keys, costs }: RequestSpec): Check[] =>
              keys.map((name, i): Check => {
                const key = `t:{${id}-${app}}:${name}`;
                const cost = costs[i] as number;
                if (name === 'day') return { type: 'window', key, limit: 4, edgesMs, cost };
                return name === 'slow'
                  ? { type: 'bucket', key, capacity: 2, intervalMs: 1000, cost }
                  : { type: 'bucket', key, capacity: 5, intervalMs: 1000 / 7, cost };
              });
            // every request of the round asked before any answer is awaited
            const answers = await Promise.all(requests.map((request) => store.take(checksOf(request))));
            expect(answers).toEqual(requests.map((request) => sequential.take(checksOf(request))));
          }
        }),
        { numRuns: 40 },
      );
    });

    it('keeps keys apart', async () => {
      const { bucket, admitted } = setup();
      expect(await admitted(3, bucket(2, 1, 1, 'one'))).toBe(2);
      expect(await admitted(3, bucket(2, 1, 1, 'two'))).toBe(2);
    });
  });
}
