import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { sharedChecks } from '../src/plan.js';

describe('the cluster-wide downloads bucket in shards', () => {
  it('is one bucket under {global} by default, as before shards', () => {
    expect(sharedChecks('imrl', 300).downloadShards).toEqual([
      { type: 'bucket', key: 'imrl:{global}:files:downloads', capacity: 300, intervalMs: 1000 / 300, cost: 1 },
    ]);
  });

  it('shares out the rate and the burst whole: the first burst % n shards hold one more', () => {
    const shards = sharedChecks('imrl', 300, 16).downloadShards;
    expect(shards.map((shard) => shard.capacity)).toEqual([...new Array(12).fill(19), ...new Array(4).fill(18)]);
    expect(new Set(shards.map((shard) => shard.intervalMs))).toEqual(new Set([(1000 * 16) / 300]));
    expect(shards.map((shard) => shard.key)).toEqual(
      shards.map(() => expect.stringMatching(/^imrl:\{global:16:\d+\}:files:downloads$/)),
    );
    const { downloadRefunds } = sharedChecks('imrl', 300, 3);
    expect(downloadRefunds.map((refund) => refund.map((check) => check.cost))).toEqual([[-1], [-1], [-1]]);
  });

  it('adds up to the one bucket’s figures, every shard admitting at least one (property)', () => {
    fc.assert(
      fc.property(
        fc
          .double({ min: 1, max: 1e6, noNaN: true })
          .chain((perSecond) =>
            fc.tuple(fc.constant(perSecond), fc.integer({ min: 1, max: Math.min(64, Math.floor(perSecond)) })),
          ),
        ([perSecond, n]) => {
          const [whole] = sharedChecks('p', perSecond).downloadShards;
          const shards = sharedChecks('p', perSecond, n).downloadShards;
          expect(shards).toHaveLength(n);
          expect(shards.reduce((sum, shard) => sum + shard.capacity, 0)).toBe(whole?.capacity);
          expect(Math.min(...shards.map((shard) => shard.capacity))).toBeGreaterThanOrEqual(1);
          for (const shard of shards)
            expect(Math.abs((1000 * n) / shard.intervalMs / perSecond - 1)).toBeLessThan(1e-12);
        },
      ),
    );
  });

  it('cannot be split into more shards than its burst', () => {
    expect(() => sharedChecks('p', 2.5, 3)).toThrow(RangeError);
  });
});
