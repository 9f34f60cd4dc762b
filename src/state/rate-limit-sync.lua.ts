/**
 * The one script of the Redis reconciliation of rate-limit counters (./rate-limit-sync.ts): it
 * publishes a batch of members' consumption and returns the global state of every counter of the
 * batch, atomically, in one round trip.
 *
 *   KEYS[i]   the counter's key
 *   ARGV[1]   the member's clock, ms since the epoch (windows are aligned to it too)
 *   then, per key in order, by kind:
 *     'w', count, ttl        a window: INCRBYFLOAT by count (a GET when 0) and PEXPIRE ttl ms;
 *                            answers the cluster's count of that window
 *     'b', count, per, cap   a token bucket as GCRA: the key holds the theoretical arrival time
 *                            TAT, advanced to max(TAT, now) + count × per (ms per token) and kept
 *                            at most cap ms ahead of now (the bucket plus a bounded debt);
 *                            answers TAT − now, from which the member reads the tokens left
 *
 * Numbers travel as strings ('%.17g') because Redis turns a Lua number reply into an integer.
 * The keys of one call may lie anywhere: this is for a single Redis (or a primary with
 * replicas), not Redis Cluster.
 */
export const RATE_LIMIT_SYNC_SCRIPT = `
local now = tonumber(ARGV[1])
local out = {}
local a = 2
for i = 1, #KEYS do
  local key = KEYS[i]
  local kind = ARGV[a]
  local count = tonumber(ARGV[a + 1])
  if kind == 'w' then
    local ttl = tonumber(ARGV[a + 2])
    local value
    if count > 0 then
      value = redis.call('INCRBYFLOAT', key, ARGV[a + 1])
      redis.call('PEXPIRE', key, ttl)
    else
      value = redis.call('GET', key) or '0'
    end
    out[i] = value
    a = a + 3
  else
    local per = tonumber(ARGV[a + 2])
    local cap = tonumber(ARGV[a + 3])
    local tat = tonumber(redis.call('GET', key) or '') or now
    if tat < now then tat = now end
    if count > 0 then
      tat = tat + count * per
      if tat > now + cap then tat = now + cap end
      redis.call('SET', key, string.format('%.17g', tat), 'PX', math.ceil(tat - now) + 1)
    end
    out[i] = string.format('%.17g', tat - now)
    a = a + 4
  end
end
return out
`
