const DAY_MS = 86_400_000;

/** Per time zone: the edges last computed, valid while the instant stays in their second window. */
const cache = new Map<string, readonly number[]>();
const formats = new Map<string, Intl.DateTimeFormat>();

/**
 * The starts of four consecutive local days [D-1, D, D+1, D+2], D being the day that holds `nowMs`
 * in `timeZone`: three calendar windows of 23, 24 or 25 h (or whatever the zone's rules make them),
 * so that a store whose clock is off by seconds still finds its day among them. A day starts at the
 * first instant whose local date is that day (its midnight, or the end of a gap that skipped it).
 * Cached per time zone until the instant leaves day D.
 */
export function dayEdgesMs(timeZone: string, nowMs: number): readonly number[] {
  const cached = cache.get(timeZone);
  if (cached !== undefined && nowMs < (cached[2] as number) && nowMs >= (cached[1] as number)) return cached;
  const edges = timeZone === 'UTC' ? utcEdges(nowMs) : zoneEdges(timeZone, nowMs);
  cache.set(timeZone, edges);
  return edges;
}

function utcEdges(nowMs: number): readonly number[] {
  const day = Math.floor(nowMs / DAY_MS);
  return Object.freeze([day - 1, day, day + 1, day + 2].map((d) => d * DAY_MS));
}

function zoneEdges(timeZone: string, nowMs: number): readonly number[] {
  let day = Math.floor(wallMs(timeZone, nowMs) / DAY_MS);
  // a clock set back over midnight shows yesterday's date again after today began
  if (startOfDay(timeZone, day + 1) <= nowMs) day++;
  return Object.freeze([day - 1, day, day + 1, day + 2].map((d) => startOfDay(timeZone, d)));
}

/** The first instant of local day `day` (days since 1970-01-01): its midnight, or the end of the gap that skipped it. */
function startOfDay(timeZone: string, day: number): number {
  const midnightMs = day * DAY_MS; // the local midnight, read as if it were UTC
  // midnight under the offsets a day before and a day after: either side of a transition near it, if any
  const underBefore = midnightMs - offsetMs(timeZone, midnightMs - DAY_MS);
  const underAfter = midnightMs - offsetMs(timeZone, midnightMs + DAY_MS);
  const first = Math.min(underBefore, underAfter);
  const second = Math.max(underBefore, underAfter);
  if (wallMs(timeZone, first) === midnightMs) return first;
  if (wallMs(timeZone, second) === midnightMs) return second;
  // midnight fell in a gap: the day starts where the clock jumps past it
  let before = first;
  let after = second;
  while (after - before > 1) {
    const mid = Math.floor((before + after) / 2);
    if (wallMs(timeZone, mid) >= midnightMs) after = mid;
    else before = mid;
  }
  return after;
}

function offsetMs(timeZone: string, atMs: number): number {
  return wallMs(timeZone, atMs) - atMs;
}

/** The local wall-clock time at `atMs`, read as if it were UTC, exact to the millisecond (Intl gives seconds). */
function wallMs(timeZone: string, atMs: number): number {
  let format = formats.get(timeZone);
  if (format === undefined) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formats.set(timeZone, format);
  }
  const parts: Partial<Record<Intl.DateTimeFormatPartTypes, number>> = {};
  for (const part of format.formatToParts(atMs)) parts[part.type] = Number(part.value);
  const { year = 0, month = 1, day = 1, hour = 0, minute = 0, second = 0 } = parts;
  const wholeSecondMs = Date.UTC(year, month - 1, day, hour, minute, second);
  return wholeSecondMs + (atMs - Math.floor(atMs / 1000) * 1000);
}
