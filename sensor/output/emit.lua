local A = ARGV
local ttl, maxlen, chan = A[1], A[2], A[3]
local n, nb, nc = tonumber(A[4]), tonumber(A[5]), tonumber(A[6])
local legacy = A[7] == '1'
local res, firsterr = {}, nil
local function fail(j, err)
  res[j] = -1
  if not firsterr then
    firsterr = type(err) == 'table' and tostring(err.err) or tostring(err)
  end
end
local function typeok(k, want)
  local t = redis.call('TYPE', k)
  t = type(t) == 'table' and t.ok or t
  return t == 'none' or t == want
end
local function wrongtype(k)
  return 'WRONGTYPE ' .. k .. ' holds the wrong kind of value'
end
if not typeok(KEYS[1], 'stream') then
  for j = 1, n do fail(j, wrongtype(KEYS[1])) end
  res[#res + 1] = firsterr
  return res
end
local zok = typeok(KEYS[2], 'zset')
-- which events are new: one HMGET per seen bucket, event ids as fields
local bids, bev, bnew = {}, {}, {}
for b = 1, nb do bids[b], bev[b], bnew[b] = {}, {}, {} end
for j = 1, n do
  local p = 8 + (j - 1) * 28
  local b = tonumber(A[p])
  local l = bids[b]
  l[#l + 1] = A[p + 17]
  bev[b][#l] = j
end
for b = 1, nb do
  local ingroup = {}
  if #bids[b] > 0 then
    local ok, h = pcall(redis.call, 'HMGET', KEYS[2 + b], unpack(bids[b]))
    for i, j in ipairs(bev[b]) do
      local id = bids[b][i]
      if not ok then fail(j, h)
      elseif h[i] or ingroup[id] then res[j] = 0
      elseif legacy and redis.call('EXISTS', KEYS[2 + nb + nc + j]) == 1 then
        res[j] = 0
        ingroup[id] = true
        local l = bnew[b]
        l[#l + 1] = id; l[#l + 1] = '1'
      else ingroup[id] = true end
    end
  end
end
-- host records: one HMGET per client of the group
local cev, evfs = {}, {}
for c = 1, nc do cev[c] = {} end
for j = 1, n do
  if not res[j] then
    local p = 8 + (j - 1) * 28
    local l = cev[tonumber(A[p + 1])]
    l[#l + 1] = j
    evfs[j] = 'ev:' .. A[p + 11]
  end
end
local host = {}
for c = 1, nc do
  local l = cev[c]
  if #l > 0 then
    local fields, evi = {'first_seen', 'last_seen', 'categories', 'events'}, {}
    for _, j in ipairs(l) do
      local evf = evfs[j]
      if not evi[evf] then fields[#fields + 1] = evf; evi[evf] = #fields end
    end
    local key = KEYS[2 + nb + c]
    local ok, h = pcall(redis.call, 'HMGET', key, unpack(fields))
    if ok then
      local ev = {}
      for f, i in pairs(evi) do ev[f] = tonumber(h[i]) or 0 end
      host[c] = {key = key, first = tonumber(h[1]), last = tonumber(h[2]), cats = h[3],
                 events = tonumber(h[4]) or 0, ev = ev, evset = {}, set = {}, n = 0}
    else
      for _, j in ipairs(l) do fail(j, h) end
    end
  end
end
-- stream entry and live message per event, in order; host state one by one
local function xadd(p)
  local k = KEYS[1]
  if A[p + 18] == '' and A[p + 19] == '' and A[p + 20] == '' and A[p + 21] == '' and
     A[p + 23] == '' and A[p + 24] == '' and A[p + 25] == '' and A[p + 27] == '' then
    if A[p + 22] ~= '' then
      redis.call('XADD', k, 'MAXLEN', '~', maxlen, '*', 'ts', A[p + 4], 'sensor', A[p + 5],
                 'client', A[p + 6], 'server', A[p + 7], 'sport', A[p + 8], 'dport', A[p + 9],
                 'proto', A[p + 10], 'evidence', A[p + 11], 'indicator', A[p + 12],
                 'rule', A[p + 13], 'category', A[p + 14], 'confidence', A[p + 15],
                 'app', A[p + 16], 'id', A[p + 17], 'count', A[p + 22])
    else
      redis.call('XADD', k, 'MAXLEN', '~', maxlen, '*', 'ts', A[p + 4], 'sensor', A[p + 5],
                 'client', A[p + 6], 'server', A[p + 7], 'sport', A[p + 8], 'dport', A[p + 9],
                 'proto', A[p + 10], 'evidence', A[p + 11], 'indicator', A[p + 12],
                 'rule', A[p + 13], 'category', A[p + 14], 'confidence', A[p + 15],
                 'app', A[p + 16], 'id', A[p + 17])
    end
  else
    local f = {'ts', A[p + 4], 'sensor', A[p + 5], 'client', A[p + 6], 'server', A[p + 7],
               'sport', A[p + 8], 'dport', A[p + 9], 'proto', A[p + 10], 'evidence', A[p + 11],
               'indicator', A[p + 12], 'rule', A[p + 13], 'category', A[p + 14],
               'confidence', A[p + 15], 'app', A[p + 16], 'id', A[p + 17]}
    if A[p + 18] ~= '' then f[#f + 1] = 'site'; f[#f + 1] = A[p + 18] end
    if A[p + 19] ~= '' then f[#f + 1] = 'managed'; f[#f + 1] = A[p + 19] end
    if A[p + 20] ~= '' then f[#f + 1] = 'ruleset'; f[#f + 1] = A[p + 20] end
    if A[p + 21] ~= '' then f[#f + 1] = 'via'; f[#f + 1] = A[p + 21] end
    if A[p + 22] ~= '' then f[#f + 1] = 'count'; f[#f + 1] = A[p + 22] end
    if A[p + 23] ~= '' then f[#f + 1] = 'community_id'; f[#f + 1] = A[p + 23] end
    if A[p + 24] ~= '' then f[#f + 1] = 'client_mac'; f[#f + 1] = A[p + 24] end
    if A[p + 25] ~= '' then
      f[#f + 1] = 'client_name'; f[#f + 1] = A[p + 25]
      f[#f + 1] = 'client_name_source'; f[#f + 1] = A[p + 26]
    end
    if A[p + 27] ~= '' then f[#f + 1] = 'pcap'; f[#f + 1] = A[p + 27] end
    redis.call('XADD', k, 'MAXLEN', '~', maxlen, '*', unpack(f))
  end
  redis.call('PUBLISH', chan, A[p + 3])
end
for j = 1, n do
  local p = 8 + (j - 1) * 28
  local s = host[tonumber(A[p + 1])]
  if not res[j] then
    local ok, err = pcall(xadd, p)
    if not ok then fail(j, err) else
      res[j] = 1
      local l = bnew[tonumber(A[p])]
      l[#l + 1] = A[p + 17]; l[#l + 1] = '1'
      s.n = s.n + 1
      s.events = s.events + 1
      local evf = evfs[j]
      s.ev[evf] = s.ev[evf] + 1
      s.evset[evf] = true
      local tss = A[p + 2]
      local ts = tonumber(tss)
      local set = s.set
      if not s.first or ts < s.first then s.first = ts; set.first_seen = tss end
      if not s.last or ts >= s.last then
        s.last = ts; s.zadd = tss
        set.last_seen = tss; set.last_indicator = A[p + 12]
        set.last_rule = A[p + 13]; set.sensor = A[p + 5]
        if A[p + 18] ~= '' then set.site = A[p + 18] end
        if A[p + 19] ~= '' then set.managed = A[p + 19] end
        if A[p + 20] ~= '' then set.ruleset = A[p + 20] end
        if A[p + 24] ~= '' then set.mac = A[p + 24] end
        if A[p + 25] ~= '' then set.name = A[p + 25]; set.name_source = A[p + 26] end
      end
      local cat, cats = A[p + 14], s.cats
      if cat ~= '' then
        if not cats or cats == '' then s.cats = cat; set.categories = cat
        elseif not string.find(',' .. cats .. ',', ',' .. cat .. ',', 1, true) then
          s.cats = cats .. ',' .. cat; set.categories = s.cats
        end
      end
    end
  end
end
for c = 1, nc do
  local s = host[c]
  if s and s.n > 0 then
    local h = {'events', s.events}
    for f in pairs(s.evset) do h[#h + 1] = f; h[#h + 1] = s.ev[f] end
    for f, v in pairs(s.set) do h[#h + 1] = f; h[#h + 1] = v end
    local ok, err = pcall(redis.call, 'HSET', s.key, unpack(h))
    if ok and s.zadd and zok then
      ok, err = pcall(redis.call, 'ZADD', KEYS[2], s.zadd, A[8 + (cev[c][1] - 1) * 28 + 6])
    elseif ok and s.zadd then
      ok, err = false, wrongtype(KEYS[2])
    end
    if not ok and not firsterr then firsterr = tostring(err.err or err) end
  end
end
for b = 1, nb do
  if #bnew[b] > 0 then
    redis.call('HSET', KEYS[2 + b], unpack(bnew[b]))
    redis.call('EXPIRE', KEYS[2 + b], ttl)
  end
end
if firsterr then res[#res + 1] = firsterr end
return res
