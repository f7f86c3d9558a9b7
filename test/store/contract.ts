import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { BucketCheck, Check, Reading, Store, WindowCheck } from '../../src/index.js';
import { FakeClock } from '../helpers.js';

/**
 * The store contract (DESIGN §3): every store, fed the same checks at the same (fake) times, gives
 * the same decisions. `makeStore` builds a store that reads time from the clock it is given.
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
      const window = (limit: number, windowMs: number, cost = 1, offsetMs = 0, key = 'w'): WindowCheck => ({
        type: 'window',
        key: `t:{${id}}:${key}`,
        limit,
        windowMs,
        offsetMs,
        cost,
      });
      const take = async (...checks: Check[]): Promise<readonly Reading[]> => store.take(checks);
      const admitted = async (times: number, ...checks: Check[]): Promise<number> => {
        let count = 0;
        for (let i = 0; i < times; i++) if ((await take(...checks)).every((r) => r.allowed)) count++;
        return count;
      };
      return { clock, bucket, window, take, admitted };
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
      const { bucket, window, take } = setup();
      for (let i = 0; i < 3; i++)
        expect((await take(bucket(5, 1), window(3, 60_000))).map((r) => r.allowed)).toEqual([true, true]);
      const refused = await take(bucket(5, 1), window(3, 60_000));
      expect(refused.map((r) => r.allowed)).toEqual([true, false]);
      expect(refused[0]).toMatchObject({ remaining: 2 }); // the bucket reads as it stayed
      expect((await take(bucket(5, 1)))[0]).toMatchObject({ allowed: true, remaining: 1 });
      // and the other way round: a refusing bucket leaves the window alone
      expect((await take(bucket(5, 1, 3), window(10, 60_000, 1, 0, 'w2'))).map((r) => r.allowed)).toEqual([
        false,
        true,
      ]);
      expect((await take(window(10, 60_000, 1, 0, 'w2')))[0]).toMatchObject({ allowed: true, remaining: 9 });
    });

    it('counts calendar windows and starts afresh when one rolls over', async () => {
      const { clock, window, take, admitted } = setup();
      clock.nowMs = Date.UTC(2026, 10, 28, 23, 59, 0);
      expect(await take(window(3, 86_400_000, 2))).toEqual([
        { allowed: true, remaining: 1, resetMs: 60_000, retryAfterMs: 0 },
      ]);
      expect(await take(window(3, 86_400_000, 2))).toEqual([
        { allowed: false, remaining: 1, resetMs: 60_000, retryAfterMs: 60_000 },
      ]);
      expect(await admitted(3, window(3, 86_400_000))).toBe(1);
      clock.advance(60_000);
      expect(await admitted(5, window(3, 86_400_000))).toBe(3);
    });

    it('shifts windows by their offset (a day in UTC+8 ends at 16:00 UTC)', async () => {
      const { clock, window, take } = setup();
      const eightHours = 8 * 3_600_000;
      clock.nowMs = Date.UTC(2026, 10, 28, 15, 0, 0);
      expect((await take(window(1, 86_400_000, 1, eightHours)))[0]).toMatchObject({
        allowed: true,
        resetMs: 3_600_000,
      });
      expect((await take(window(1, 86_400_000, 1, eightHours)))[0]?.allowed).toBe(false);
      clock.advance(3_600_000);
      expect((await take(window(1, 86_400_000, 1, eightHours)))[0]).toMatchObject({
        allowed: true,
        resetMs: 86_400_000,
      });
    });

    it('gives tokens back with a negative cost, never past capacity', async () => {
      const { bucket, window, take, admitted } = setup();
      expect(await admitted(5, bucket(3, 1))).toBe(3);
      expect((await take(bucket(3, 1, -1)))[0]).toMatchObject({ allowed: true, remaining: 1 });
      expect((await take(bucket(3, 1, -10)))[0]).toMatchObject({ allowed: true, remaining: 3 });
      expect(await admitted(5, bucket(3, 1))).toBe(3);
      expect(await admitted(3, window(2, 60_000))).toBe(2);
      expect((await take(window(2, 60_000, -1)))[0]).toMatchObject({ allowed: true, remaining: 1 });
    });

    it('keeps keys apart', async () => {
      const { bucket, admitted } = setup();
      expect(await admitted(3, bucket(2, 1, 1, 'one'))).toBe(2);
      expect(await admitted(3, bucket(2, 1, 1, 'two'))).toBe(2);
    });
  });
}
