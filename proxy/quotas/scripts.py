"""The Lua scripts the Redis store runs: each call is one atomic round trip (EVALSHA).

The clock is Redis' own ``TIME`` so every replica sees one clock; ``ARGV[1]`` may carry a time in
milliseconds instead (tests drive a window boundary that way; production sends ``""``).
The sliding-window arithmetic is ``window.py``'s, line for line.

Keys: a window is a hash ``{w: idx, c: cur, p: prev}``; concurrency is a sorted set of lease ids
scored by their deadline. Every key carries a PEXPIRE, so nothing outlives its use.
"""

from __future__ import annotations

from typing import Final

_PRELUDE: Final = """
local now
if ARGV[1] ~= '' then
  now = tonumber(ARGV[1])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function roll(key, w)
  local idx = math.floor(now / w)
  local h = redis.call('HMGET', key, 'w', 'c', 'p')
  local widx, cur, prev = tonumber(h[1]), tonumber(h[2]) or 0, tonumber(h[3]) or 0
  if widx == idx - 1 then
    prev = cur
    cur = 0
  elseif widx ~= idx then
    cur = 0
    prev = 0
  end
  return idx, cur, prev
end
"""

#: KEYS: one per check. ARGV: now|'', lease ttl ms, lease id, then per check: kind, limit, window ms.
#: Returns {1, now} when admitted (requests and leases counted), else {0, check index, retry ms}
#: for the refusal that frees last; a refused admission counts nothing.
ADMIT: Final = _PRELUDE + """
local ttl = tonumber(ARGV[2])
local lease = ARGV[3]
local state = {}
local worst, worst_wait = 0, -1
for i = 1, #KEYS do
  local kind, limit, w = ARGV[3 * i + 1], tonumber(ARGV[3 * i + 2]), tonumber(ARGV[3 * i + 3])
  local key = KEYS[i]
  if kind == 'c' then
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
    if redis.call('ZCARD', key) + 1 > limit and worst_wait < 1000 then
      worst, worst_wait = i, 1000
    end
  else
    local idx, cur, prev = roll(key, w)
    state[i] = {idx, cur, prev}
    local f = (now - idx * w) / w
    local est = prev * (1 - f) + cur
    local ok, target, strict
    if kind == 'r' then
      ok, target, strict = est + 1 <= limit, limit - 1, 0
    else
      ok, target, strict = est < limit, limit, 1
    end
    if not ok then
      local wait
      if target < 0 or (strict == 1 and target <= 0) then
        wait = w
      else
        if prev > 0 and cur <= target then
          wait = ((1 - (target - cur) / prev) - f) * w
        elseif cur > 0 then
          wait = (1 - f) * w + (1 - target / cur) * w
        else
          wait = 0
        end
        wait = math.max(1, math.ceil(wait) + strict)
      end
      if wait > worst_wait then
        worst, worst_wait = i, wait
      end
    end
  end
end
if worst > 0 then
  return {0, worst, worst_wait}
end
for i = 1, #KEYS do
  local kind, key = ARGV[3 * i + 1], KEYS[i]
  if kind == 'c' then
    redis.call('ZADD', key, now + ttl, lease)
    redis.call('PEXPIRE', key, ttl * 2)
  elseif kind == 'r' then
    local s, w = state[i], tonumber(ARGV[3 * i + 3])
    redis.call('HSET', key, 'w', s[1], 'c', s[2] + 1, 'p', s[3])
    redis.call('PEXPIRE', key, w * 2)
  end
end
return {1, now}
"""

#: KEYS: the windows to add to, then the lease sets to leave. ARGV: now|'', number of windows,
#: lease id, then per window: amount, window ms.
COMPLETE: Final = _PRELUDE + """
local n = tonumber(ARGV[2])
local lease = ARGV[3]
for i = 1, n do
  local amount, w = tonumber(ARGV[2 + 2 * i]), tonumber(ARGV[3 + 2 * i])
  local idx, cur, prev = roll(KEYS[i], w)
  redis.call('HSET', KEYS[i], 'w', idx, 'c', cur + amount, 'p', prev)
  redis.call('PEXPIRE', KEYS[i], w * 2)
end
for i = n + 1, #KEYS do
  redis.call('ZREM', KEYS[i], lease)
end
return 1
"""

#: KEYS: lease sets; ARGV: now|'', lease ttl ms, then one lease id per key. Plain ZADD (not XX):
#: after a Redis restart lost the sets, the leases this process still holds are put back.
RENEW: Final = _PRELUDE + """
local ttl = tonumber(ARGV[2])
for i = 1, #KEYS do
  redis.call('ZADD', KEYS[i], now + ttl, ARGV[2 + i])
  redis.call('PEXPIRE', KEYS[i], ttl * 2)
end
return #KEYS
"""
