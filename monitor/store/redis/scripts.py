"""Lua scripts that make multi-key Redis steps atomic.

``COMMIT`` is invariant 2 in one round trip: it checks the version the poller loaded (another
writer wins otherwise), then appends the events to the outbox and writes the changed state
entries. No other command runs while a script does, and a crash of the server or of the client
at any instant leaves both or neither. ``TRIM`` drops outbox entries that every sink's consumer
group has acknowledged; ``FORGET_RETRIES`` the retry states of entries that are settled.
"""

from __future__ import annotations

from typing import Final

# KEYS: meta, tracked, tombstones, outbox, lease, fence
# ARGV[1]: one JSON object (``codec.commit_args``): version, baselined, track {id: json},
# untrack [id], bury {id: json}, unbury [id], events [[event id, type, key, body]], sinks,
# and the writer's replica and fencing token ("" and "" when no lease is involved).
#
# Fencing (invariant 8): a replica may commit only while the source's lease is its own and no
# later acquisition has taken a newer token; a replica that was paused or cut off past its lease
# is refused here, whatever it believes.
#
# Each sink's consumer group is created, from the start of the stream, if it is missing: a
# stream that Redis lost (restart without persistence, eviction) comes back with the first XADD,
# and the events in it must still reach every sink.
#
# Redis does not undo a script's earlier writes when a later command fails, so the script first
# checks everything that could fail (version, key types), then writes the events, then the state,
# then the version. Should a write still fail midway, the events are out and the state is not:
# the next poll computes the same events with the same ids again (a duplicate, never a loss).
COMMIT: Final = """
local commit = cjson.decode(ARGV[1])
local current = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if current ~= commit.version then
  return redis.error_reply('STALE version ' .. current)
end
local expected = {'hash', 'hash', 'hash', 'stream'}
for k = 1, 4 do
  local kind = redis.call('TYPE', KEYS[k])['ok']
  if kind ~= 'none' and kind ~= expected[k] then
    return redis.error_reply('WRONGTYPE ' .. KEYS[k] .. ' is a ' .. kind)
  end
end
local replica, token = commit.replica, commit.token
if replica ~= '' then
  if redis.call('GET', KEYS[5]) ~= replica or (redis.call('GET', KEYS[6]) or '0') ~= token then
    return redis.error_reply('STALE fenced: the lease is not ' .. replica .. "'s any more")
  end
end
if #commit.events > 0 then
  local groups = {}
  if redis.call('EXISTS', KEYS[4]) == 1 then
    for _, group in ipairs(redis.call('XINFO', 'GROUPS', KEYS[4])) do
      groups[group[2]] = true
    end
  end
  for _, sink in ipairs(commit.sinks) do
    if not groups[sink] then
      redis.call('XGROUP', 'CREATE', KEYS[4], sink, '0', 'MKSTREAM')
    end
  end
end
for _, e in ipairs(commit.events) do
  redis.call('XADD', KEYS[4], '*', 'id', e[1], 'type', e[2], 'key', e[3], 'body', e[4])
end
for id, value in pairs(commit.track) do redis.call('HSET', KEYS[2], id, value) end
for _, id in ipairs(commit.untrack) do redis.call('HDEL', KEYS[2], id) end
for id, value in pairs(commit.bury) do redis.call('HSET', KEYS[3], id, value) end
for _, id in ipairs(commit.unbury) do redis.call('HDEL', KEYS[3], id) end
redis.call('HSET', KEYS[1], 'version', current + 1, 'baselined', commit.baselined and '1' or '0')
return current + 1
"""

# KEYS: outbox; ARGV: the configured sinks. Trims entries older than the oldest one that a
# configured sink's group still needs; groups of sinks no longer configured do not hold it back.
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
local configured = {}
for _, name in ipairs(ARGV) do
  configured[name] = true
end
local floor = nil
for _, group in ipairs(groups) do
  local info = {}
  for k = 1, #group, 2 do
    info[group[k]] = group[k + 1]
  end
  if configured[info['name']] then
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
end
if floor == nil then
  return 0
end
return redis.call('XTRIM', KEYS[1], 'MINID', floor)
"""


# KEYS: a sink's retry states; ARGV: pairs of event id and the state read for it. Deletes each
# state that is still the one read: a state rewritten meanwhile is a new attempt's, and stays.
FORGET_RETRIES: Final = """
local forgotten = 0
for i = 1, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then
    forgotten = forgotten + redis.call('HDEL', KEYS[1], ARGV[i])
  end
