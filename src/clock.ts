/**
 * Milliseconds on a clock that never steps (NTP, a resumed VM, an operator's `date -s`): for every
 * interval this process measures itself (buckets, probes, caches, holds). Only what must fall on the
 * calendar (a day's edges) reads the wall clock, `Date.now()`. The global `performance` is read at
 * each call, so that a test's fake timers (`toFake: ['performance']`) move it.
 */
export const monotonicNow: () => number = () => performance.timeOrigin + performance.now();
