import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BoundedMap, MemoMap } from '../src/bounded-map.js';

describe('BoundedMap', () => {
  it('forgets the oldest entry (insertion order) to make room for a new key, and says so', () => {
    const evicted: Array<[string, number]> = [];
    const map = new BoundedMap<string, number>(2, (key, value) => evicted.push([key, value]));
    expect(map.set('a', 1)).toBe(false);
    expect(map.set('b', 2)).toBe(false);
    expect(map.set('a', 10)).toBe(false); // replaced in its place: still the oldest
    expect(map.set('c', 3)).toBe(true);
    expect([map.has('a'), map.get('b'), map.get('c'), map.size]).toEqual([false, 2, 3, 2]);
    expect(evicted).toEqual([['a', 10]]);
  });

  it('keeps the order a caller gives by deleting first: the key moves to the newest place', () => {
    const map = new BoundedMap<string, number>(2);
    map.set('a', 1);
    map.set('b', 2);
    map.delete('a');
    map.set('a', 1);
    map.set('c', 3);
    expect([map.has('a'), map.has('b'), map.has('c')]).toEqual([true, false, true]);
  });

  it('walks on through deletes, clears and sweeps, always forgetting the oldest still held', () => {
    const map = new BoundedMap<number, number>(3);
    for (let i = 0; i < 1000; i++) map.set(i, i);
    expect([...Array(1000).keys()].filter((i) => map.has(i))).toEqual([997, 998, 999]);
    map.delete(998);
    map.evictOldest();
    expect(map.has(997)).toBe(false);
    map.clear();
    map.set(1, 1);
    map.set(2, 2);
    map.deleteWhere((value) => value === 1);
    map.set(3, 3);
    map.set(4, 4);
    map.set(5, 5);
    expect([map.has(2), map.has(3), map.has(4), map.has(5)]).toEqual([false, true, true, true]);
    map.clear();
    map.evictOldest(); // nothing to forget
    expect(map.size).toBe(0);
  });
});

describe('MemoMap', () => {
  it('forgets every entry at once when a new key finds it full; a key already held is replaced in place', () => {
    const memo = new MemoMap<string, number>(2);
    memo.set('a', 1);
    memo.set('b', 2);
    memo.set('a', 10); // held: nothing forgotten
    expect([memo.get('a'), memo.get('b'), memo.size]).toEqual([10, 2, 2]);
    memo.set('c', 3);
    expect([memo.get('a'), memo.get('b'), memo.get('c'), memo.size]).toEqual([undefined, undefined, 3, 1]);
  });

  it('holds at most maxEntries, and answers only what was set since it last forgot (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.array(fc.integer({ min: 0, max: 20 }), { maxLength: 200 }),
        (max, keys) => {
          const memo = new MemoMap<number, number>(max);
          const model = new Map<number, number>();
          keys.forEach((key, i) => {
            if (model.size >= max && !model.has(key)) model.clear();
            model.set(key, i);
            memo.set(key, i);
            expect(memo.size).toBeLessThanOrEqual(max);
            for (let k = 0; k <= 20; k++) expect(memo.get(k)).toBe(model.get(k));
          });
        },
      ),
    );
  });
});
