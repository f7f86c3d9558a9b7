/**
 * Decides every check of one request, all or nothing, in one call: the same rules as
 * `MemoryStore`, which the shared contract suite holds both to.
 *
 * KEYS: one per check. ARGV[1]: now in ms, or '' to use the server's TIME (so app servers with
 * skewed clocks agree; a given time is for tests with a fake clock). Then per check, by kind:
 *   bucket: 'b', capacity, intervalMs, cost   (GCRA: the key holds the theoretical arrival time, as
 *           '<whole ms>.<13 digits of fraction>': see MemoryStore's slackMs for why in two parts)
 *   window: 'w', limit, cost, n, edge1 … edgeN (the window holding now, clamped to the first or
 *           last; the key holds '<window end>:<count>', counted on until that end whatever the
 *           edges sent: see the script)
 *   settings (Store.takeChecked; last, and at most one): 's', n, field1, expected1 … fieldN, expectedN,
 *           each expected '' (the field not held) or '=' .. its text: the hash under its key (the app's
 *           settings, under the app's hash tag) compared with what the caller assumed; it passes when
 *           every field is as assumed, and writes nothing
 * Reply: four integers per check: allowed (1/0), remaining, resetMs, retryAfterMs; for the settings
 * check, 1 when they are as assumed, else 0 then the n fields as held (nil: not held).
 * Nothing is written unless every check passes, nor for a check of cost 0 (a reading); every
 * written key expires when it stops mattering.
 */
export const takeScript = `
local now = tonumber(ARGV[1])
-- Redis expires keys by its own clock: under a caller's (fake) clock, keep every key an hour at least
local minTtl = 3600000
if not now then
  local time = redis.call('TIME')
  now = tonumber(time[1]) * 1000 + tonumber(time[2]) / 1000
  minTtl = 0
end
local EPS = 1e-6
local function ceilMs(ms, slack) return math.ceil(ms - (slack or EPS)) end
-- now is known to its last place (2^-12 ms): a refill of one interval reads as one token (see MemoryStore's slackMs)
local function slackMs(tolerance, span) return math.min(span / 2, math.max(EPS, tolerance * 1e-12, math.abs(now) * 2.3e-16)) end
local nowWhole = math.floor(now)
local nowFraction = now - nowWhole
-- how far a bucket's arrival time lies ahead of now, whole ms and fraction apart (a number the
-- script wrote before the two parts is read as one)
local function aheadOf(value)
  if not value then return 0 end
  local whole, fraction = string.match(value, '^(%d+)(%.%d+)$')
  if not whole then return (tonumber(value) or now) - now end
  return (tonumber(whole) - nowWhole) + (tonumber('0' .. fraction) - nowFraction)
end
local values = redis.call('MGET', unpack(KEYS))
local results, allPass = {}, true

local a = 2 -- where the next check's arguments start
for i = 1, #KEYS do
  local kind, size = ARGV[a], tonumber(ARGV[a + 1])
  local r = {slack = EPS}
  if kind == 's' then
    local fields = {}
    for j = 1, size do fields[j] = ARGV[a + 2 * j] end
    local held = redis.call('HMGET', KEYS[i], unpack(fields))
    r.held, r.pass = held, true
    for j = 1, size do
      if (held[j] and '=' .. held[j] or '') ~= ARGV[a + 1 + 2 * j] then r.pass = false end
    end
    a = a + 2 + 2 * size
  elseif kind == 'b' then
    local span, cost = tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
    r.cost = cost
    a = a + 4
    local used = math.max(aheadOf(values[i]), 0)
    local tolerance = size * span
    local owed = math.max(used + cost * span, 0)
    local slack = slackMs(tolerance, span)
    r.slack = slack
    r.stayLeft, r.stayReset = math.max(0, math.floor((tolerance - used + slack) / span)), used
    r.pass = owed <= tolerance + slack
    if r.pass then
      -- the fraction in 13 digits (a key of 120 bytes, as before), rounded up: a hair more owed, never less
      local sum = nowFraction + owed
      local carry = math.floor(sum)
      local digits = math.ceil((sum - carry) * 1e13)
      if digits >= 1e13 then carry, digits = carry + 1, 0 end
      r.left, r.reset, r.retry = math.max(0, math.floor((tolerance - owed + slack) / span)), owed, 0
      r.state = string.format('%.0f.%013.0f', nowWhole + carry, digits)
      r.ttl = ceilMs(owed)
    else
      r.left, r.reset, r.retry = r.stayLeft, r.stayReset, owed - tolerance
    end
  else
    local cost, edgeCount = tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
    r.cost = cost
    local e = 2 -- the window ending at edge e holds now (edge e is ARGV[a + 3 + e])
    while e < edgeCount and now >= tonumber(ARGV[a + 3 + e]) do e = e + 1 end
    local finish = tonumber(ARGV[a + 3 + e])
    -- every day sent has ended by this clock (the caller's is over a day behind): one more day from now
    if finish <= now then finish = now + finish - tonumber(ARGV[a + 2 + e]) end
    a = a + 4 + edgeCount
    local used = 0
    if values[i] then
      -- a window still running by this clock stands, whoever's days it came from (a clock days off, a
      -- time zone changed in a rolling deploy): a count starts afresh only once its window has ended
      local savedEnd, savedCount = string.match(values[i], '^([^:]+):(.+)$')
      savedEnd = tonumber(savedEnd)
      if savedEnd and savedEnd > now then used, finish = tonumber(savedCount), savedEnd end
    end
    local count = math.max(0, used + cost)
    r.stayLeft, r.stayReset = math.max(0, size - used), finish - now
    r.pass = count <= size
    if r.pass then
      r.left, r.reset, r.retry = size - count, finish - now, 0
      r.state, r.ttl = string.format('%.17g:%.17g', finish, count), ceilMs(finish - now)
    else
      r.left, r.reset, r.retry = r.stayLeft, r.stayReset, finish - now
    end
  end
  results[i] = r
  if not r.pass then allPass = false end
end

local reply = {}
for i = 1, #KEYS do
  local r, o = results[i], (i - 1) * 4
  if r.held then -- the settings check: as assumed, or how they are held
    reply[o + 1] = r.pass and 1 or 0
    if not r.pass then for j = 1, #r.held do reply[o + 1 + j] = r.held[j] end end
  elseif allPass then
    if r.cost == 0 then -- a reading (inspect): its key keeps the state it has
    elseif r.ttl > 0 then redis.call('SET', KEYS[i], r.state, 'PX', math.max(r.ttl, minTtl))
    else redis.call('DEL', KEYS[i]) end
    reply[o + 1], reply[o + 2], reply[o + 3], reply[o + 4] = 1, r.left, ceilMs(r.reset, r.slack), 0
  elseif r.pass then -- another check refused: this one reads as it stays
    reply[o + 1], reply[o + 2], reply[o + 3], reply[o + 4] = 1, r.stayLeft, ceilMs(r.stayReset, r.slack), 0
  else
    reply[o + 1], reply[o + 2], reply[o + 3], reply[o + 4] = 0, r.left, ceilMs(r.reset, r.slack), ceilMs(r.retry, r.slack)
  end
end
return reply
`;
