import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SLOTS, slotOf, spreadTags } from '../../src/store/slot.js';

/** The slot ranges `redis-cli --cluster create` gives `masters` masters (redis-cli.c, clusterManagerCommandCreate). */
function createdRanges(masters: number): Array<[number, number]> {
  const perMaster = SLOTS / masters;
  const ranges: Array<[number, number]> = [];
  let first = 0;
  let cursor = 0;
  for (let i = 0; i < masters; i++) {
    let last = Math.round(cursor + perMaster - 1);
    if (last > SLOTS - 1 || i === masters - 1) last = SLOTS - 1;
    ranges.push([first, last]);
    first = last + 1;
    cursor += perMaster;
  }
  return ranges;
}

/** How many of `tags` each master of a default-created Cluster of `masters` holds. */
function perMaster(tags: readonly string[], masters: number): number[] {
  const ranges = createdRanges(masters);
  const counts = new Array<number>(masters).fill(0);
  for (const tag of tags) {
    const slot = slotOf(`{${tag}}`);
    const master = ranges.findIndex(([first, last]) => slot >= first && slot <= last);
    counts[master] = (counts[master] as number) + 1;
  }
  return counts;
}

describe('spreadTags: the hash tags of the cluster-wide downloads bucket’s shards', () => {
  it('is {global} alone for one bucket, as before shards', () => {
    expect(spreadTags('global', 1)).toEqual(['global']);
  });

  it('puts tag k in the middle half of the k-th of n equal slot ranges, distinct tags, the same every time', () => {
    for (const n of [2, 3, 5, 16, 100, 1024]) {
      const tags = spreadTags('global', n);
      expect(new Set(tags).size).toBe(n);
      expect(spreadTags('global', n)).toEqual(tags);
      tags.forEach((tag, k) => {
        expect(tag).toMatch(new RegExp(`^global:${n}:\\d+$`)); // no '#': no app's tag
        const position = (slotOf(`{${tag}}`) * n) / SLOTS - k;
        expect(position).toBeGreaterThanOrEqual(0.25);
        expect(position).toBeLessThan(0.75);
      });
    }
  });

  it('gives each master of a default-created Cluster n / M tags when its M masters divide n (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 16 }), fc.integer({ min: 1, max: 16 }), (masters, times) => {
        const n = masters * times;
        expect(perMaster(spreadTags('global', n), masters)).toEqual(new Array(masters).fill(times));
      }),
      { numRuns: 60 },
    );
  });

  it('and within two of each other when they do not', () => {
    for (const masters of [2, 3, 4, 5, 6, 7, 8]) {
      for (let n = 1; n <= 64; n++) {
        const counts = perMaster(spreadTags('global', n), masters);
        expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(2);
      }
    }
    expect(perMaster(spreadTags('global', 16), 3).sort()).toEqual([5, 5, 6]);
  });
});
