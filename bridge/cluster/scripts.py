"""The Lua scripts (atomic on the server) and a batch runner for them (EVALSHA).

Time inside the scripts is the Redis server's ``TIME``: one clock for every instance.
Scripts touch only the keys they are given, all in one hash slot (see keys.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.exceptions import NoScriptError

from bridge.cluster.backend import BACKEND_ERRORS, BackendError, Client

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# KEYS: members zset, weights hash, own member hash.
# ARGV: instance, session, ttl_ms, weight, then field/value pairs for the member hash.
# → {1, now_ms, name1, expiry1, weight1, …} or {0, ms until the name is free}: another
#   live process (a misconfigured twin, or our own previous life) still uses the name.
HEARTBEAT = (
    _NOW
    + """
local ttl = tonumber(ARGV[3])
local session = redis.call('HGET', KEYS[3], 'session')
if session and session ~= ARGV[2] then
  return {0, redis.call('PTTL', KEYS[3])}
end
local fields = {'session', ARGV[2], 'weight', ARGV[4], 'ttl_ms', ARGV[3]}
for i = 5, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[3], unpack(fields))
redis.call('PEXPIRE', KEYS[3], ttl)
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[4])
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
for _, name in ipairs(dead) do redis.call('HDEL', KEYS[2], name) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local out = {1, now}
local live = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
for i = 1, #live, 2 do
  out[#out + 1] = live[i]
  out[#out + 1] = tonumber(live[i + 1])
  out[#out + 1] = redis.call('HGET', KEYS[2], live[i]) or '1'
end
return out
"""
)

# KEYS: members zset, weights hash, own member hash. ARGV: instance, session.
LEAVE = """
if redis.call('HGET', KEYS[3], 'session') ~= ARGV[2] then return 0 end
redis.call('DEL', KEYS[3])
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
"""

# KEYS: lease, fence, warm. ARGV: owner, ttl_ms, warmup_ms, fence_ttl_ms.
# → {1, token, previous owner} | {0, ms left, holder} | {-1, ms left of the warm-up, ''}
# A missing fence record means this backend has never seen the streamer, or lost its data
# (restart without persistence): a lease granted before may still be honoured by its holder
# until that holder's local deadline, so the first lease waits one TTL. The token is the
# larger of last + 1 and the server's clock in ms, so it keeps increasing even across such
# a loss or a restore from an older snapshot.
ACQUIRE = (
    """
local holder = redis.call('HGET', KEYS[1], 'owner')
if holder and holder ~= ARGV[1] then
  return {0, redis.call('PTTL', KEYS[1]), holder}
end
"""
    + _NOW
    + """
local last = redis.call('HGET', KEYS[2], 'token')
if not last then
  redis.call('HSET', KEYS[2], 'token', string.format('%.0f', now))
  redis.call('PEXPIRE', KEYS[2], ARGV[4])
  redis.call('SET', KEYS[3], '1', 'PX', ARGV[3])
  return {-1, tonumber(ARGV[3]), ''}
end
local warm = redis.call('PTTL', KEYS[3])
if warm > 0 then return {-1, warm, ''} end
local token = math.max(tonumber(last) + 1, now)
local text = string.format('%.0f', token)
local previous = redis.call('HGET', KEYS[2], 'owner') or ''
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'token', text)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('HSET', KEYS[2], 'token', text, 'owner', ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return {1, token, previous}
"""
)

# KEYS: lease, fence. ARGV: owner, token, ttl_ms, fence_ttl_ms. → 1 renewed | 0 not ours.
RENEW = """
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1]
   or redis.call('HGET', KEYS[1], 'token') ~= ARGV[2] then
  return 0
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return 1
"""

# KEYS: lease. ARGV: owner, token. → 1 released | 0 not ours (expired or taken).
RELEASE = """
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1]
   or redis.call('HGET', KEYS[1], 'token') ~= ARGV[2] then
  return 0
end
redis.call('DEL', KEYS[1])
return 1
"""

# KEYS: bucket hash. ARGV: rate per second, capacity, cost.
# → {1, 0} taken | {0, ms to wait}. A block (a 429's reset) holds every instance.
BUDGET_TAKE = (
    _NOW
    + """
local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local blocked = tonumber(redis.call('HGET', KEYS[1], 'blocked_until') or '0')
if blocked > now then return {0, blocked - now} end
local tokens = tonumber(redis.call('HGET', KEYS[1], 'tokens') or ARGV[2])
local stamp = tonumber(redis.call('HGET', KEYS[1], 'stamp') or now)
tokens = math.min(capacity, tokens + math.max(0, now - stamp) * rate / 1000)
local granted = 0
local wait = 0
if tokens >= cost then
  tokens = tokens - cost
  granted = 1
else
  wait = math.ceil((cost - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'stamp', string.format('%.0f', now))
-- A full bucket needs no record: forget it after it would have refilled (+1 min).
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity * 1000 / rate) + 60000)
return {granted, wait}
"""
)

# KEYS: bucket hash. ARGV: unix ms before which nothing is granted (never shortened).
BUDGET_BLOCK = """
local current = tonumber(redis.call('HGET', KEYS[1], 'blocked_until') or '0')
if tonumber(ARGV[1]) > current then
  redis.call('HSET', KEYS[1], 'blocked_until', ARGV[1])
