/**
 * Decides every check of one request, all or nothing, in one call: the same rules as
 * `MemoryStore`, which the shared contract suite holds both to.
 *
 * KEYS: one per check. ARGV[1]: now in ms, or '' to use the server's TIME (so app servers with
 * skewed clocks agree; a given time is for tests with a fake clock). Then per check, by kind:
 *   bucket: 'b', capacity, intervalMs, cost   (GCRA: the key holds the theoretical arrival time)
 *   window: 'w', limit, cost, n, edge1 … edgeN (the window holding now, clamped to the first or
 *           last; the key holds '<window end>:<count>')
 * Reply: four integers per check: allowed (1/0), remaining, resetMs, retryAfterMs.
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
-- a burst adds the interval to a time of about 1.8e12 ms once a token, rounding each sum by up to
-- half a unit in the last place (0.12 us): the slack covers that much per token, under half a token
local function slackMs(t, size, span) return math.min(span / 2, math.max(EPS, size * math.abs(t) * 4.5e-16)) end
local values = redis.call('MGET', unpack(KEYS))
local results, allPass = {}, true

local a = 2 -- where the next check's arguments start
for i = 1, #KEYS do
  local kind, size = ARGV[a], tonumber(ARGV[a + 1])
  local r = {slack = EPS}
  if kind == 'b' then
    local span, cost = tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
    r.cost = cost
    a = a + 4
    local base = math.max(tonumber(values[i]) or now, now)
    local tolerance = size * span
    local tat = math.max(base + cost * span, now)
    local slack = slackMs(now, size, span)
    r.slack = slack
    r.stayLeft, r.stayReset = math.max(0, math.floor((tolerance - (base - now) + slack) / span)), base - now
    r.pass = tat - now <= tolerance + slack
    if r.pass then
      r.left, r.reset, r.retry = math.max(0, math.floor((tolerance - (tat - now) + slack) / span)), tat - now, 0
      r.state, r.ttl = string.format('%.17g', tat), ceilMs(tat - now)
    else
      r.left, r.reset, r.retry = r.stayLeft, r.stayReset, tat - now - tolerance
    end
  else
    local cost, edgeCount = tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
    r.cost = cost
    local e = 2 -- the window ending at edge e holds now (edge e is ARGV[a + 3 + e])
    while e < edgeCount and now >= tonumber(ARGV[a + 3 + e]) do e = e + 1 end
    local finish = tonumber(ARGV[a + 3 + e])
    a = a + 4 + edgeCount
    local used = 0
    if values[i] then
      local savedEnd, savedCount = string.match(values[i], '^([^:]+):(.+)$')
      if tonumber(savedEnd) == finish then used = tonumber(savedCount) end
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
  if allPass then
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
