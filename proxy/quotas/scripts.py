"""The Lua scripts the Redis store runs; each call is atomic, and one call carries a whole batch.

``BATCH`` takes the admissions and settlements that arrived in one event-loop iteration (all of
one hash slot on a cluster) and runs them **in order**: settlements free slots and replace
reservations, admissions check every limit and count (or refuse and count nothing), each seeing
what the ones before it did. So a burst split into batches on any number of replicas is admitted
exactly as if its requests had come one by one. Each key is read once per call and written once
at the end.

The clock is Redis' own ``TIME`` so every replica sees one clock; ``ARGV[1]`` may carry a time in
milliseconds instead (tests drive a window boundary that way; production sends ``""``). The
sliding-window arithmetic is ``window.py``'s, line for line. A window is a hash
``{w: idx, c: cur, p: prev}``; concurrency is a sorted set of lease ids scored by their deadline.
Every key carries a PEXPIRE, so nothing outlives its use.
"""

from __future__ import annotations

from typing import Final

_NOW: Final = """
local now
if ARGV[1] ~= '' then
  now = tonumber(ARGV[1])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
"""

#: KEYS: each group's keys in a row (a key may repeat: state is kept by name). ARGV: now|'', lease
#: ttl ms, number of groups G, then G groups (the checks of one customer/meter: the index of its
#: first key, then ``<kind>:<limit>:<window ms>`` per check, separated by spaces), then the
#: operations in arrival order:
#:   ``a <group> <lease|-> <tokens> <micro-usd>``  admit, reserving the estimate
#:   ``s <group> <lease|-> <admitted ms> <tokens> <tokens reserved> <micro> <micro reserved>``
#:                                                  settle: release, replace the reservation
#: Returns one string ``"now r1 w1 r2 w2 ..."``: per admission ``0 0`` when admitted, else the
#: refusing check's position in its group and the milliseconds until it frees (the one freeing
#: last). One string is read in one piece, where an array costs a parse per element.
BATCH: Final = _NOW + """
local ttl = tonumber(ARGV[2])
local ngroups = tonumber(ARGV[3])
local groups = {}
for g = 1, ngroups do
  local checks = {}
  local first, spec = string.match(ARGV[3 + g], '^(%d+) (.*)$')
  local k = tonumber(first)
  for kind, limit, w in string.gmatch(spec, '(%a):(%d+):(%d+)') do
    checks[#checks + 1] = {kind, KEYS[k], tonumber(limit), tonumber(w)}
    k = k + 1
  end
  groups[g] = checks
end
local wins, sets, leased = {}, {}, {}
local function window(k, w)
  local s = wins[k]
  if s == nil then
    local idx = math.floor(now / w)
    local h = redis.call('HMGET', k, 'w', 'c', 'p')
    local widx, cur, prev = tonumber(h[1]), tonumber(h[2]) or 0, tonumber(h[3]) or 0
    if widx == idx - 1 then
      prev = cur
      cur = 0
    elseif widx ~= idx then
      cur = 0
      prev = 0
    end
    s = {idx, cur, prev, w, false}
    wins[k] = s
  end
  return s
end
local function inflight(k)
  local n = sets[k]
  if n == nil then
    redis.call('ZREMRANGEBYSCORE', k, '-inf', now)
    n = redis.call('ZCARD', k)
    sets[k] = n
  end
  return n
end
local function retry(s, target, strict)
  if target < 0 or (strict == 1 and target <= 0) then
    return s[4]
  end
  local w, cur, prev = s[4], s[2], s[3]
  local f = (now - s[1] * w) / w
  local wait
  if prev > 0 and cur <= target then
    wait = ((1 - (target - cur) / prev) - f) * w
  elseif cur > 0 then
    wait = (1 - f) * w + (1 - target / cur) * w
  else
    wait = 0
  end
  return math.max(1, math.ceil(wait) + strict)
end
local function replace(s, at, amount, reserved)
  if reserved > 0 then
    local a = math.floor(at / s[4])
    if a == s[1] then
      s[2] = math.max(0, s[2] - reserved)
    elseif a == s[1] - 1 then
      s[3] = math.max(0, s[3] - reserved)
    end
  end
  s[2] = s[2] + amount
  s[5] = true
end
local out = {string.format('%d', now)}
for i = 4 + ngroups, #ARGV do
  local f = {}
  for x in string.gmatch(ARGV[i], '%S+') do
    f[#f + 1] = x
  end
  local checks, lease = groups[tonumber(f[2])], f[3]
  if f[1] == 's' then
    local at = tonumber(f[4])
    for _, c in ipairs(checks) do
      local kind, k = c[1], c[2]
      if kind == 'c' then
        if lease ~= '-' then
          local gone = redis.call('ZREM', k, lease)
          if sets[k] ~= nil then
            sets[k] = sets[k] - gone
          end
        end
      elseif kind == 't' or kind == 's' then
        local amount, reserved = tonumber(f[5]), tonumber(f[6])
        if kind == 's' then
          amount, reserved = tonumber(f[7]), tonumber(f[8])
        end
        if amount > 0 or reserved > 0 then
          replace(window(k, c[4]), at, amount, reserved)
        end
      end
    end
  else
    local worst, worst_wait = 0, -1
    for j, c in ipairs(checks) do
      local kind, k, limit, w = c[1], c[2], c[3], c[4]
      if kind == 'c' then
        if inflight(k) + 1 > limit and worst_wait < 1000 then
          worst, worst_wait = j, 1000
        end
      else
        local s = window(k, w)
        local est = s[3] * (1 - (now - s[1] * w) / w) + s[2]
        local wait = -1
        if kind == 'r' then
          if est + 1 > limit then
            wait = retry(s, limit - 1, 0)
          end
        elseif est >= limit then
          wait = retry(s, limit, 1)
        end
        if wait > worst_wait then
          worst, worst_wait = j, wait
        end
      end
    end
    if worst > 0 then
      out[#out + 1] = worst .. ' ' .. string.format('%d', worst_wait)
    else
      local tokens, micro = tonumber(f[4]), tonumber(f[5])
      for _, c in ipairs(checks) do
        local kind, k = c[1], c[2]
        if kind == 'c' then
          redis.call('ZADD', k, now + ttl, lease)
          sets[k] = inflight(k) + 1
          leased[k] = true
        elseif kind == 'r' then
          replace(window(k, c[4]), 0, 1, 0)
        elseif kind == 't' and tokens > 0 then
          replace(window(k, c[4]), 0, tokens, 0)
        elseif kind == 's' and micro > 0 then
          replace(window(k, c[4]), 0, micro, 0)
        end
      end
      out[#out + 1] = '0 0'
    end
  end
end
for k, s in pairs(wins) do
  if s[5] then
    redis.call('HSET', k, 'w', s[1], 'c', s[2], 'p', s[3])
    redis.call('PEXPIRE', k, s[4] * 2)
  end
end
for k in pairs(leased) do
  redis.call('PEXPIRE', k, ttl * 2)
end
return table.concat(out, ' ')
"""

#: KEYS: lease sets; ARGV: now|'', lease ttl ms, then one lease id per key. Plain ZADD (not XX):
#: after a Redis restart lost the sets, the leases this process still holds are put back.
RENEW: Final = _NOW + """
local ttl = tonumber(ARGV[2])
for i = 1, #KEYS do
  redis.call('ZADD', KEYS[i], now + ttl, ARGV[2 + i])
  redis.call('PEXPIRE', KEYS[i], ttl * 2)
end
return #KEYS
"""