end
local ttl = redis.call('PTTL', KEYS[1])
local t = redis.call('TIME')
local left = tonumber(ARGV[1]) - tonumber(t[1]) * 1000
if left > ttl then redis.call('PEXPIRE', KEYS[1], math.ceil(left) + 60000) end
return 1
"""

# KEYS: dedupe zset, fence hash. ARGV: token, ttl_ms, max entries, announced room id (or
# ''), msg_id… The announced room id goes into the fence hash (which lives as long as the
# streamer's leases, not dedupe_ttl_s), so a handover late in a stream does not announce it again.
# → number stored, or -1 when a newer owner (higher token) has written already: a fenced-off
#   instance's late batch is dropped instead of mixed in.
DEDUPE_ADD = (
    _NOW
    + """
local token = tonumber(ARGV[1])
local fenced = tonumber(redis.call('HGET', KEYS[2], 'dedupe_token') or '0')
if token < fenced then return -1 end
if token > fenced then
  redis.call('HSET', KEYS[2], 'dedupe_token', ARGV[1])
end
if ARGV[4] ~= '' then redis.call('HSET', KEYS[2], 'announced', ARGV[4]) end
local args = {}
for i = 5, #ARGV do
  args[#args + 1] = now
  args[#args + 1] = ARGV[i]
end
if #args > 0 then redis.call('ZADD', KEYS[1], unpack(args)) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -tonumber(ARGV[3]) - 1)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return #args / 2
"""
)

# KEYS: streamers hash, watch hash, store meta. ARGV: epoch, n, then n user/entry-JSON
# pairs, then user/watch pairs. Writes only into an empty store (first instance wins).
STORE_SEED = """
if redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
local n = tonumber(ARGV[2])
for i = 3, 2 + 2 * n, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
for i = 3 + 2 * n, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
redis.call('HSET', KEYS[3], 'epoch', ARGV[1], 'version', 1)
return 1
"""

# KEYS: streamers hash, watch hash, store meta. ARGV: op, user[, value].
#   put   user entry-JSON    add or replace a streamer
#   put_new user entry-JSON  add only if absent (→ 0 when present)
#   del   user               remove it and its watch switch (→ 0 when absent)
#   watch user '1'|'0'       set the switch (→ 0 when the streamer is unknown)
# → new version, 0 when nothing changed, -1 when the store is missing (lost: reseed first).
STORE_MUTATE = """
if redis.call('EXISTS', KEYS[3]) == 0 then return -1 end
local op, user = ARGV[1], ARGV[2]
if op == 'put' then
  if redis.call('HGET', KEYS[1], user) == ARGV[3] then return 0 end
  redis.call('HSET', KEYS[1], user, ARGV[3])
elseif op == 'put_new' then
  if redis.call('HSETNX', KEYS[1], user, ARGV[3]) == 0 then return 0 end
elseif op == 'del' then
  if redis.call('HDEL', KEYS[1], user) == 0 then return 0 end
  redis.call('HDEL', KEYS[2], user)
elseif op == 'watch' then
  if redis.call('HEXISTS', KEYS[1], user) == 0 then return 0 end
  if redis.call('HGET', KEYS[2], user) == ARGV[3] then return 0 end
  redis.call('HSET', KEYS[2], user, ARGV[3])
else
  return redis.error_reply('unknown op ' .. op)
end
return redis.call('HINCRBY', KEYS[3], 'version', 1)
"""

# KEYS: streamers hash, watch hash, store meta. ARGV: user/entry-JSON pairs of the
# configuration file. Replaces the configuration's streamers, keeps runtime additions and
# watch switches. → new version | 0 unchanged | -1 store missing.
STORE_REPLACE_CONFIG = """
if redis.call('EXISTS', KEYS[3]) == 0 then return -1 end
local wanted = {}
for i = 1, #ARGV, 2 do wanted[ARGV[i]] = ARGV[i + 1] end
local changed = false
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local user, entry = all[i], all[i + 1]
  if wanted[user] == nil and cjson.decode(entry)['source'] == 'config' then
    redis.call('HDEL', KEYS[1], user)
    redis.call('HDEL', KEYS[2], user)
    changed = true
  end
end
for user, entry in pairs(wanted) do
  if redis.call('HGET', KEYS[1], user) ~= entry then
    redis.call('HSET', KEYS[1], user, entry)
    changed = true
  end
end
if not changed then return 0 end
return redis.call('HINCRBY', KEYS[3], 'version', 1)
"""


@dataclass(frozen=True, slots=True)
class Script:
    name: str
    text: str

    @property
    def sha(self) -> str:
        return hashlib.sha1(self.text.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Call:
    script: Script
    keys: Sequence[str]
    args: Sequence[str | int | float]


ALL = {
    name: Script(name, text)
    for name, text in {
        "heartbeat": HEARTBEAT,
        "leave": LEAVE,
        "acquire": ACQUIRE,
        "renew": RENEW,
        "release": RELEASE,
        "budget_take": BUDGET_TAKE,
        "budget_block": BUDGET_BLOCK,
        "dedupe_add": DEDUPE_ADD,
        "store_seed": STORE_SEED,
        "store_mutate": STORE_MUTATE,
        "store_replace_config": STORE_REPLACE_CONFIG,
    }.items()
}


async def run(client: Client, calls: Sequence[Call]) -> list[Any]:
    """Run the calls in one pipelined round trip (EVALSHA; not a transaction: each script is
    atomic on its own). A script the server does not know (first use, or a restarted server)
    is loaded and only the calls that got NOSCRIPT run again. Errors → BackendError."""
    if not calls:
        return []
    try:
        results = await _execute(client, calls)
        missing = [i for i, r in enumerate(results) if isinstance(r, NoScriptError)]
        if missing:
            for script in {calls[i].script for i in missing}:
                await client.script_load(script.text)
            again = await _execute(client, [calls[i] for i in missing])
            for i, result in zip(missing, again, strict=True):
                results[i] = result
    except BACKEND_ERRORS as exc:
        raise BackendError(f"{type(exc).__name__}: {exc}") from exc
    for result in results:
        if isinstance(result, BaseException):
            raise BackendError(f"{type(result).__name__}: {result}") from result
    return results


async def _execute(client: Client, calls: Sequence[Call]) -> list[Any]:
    pipe = client.pipeline(transaction=False)
    for call in calls:
        pipe.evalsha(call.script.sha, len(call.keys), *call.keys, *call.args)
    results: list[Any] = await pipe.execute(raise_on_error=False)
    return results


async def run_one(client: Client, call: Call) -> Any:
    return (await run(client, [call]))[0]
