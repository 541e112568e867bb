local A = ARGV
local ttl, nb, nc = A[1], tonumber(A[2]), tonumber(A[3])
local function typeof(k)
  local t = redis.call('TYPE', k)
  return type(t) == 'table' and t.ok or t
end
local t = typeof(KEYS[1])
if t ~= 'none' and t ~= 'stream' then
  return redis.error_reply('WRONGTYPE ' .. KEYS[1] .. ' holds the wrong kind of value')
end
local firsterr = nil
local function note(err)
  if not firsterr then
    firsterr = type(err) == 'table' and tostring(err.err) or tostring(err)
  end
end
for b = 1, nb do
  local s, f = A[3 + b], {}
  for i = 1, #s, 16 do f[#f + 1] = string.sub(s, i, i + 15); f[#f + 1] = '1' end
  local ok, err = pcall(redis.call, 'HSET', KEYS[2 + b], unpack(f))
  if ok then redis.call('EXPIRE', KEYS[2 + b], ttl) else note(err) end
end
local zadd, nz, p, f, set = {}, 0, 4 + nb, {}, {}
for c = 1, nc do
  local key = KEYS[2 + nb + c]
  local nk = tonumber(A[p + 14])
  f[1], f[2], f[3], f[4] = 'first_seen', 'last_seen', 'categories', 'events'
  for i = 1, nk do f[4 + i] = A[p + 13 + 2 * i] end
  local ok, h = pcall(redis.call, 'HMGET', key, unpack(f, 1, 4 + nk))
  if not ok then note(h) else
    set[1], set[2] = 'events', (tonumber(h[4]) or 0) + tonumber(A[p + 1])
    local n = 2
    for i = 1, nk do
      set[n + 1], set[n + 2] = f[4 + i], (tonumber(h[4 + i]) or 0) + tonumber(A[p + 14 + 2 * i])
      n = n + 2
    end
    local first, last = tonumber(h[1]), tonumber(h[2])
    if not first or tonumber(A[p + 2]) < first then
      set[n + 1], set[n + 2] = 'first_seen', A[p + 2]
      n = n + 2
    end
    local newer = not last or tonumber(A[p + 3]) >= last
    if newer then
      set[n + 1], set[n + 2], set[n + 3], set[n + 4] = 'last_seen', A[p + 3], 'sensor', A[p + 6]
      set[n + 5], set[n + 6], set[n + 7], set[n + 8] =
        'last_indicator', A[p + 4], 'last_rule', A[p + 5]
      n = n + 8
    end
    if A[p + 8] ~= '' and (not last or tonumber(A[p + 7]) >= last) then
      set[n + 1], set[n + 2] = 'site', A[p + 8]
      n = n + 2
    end
    if A[p + 10] ~= '' and (not last or tonumber(A[p + 9]) >= last) then
      set[n + 1], set[n + 2] = 'managed', A[p + 10]
      n = n + 2
    end
    if A[p + 12] ~= '' and (not last or tonumber(A[p + 11]) >= last) then
      set[n + 1], set[n + 2] = 'ruleset', A[p + 12]
      n = n + 2
    end
    local cats, gc = h[3] or '', A[p + 13]
    if gc ~= '' and gc ~= cats then
      local grown = false
      for cat in string.gmatch(gc, '[^,]+') do
        if cats == '' then cats = cat; grown = true
        elseif not string.find(',' .. cats .. ',', ',' .. cat .. ',', 1, true) then
          cats = cats .. ',' .. cat; grown = true
        end
      end
      if grown then
        set[n + 1], set[n + 2] = 'categories', cats
        n = n + 2
      end
    end
    ok, h = pcall(redis.call, 'HSET', key, unpack(set, 1, n))
    if not ok then note(h)
    elseif newer then
      zadd[nz + 1], zadd[nz + 2] = A[p + 3], A[p]
      nz = nz + 2
    end
  end
  p = p + 15 + 2 * nk
end
if nz > 0 then
  local ok, err = pcall(redis.call, 'ZADD', KEYS[2], unpack(zadd, 1, nz))
  if not ok then note(err) end
end
return firsterr or 1
