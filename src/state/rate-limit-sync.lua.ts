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
 *     'b', count, per, cap, from
 *                            a token bucket as GCRA: the key holds the theoretical arrival time
 *                            TAT, advanced to max(TAT, from) + count × per (ms per token) and
 *                            kept at most cap ms ahead of now (the bucket plus a bounded debt);
 *                            from is when the member began consuming this count: the refill
 *                            until then is credited, so consumption spread over a round and
 *                            published at its end does not read as a burst at the end (now when
 *                            count is 0); answers TAT − now, from which the member reads the
 *                            tokens left
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
    local from = tonumber(ARGV[a + 4])
    if from > now then from = now end
    local tat = tonumber(redis.call('GET', key) or '') or from
    if count > 0 then
      if tat < from then tat = from end
      tat = tat + count * per
      if tat > now + cap then tat = now + cap end
      -- Kept past TAT (a full bucket) for cap more: a member publishing consumption that began
      -- before TAT must be anchored there, or the refill of that span is credited twice.
      local ahead = tat - now
      if ahead < 0 then ahead = 0 end
      redis.call('SET', key, string.format('%.17g', tat), 'PX', math.ceil(ahead + cap) + 1)
    end
    if tat < now then tat = now end
    out[i] = string.format('%.17g', tat - now)
    a = a + 5
  end
end
return out
`