end
return forgotten
"""


# Leases (invariant 8). A lease key holds its holder, "<replica>@<epoch>:<nonce>", with no
# expiry: it is valid while that member is alive in the replicas sorted set. So a replica renews
# all its leases with its one heartbeat, and a lease whose holder went silent is free once the
# heartbeat lapsed. The epoch is the Redis time (ms) the run of heartbeats began; the nonce names
# the process, so a process can tell its own earlier epochs from another process's.

# KEYS: replicas; ARGV: replica, its epoch (0 when it has none yet), its nonce, ttl in ms.
# Registers the replica until now + ttl on Redis's clock (the same for every replica) and returns
# {epoch, now, live members...}. A replica whose epoch lapsed, or that starts, gets a new epoch,
# the current time, so a lapsed epoch never comes back and every lease it held is free to take;
# other epochs of its name are retired (its own, whose answer it never got; or an earlier
# process of that name, restarted). Only a later epoch of *another* process means this one was
# replaced (two processes share a name): it gets epoch 0 back, and holds nothing while the later
# one lives. Lapsed members are forgotten.
HEARTBEAT: Final = """
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local name, epoch, nonce = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local me = name .. '@' .. ARGV[2] .. ':' .. nonce
local entries = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local renewing, replaced, live, ours, gone = false, false, {}, {}, {}
for i = 1, #entries, 2 do
  local member = entries[i]
  local who, since, whose = string.match(member, '^(.*)@(%d+):(%w+)$')
  if tonumber(entries[i + 1]) <= now then
    table.insert(gone, member)
  elseif member == me then
    renewing = true
  elseif who == name then
    table.insert(ours, member)
    if whose ~= nonce and epoch > 0 and tonumber(since) > epoch then
      replaced = true
    end
  else
    table.insert(live, member)
  end
end
if replaced and not renewing then
  epoch = 0
  for _, member in ipairs(ours) do
    table.insert(live, member)
  end
else
  for _, member in ipairs(ours) do
    table.insert(gone, member)
  end
  if not renewing then
    epoch = now
    me = name .. '@' .. now .. ':' .. nonce
  end
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[4]), me)
  table.insert(live, me)
end
if #gone > 0 then
  redis.call('ZREM', KEYS[1], unpack(gone))
end
return {epoch, now, unpack(live)}
"""

# KEYS: replicas. The store's clock (ms) and the live members with the time each lapses: one
# clock for both, so a caller can tell a member that renews from one that lapses.
MEMBERS: Final = """
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local entries = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf', 'WITHSCORES')
return {now, unpack(entries)}
"""

# KEYS: lease, fence; ARGV: holder, the time its view of the live members was read, "force",
# those members. Takes the lease when it is free, already this holder's, or held by an epoch
# that was over in that view: one not alive in it that began before the view was read (an epoch
# begun later may be alive, the view cannot tell; unless it "began" later than Redis's clock
# says now, which only a clock that stepped back can do). "force" (1) takes it from a live holder
# too: the taker is the assigned replica and has waited two checks for the holder to hand it
# back, so the holder does not know it holds it (an answer it never got, a release that a
# failover lost). Returns a new fencing token, else 0.
ACQUIRE: Final = """
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] and ARGV[3] ~= '1' then
  local since = tonumber(string.match(holder, '@(%d+):%w+$'))
  if not since then
    return 0
  end
  for i = 4, #ARGV do
    if ARGV[i] == holder then
      return 0
    end
  end
  if since >= tonumber(ARGV[2]) then
    local time = redis.call('TIME')
    if since <= tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000) then
      return 0
    end
  end
end
redis.call('SET', KEYS[1], ARGV[1])
return redis.call('INCR', KEYS[2])
"""

# KEYS: lease; ARGV: holder. Hands the lease back (only if it is the holder's).
RELEASE: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# KEYS: a stream; ARGV: a consumer group, the consumer to keep. Deletes the group's other
# consumers that hold nothing pending: a replica that took a sink over has adopted every entry,
# and replicas named after their pod would otherwise pile up in the group with each rollout.
# Checked and deleted in one step, so an entry a waking consumer reads meanwhile is never lost.
FORGET_IDLE_CONSUMERS: Final = """
local forgotten = 0
for _, consumer in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local name, pending
  for i = 1, #consumer, 2 do
    if consumer[i] == 'name' then name = consumer[i + 1] end
    if consumer[i] == 'pending' then pending = consumer[i + 1] end
  end
  if name ~= ARGV[2] and pending == 0 then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], name)
    forgotten = forgotten + 1
  end
end
return forgotten
"""
