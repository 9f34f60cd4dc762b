/**
 * The scripts that change consumers, keys and key usage (credential-layout.ts). A change writes
 * its records, INCRs the version and PUBLISHes one message per record with the version it
 * produced, all in one script: Redis runs it alone, so workers receive messages in version order
 * and a version never names a half-made change.
 *
 * put              KEYS: hash, index, version, channel[, member set]
 *                  ARGV: per record, 4 values: id, expected, json, message tail
 *                  expected '' means the record must not exist yet, otherwise the record must
 *                  still be exactly that JSON (what the caller read: a change made meanwhile is
 *                  not overwritten). Checks every record first, then writes them all; answers
 *                  0 (one exists already), -1 (one changed or is gone) or the last version.
 * delete_consumer  KEYS: consumers, consumer index, keys, key index, the consumer's key set,
 *                  version, channel, hmac, hmac index, the consumer's hmac set
 *                  ARGV: name, usage hash prefix, message tail
 *                  deletes the consumer, its keys and their usage, its HMAC credentials, one
 *                  message each; answers 0 when there was no such consumer, else the last version
 * delete_record    KEYS: hash, index, member set, version, channel
 *                  ARGV: id, message tail
 *                  deletes one record (an HMAC credential); answers 0 when there was none, else
 *                  the version
 * usage            KEYS: one usage hash per key; ARGV: per key, 4 values: admitted, refused,
 *                  last used (ms), last address
 *                  adds the counts; takes last used/address only when newer than what is there
 *                  (workers flush in any order)
 *
 * A message is `{"v":<version>` followed by the tail the caller built (`,"kind":…,"record":…}`),
 * so the script never parses JSON.
 */
export const PUT_RECORDS_SCRIPT = `
local n = #ARGV / 4
for i = 0, n - 1 do
  local current = redis.call('HGET', KEYS[1], ARGV[i * 4 + 1])
  local expected = ARGV[i * 4 + 2]
  if expected == '' then
    if current then return 0 end
  elseif current ~= expected then
    return -1
  end
end
local v = 0
for i = 0, n - 1 do
  local id = ARGV[i * 4 + 1]
  redis.call('HSET', KEYS[1], id, ARGV[i * 4 + 3])
  redis.call('ZADD', KEYS[2], 0, id)
  if KEYS[5] then redis.call('SADD', KEYS[5], id) end
  v = redis.call('INCR', KEYS[3])
  redis.call('PUBLISH', KEYS[4], '{"v":' .. v .. ARGV[i * 4 + 4])
end
return v
`

export const DELETE_CONSUMER_SCRIPT = `
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('ZREM', KEYS[2], ARGV[1])
for _, id in ipairs(redis.call('SMEMBERS', KEYS[5])) do
  redis.call('HDEL', KEYS[3], id)
  redis.call('ZREM', KEYS[4], id)
  redis.call('DEL', ARGV[2] .. id)
  local v = redis.call('INCR', KEYS[6])
  redis.call('PUBLISH', KEYS[7], '{"v":' .. v .. ',"kind":"key","id":"' .. id .. '","record":null}')
end
redis.call('DEL', KEYS[5])
for _, id in ipairs(redis.call('SMEMBERS', KEYS[10])) do
  redis.call('HDEL', KEYS[8], id)
  redis.call('ZREM', KEYS[9], id)
  local v = redis.call('INCR', KEYS[6])
  redis.call('PUBLISH', KEYS[7], '{"v":' .. v .. ',"kind":"hmac","id":' .. cjson.encode(id) .. ',"record":null}')
end
redis.call('DEL', KEYS[10])
local v = redis.call('INCR', KEYS[6])
redis.call('PUBLISH', KEYS[7], '{"v":' .. v .. ARGV[3])
return v
`

export const DELETE_RECORD_SCRIPT = `
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('SREM', KEYS[3], ARGV[1])
local v = redis.call('INCR', KEYS[4])
redis.call('PUBLISH', KEYS[5], '{"v":' .. v .. ARGV[2])
return v
`

export const RECORD_USAGE_SCRIPT = `
for i = 1, #KEYS do
  local at = (i - 1) * 4
  local admitted = tonumber(ARGV[at + 1])
  local refused = tonumber(ARGV[at + 2])
  if admitted > 0 then redis.call('HINCRBY', KEYS[i], 'admitted', admitted) end
  if refused > 0 then redis.call('HINCRBY', KEYS[i], 'refused', refused) end
  local last = tonumber(redis.call('HGET', KEYS[i], 'last_used_at') or '0')
  if tonumber(ARGV[at + 3]) > last then
    redis.call('HSET', KEYS[i], 'last_used_at', ARGV[at + 3], 'last_address', ARGV[at + 4])
  end
end
return #KEYS
`
