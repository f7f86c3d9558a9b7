import { afterEach, describe, expect, it, vi } from 'vitest';
import { dayEdgesMs } from '../../src/limits/calendar.js';

const at = (iso: string) => Date.parse(iso);
const edges = (timeZone: string, iso: string) => dayEdgesMs(timeZone, at(iso)).map((ms) => new Date(ms).toISOString());
const hours = (timeZone: string, iso: string) => {
  const [, start, end] = dayEdgesMs(timeZone, at(iso)) as number[];
  return ((end as number) - (start as number)) / 3_600_000;
};

describe('dayEdgesMs', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('gives the starts of the local days before, of, and the two after the instant', () => {
    expect(edges('Europe/Berlin', '2025-06-15T12:00:00Z')).toEqual([
      '2025-06-13T22:00:00.000Z',
      '2025-06-14T22:00:00.000Z',
      '2025-06-15T22:00:00.000Z',
      '2025-06-16T22:00:00.000Z',
    ]);
  });

  it('makes the day of a change to summer time 23 h, and of the change back 25 h (Europe/Berlin, 2025)', () => {
    expect(edges('Europe/Berlin', '2025-03-30T01:30:00Z')).toEqual([
      '2025-03-28T23:00:00.000Z',
      '2025-03-29T23:00:00.000Z', // 00:00 CET
      '2025-03-30T22:00:00.000Z', // 00:00 CEST: 23 h later
      '2025-03-31T22:00:00.000Z',
    ]);
    expect(hours('Europe/Berlin', '2025-03-30T00:30:00Z')).toBe(23); // before the change, the same day
    expect(edges('Europe/Berlin', '2025-10-26T12:00:00Z')).toEqual([
      '2025-10-24T22:00:00.000Z',
      '2025-10-25T22:00:00.000Z', // 00:00 CEST
      '2025-10-26T23:00:00.000Z', // 00:00 CET: 25 h later
      '2025-10-27T23:00:00.000Z',
    ]);
    expect(hours('America/New_York', '2025-03-09T12:00:00Z')).toBe(23);
    expect(hours('America/New_York', '2025-11-02T12:00:00Z')).toBe(25);
  });

  it('computes UTC days by arithmetic alone', () => {
    const format = vi.spyOn(Intl, 'DateTimeFormat');
    expect(edges('UTC', '2026-11-28T23:59:59.999Z')).toEqual([
      '2026-11-27T00:00:00.000Z',
      '2026-11-28T00:00:00.000Z',
      '2026-11-29T00:00:00.000Z',
      '2026-11-30T00:00:00.000Z',
    ]);
    expect(format).not.toHaveBeenCalled();
  });

  it('handles a half-hour offset (Asia/Kolkata, +05:30) and a negative one (America/New_York, −05:00)', () => {
    expect(edges('Asia/Kolkata', '2026-11-28T12:00:00Z')).toEqual([
      '2026-11-26T18:30:00.000Z',
      '2026-11-27T18:30:00.000Z',
      '2026-11-28T18:30:00.000Z',
      '2026-11-29T18:30:00.000Z',
    ]);
    expect(edges('America/New_York', '2026-11-28T03:00:00Z')).toEqual([
      '2026-11-26T05:00:00.000Z',
      '2026-11-27T05:00:00.000Z', // 22:00 on the 27th in New York: still the 27th
      '2026-11-28T05:00:00.000Z',
      '2026-11-29T05:00:00.000Z',
    ]);
  });

  it('starts a day whose midnight was skipped where the clock jumps past it (America/Santiago, 2025-09-07)', () => {
    // 23:59:59 −04 on the 6th is followed by 01:00:00 −03 on the 7th
    expect(edges('America/Santiago', '2025-09-07T12:00:00Z')).toEqual([
      '2025-09-06T04:00:00.000Z',
      '2025-09-07T04:00:00.000Z',
      '2025-09-08T03:00:00.000Z',
      '2025-09-09T03:00:00.000Z',
    ]);
    expect(hours('America/Santiago', '2025-09-07T03:59:59.999Z')).toBe(24); // still the 6th
  });

  it('is exact to the millisecond, with offsets of whole seconds (Africa/Monrovia, −00:44:30, in 1970)', () => {
    expect(dayEdgesMs('Africa/Monrovia', at('1970-01-01T00:44:29.999Z'))[1]).toBe(at('1969-12-31T00:44:30Z'));
    expect(dayEdgesMs('Africa/Monrovia', at('1970-01-01T00:44:30Z'))[1]).toBe(at('1970-01-01T00:44:30Z'));
    expect(dayEdgesMs('Europe/Berlin', at('2025-03-30T21:59:59.999Z'))[2]).toBe(at('2025-03-30T22:00:00Z'));
    expect(dayEdgesMs('Europe/Berlin', at('2025-03-30T22:00:00Z'))[1]).toBe(at('2025-03-30T22:00:00Z'));
  });

  it('answers from its cache while the instant stays in the same day, and moves on after it, either way', () => {
    const day = dayEdgesMs('Asia/Tokyo', at('2026-11-28T00:00:00Z'));
    const format = vi.spyOn(Intl.DateTimeFormat.prototype, 'formatToParts');
    expect(dayEdgesMs('Asia/Tokyo', at('2026-11-28T14:59:59.999Z'))).toBe(day);
    expect(format).not.toHaveBeenCalled();
    const next = dayEdgesMs('Asia/Tokyo', at('2026-11-28T15:00:00Z'));
    expect(next[1]).toBe(day[2]);
    expect(dayEdgesMs('Asia/Tokyo', at('2026-11-27T14:59:59.999Z'))[2]).toBe(day[1]);
  });
});
