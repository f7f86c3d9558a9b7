/**
 * Decides one or more requests ("decisions") in one call, each all or nothing on its own checks
 * and in the order sent, each seeing what the ones before it wrote: the result of sending them one
 * after the other at the same instant. The same rules as `MemoryStore`, which the shared contract
 * suite holds both to (test/store/contract.ts, decisions coalesced included).
 *
 * KEYS: one per check, decision after decision. ARGV[1]: now in ms, or '' to use the server's TIME
 * (so app servers with skewed clocks agree; a given time is for tests with a fake clock). ARGV[2]:
 * the figures, one text of words separated by spaces (a command of a few arguments costs ioredis
 * and Redis far less than one of hundreds): per decision its number of checks, then per check its
 * kind and figures:
 *   bucket: b capacity intervalMs cost   (GCRA: the key holds the theoretical arrival time, as
 *           '<whole ms>.<13 digits of fraction>': see MemoryStore's slackMs for why in two parts)
 *   window: w limit cost n edge1 … edgeN (the window holding now, clamped to the first or last; the
 *           key holds '<window end>:<count>', counted on until that end whatever the edges sent:
 *           see the script)
 *   settings: s n at                     (Store.takeChecked; a decision's last check, and at most one:
 *           the hash under its key, the app's settings under the app's hash tag, compared with what
 *           the caller assumed. Settings are any text, spaces included, so they are not words: the n
 *           fields and what each is assumed to be sit in ARGV from index at, field1, expected1 …
 *           fieldN, expectedN, each expected '' (the field not held) or '=' .. its text. It passes
 *           when every field is as assumed, and writes nothing)
 * Reply: four integers per check, in the order sent: allowed (1/0), remaining, resetMs, retryAfterMs;
 * for a settings check, 1 when they are as assumed, else 0 then the n fields as held (nil: not held).
 * Nothing is written for a refused decision, nor for a check of cost 0 (a reading); each key is read
 * once (MGET) and written once, as the last decision left it, expiring when it stops mattering.
 *
 * A kind of check is one function of `decide`: it reads its figures from `words` at `a` and the
 * key's value as the decisions before left it, and answers what the check would write and read.
 */
