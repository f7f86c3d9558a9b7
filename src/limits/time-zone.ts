/** How far a time zone's clock is ahead of UTC, in ms, cached for a minute (DST moves it twice a year). */
const cache = new Map<string, { offsetMs: number; until: number }>();

export function dayOffsetMs(timeZone: string, now: number = Date.now()): number {
  if (timeZone === 'UTC') return 0;
  const cached = cache.get(timeZone);
  if (cached !== undefined && now < cached.until) return cached.offsetMs;
  const offsetMs = offsetAt(timeZone, now);
  cache.set(timeZone, { offsetMs, until: now + 60_000 });
  return offsetMs;
}

/** `GMT+08:00` → 8 h, from Intl's long offset name. */
function offsetAt(timeZone: string, at: number): number {
  const name = new Intl.DateTimeFormat('en-US', { timeZone, timeZoneName: 'longOffset' })
    .formatToParts(at)
    .find((part) => part.type === 'timeZoneName')?.value;
  const match = /GMT([+-])(\d{2}):(\d{2})/.exec(name ?? '');
  if (match === null) return 0; // "GMT" alone: UTC
  const minutes = Number(match[2]) * 60 + Number(match[3]);
  return (match[1] === '-' ? -minutes : minutes) * 60_000;
}
