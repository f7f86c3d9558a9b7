import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/index.js';
import type { BucketCheck } from '../../src/store/index.js';
import { FakeClock, linesInto } from '../helpers.js';
import { storeContract } from './contract.js';

storeContract('MemoryStore', (clock) => new MemoryStore({ clock }));

describe('MemoryStore', () => {
  const bucket = (key: string, capacity = 10, perSecond = 10): BucketCheck => ({
    type: 'bucket',
    key,
    capacity,
    intervalMs: 1000 / perSecond,
    cost: 1,
  });

  it('answers synchronously', () => {
    const result = new MemoryStore().take([bucket('k')]);
    expect(Array.isArray(result)).toBe(true);
  });

  it('exposes a clock it was given, for the limiter to compute window edges around; none of its own', () => {
    const clock = new FakeClock();
    expect(new MemoryStore({ clock: clock.now }).clock).toBe(clock.now);
    expect(new MemoryStore().clock).toBeUndefined(); // buckets on a monotonic clock, windows on the wall's days
  });

  it('never admits more than N + N·T in T seconds from a full bucket', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 50 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 400 }), fc.integer({ min: 1, max: 20 })), {
          minLength: 1,
          maxLength: 200,
        }),
        (perSecond, steps) => {
          const clock = new FakeClock(0);
          const store = new MemoryStore({ clock: clock.now });
          const start = clock.nowMs;
          let admitted = 0;
          for (const [waitMs, burst] of steps) {
            clock.advance(waitMs);
            for (let i = 0; i < burst; i++) if (store.take([bucket('k', perSecond, perSecond)])[0]?.allowed) admitted++;
            const seconds = (clock.nowMs - start) / 1000;
            expect(admitted).toBeLessThanOrEqual(perSecond + perSecond * seconds + 1e-9);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('drops idle buckets and ended windows at the next sweep, with no timer', () => {
    const clock = new FakeClock(0);
    const store = new MemoryStore({ clock: clock.now, sweepIntervalMs: 5_000 });
    for (let i = 0; i < 1000; i++) store.take([bucket(`app${i}`)]);
    store.take([{ type: 'window', key: 'day', limit: 5, edgesMs: [-86_400_000, 0, 86_400_000], cost: 1 }]);
    expect(store.size).toBe(1001);
    clock.advance(4_999); // the buckets refilled 100 ms after their take, but no sweep is due yet
    store.take([bucket('app0')]);
    expect(store.size).toBe(1001);
    clock.advance(1);
    store.take([bucket('fresh')]);
    expect(store.size).toBe(3); // the day's window, app0 (taken 1 ms ago) and the bucket just taken
    clock.advance(86_400_000);
    store.sweep();
    expect(store.size).toBe(0);
  });

  it('holds at most maxEntries, dropping the oldest, with one warning a sweep interval at most', () => {
    const clock = new FakeClock(0);
    const warnings: string[] = [];
    const logger = linesInto(warnings);
    const store = new MemoryStore({ clock: clock.now, maxEntries: 3, sweepIntervalMs: 1000, logger });
    const slow = (key: string) => bucket(key, 1, 0.001); // one token, back after 1000 s: a taken bucket stays empty
    const allowed = (key: string) => store.take([slow(key)])[0]?.allowed;
    for (const key of ['a', 'b', 'c']) expect(allowed(key)).toBe(true);
    expect(warnings).toEqual([]);
    expect(allowed('d')).toBe(true); // drops a
    expect(store.size).toBe(3);
    expect(warnings).toEqual([
      'im-rate-limit: WRN_MEMORY_STORE_FULL: the MemoryStore is full (3 entries); dropped 1 oldest',
    ]);
    expect(allowed('b')).toBe(false); // still held
    expect(allowed('a')).toBe(true); // forgotten: a full bucket again, which drops b
    store.take([{ type: 'window', key: 'day', limit: 5, edgesMs: [0, 86_400_000], cost: 1 }]); // drops c
    expect(warnings).toHaveLength(1); // the same interval
    clock.advance(1000); // the next take sweeps, and reports what the interval dropped
    expect(allowed('d')).toBe(false);
    expect(warnings[1]).toBe(
      'im-rate-limit: WRN_MEMORY_STORE_FULL: the MemoryStore is full (3 entries); dropped 2 oldest',
    );
    expect(store.size).toBe(3);
    expect(() => new MemoryStore({ maxEntries: 0 })).toThrow(RangeError);
  });
});
