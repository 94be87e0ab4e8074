"""Lua scripts that make multi-key Redis steps atomic.

``COMMIT`` is invariant 2 in one round trip: it checks the version the poller loaded (another
writer wins otherwise), then writes the changed state entries and appends the events to the
outbox. Redis runs a script to completion or not at all, so a crash at any instant leaves both
or neither. ``TRIM`` drops outbox entries that every sink's consumer group has acknowledged.
"""

from __future__ import annotations

from typing import Final

# KEYS: meta, tracked, tombstones, outbox
# ARGV: version, baselined, then five sections, each led by its item count:
#   tracked sets (id, json), tracked deletes (id),
#   tombstone sets (id, json), tombstone deletes (id),
#   events (event id, type, key, body)
COMMIT: Final = """
local current = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if current ~= tonumber(ARGV[1]) then
  return redis.error_reply('STALE version ' .. current)
end
local i = 3
local function section(width, apply)
  local n = tonumber(ARGV[i])
  i = i + 1
  for _ = 1, n do
    apply(i)
    i = i + width
  end
end
section(2, function(j) redis.call('HSET', KEYS[2], ARGV[j], ARGV[j + 1]) end)
section(1, function(j) redis.call('HDEL', KEYS[2], ARGV[j]) end)
section(2, function(j) redis.call('HSET', KEYS[3], ARGV[j], ARGV[j + 1]) end)
section(1, function(j) redis.call('HDEL', KEYS[3], ARGV[j]) end)
section(4, function(j)
  redis.call('XADD', KEYS[4], '*', 'id', ARGV[j], 'type', ARGV[j + 1],
             'key', ARGV[j + 2], 'body', ARGV[j + 3])
end)
redis.call('HSET', KEYS[1], 'version', current + 1, 'baselined', ARGV[2])
return current + 1
"""

# KEYS: outbox. Trims entries older than the oldest one some group still needs.
TRIM: Final = """
-- Stream ids are "<ms>-<seq>"; ms stays a string so Lua never prints it as 1.7e+12.
local function split(id)
  local dash = string.find(id, '-', 1, true)
  return string.sub(id, 1, dash - 1), tonumber(string.sub(id, dash + 1))
end
local function older(a, b)
  local am, as = split(a)
  local bm, bs = split(b)
  am, bm = tonumber(am), tonumber(bm)
  return am < bm or (am == bm and as < bs)
end
local ok, groups = pcall(redis.call, 'XINFO', 'GROUPS', KEYS[1])
if not ok or #groups == 0 then
  return 0
end
local floor = nil
for _, group in ipairs(groups) do
  local info = {}
  for k = 1, #group, 2 do
    info[group[k]] = group[k + 1]
  end
  local bound
  if tonumber(info['pending']) > 0 then
    bound = redis.call('XPENDING', KEYS[1], info['name'], '-', '+', 1)[1][1]
  else
    local ms, seq = split(info['last-delivered-id'])
    bound = ms .. '-' .. string.format('%d', seq + 1)
  end
  if floor == nil or older(bound, floor) then
    floor = bound
  end
end
return redis.call('XTRIM', KEYS[1], 'MINID', floor)
"""
