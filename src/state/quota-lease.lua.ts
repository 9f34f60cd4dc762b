/**
 * The two scripts of quota leasing (./quota-lease.ts). A quota's key holds the units handed out
 * to members in its period; each script reads and writes it atomically, so members leasing at
 * once are never granted more than the limit together.
 *
 * lease    KEYS[1] the quota's key; ARGV: limit, want, ttl (ms), debt
 *          adds the debt first (units a member admitted without a lease while Redis was away,
 *          on_redis_down: local_share), then grants min(want, limit − used), never below 0;
 *          answers { grant, used } where used counts the grant
 * release  KEYS[1] the quota's key; ARGV: units
 *          gives back units a member leased and did not use (DECRBY, never below 0); a key that
 *          expired (its period is over) is not created again; answers what is left handed out
 *
 * Counts are integers (at most 10^12, exact in a Lua number), so they travel as Redis integers.
 */
export const QUOTA_LEASE_SCRIPT = `
local limit = tonumber(ARGV[1])
local want = tonumber(ARGV[2])
local debt = tonumber(ARGV[4])
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
used = used + debt
local grant = limit - used
if grant > want then grant = want end
if grant < 0 then grant = 0 end
used = used + grant
if debt > 0 or grant > 0 then
  redis.call('SET', KEYS[1], string.format('%d', used), 'PX', ARGV[3])
end
return { grant, used }
`

export const QUOTA_RELEASE_SCRIPT = `
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
if used <= 0 then return 0 end
local n = tonumber(ARGV[1])
if n > used then n = used end
return redis.call('DECRBY', KEYS[1], n)
`