export const takeScript = `
local tonumber, floor, ceil, max, min = tonumber, math.floor, math.ceil, math.max, math.min
local now = tonumber(ARGV[1])
-- Redis expires keys by its own clock: under a caller's (fake) clock, keep every key an hour at least
local minTtl = 3600000
if not now then
  local time = redis.call('TIME')
  now = tonumber(time[1]) * 1000 + tonumber(time[2]) / 1000
  minTtl = 0
end
local EPS = 1e-6
local function ceilMs(ms, slack) return ceil(ms - slack) end
-- now is known to its last place (2^-12 ms): a refill of one interval reads as one token (see MemoryStore's slackMs)
local nowSlack = math.abs(now) * 2.3e-16
local function slackMs(tolerance, span) return min(span / 2, max(EPS, tolerance * 1e-12, nowSlack)) end
local nowWhole = floor(now)
local nowFraction = now - nowWhole

-- the figures, word by word
local words, count = {}, 0
for word in string.gmatch(ARGV[2], '%S+') do
  count = count + 1
  words[count] = word
end

-- how far a bucket's arrival time lies ahead of now, whole ms and fraction apart (a number the
-- script wrote before the two parts is read as one)
local function aheadOf(value)
  if not value then return 0 end
  local whole, digits = string.match(value, '^(%d+)%.(%d+)$')
  if not whole then return (tonumber(value) or now) - now end
  -- as tonumber would read them, without strtod's slow path: a whole number (strtoul) and 13 digits
  -- over 1e13, both exact, divided with one rounding
  local fraction = #digits == 13 and tonumber(digits, 10) / 1e13 or tonumber('0.' .. digits)
  return (tonumber(whole, 10) - nowWhole) + (fraction - nowFraction)
end

-- Each check kind: (its key's value or false, where its figures start in words, its key) -> what it decides, and
-- where the next check's figures start. pass: admitted; left, reset, retry: its reading if the
-- decision is admitted (or refused, when pass is false); stayLeft, stayReset: its reading if another
-- check refuses; state, ttl: what to write (nothing for a cost of 0, DEL for ttl <= 0); slack: the
-- rounding allowed in its milliseconds.
local decide = {}

decide.b = function(value, a)
  local size, span, cost = tonumber(words[a + 1]), tonumber(words[a + 2]), tonumber(words[a + 3])
  local used = max(aheadOf(value), 0)
  local tolerance = size * span
  local owed = max(used + cost * span, 0)
  local slack = slackMs(tolerance, span)
  local stayLeft = max(0, floor((tolerance - used + slack) / span))
  if not (owed <= tolerance + slack) then
    return {pass = false, cost = cost, slack = slack, left = stayLeft, reset = used, retry = owed - tolerance,
      stayLeft = stayLeft, stayReset = used}, a + 4
  end
  -- the fraction in 13 digits (a key of 120 bytes, as before), rounded up: a hair more owed, never less
  local sum = nowFraction + owed
  local carry = floor(sum)
  local digits = ceil((sum - carry) * 1e13)
  if digits >= 1e13 then carry, digits = carry + 1, 0 end
  return {pass = true, cost = cost, slack = slack, left = max(0, floor((tolerance - owed + slack) / span)),
    reset = owed, retry = 0, stayLeft = stayLeft, stayReset = used,
    state = string.format('%d.%013d', nowWhole + carry, digits), ttl = ceilMs(owed, EPS)}, a + 4
end

decide.w = function(value, a)
  local size, cost, edgeCount = tonumber(words[a + 1]), tonumber(words[a + 2]), tonumber(words[a + 3])
  local e = 2 -- the window ending at edge e holds now (edge e is words[a + 3 + e])
  while e < edgeCount and now >= tonumber(words[a + 3 + e]) do e = e + 1 end
  local finish = tonumber(words[a + 3 + e])
  -- every day sent has ended by this clock (the caller's is over a day behind): one more day from now
  if finish <= now then finish = now + finish - tonumber(words[a + 2 + e]) end
  local used = 0
  if value then
    -- a window still running by this clock stands, whoever's days it came from (a clock days off, a
    -- time zone changed in a rolling deploy): a count starts afresh only once its window has ended
    local savedEnd, savedCount = string.match(value, '^([^:]+):(.+)$')
    savedEnd = tonumber(savedEnd)
    if savedEnd and savedEnd > now then used, finish = tonumber(savedCount), savedEnd end
  end
  local total = max(0, used + cost)
  local stayLeft, stayReset = max(0, size - used), finish - now
  if not (total <= size) then
    return {pass = false, cost = cost, slack = EPS, left = stayLeft, reset = stayReset, retry = finish - now,
      stayLeft = stayLeft, stayReset = stayReset}, a + 4 + edgeCount
  end
  return {pass = true, cost = cost, slack = EPS, left = size - total, reset = finish - now, retry = 0,
    stayLeft = stayLeft, stayReset = stayReset, state = string.format('%.17g:%.17g', finish, total),
    ttl = ceilMs(finish - now, EPS)}, a + 4 + edgeCount
end

-- the settings as assumed, or else held: held, the fields as the hash holds them (false: not held)
decide.s = function(_, a, key)
  local size, at = tonumber(words[a + 1]), tonumber(words[a + 2])
  if size == 0 then return {pass = true, held = {}}, a + 3 end
  local fields = {}
  for j = 1, size do fields[j] = ARGV[at + 2 * j - 2] end
  local held = redis.call('HMGET', key, unpack(fields))
  local pass = true
  for j = 1, size do
    if (held[j] and '=' .. held[j] or '') ~= ARGV[at + 2 * j - 1] then pass = false end
  end
  return {pass = pass, held = held}, a + 3
end

-- every key's value as the decisions so far have left it (false: none); written once at the end
local values = {}
local read = redis.call('MGET', unpack(KEYS))
for i = 1, #KEYS do values[KEYS[i]] = read[i] end
local writes, written = {}, {}

local reply, o = {}, 0
local a, k = 1, 0 -- the next decision's first word, and its first key less one
local results = {}
while a <= count do
  local n = tonumber(words[a])
  a = a + 1
  local allPass = true
  for i = 1, n do
    local r
    local key = KEYS[k + i]
    r, a = decide[words[a]](values[key], a, key)
    results[i] = r
    if not r.pass then allPass = false end
  end
  for i = 1, n do
    local r = results[i]
    if r.held then -- the settings check: as assumed (1), or 0 and how they are held
      reply[o + 1] = r.pass and 1 or 0
      o = o + 1
      if not r.pass then
        for j = 1, #r.held do reply[o + j] = r.held[j] end
        o = o + #r.held
      end
    else
      if allPass then
        if r.cost ~= 0 then -- a reading (inspect) leaves its key as it is
          local key = KEYS[k + i]
          if not writes[key] then written[#written + 1] = key end
          writes[key] = r
          values[key] = r.ttl > 0 and r.state
        end
        reply[o + 1], reply[o + 2], reply[o + 3], reply[o + 4] = 1, r.left, ceilMs(r.reset, r.slack), 0
      elseif r.pass then -- another check refused: this one reads as it stays
        reply[o + 1], reply[o + 2], reply[o + 3], reply[o + 4] = 1, r.stayLeft, ceilMs(r.stayReset, r.slack), 0
      else
        reply[o + 1], reply[o + 2], reply[o + 3], reply[o + 4] = 0, r.left, ceilMs(r.reset, r.slack), ceilMs(r.retry, r.slack)
      end
      o = o + 4
    end
  end
  k = k + n
end

for _, key in ipairs(written) do
  local r = writes[key]
  -- the TTL as a whole number: Lua would write it with '%.14g', which costs more
  if r.ttl > 0 then redis.call('SET', key, r.state, 'PX', string.format('%d', max(r.ttl, minTtl))) else redis.call('DEL', key) end
end
return reply
`;
