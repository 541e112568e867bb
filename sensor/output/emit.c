/*
 * emit.c - the Redis output: one thread that takes detection events from a
 * bounded in-memory ring (filled by ksd_emit_push on the capture path) and
 * delivers each of them exactly once to Redis (CONTRACT.md "Redis keys";
 * STYLE.md rule 19). It is the only file that includes hiredis.h.
 *
 * Delivery. Up to KSD_EMIT_MAX_BATCH events go out per round trip (the
 * checked path through redisAppendCommandArgv, the fresh path as RESP
 * written here, both binary-safe; then one redisGetReply per command, every
 * reply freed). Exactly-once rests on per-event markers: the id of
 * each stored event is a field of the hash <prefix>seen:<sensor>:m<M> (M =
 * the event's ts in Unix minutes, so a resend finds the same hash), written
 * atomically with the stream entry, the host hash, the hosts sorted set and
 * the live message. Each marker hash gets EXPIRE dedup_ttl_s whenever ids
 * are added, so a marker lives at least dedup_ttl_s after its event was
 * stored. Event ids are not monotonic (several workers, wall-clock start
 * times), so no high-water mark can replace the per-event markers.
 *
 * Two paths. A batch taken from the ring and never sent (the normal case)
 * cannot be in Redis yet: it takes the fresh path, one MULTI/EXEC per
 * KSD_EMIT_TXN events holding one EVAL of store_script (markers and host
 * records, one read and one write per client and transaction) and a plain
 * XADD and PUBLISH per event; the transaction runs all or nothing, also
 * when the connection breaks. A batch read from the spool, or sent before
 * (its replies lost with the connection, rejected events, an unconfirmed
 * WAIT), takes the checked path: emit_script, KSD_EMIT_GROUP events per
 * EVAL, first asks with one HMGET per seen hash which events are already
 * there, and stores only the others; what Redis already had answers 0 and
 * is counted as a duplicate, not stored twice. Both fold the events of one
 * client in order, with the same host record as one by one (tested).
 * Scripts always go as EVAL (Redis caches them by digest), so a flushed
 * script cache changes nothing. If the stream key has the wrong type,
 * nothing of the events concerned is written, so they stay retryable; after
 * KSD_EMIT_MAX_ATTEMPTS rejections an event is dropped and counted. A host
 * record or sorted set that cannot be written is counted as an error and
 * leaves its events stored.
 * Spool replays also honour the per-event keys <prefix>seen:<sensor>:<id> of
 * earlier versions (and mark those events in the new form).
 *
 * Outages. A connection that returned any I/O, EOF or timeout error is freed,
 * never reused; reconnection backs off from KSD_EMIT_BACKOFF_MIN doubling to
 * KSD_EMIT_BACKOFF_MAX (the brief asks for 100 ms; STYLE rule 19's "once per
 * second" is reached after four failures). While Redis is away, events stay
 * in the ring; once it is half full the thread moves the oldest events to the
 * spool file (sensor/output/spool.c), and a push that finds the ring full does the
 * same for KSD_EMIT_SPILL_CHUNK events. Spool writes happen under the ring
 * mutex, so the spool always holds events older than the ring: the thread
 * sends the batch in flight, then the spool (replay, oldest first), then the
 * ring, which keeps push order. The spool is fsynced about once a second and
 * at stop; a spool left by a previous run is replayed first.
 *
 * Sentinel. sentinel://h1:p1,h2:p2/name asks each sentinel in turn for
 * SENTINEL get-master-addr-by-name, connects to that address and checks with
 * ROLE that it is a master; any later error re-discovers (failover, or a
 * READONLY reply from a demoted master). After each batch it sends WAIT 1
 * replica_wait_ms and keeps the batch until a replica confirmed it, so events
 * stored on a master that dies before replicating them are sent again to the
 * new master. If WAIT reports no replica, the batch is accepted (counted in
 * unreplicated) and WAIT is skipped for a second: a master without replicas
 * then runs at full speed, with the loss window that implies.
 *
 * What it does not do: RESP3, TLS, Redis Cluster, AUTH towards the sentinels
 * themselves; it never logs passwords (the log callback only gets hiredis and
 * server error strings, which do not contain them).
 */
#include "sensor/output/emit.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dissectors/ksd.h"
#include "sensor/output/spool.h"

#define EMIT_JSON_MAX   16384 /* one event as JSON; event.h bounds it below 8 KiB */
#define EMIT_KEY_MAX    256   /* a Redis key we build */
#define EMIT_SYNC_MS    1000  /* spool fsync period */
#define EMIT_WAIT_SKIP  1000  /* ms without WAIT after WAIT reported no replica */
#define EMIT_MAX_PASSWD 512   /* auth file line */

/*
 * The checked path: one EVAL stores up to KSD_EMIT_GROUP events
 * (append_group builds it).
 * KEYS: 1 stream, 2 hosts zset, then 3 .. 2+nb the group's distinct seen
 *       buckets (hash <prefix>seen:<sensor>:m<minute of ts>, fields = event
 *       ids), then 3+nb .. 2+nb+nc the group's distinct host hashes, then,
 *       only when legacy is 1 (spool replay), per event j the per-event key
 *       <prefix>seen:<sensor>:<id> an earlier version of ksd set.
 * ARGV: 1 dedup ttl, 2 maxlen, 3 live channel, 4 n events, 5 nb, 6 nc,
 *       7 legacy, then per event j at p = 8 + 27 (j - 1): p its bucket index
 *       (1..nb), p+1 its client index (1..nc), p+2 ts (Unix s), p+3 JSON,
 *       p+4 .. p+17 the stream values ts, sensor, client, server, sport,
 *       dport, proto, evidence, indicator, rule, category, confidence, app,
 *       id, p+18 .. p+22 site, managed, ruleset, via, count, p+23 .. p+26
 *       community_id, client_mac, client_name, client_name_source ("" =
 *       absent); client_mac, client_name and client_name_source of the
 *       newest event also go to the host record as mac, name, name_source.
 * Returns one integer per event: 1 stored, 0 already there (its id is in its
 * bucket), -1 failed (nothing of it written, so it stays retryable),
 * followed by the first error message when something failed (a failed host
 * record write leaves its events stored).
 *
 * Order of work: type check of the stream key (a wrong type fails the
 * whole group before anything is written) and of the hosts key (a wrong
 * type only skips the ZADDs, as in store_script); one HMGET per bucket
 * (which events are new); one HMGET per client (its current host record);
 * then per new event, in order, XADD and PUBLISH, folding the event into its
 * client's record exactly as a one-by-one update would (first_seen min,
 * last_seen and the last_* fields from the last event with ts >= the running
 * last_seen, site/managed/ruleset only when non-empty, categories union in
 * order); then one HSET (and ZADD when last_seen moved) per client and one
 * HSET + EXPIRE per bucket marking the stored ids. The marker and the entry
 * are written by the same script, so they exist together or not at all.
 */
static const char emit_script[] =
    "local A = ARGV\n"
    "local ttl, maxlen, chan = A[1], A[2], A[3]\n"
    "local n, nb, nc = tonumber(A[4]), tonumber(A[5]), tonumber(A[6])\n"
    "local legacy = A[7] == '1'\n"
    "local res, firsterr = {}, nil\n"
    "local function fail(j, err)\n"
    "  res[j] = -1\n"
    "  if not firsterr then\n"
    "    firsterr = type(err) == 'table' and tostring(err.err) or tostring(err)\n"
    "  end\n"
    "end\n"
    "local function typeok(k, want)\n"
    "  local t = redis.call('TYPE', k)\n"
    "  t = type(t) == 'table' and t.ok or t\n"
    "  return t == 'none' or t == want\n"
    "end\n"
    "local function wrongtype(k)\n"
    "  return 'WRONGTYPE ' .. k .. ' holds the wrong kind of value'\n"
    "end\n"
    "if not typeok(KEYS[1], 'stream') then\n"
    "  for j = 1, n do fail(j, wrongtype(KEYS[1])) end\n"
    "  res[#res + 1] = firsterr\n"
    "  return res\n"
    "end\n"
    "local zok = typeok(KEYS[2], 'zset')\n"
    "-- which events are new: one HMGET per seen bucket, event ids as fields\n"
    "local bids, bev, bnew = {}, {}, {}\n"
    "for b = 1, nb do bids[b], bev[b], bnew[b] = {}, {}, {} end\n"
    "for j = 1, n do\n"
    "  local p = 8 + (j - 1) * 27\n"
    "  local b = tonumber(A[p])\n"
    "  local l = bids[b]\n"
    "  l[#l + 1] = A[p + 17]\n"
    "  bev[b][#l] = j\n"
    "end\n"
    "for b = 1, nb do\n"
    "  local ingroup = {}\n"
    "  if #bids[b] > 0 then\n"
    "    local ok, h = pcall(redis.call, 'HMGET', KEYS[2 + b], unpack(bids[b]))\n"
    "    for i, j in ipairs(bev[b]) do\n"
    "      local id = bids[b][i]\n"
    "      if not ok then fail(j, h)\n"
    "      elseif h[i] or ingroup[id] then res[j] = 0\n"
    "      elseif legacy and redis.call('EXISTS', KEYS[2 + nb + nc + j]) == 1 then\n"
    "        res[j] = 0\n"
    "        ingroup[id] = true\n"
    "        local l = bnew[b]\n"
    "        l[#l + 1] = id; l[#l + 1] = '1'\n"
    "      else ingroup[id] = true end\n"
    "    end\n"
    "  end\n"
    "end\n"
    "-- host records: one HMGET per client of the group\n"
    "local cev, evfs = {}, {}\n"
    "for c = 1, nc do cev[c] = {} end\n"
    "for j = 1, n do\n"
    "  if not res[j] then\n"
    "    local p = 8 + (j - 1) * 27\n"
    "    local l = cev[tonumber(A[p + 1])]\n"
    "    l[#l + 1] = j\n"
    "    evfs[j] = 'ev:' .. A[p + 11]\n"
    "  end\n"
    "end\n"
    "local host = {}\n"
    "for c = 1, nc do\n"
    "  local l = cev[c]\n"
    "  if #l > 0 then\n"
    "    local fields, evi = {'first_seen', 'last_seen', 'categories', 'events'}, {}\n"
    "    for _, j in ipairs(l) do\n"
    "      local evf = evfs[j]\n"
    "      if not evi[evf] then fields[#fields + 1] = evf; evi[evf] = #fields end\n"
    "    end\n"
    "    local key = KEYS[2 + nb + c]\n"
    "    local ok, h = pcall(redis.call, 'HMGET', key, unpack(fields))\n"
    "    if ok then\n"
    "      local ev = {}\n"
    "      for f, i in pairs(evi) do ev[f] = tonumber(h[i]) or 0 end\n"
    "      host[c] = {key = key, first = tonumber(h[1]), last = tonumber(h[2]), cats = h[3],\n"
    "                 events = tonumber(h[4]) or 0, ev = ev, evset = {}, set = {}, n = 0}\n"
    "    else\n"
    "      for _, j in ipairs(l) do fail(j, h) end\n"
    "    end\n"
    "  end\n"
    "end\n"
    "-- stream entry and live message per event, in order; host state one by one\n"
    "local function xadd(p)\n"
    "  local k = KEYS[1]\n"
    "  if A[p + 18] == '' and A[p + 19] == '' and A[p + 20] == '' and A[p + 21] == '' and\n"
    "     A[p + 23] == '' and A[p + 24] == '' and A[p + 25] == '' then\n"
    "    if A[p + 22] ~= '' then\n"
    "      redis.call('XADD', k, 'MAXLEN', '~', maxlen, '*', 'ts', A[p + 4], 'sensor', A[p + 5],\n"
    "                 'client', A[p + 6], 'server', A[p + 7], 'sport', A[p + 8], 'dport', A[p + "
    "9],\n"
    "                 'proto', A[p + 10], 'evidence', A[p + 11], 'indicator', A[p + 12],\n"
    "                 'rule', A[p + 13], 'category', A[p + 14], 'confidence', A[p + 15],\n"
    "                 'app', A[p + 16], 'id', A[p + 17], 'count', A[p + 22])\n"
    "    else\n"
    "      redis.call('XADD', k, 'MAXLEN', '~', maxlen, '*', 'ts', A[p + 4], 'sensor', A[p + 5],\n"
    "                 'client', A[p + 6], 'server', A[p + 7], 'sport', A[p + 8], 'dport', A[p + "
    "9],\n"
    "                 'proto', A[p + 10], 'evidence', A[p + 11], 'indicator', A[p + 12],\n"
    "                 'rule', A[p + 13], 'category', A[p + 14], 'confidence', A[p + 15],\n"
    "                 'app', A[p + 16], 'id', A[p + 17])\n"
    "    end\n"
    "  else\n"
    "    local f = {'ts', A[p + 4], 'sensor', A[p + 5], 'client', A[p + 6], 'server', A[p + 7],\n"
    "               'sport', A[p + 8], 'dport', A[p + 9], 'proto', A[p + 10], 'evidence', A[p + "
    "11],\n"
    "               'indicator', A[p + 12], 'rule', A[p + 13], 'category', A[p + 14],\n"
    "               'confidence', A[p + 15], 'app', A[p + 16], 'id', A[p + 17]}\n"
    "    if A[p + 18] ~= '' then f[#f + 1] = 'site'; f[#f + 1] = A[p + 18] end\n"
    "    if A[p + 19] ~= '' then f[#f + 1] = 'managed'; f[#f + 1] = A[p + 19] end\n"
    "    if A[p + 20] ~= '' then f[#f + 1] = 'ruleset'; f[#f + 1] = A[p + 20] end\n"
    "    if A[p + 21] ~= '' then f[#f + 1] = 'via'; f[#f + 1] = A[p + 21] end\n"
    "    if A[p + 22] ~= '' then f[#f + 1] = 'count'; f[#f + 1] = A[p + 22] end\n"
    "    if A[p + 23] ~= '' then f[#f + 1] = 'community_id'; f[#f + 1] = A[p + 23] end\n"
    "    if A[p + 24] ~= '' then f[#f + 1] = 'client_mac'; f[#f + 1] = A[p + 24] end\n"
    "    if A[p + 25] ~= '' then\n"
    "      f[#f + 1] = 'client_name'; f[#f + 1] = A[p + 25]\n"
    "      f[#f + 1] = 'client_name_source'; f[#f + 1] = A[p + 26]\n"
    "    end\n"
    "    redis.call('XADD', k, 'MAXLEN', '~', maxlen, '*', unpack(f))\n"
    "  end\n"
    "  redis.call('PUBLISH', chan, A[p + 3])\n"
    "end\n"
    "for j = 1, n do\n"
    "  local p = 8 + (j - 1) * 27\n"
    "  local s = host[tonumber(A[p + 1])]\n"
    "  if not res[j] then\n"
    "    local ok, err = pcall(xadd, p)\n"
    "    if not ok then fail(j, err) else\n"
    "      res[j] = 1\n"
    "      local l = bnew[tonumber(A[p])]\n"
    "      l[#l + 1] = A[p + 17]; l[#l + 1] = '1'\n"
    "      s.n = s.n + 1\n"
    "      s.events = s.events + 1\n"
    "      local evf = evfs[j]\n"
    "      s.ev[evf] = s.ev[evf] + 1\n"
    "      s.evset[evf] = true\n"
    "      local tss = A[p + 2]\n"
    "      local ts = tonumber(tss)\n"
    "      local set = s.set\n"
    "      if not s.first or ts < s.first then s.first = ts; set.first_seen = tss end\n"
    "      if not s.last or ts >= s.last then\n"
    "        s.last = ts; s.zadd = tss\n"
    "        set.last_seen = tss; set.last_indicator = A[p + 12]\n"
    "        set.last_rule = A[p + 13]; set.sensor = A[p + 5]\n"
    "        if A[p + 18] ~= '' then set.site = A[p + 18] end\n"
    "        if A[p + 19] ~= '' then set.managed = A[p + 19] end\n"
    "        if A[p + 20] ~= '' then set.ruleset = A[p + 20] end\n"
    "        if A[p + 24] ~= '' then set.mac = A[p + 24] end\n"
    "        if A[p + 25] ~= '' then set.name = A[p + 25]; set.name_source = A[p + 26] end\n"
    "      end\n"
    "      local cat, cats = A[p + 14], s.cats\n"
    "      if cat ~= '' then\n"
    "        if not cats or cats == '' then s.cats = cat; set.categories = cat\n"
    "        elseif not string.find(',' .. cats .. ',', ',' .. cat .. ',', 1, true) then\n"
    "          s.cats = cats .. ',' .. cat; set.categories = s.cats\n"
    "        end\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "end\n"
    "for c = 1, nc do\n"
    "  local s = host[c]\n"
    "  if s and s.n > 0 then\n"
    "    local h = {'events', s.events}\n"
    "    for f in pairs(s.evset) do h[#h + 1] = f; h[#h + 1] = s.ev[f] end\n"
    "    for f, v in pairs(s.set) do h[#h + 1] = f; h[#h + 1] = v end\n"
    "    local ok, err = pcall(redis.call, 'HSET', s.key, unpack(h))\n"
    "    if ok and s.zadd and zok then\n"
    "      ok, err = pcall(redis.call, 'ZADD', KEYS[2], s.zadd, A[8 + (cev[c][1] - 1) * 27 + 6])\n"
    "    elseif ok and s.zadd then\n"
    "      ok, err = false, wrongtype(KEYS[2])\n"
    "    end\n"
    "    if not ok and not firsterr then firsterr = tostring(err.err or err) end\n"
    "  end\n"
    "end\n"
    "for b = 1, nb do\n"
    "  if #bnew[b] > 0 then\n"
    "    redis.call('HSET', KEYS[2 + b], unpack(bnew[b]))\n"
    "    redis.call('EXPIRE', KEYS[2 + b], ttl)\n"
    "  end\n"
    "end\n"
    "if firsterr then res[#res + 1] = firsterr end\n"
    "return res\n";

/*
 * The fresh-event path (send_fresh) stores events that were never sent
 * before, so nothing of them can be in Redis yet and no seen check is
 * needed: one MULTI/EXEC per KSD_EMIT_TXN events holds one EVAL of this
 * script (seen markers and host records), then XADD and PUBLISH per event
 * as plain commands. The transaction makes the markers and the entries
 * exist together or not at all, so a resend after a lost EXEC reply goes
 * through emit_script, which finds the markers.
 * KEYS: 1 stream, 2 hosts zset, 3 .. 2+nb the seen buckets, 3+nb .. 2+nb+nc
 *       the host hashes.
 * ARGV: 1 dedup ttl, 2 nb, 3 nc, 3+b the ids of bucket b (16 hex digits
 *       each, concatenated), then per client, from p = 4 + nb on:
 *       p client, p+1 its events in the transaction, p+2 their first ts,
 *       p+3 their last ts, p+4 .. p+6 last_indicator, last_rule, sensor of
 *       the latest of them, p+7 .. p+12 (ts, value) of the latest event with
 *       a site, managed, ruleset ("" = none) among those that raised the
 *       running maximum ts (only they can set these fields, see
 *       plan_txn), p+13 their categories in order ("a,b"), p+14 the
 *       number k of their evidence kinds, then k pairs (field "ev:<kind>",
 *       count); the next client starts at p + 15 + 2k.
 * The fold equals the one-by-one update of emit_script. Returns 1, or the
 * first error of a host or marker write as a string (the events are stored
 * anyway); an error reply only when the stream key has the wrong type, in
 * which case it wrote nothing and every XADD fails too.
 */
static const char store_script[] =
    "local A = ARGV\n"
    "local ttl, nb, nc = A[1], tonumber(A[2]), tonumber(A[3])\n"
    "local function typeof(k)\n"
    "  local t = redis.call('TYPE', k)\n"
    "  return type(t) == 'table' and t.ok or t\n"
    "end\n"
    "local t = typeof(KEYS[1])\n"
    "if t ~= 'none' and t ~= 'stream' then\n"
    "  return redis.error_reply('WRONGTYPE ' .. KEYS[1] .. ' holds the wrong kind of value')\n"
    "end\n"
    "local firsterr = nil\n"
    "local function note(err)\n"
    "  if not firsterr then\n"
    "    firsterr = type(err) == 'table' and tostring(err.err) or tostring(err)\n"
    "  end\n"
    "end\n"
    "for b = 1, nb do\n"
    "  local s, f = A[3 + b], {}\n"
    "  for i = 1, #s, 16 do f[#f + 1] = string.sub(s, i, i + 15); f[#f + 1] = '1' end\n"
    "  local ok, err = pcall(redis.call, 'HSET', KEYS[2 + b], unpack(f))\n"
    "  if ok then redis.call('EXPIRE', KEYS[2 + b], ttl) else note(err) end\n"
    "end\n"
    "local zadd, nz, p, f, set = {}, 0, 4 + nb, {}, {}\n"
    "for c = 1, nc do\n"
    "  local key = KEYS[2 + nb + c]\n"
    "  local nk = tonumber(A[p + 14])\n"
    "  f[1], f[2], f[3], f[4] = 'first_seen', 'last_seen', 'categories', 'events'\n"
    "  for i = 1, nk do f[4 + i] = A[p + 13 + 2 * i] end\n"
    "  local ok, h = pcall(redis.call, 'HMGET', key, unpack(f, 1, 4 + nk))\n"
    "  if not ok then note(h) else\n"
    "    set[1], set[2] = 'events', (tonumber(h[4]) or 0) + tonumber(A[p + 1])\n"
    "    local n = 2\n"
    "    for i = 1, nk do\n"
    "      set[n + 1], set[n + 2] = f[4 + i], (tonumber(h[4 + i]) or 0) + tonumber(A[p + 14 + 2 * "
    "i])\n"
    "      n = n + 2\n"
    "    end\n"
    "    local first, last = tonumber(h[1]), tonumber(h[2])\n"
    "    if not first or tonumber(A[p + 2]) < first then\n"
    "      set[n + 1], set[n + 2] = 'first_seen', A[p + 2]\n"
    "      n = n + 2\n"
    "    end\n"
    "    local newer = not last or tonumber(A[p + 3]) >= last\n"
    "    if newer then\n"
    "      set[n + 1], set[n + 2], set[n + 3], set[n + 4] = 'last_seen', A[p + 3], 'sensor', A[p + "
    "6]\n"
    "      set[n + 5], set[n + 6], set[n + 7], set[n + 8] =\n"
    "        'last_indicator', A[p + 4], 'last_rule', A[p + 5]\n"
    "      n = n + 8\n"
    "    end\n"
    "    if A[p + 8] ~= '' and (not last or tonumber(A[p + 7]) >= last) then\n"
    "      set[n + 1], set[n + 2] = 'site', A[p + 8]\n"
    "      n = n + 2\n"
    "    end\n"
    "    if A[p + 10] ~= '' and (not last or tonumber(A[p + 9]) >= last) then\n"
    "      set[n + 1], set[n + 2] = 'managed', A[p + 10]\n"
    "      n = n + 2\n"
    "    end\n"
    "    if A[p + 12] ~= '' and (not last or tonumber(A[p + 11]) >= last) then\n"
    "      set[n + 1], set[n + 2] = 'ruleset', A[p + 12]\n"
    "      n = n + 2\n"
    "    end\n"
    "    local cats, gc = h[3] or '', A[p + 13]\n"
    "    if gc ~= '' and gc ~= cats then\n"
    "      local grown = false\n"
    "      for cat in string.gmatch(gc, '[^,]+') do\n"
    "        if cats == '' then cats = cat; grown = true\n"
    "        elseif not string.find(',' .. cats .. ',', ',' .. cat .. ',', 1, true) then\n"
    "          cats = cats .. ',' .. cat; grown = true\n"
    "        end\n"
    "      end\n"
    "      if grown then\n"
    "        set[n + 1], set[n + 2] = 'categories', cats\n"
    "        n = n + 2\n"
    "      end\n"
    "    end\n"
    "    ok, h = pcall(redis.call, 'HSET', key, unpack(set, 1, n))\n"
    "    if not ok then note(h)\n"
    "    elseif newer then\n"
    "      zadd[nz + 1], zadd[nz + 2] = A[p + 3], A[p]\n"
    "      nz = nz + 2\n"
    "    end\n"
    "  end\n"
    "  p = p + 15 + 2 * nk\n"
    "end\n"
    "if nz > 0 then\n"
    "  local ok, err = pcall(redis.call, 'ZADD', KEYS[2], unpack(zadd, 1, nz))\n"
    "  if not ok then note(err) end\n"
    "end\n"
    "return firsterr or 1\n";

struct emit_slot;
struct emit_host;
struct emit_bucket;

/* RESP written by the fresh path (resp_*). */
struct resp {
    char *buf;  /* the commands so far */
    size_t len; /* bytes used */
    size_t cap; /* bytes allocated */
    int oom;    /* an allocation failed: the buffer is incomplete */
};

enum emit_status {
    EMIT_PENDING, /* not yet answered */
    EMIT_STORED,  /* script returned 1 */
    EMIT_DUP,     /* script returned 0 */
    EMIT_DROP,    /* rejected KSD_EMIT_MAX_ATTEMPTS times */
};

struct ksd_emit {
    /* configuration, read-only once the thread runs */
    struct ksd_emit_target tgt;            /* parsed target */
    char target_text[KSD_EMIT_MAX_HOST];   /* for log messages */
    char prefix[64];                       /* key prefix */
    char sensor_id[64];                    /* default sensor name */
    char auth_user[128];                   /* ACL user, "" = password only */
    char auth_pass[EMIT_MAX_PASSWD];       /* "" = no AUTH */
    int connect_timeout_ms;                /* per connection attempt */
    int command_timeout_ms;                /* socket read/write timeout */
    size_t cap;                            /* ring capacity */
    long maxlen;                           /* XADD MAXLEN ~ */
    int stats_interval_ms;                 /* sensor:<id> refresh */
    int stats_ttl_s;                       /* its EXPIRE */
    int dedup_ttl_s;                       /* seen key EX */
    int wait_ms;                           /* WAIT timeout; 0 = no WAIT */
    void (*log)(void *arg, const char *m); /* state-change messages or NULL */
    void *log_arg;                         /* for log */
    char k_events[EMIT_KEY_MAX];           /* prefix + "events" */
    char k_hosts[EMIT_KEY_MAX];            /* prefix + "hosts" */
    char k_live[EMIT_KEY_MAX];             /* prefix + "live" */
    char k_sensor[EMIT_KEY_MAX];           /* prefix + "sensor:" + id */
    int64_t start_s;                       /* ksd_emit_start time, Unix s */

    pthread_t thr;                   /* the output thread */
    pthread_mutex_t mu;              /* guards the fields up to the thread-only block */
    pthread_cond_t cv;               /* wakes the thread: push, stop */
    struct ksd_event *ring;          /* cap events */
    size_t head;                     /* oldest */
    size_t count;                    /* queued */
    size_t inflight;                 /* batch size, for stats */
    size_t wake_at;                  /* thread waits until count >= wake_at */
    int waiting;                     /* thread is in cond wait */
    int stopping;                    /* ksd_emit_stop called */
    int64_t deadline;                /* monotonic ms, when stopping */
    int connected;                   /* a usable context exists */
    struct ksd_emit_stats st;        /* counters */
    struct ksd_sensor_snapshot snap; /* latest ksd_emit_snapshot */
    char snap_version[64];           /* its version, copied */
    struct ksd_spool *spool;         /* NULL = no spool */
    int result;                      /* ksd_emit_stop's return value */

    /* output thread only */
    redisContext *ctx;        /* NULL while disconnected */
    int backoff_ms;           /* next reconnect delay */
    int64_t next_connect;     /* monotonic ms */
    int64_t next_stats;       /* monotonic ms */
    int64_t next_sync;        /* monotonic ms */
    int64_t wait_skip_until;  /* no WAIT before this, monotonic ms */
    int down_logged;          /* the current outage was logged */
    int ever_connected;       /* for the reconnect counter */
    struct ksd_event *batch;  /* KSD_EMIT_MAX_BATCH events in flight */
    unsigned char *status;    /* enum emit_status per batch event */
    unsigned char *attempts;  /* sends rejected per batch event */
    size_t nbatch;            /* events in batch */
    size_t batch_orig;        /* events the spool batch started with */
    int batch_from_spool;     /* batch was read from the spool */
    int batch_sent;           /* some of the batch went out: resend with emit_script */
    uint64_t batch_next;      /* spool position after the batch */
    struct emit_slot *slots;  /* KSD_EMIT_GROUP per-event scratch */
    uint16_t *chash;          /* EMIT_CHASH, the group's clients by hash */
    struct emit_host *hosts;  /* KSD_EMIT_TXN, the transaction's clients */
    struct emit_bucket *bkts; /* KSD_EMIT_TXN, its seen buckets */
    uint16_t *bidx;           /* KSD_EMIT_TXN, bucket of each of its events */
    size_t *parts;            /* KSD_EMIT_MAX_BATCH, events per transaction or group */
    char *ids;                /* 16 * KSD_EMIT_TXN, the ids by bucket */
    char *json;               /* EMIT_JSON_MAX, one event */
    struct resp out;          /* the fresh path's commands */
    const char **argv;        /* EMIT_MAX_ARGS, one group command */
    size_t *argl;             /* their lengths */
    char errmsg[256];         /* last connection error */
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct timeval ms_tv(int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    return tv;
}

static void copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = strnlen(src, cap - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

__attribute__((format(printf, 2, 3))) static void emit_log(struct ksd_emit *e, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    if (!e->log)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    e->log(e->log_arg, msg);
}

/* ---- target parsing ---- */

static int parse_port(const char *s, size_t n, int *port)
{
    long v = 0;
    if (n == 0 || n > 5)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (!ksd_is_digit((uint8_t)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v < 1 || v > 65535)
        return -1;
    *port = (int)v;
    return 0;
}

static int host_char_ok(char c)
{
    return ksd_is_print((uint8_t)c) && c != ' ' && c != '/' && c != ',' && c != '[' && c != ']';
}

/* "host:port" or "[v6]:port" in s[0..n). */
static int parse_hostport(const char *s, size_t n, struct ksd_emit_hostport *hp,
                          const char **reason)
{
    const char *host, *port;
    size_t hl, pl;
    if (n > 0 && s[0] == '[') {
        const char *rb = memchr(s, ']', n);
        if (!rb || (size_t)(rb - s) + 1 >= n || rb[1] != ':') {
            *reason = "expected [ADDRESS]:PORT";
            return KSD_EINVAL;
        }
        host = s + 1;
        hl = (size_t)(rb - host);
        port = rb + 2;
        pl = n - (size_t)(port - s);
        for (size_t i = 0; i < hl; i++) {
            if (!(ksd_is_alnum((uint8_t)host[i]) || host[i] == ':' || host[i] == '.')) {
                *reason = "bad character in IPv6 address";
                return KSD_EINVAL;
            }
        }
    } else {
        const char *colon = NULL;
        for (size_t i = 0; i < n; i++)
            if (s[i] == ':')
                colon = s + i;
        if (!colon) {
            *reason = "missing :PORT";
            return KSD_EINVAL;
        }
        host = s;
        hl = (size_t)(colon - s);
        port = colon + 1;
        pl = n - hl - 1;
        for (size_t i = 0; i < hl; i++) {
            if (!host_char_ok(host[i]) || host[i] == ':') {
                *reason = "bad character in host (IPv6 needs [brackets])";
                return KSD_EINVAL;
            }
        }
    }
    if (hl == 0 || hl >= KSD_EMIT_MAX_HOST) {
        *reason = "empty or too long host";
        return KSD_EINVAL;
    }
    if (parse_port(port, pl, &hp->port) != 0) {
        *reason = "port must be 1..65535";
        return KSD_EINVAL;
    }
    memcpy(hp->host, host, hl);
    hp->host[hl] = '\0';
    return KSD_OK;
}

int ksd_emit_parse_target(const char *s, struct ksd_emit_target *out, const char **reason)
{
    struct ksd_emit_target tmp;
    struct ksd_emit_target *t = out ? out : &tmp;
    const char *dummy;
    if (!reason)
        reason = &dummy;
    memset(t, 0, sizeof(*t));
    if (!s || !*s) {
        *reason = "empty Redis target";
        return KSD_EINVAL;
    }
    size_t n = strlen(s);
    if (strncmp(s, "unix:", 5) == 0) {
        size_t pl = n - 5;
        if (pl == 0 || pl >= sizeof(t->path)) {
            *reason = "unix socket path empty or longer than 107 bytes";
            return KSD_EINVAL;
        }
        t->kind = KSD_EMIT_UNIX;
        memcpy(t->path, s + 5, pl + 1);
        return KSD_OK;
    }
    if (strncmp(s, "sentinel://", 11) == 0) {
        const char *list = s + 11;
        const char *slash = strchr(list, '/');
        if (!slash || slash == list) {
            *reason = "expected sentinel://HOST:PORT[,HOST:PORT...]/MASTER";
            return KSD_EINVAL;
        }
        size_t ml = strlen(slash + 1);
        if (ml == 0 || ml >= sizeof(t->master)) {
            *reason = "sentinel master name empty or too long";
            return KSD_EINVAL;
        }
        for (size_t i = 0; i < ml; i++) {
            if (!host_char_ok(slash[1 + i])) {
                *reason = "bad character in sentinel master name";
                return KSD_EINVAL;
            }
        }
        memcpy(t->master, slash + 1, ml + 1);
        const char *p = list;
        while (p < slash) {
            const char *comma = memchr(p, ',', (size_t)(slash - p));
            const char *end = comma ? comma : slash;
            if (t->nsentinels == KSD_EMIT_MAX_SENTINELS) {
                *reason = "too many sentinels (at most 8)";
                return KSD_EINVAL;
            }
            if (parse_hostport(p, (size_t)(end - p), &t->sentinels[t->nsentinels], reason) != 0)
                return KSD_EINVAL;
            t->nsentinels++;
            p = comma ? comma + 1 : slash;
            if (comma && p == slash) {
                *reason = "empty sentinel address";
                return KSD_EINVAL;
            }
        }
        t->kind = KSD_EMIT_SENTINEL;
        return KSD_OK;
    }
    t->kind = KSD_EMIT_TCP;
    return parse_hostport(s, n, &t->addr, reason);
}

/* ---- configuration ---- */

static int read_auth_file(struct ksd_emit *e, const char *path, char *err, size_t errlen)
{
    char line[EMIT_MAX_PASSWD + 160];
    FILE *f = fopen(path, "r");
    int ret = -1;
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (!fgets(line, sizeof(line), f)) {
        snprintf(err, errlen, "%s: empty file", path);
        goto out;
    }
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    if (n == 0) {
        snprintf(err, errlen, "%s: empty first line", path);
        goto out;
    }
    const char *sp = strchr(line, ' ');
    const char *pass = line;
    if (sp) {
        size_t ul = (size_t)(sp - line);
        if (ul == 0 || ul >= sizeof(e->auth_user) || sp[1] == '\0') {
            snprintf(err, errlen, "%s: expected \"password\" or \"user password\"", path);
            goto out;
        }
        memcpy(e->auth_user, line, ul);
        e->auth_user[ul] = '\0';
        pass = sp + 1;
    }
    if (strlen(pass) >= sizeof(e->auth_pass)) {
        snprintf(err, errlen, "%s: password too long", path);
        goto out;
    }
    copy_str(e->auth_pass, sizeof(e->auth_pass), pass);
    ret = 0;
out:
    explicit_bzero(line, sizeof(line));
    fclose(f);
    return ret;
}

/* ---- connection ---- */

static void set_errmsg(struct ksd_emit *e, const char *what, const char *detail)
{
    snprintf(e->errmsg, sizeof(e->errmsg), "%s: %s", what, detail);
}

static redisContext *open_ctx(struct ksd_emit *e, const char *host, int port, const char *path)
{
    redisContext *c;
    struct timeval tv = ms_tv(e->connect_timeout_ms);
    if (path)
        c = redisConnectUnixWithTimeout(path, tv);
    else
        c = redisConnectWithTimeout(host, port, tv);
    if (!c) {
        set_errmsg(e, "connect", "out of memory");
        return NULL;
    }
    if (c->err) {
        set_errmsg(e, "connect", c->errstr);
        redisFree(c);
        return NULL;
    }
    if (redisSetTimeout(c, ms_tv(e->command_timeout_ms)) != REDIS_OK) {
        set_errmsg(e, "connect", "cannot set socket timeout");
        redisFree(c);
        return NULL;
    }
    if (!path)
        redisEnableKeepAlive(c);
    return c;
}

/* Run one command synchronously; returns the reply (caller frees) or NULL. */
static redisReply *run(struct ksd_emit *e, redisContext *c, int argc, const char **argv)
{
    redisReply *r = redisCommandArgv(c, argc, argv, NULL);
    if (!r)
        set_errmsg(e, "command", c->errstr[0] ? c->errstr : "no reply");
    return r;
}

/* AUTH and, for sentinel targets, ROLE on a fresh connection. 0 or -1. */
static int setup_ctx(struct ksd_emit *e, redisContext *c, int check_role)
{
    redisReply *r;
    if (e->auth_pass[0]) {
        const char *argv[3] = {"AUTH", e->auth_user, e->auth_pass};
        if (e->auth_user[0])
            r = run(e, c, 3, argv);
        else {
            argv[1] = e->auth_pass;
            r = run(e, c, 2, argv);
        }
        if (!r)
            return -1;
        if (r->type != REDIS_REPLY_STATUS) {
            set_errmsg(e, "AUTH failed", r->type == REDIS_REPLY_ERROR ? r->str : "bad reply");
            freeReplyObject(r);
            return -1;
        }
        freeReplyObject(r);
    }
    if (check_role) {
        const char *argv[1] = {"ROLE"};
        r = run(e, c, 1, argv);
        if (!r)
            return -1;
        int ok = r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
                 r->element[0]->type == REDIS_REPLY_STRING &&
                 strcmp(r->element[0]->str, "master") == 0;
        freeReplyObject(r);
        if (!ok) {
            set_errmsg(e, "ROLE", "sentinel's master is not (yet) a master");
            return -1;
        }
    }
    return 0;
}

/* Ask one sentinel for the master address. 0 or -1. */
static int ask_sentinel(struct ksd_emit *e, const struct ksd_emit_hostport *s,
                        struct ksd_emit_hostport *master)
{
    redisContext *c = open_ctx(e, s->host, s->port, NULL);
    int ret = -1;
    if (!c)
        return -1;
    const char *argv[3] = {"SENTINEL", "get-master-addr-by-name", e->tgt.master};
    redisReply *r = run(e, c, 3, argv);
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
        r->element[0]->type == REDIS_REPLY_STRING && r->element[1]->type == REDIS_REPLY_STRING &&
        r->element[0]->len < sizeof(master->host) &&
        parse_port(r->element[1]->str, r->element[1]->len, &master->port) == 0) {
        memcpy(master->host, r->element[0]->str, r->element[0]->len);
        master->host[r->element[0]->len] = '\0';
        ret = 0;
    } else if (r) {
        set_errmsg(e, "sentinel", "does not know the master");
    }
    if (r)
        freeReplyObject(r);
    redisFree(c);
    return ret;
}

static int emit_connect(struct ksd_emit *e)
{
    redisContext *c = NULL;
    char where[KSD_EMIT_MAX_HOST + 16];
    if (e->tgt.kind == KSD_EMIT_SENTINEL) {
        for (int i = 0; i < e->tgt.nsentinels && !c; i++) {
            struct ksd_emit_hostport m;
            if (ask_sentinel(e, &e->tgt.sentinels[i], &m) != 0)
                continue;
            c = open_ctx(e, m.host, m.port, NULL);
            if (c && setup_ctx(e, c, 1) != 0) {
                redisFree(c);
                c = NULL;
            }
            snprintf(where, sizeof(where), "%s:%d", m.host, m.port);
        }
    } else {
        if (e->tgt.kind == KSD_EMIT_UNIX)
            c = open_ctx(e, NULL, 0, e->tgt.path);
        else
            c = open_ctx(e, e->tgt.addr.host, e->tgt.addr.port, NULL);
        if (c && setup_ctx(e, c, 0) != 0) {
            redisFree(c);
            c = NULL;
        }
        snprintf(where, sizeof(where), "%s", e->target_text);
    }
    if (!c)
        return -1;
    e->ctx = c;
    pthread_mutex_lock(&e->mu);
    e->connected = 1;
    if (e->ever_connected)
        e->st.reconnects++;
    pthread_mutex_unlock(&e->mu);
    e->ever_connected = 1;
    e->down_logged = 0;
    emit_log(e, "redis: connected to %s", where);
    return 0;
}

static void drop_conn(struct ksd_emit *e, const char *why)
{
    int64_t now = mono_ms();
    if (e->ctx) {
        if (!e->down_logged)
            emit_log(e, "redis: connection lost (%s), reconnecting",
                     why ? why : (e->ctx->errstr[0] ? e->ctx->errstr : "error"));
        e->down_logged = 1;
        redisFree(e->ctx);
        e->ctx = NULL;
    }
    /* a SIGPIPE raised by a write on the dead socket stays pending on this
     * thread (it is blocked here): consume it */
    sigset_t pipe;
    struct timespec zero = {0, 0};
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    while (sigtimedwait(&pipe, NULL, &zero) > 0)
        ;
    pthread_mutex_lock(&e->mu);
    e->connected = 0;
    e->st.errors++;
    pthread_mutex_unlock(&e->mu);
    e->next_connect = now + e->backoff_ms;
    e->backoff_ms =
        e->backoff_ms * 2 > KSD_EMIT_BACKOFF_MAX ? KSD_EMIT_BACKOFF_MAX : e->backoff_ms * 2;
}

/* ---- ring and spool ---- */

/* Move up to max oldest ring events to the spool. Caller holds e->mu. */
static void spill_locked(struct ksd_emit *e, size_t max)
{
    size_t n = e->count < max ? e->count : max;
    while (n > 0) {
        size_t run_len = e->cap - e->head < n ? e->cap - e->head : n;
        int w = ksd_spool_append(e->spool, &e->ring[e->head], run_len);
        if (w <= 0) {
            if (w < 0)
                e->st.errors++;
            return;
        }
        e->head = (e->head + (size_t)w) % e->cap;
        e->count -= (size_t)w;
        e->st.spooled += (uint64_t)w;
        n -= (size_t)w;
        if ((size_t)w < run_len)
            return; /* spool cap reached */
    }
}

int ksd_emit_push(struct ksd_emit *e, const struct ksd_event *ev)
{
    pthread_mutex_lock(&e->mu);
    e->st.pushed++;
    if (e->count == e->cap && e->spool)
        spill_locked(e, KSD_EMIT_SPILL_CHUNK);
    if (e->count == e->cap) {
        e->st.dropped++;
        pthread_mutex_unlock(&e->mu);
        return KSD_ELIMIT;
    }
    e->ring[(e->head + e->count) % e->cap] = *ev;
    e->count++;
    if (e->waiting && e->count >= e->wake_at)
        pthread_cond_signal(&e->cv);
    pthread_mutex_unlock(&e->mu);
    return 0;
}

void ksd_emit_snapshot(struct ksd_emit *e, const struct ksd_sensor_snapshot *s)
{
    pthread_mutex_lock(&e->mu);
    e->snap = *s;
    copy_str(e->snap_version, sizeof(e->snap_version), s->version ? s->version : "");
    e->snap.version = e->snap_version;
    pthread_mutex_unlock(&e->mu);
}

void ksd_emit_get_stats(struct ksd_emit *e, struct ksd_emit_stats *out)
{
    struct ksd_spool_stats ss = {0};
    if (e->spool)
        ksd_spool_get_stats(e->spool, &ss);
    pthread_mutex_lock(&e->mu);
    *out = e->st;
    out->queued_now = e->count + e->inflight;
    out->connected = e->connected;
    pthread_mutex_unlock(&e->mu);
    out->spool_now = ss.records;
    out->spool_corrupt = ss.corrupt;
}

/*
 * Wait until count >= wake_at, stop, or the monotonic time until. Returns at
 * once if the condition already holds.
 */
static void wait_for(struct ksd_emit *e, size_t wake_at, int64_t until)
{
    pthread_mutex_lock(&e->mu);
    if (e->stopping && e->deadline < until)
        until = e->deadline;
    while (e->count < wake_at && mono_ms() < until) {
        struct timespec ts = {(time_t)(until / 1000), (long)(until % 1000) * 1000000};
        int was_stopping = e->stopping;
        e->wake_at = wake_at;
        e->waiting = 1;
        pthread_cond_timedwait(&e->cv, &e->mu, &ts);
        e->waiting = 0;
        if (e->stopping != was_stopping)
            break;
    }
    pthread_mutex_unlock(&e->mu);
}

/* Fill the batch: the spool first (older), then the ring. Returns its size. */
static size_t fill_batch(struct ksd_emit *e)
{
    e->batch_from_spool = 0;
    for (int guard = 0; e->spool && guard < 64 && ksd_spool_pending(e->spool) > 0; guard++) {
        uint64_t next;
        int n = ksd_spool_peek(e->spool, e->batch, KSD_EMIT_MAX_BATCH, &next);
        if (n < 0) {
            pthread_mutex_lock(&e->mu);
            e->st.errors++;
            pthread_mutex_unlock(&e->mu);
            break; /* unreadable spool: keep serving the ring */
        }
        if (n == 0) {
            ksd_spool_consume(e->spool, next, 0); /* only damage there */
            continue;
        }
        e->nbatch = e->batch_orig = (size_t)n;
        e->batch_from_spool = 1;
        e->batch_next = next;
        break;
    }
    if (!e->batch_from_spool) {
        pthread_mutex_lock(&e->mu);
        size_t n = e->count < KSD_EMIT_MAX_BATCH ? e->count : KSD_EMIT_MAX_BATCH;
        for (size_t i = 0; i < n; i++) {
            e->batch[i] = e->ring[e->head];
            e->head = (e->head + 1) % e->cap;
        }
        e->count -= n;
        e->nbatch = n;
        pthread_mutex_unlock(&e->mu);
    }
    memset(e->status, EMIT_PENDING, e->nbatch);
    memset(e->attempts, 0, e->nbatch);
    e->batch_sent = 0;
    pthread_mutex_lock(&e->mu);
    e->inflight = e->batch_from_spool ? 0 : e->nbatch;
    pthread_mutex_unlock(&e->mu);
    return e->nbatch;
}

/* ---- sending ---- */

/* Per-event strings of one group, referenced by argv until the append. */
struct emit_slot {
    char k_seen[EMIT_KEY_MAX]; /* the group's j-th distinct bucket: seen:<sensor>:m<minute> */
    char k_host[EMIT_KEY_MAX]; /* the group's j-th distinct client: host:<client> */
    char k_old[EMIT_KEY_MAX];  /* spool replay: seen:<sensor>:<id> of earlier versions */
    const char *b_sensor;      /* bucket j: its sensor */
    long long b_minute;        /* bucket j: its minute */
    size_t c_first;            /* client j: its first event in the group */
    char bi[24];               /* bucket index, 1-based */
    char ci[24];               /* client index, 1-based */
    char tss[24];              /* ts, Unix seconds */
    char ts[32];               /* ts, ISO 8601 */
    char id[24];               /* id, 16 hex digits */
    char sport[8];             /* decimal */
    char dport[8];             /* decimal */
    char conf[16];             /* decimal */
    char cnt[16];              /* decimal, "" when 0 */
    int jl;                    /* JSON length */
    char json[EMIT_JSON_MAX];  /* ksd_event_json */
};

#define EMIT_ARGS_PER_EVENT 30 /* 3 keys (bucket, host, former seen key) + 27 values */
#define EMIT_MAX_ARGS       (16 + KSD_EMIT_GROUP * EMIT_ARGS_PER_EVENT)
#define EMIT_CHASH          (4 * KSD_EMIT_GROUP) /* client hash slots, a power of two */

static uint32_t str_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

/* Append one EVAL of emit_script storing batch[start .. start+cnt). */
static int append_group(struct ksd_emit *e, size_t start, size_t cnt)
{
    const char **argv = e->argv;
    size_t *len = e->argl;
    const struct ksd_event *evs = &e->batch[start];
    int n = 0, legacy = e->batch_from_spool;
    size_t nb = 0, nc = 0;
    char ttl[16], maxlen[24], nkeys[24], nev[24], snb[24], snc[24];
#define A(s)                                                                                       \
    do {                                                                                           \
        argv[n] = (s);                                                                             \
        len[n] = strlen(argv[n]);                                                                  \
        n++;                                                                                       \
    } while (0)
    /* pass 1: distinct buckets and clients, per-event strings */
    memset(e->chash, 0, EMIT_CHASH * sizeof(*e->chash));
    for (size_t j = 0; j < cnt; j++) {
        const struct ksd_event *ev = &evs[j];
        struct emit_slot *sl = &e->slots[j];
        const char *sensor = ev->sensor[0] ? ev->sensor : e->sensor_id;
        long long tss = (long long)(ev->ts_us / 1000000);
        long long minute = tss >= 0 ? tss / 60 : -((59 - tss) / 60);
        size_t b = 0;
        while (b < nb && !(e->slots[b].b_minute == minute && !strcmp(e->slots[b].b_sensor, sensor)))
            b++;
        if (b == nb) {
            struct emit_slot *bs = &e->slots[nb++];
            bs->b_minute = minute;
            bs->b_sensor = sensor;
            snprintf(bs->k_seen, sizeof(bs->k_seen), "%sseen:%s:m%lld", e->prefix, sensor, minute);
        }
        snprintf(sl->bi, sizeof(sl->bi), "%zu", b + 1);
        uint32_t h = str_hash(ev->client) & (EMIT_CHASH - 1);
        size_t c;
        for (;; h = (h + 1) & (EMIT_CHASH - 1)) {
            if (e->chash[h] == 0) {
                c = nc++;
                e->chash[h] = (uint16_t)(c + 1);
                e->slots[c].c_first = j;
                snprintf(e->slots[c].k_host, sizeof(e->slots[c].k_host), "%shost:%s", e->prefix,
                         ev->client);
                break;
            }
            c = (size_t)e->chash[h] - 1;
            if (!strcmp(evs[e->slots[c].c_first].client, ev->client))
                break;
        }
        snprintf(sl->ci, sizeof(sl->ci), "%zu", c + 1);
        snprintf(sl->id, sizeof(sl->id), "%016llx", (unsigned long long)ev->id);
        if (legacy)
            snprintf(sl->k_old, sizeof(sl->k_old), "%sseen:%s:%s", e->prefix, sensor, sl->id);
        sl->jl = ksd_event_json(ev, sl->json, sizeof(sl->json));
        if (sl->jl < 0)
            sl->jl = 0;
        snprintf(sl->tss, sizeof(sl->tss), "%lld", tss);
        ksd_format_ts(ev->ts_us, sl->ts);
        snprintf(sl->sport, sizeof(sl->sport), "%u", ev->sport);
        snprintf(sl->dport, sizeof(sl->dport), "%u", ev->dport);
        snprintf(sl->conf, sizeof(sl->conf), "%d", ev->confidence);
        if (ev->count)
            snprintf(sl->cnt, sizeof(sl->cnt), "%u", ev->count);
        else
            sl->cnt[0] = '\0';
    }
    /* pass 2: the command */
    snprintf(ttl, sizeof(ttl), "%d", e->dedup_ttl_s);
    snprintf(maxlen, sizeof(maxlen), "%ld", e->maxlen);
    snprintf(nkeys, sizeof(nkeys), "%zu", 2 + nb + nc + (legacy ? cnt : 0));
    snprintf(nev, sizeof(nev), "%zu", cnt);
    snprintf(snb, sizeof(snb), "%zu", nb);
    snprintf(snc, sizeof(snc), "%zu", nc);
    A("EVAL");
    A(emit_script);
    A(nkeys);
    A(e->k_events);
    A(e->k_hosts);
    for (size_t b = 0; b < nb; b++)
        A(e->slots[b].k_seen);
    for (size_t c = 0; c < nc; c++)
        A(e->slots[c].k_host);
    if (legacy)
        for (size_t j = 0; j < cnt; j++)
            A(e->slots[j].k_old);
    A(ttl);
    A(maxlen);
    A(e->k_live);
    A(nev);
    A(snb);
    A(snc);
    A(legacy ? "1" : "0");
    for (size_t j = 0; j < cnt; j++) {
        const struct ksd_event *ev = &evs[j];
        struct emit_slot *sl = &e->slots[j];
        A(sl->bi);
        A(sl->ci);
        A(sl->tss);
        argv[n] = sl->json;
        len[n] = (size_t)sl->jl;
        n++;
        A(sl->ts);
        A(ev->sensor[0] ? ev->sensor : e->sensor_id);
        A(ev->client);
        A(ev->server);
        A(sl->sport);
        A(sl->dport);
        A(ev->proto);
        A(ev->evidence);
        A(ev->indicator);
        A(ev->rule);
        A(ev->category);
        A(sl->conf);
        A(ev->app);
        A(sl->id);
        A(ev->site);
        A(ev->managed);
        A(ev->ruleset);
        A(ev->via);
        A(sl->cnt);
        A(ev->community_id);
        A(ev->client_mac);
        A(ev->client_name);
        A(ev->client_name_source);
    }
#undef A
    return redisAppendCommandArgv(e->ctx, n, argv, len) == REDIS_OK ? 0 : -1;
}

static int err_is_transient(const char *s)
{
    static const char *const codes[] = {
        "READONLY",    "LOADING", "BUSY",   "MASTERDOWN", "OOM",     "NOREPLICAS", "TRYAGAIN",
        "CLUSTERDOWN", "NOAUTH",  "NOPERM", "WRONGPASS",  "MISCONF", "UNBLOCKED"};
    for (size_t i = 0; i < KSD_ARRAY_LEN(codes); i++) {
        size_t l = strlen(codes[i]);
        if (strncmp(s, codes[i], l) == 0 && (s[l] == ' ' || s[l] == '\0'))
            return 1;
    }
    return 0;
}

/* Count and remove resolved events; consume a fully delivered spool batch. */
static void commit_batch(struct ksd_emit *e)
{
    uint64_t stored = 0, dup = 0, drop = 0;
    size_t k = 0;
    for (size_t i = 0; i < e->nbatch; i++) {
        switch (e->status[i]) {
            case EMIT_STORED:
                stored++;
                break;
            case EMIT_DUP:
                dup++;
                break;
            case EMIT_DROP:
                drop++;
                break;
            default:
                if (k != i) {
                    e->batch[k] = e->batch[i];
                    e->attempts[k] = e->attempts[i];
                }
                e->status[k] = EMIT_PENDING;
                k++;
                break;
        }
    }
    e->nbatch = k;
    if (k == 0 && e->batch_from_spool) {
        if (ksd_spool_consume(e->spool, e->batch_next, e->batch_orig) != 0) {
            pthread_mutex_lock(&e->mu);
            e->st.errors++;
            pthread_mutex_unlock(&e->mu);
        }
    }
    pthread_mutex_lock(&e->mu);
    e->st.sent += stored;
    e->st.duplicates_skipped += dup;
    e->st.dropped += drop;
    if (e->batch_from_spool)
        e->st.replayed += stored + dup;
    e->inflight = e->batch_from_spool ? 0 : k;
    pthread_mutex_unlock(&e->mu);
}

/* Apply one group reply to batch[start .. start+cnt). */
static void group_reply(struct ksd_emit *e, const redisReply *r, size_t start, size_t cnt,
                        int *transient, uint64_t *errors)
{
    if (r->type == REDIS_REPLY_ERROR && err_is_transient(r->str)) {
        if (!*transient)
            snprintf(e->errmsg, sizeof(e->errmsg), "%.200s", r->str);
        *transient = 1;
        (*errors)++;
        return;
    }
    if (r->type == REDIS_REPLY_ARRAY && r->elements > cnt &&
        r->element[cnt]->type == REDIS_REPLY_STRING)
        (*errors)++; /* the script's first error (also when events were stored) */
    for (size_t j = 0; j < cnt; j++) {
        const redisReply *x =
            r->type == REDIS_REPLY_ARRAY && j < r->elements ? r->element[j] : NULL;
        if (x && x->type == REDIS_REPLY_INTEGER && x->integer >= 0) {
            e->status[start + j] = x->integer == 1 ? EMIT_STORED : EMIT_DUP;
            continue;
        }
        /* this event (or the whole script) failed: retry a few times */
        (*errors)++;
        if (++e->attempts[start + j] >= KSD_EMIT_MAX_ATTEMPTS)
            e->status[start + j] = EMIT_DROP;
    }
}

/* ---- the fresh-event path (store_script) ---- */

#define EMIT_HOST_KINDS 16                 /* evidence kinds and categories folded per client */
#define EMIT_TXN_CHASH  (4 * KSD_EMIT_TXN) /* client hash slots, a power of two */
#define EMIT_ALL_CHASH  (EMIT_TXN_CHASH > EMIT_CHASH ? EMIT_TXN_CHASH : EMIT_CHASH)

/* One client of a transaction: its events folded (plan_txn). */
struct emit_host {
    size_t ev0;                        /* its first event: client text */
    size_t last_ev;                    /* latest event raising the running maximum ts */
    size_t opt_ev[3];                  /* latest such event with site, managed, ruleset */
    long long first_s, max_s;          /* ts range, Unix s */
    uint32_t n;                        /* its events */
    int nkinds, ncats;                 /* used entries of kind/cat */
    const char *kind[EMIT_HOST_KINDS]; /* distinct evidence kinds */
    uint32_t kind_n[EMIT_HOST_KINDS];  /* their counts */
    const char *cat[EMIT_HOST_KINDS];  /* distinct categories, in order */
    char key[EMIT_KEY_MAX];            /* host:<client> */
    char cats[EMIT_HOST_KINDS * 17];   /* "a,b" */
};

/* One seen bucket of a transaction. */
struct emit_bucket {
    const char *sensor;     /* its sensor */
    long long minute;       /* its minute */
    size_t n, off;          /* its ids: e->ids + 16 * off, n of them */
    char key[EMIT_KEY_MAX]; /* seen:<sensor>:m<minute> */
};

static long long ev_seconds(const struct ksd_event *ev)
{
    return (long long)(ev->ts_us / 1000000);
}

static const char *ev_sensor(const struct ksd_emit *e, const struct ksd_event *ev)
{
    return ev->sensor[0] ? ev->sensor : e->sensor_id;
}

static int find_str(const char *const *list, int n, const char *s)
{
    for (int i = 0; i < n; i++)
        if (strcmp(list[i], s) == 0)
            return i;
    return -1;
}

/*
 * Plan one transaction over batch[start .. start+max): its distinct buckets
 * and clients, and each client's fold. An event that raises the running
 * maximum ts of its client (ts >= every earlier one) is the only kind that
 * can set last_* and site/managed/ruleset when applied one by one; those
 * with ts below the stored last_seen do not, and since the raising events
 * are in ts order, the script only has to compare the latest of each kind
 * with the stored last_seen. Stops early (at least one event) when a
 * client would exceed EMIT_HOST_KINDS kinds or categories. Returns the
 * events taken; *nb and *nc get the counts.
 */
static size_t plan_txn(struct ksd_emit *e, size_t start, size_t max, size_t *nb, size_t *nc)
{
    size_t b_n = 0, c_n = 0, j;
    memset(e->chash, 0, EMIT_TXN_CHASH * sizeof(*e->chash));
    for (j = 0; j < max; j++) {
        const struct ksd_event *ev = &e->batch[start + j];
        uint32_t hsh = str_hash(ev->client) & (EMIT_TXN_CHASH - 1);
        struct emit_host *h = NULL;
        for (;; hsh = (hsh + 1) & (EMIT_TXN_CHASH - 1)) {
            if (e->chash[hsh] == 0)
                break;
            h = &e->hosts[e->chash[hsh] - 1];
            if (strcmp(e->batch[h->ev0].client, ev->client) == 0)
                break;
            h = NULL;
        }
        int kind = h ? find_str(h->kind, h->nkinds, ev->evidence) : -1;
        int cat = h && ev->category[0] ? find_str(h->cat, h->ncats, ev->category) : -1;
        if (h && j > 0 &&
            ((kind < 0 && h->nkinds == EMIT_HOST_KINDS) ||
             (ev->category[0] && cat < 0 && h->ncats == EMIT_HOST_KINDS)))
            break;
        long long tss = ev_seconds(ev);
        if (!h) {
            h = &e->hosts[c_n++];
            e->chash[hsh] = (uint16_t)c_n;
            memset(h, 0, offsetof(struct emit_host, key));
            h->ev0 = start + j;
            h->first_s = h->max_s = tss;
            for (int k = 0; k < 3; k++)
                h->opt_ev[k] = SIZE_MAX;
            snprintf(h->key, sizeof(h->key), "%shost:%s", e->prefix, ev->client);
        }
        h->n++;
        if (kind < 0 && h->nkinds < EMIT_HOST_KINDS) {
            kind = h->nkinds++;
            h->kind[kind] = ev->evidence;
            h->kind_n[kind] = 0;
        }
        if (kind >= 0)
            h->kind_n[kind]++;
        if (ev->category[0] && cat < 0 && h->ncats < EMIT_HOST_KINDS)
            h->cat[h->ncats++] = ev->category;
        if (tss < h->first_s)
            h->first_s = tss;
        if (h->n == 1 || tss >= h->max_s) {
            const char *opt[3] = {ev->site, ev->managed, ev->ruleset};
            h->max_s = tss;
            h->last_ev = start + j;
            for (int k = 0; k < 3; k++)
                if (opt[k][0])
                    h->opt_ev[k] = start + j;
        }
        /* its seen bucket */
        const char *sensor = ev_sensor(e, ev);
        long long minute = tss >= 0 ? tss / 60 : -((59 - tss) / 60);
        size_t b = 0;
        while (b < b_n && !(e->bkts[b].minute == minute && !strcmp(e->bkts[b].sensor, sensor)))
            b++;
        if (b == b_n) {
            struct emit_bucket *bk = &e->bkts[b_n++];
            bk->minute = minute;
            bk->sensor = sensor;
            bk->n = 0;
            snprintf(bk->key, sizeof(bk->key), "%sseen:%s:m%lld", e->prefix, sensor, minute);
        }
        e->bkts[b].n++;
        e->bidx[j] = (uint16_t)b;
    }
    /* ids laid out by bucket */
    size_t off = 0;
    for (size_t b = 0; b < b_n; b++) {
        e->bkts[b].off = off;
        off += e->bkts[b].n;
        e->bkts[b].n = 0;
    }
    for (size_t i = 0; i < j; i++) {
        struct emit_bucket *bk = &e->bkts[e->bidx[i]];
        char id[24];
        snprintf(id, sizeof(id), "%016llx", (unsigned long long)e->batch[start + i].id);
        memcpy(e->ids + 16 * (bk->off + bk->n++), id, 16);
    }
    /* per-client strings */
    for (size_t c = 0; c < c_n; c++) {
        struct emit_host *h = &e->hosts[c];
        size_t used = 0;
        h->cats[0] = '\0';
        for (int k = 0; k < h->ncats; k++)
            used += (size_t)snprintf(h->cats + used, sizeof(h->cats) - used, "%s%s", k ? "," : "",
                                     h->cat[k]);
    }
    *nb = b_n;
    *nc = c_n;
    return j;
}

/*
 * RESP for the fresh path, written straight into one buffer and handed to
 * hiredis with redisAppendFormattedCommand: hiredis formats every argument
 * through sdscatfmt, which was most of this thread's time.
 */

static int resp_room(struct resp *r, size_t more)
{
    if (r->len + more <= r->cap)
        return 0;
    size_t cap = r->cap ? r->cap : 65536;
    while (cap < r->len + more)
        cap *= 2;
    char *b = realloc(r->buf, cap);
    if (!b) {
        r->oom = 1;
        return -1;
    }
    r->buf = b;
    r->cap = cap;
    return 0;
}

/* Decimal digits of v at p (room for 20); returns their count. */
static size_t put_u64(char *p, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        p[i] = tmp[n - 1 - i];
    return n;
}

static void resp_head(struct resp *r, char kind, uint64_t n)
{
    if (resp_room(r, 24) != 0)
        return;
    r->buf[r->len++] = kind;
    r->len += put_u64(r->buf + r->len, n);
    r->buf[r->len++] = '\r';
    r->buf[r->len++] = '\n';
}

static void resp_bulk(struct resp *r, const char *s, size_t n)
{
    resp_head(r, '$', n);
    if (resp_room(r, n + 2) != 0)
        return;
    memcpy(r->buf + r->len, s, n);
    r->len += n;
    r->buf[r->len++] = '\r';
    r->buf[r->len++] = '\n';
}

static void resp_str(struct resp *r, const char *s)
{
    resp_bulk(r, s, strlen(s));
}

static void resp_num(struct resp *r, long long v)
{
    char d[24];
    size_t n = 0;
    if (v < 0) {
        d[n++] = '-';
        n += put_u64(d + n, (uint64_t)0 - (uint64_t)v);
    } else {
        n = put_u64(d, (uint64_t)v);
    }
    resp_bulk(r, d, n);
}

/* Append MULTI, EVAL store_script, XADD + PUBLISH per event, EXEC. 0 or -1. */
/*
 * Field pairs an event adds to its client's host record besides what the
 * store script writes: mac, and name with name_source, when known. The
 * fresh path writes them with one plain HSET per such event after the
 * events' XADDs, in event order (the newest event of the batch wins; an
 * older event replayed later could overwrite them: the record says what
 * the network said at the latest stored event, approximately).
 */
static size_t id_fields(const struct ksd_event *ev)
{
    return (ev->client_mac[0] ? 1 : 0) + (ev->client_name[0] ? 2 : 0);
}

static size_t id_writes(const struct ksd_event *evs, size_t cnt)
{
    size_t n = 0;
    for (size_t j = 0; j < cnt; j++)
        n += id_fields(&evs[j]) > 0;
    return n;
}

static int append_txn(struct ksd_emit *e, size_t start, size_t cnt, size_t nb, size_t nc)
{
    struct resp *r = &e->out;
    r->len = 0;
    r->oom = 0;
    resp_head(r, '*', 1);
    resp_str(r, "MULTI");
    /* EVAL store_script (see its comment for the layout) */
    size_t argc = 3 + 2 + nb + nc + 3 + nb;
    for (size_t c = 0; c < nc; c++)
        argc += 15 + 2 * (size_t)e->hosts[c].nkinds;
    resp_head(r, '*', argc);
    resp_str(r, "EVAL");
    resp_bulk(r, store_script, sizeof(store_script) - 1);
    resp_num(r, (long long)(2 + nb + nc));
    resp_str(r, e->k_events);
    resp_str(r, e->k_hosts);
    for (size_t b = 0; b < nb; b++)
        resp_str(r, e->bkts[b].key);
    for (size_t c = 0; c < nc; c++)
        resp_str(r, e->hosts[c].key);
    resp_num(r, e->dedup_ttl_s);
    resp_num(r, (long long)nb);
    resp_num(r, (long long)nc);
    for (size_t b = 0; b < nb; b++)
        resp_bulk(r, e->ids + 16 * e->bkts[b].off, 16 * e->bkts[b].n);
    for (size_t c = 0; c < nc; c++) {
        const struct emit_host *h = &e->hosts[c];
        const struct ksd_event *last = &e->batch[h->last_ev];
        resp_str(r, e->batch[h->ev0].client);
        resp_num(r, h->n);
        resp_num(r, h->first_s);
        resp_num(r, h->max_s);
        resp_str(r, last->indicator);
        resp_str(r, last->rule);
        resp_str(r, ev_sensor(e, last));
        for (int k = 0; k < 3; k++) {
            const struct ksd_event *o = h->opt_ev[k] != SIZE_MAX ? &e->batch[h->opt_ev[k]] : NULL;
            if (!o) {
                resp_bulk(r, "", 0);
                resp_bulk(r, "", 0);
                continue;
            }
            resp_num(r, ev_seconds(o));
            resp_str(r, k == 0 ? o->site : k == 1 ? o->managed : o->ruleset);
        }
        resp_str(r, h->cats);
        resp_num(r, h->nkinds);
        for (int k = 0; k < h->nkinds; k++) {
            size_t kl = strlen(h->kind[k]);
            resp_head(r, '$', 3 + kl);
            if (resp_room(r, 5 + kl) == 0) {
                memcpy(r->buf + r->len, "ev:", 3);
                memcpy(r->buf + r->len + 3, h->kind[k], kl);
                memcpy(r->buf + r->len + 3 + kl, "\r\n", 2);
                r->len += 5 + kl;
            }
            resp_num(r, h->kind_n[k]);
        }
    }
    /* XADD and PUBLISH per event */
    for (size_t j = 0; j < cnt; j++) {
        const struct ksd_event *ev = &e->batch[start + j];
        const char *opt[9] = {
            ev->site,       ev->managed,          ev->ruleset,
            ev->via,        ev->count ? "1" : "", ev->community_id,
            ev->client_mac, ev->client_name,      ev->client_name[0] ? ev->client_name_source : ""};
        static const char *const optf[9] = {"site",       "managed",     "ruleset",
                                            "via",        "count",       "community_id",
                                            "client_mac", "client_name", "client_name_source"};
        char ts[32], id[24];
        size_t nopt = 0;
        for (int k = 0; k < 9; k++)
            nopt += opt[k][0] != '\0';
        resp_head(r, '*', 6 + 2 * (14 + nopt));
        resp_str(r, "XADD");
        resp_str(r, e->k_events);
        resp_str(r, "MAXLEN");
        resp_str(r, "~");
        resp_num(r, e->maxlen);
        resp_str(r, "*");
        ksd_format_ts(ev->ts_us, ts);
        snprintf(id, sizeof(id), "%016llx", (unsigned long long)ev->id);
        resp_str(r, "ts");
        resp_str(r, ts);
        resp_str(r, "sensor");
        resp_str(r, ev_sensor(e, ev));
        resp_str(r, "client");
        resp_str(r, ev->client);
        resp_str(r, "server");
        resp_str(r, ev->server);
        resp_str(r, "sport");
        resp_num(r, ev->sport);
        resp_str(r, "dport");
        resp_num(r, ev->dport);
        resp_str(r, "proto");
        resp_str(r, ev->proto);
        resp_str(r, "evidence");
        resp_str(r, ev->evidence);
        resp_str(r, "indicator");
        resp_str(r, ev->indicator);
        resp_str(r, "rule");
        resp_str(r, ev->rule);
        resp_str(r, "category");
        resp_str(r, ev->category);
        resp_str(r, "confidence");
        resp_num(r, ev->confidence);
        resp_str(r, "app");
        resp_str(r, ev->app);
        resp_str(r, "id");
        resp_bulk(r, id, 16);
        for (int k = 0; k < 9; k++) {
            if (!opt[k][0])
                continue;
            resp_str(r, optf[k]);
            if (k == 4)
                resp_num(r, ev->count);
            else
                resp_str(r, opt[k]);
        }
        int jl = ksd_event_json(ev, e->json, EMIT_JSON_MAX);
        resp_head(r, '*', 3);
        resp_str(r, "PUBLISH");
        resp_str(r, e->k_live);
        resp_bulk(r, e->json, jl > 0 ? (size_t)jl : 0);
    }
    /* the client's MAC and name on its host record (see id_writes) */
    for (size_t j = 0; j < cnt; j++) {
        const struct ksd_event *ev = &e->batch[start + j];
        size_t nf = id_fields(ev);
        if (!nf)
            continue;
        char key[EMIT_KEY_MAX];
        snprintf(key, sizeof(key), "%shost:%s", e->prefix, ev->client);
        resp_head(r, '*', 2 + 2 * nf);
        resp_str(r, "HSET");
        resp_str(r, key);
        if (ev->client_mac[0]) {
            resp_str(r, "mac");
            resp_str(r, ev->client_mac);
        }
        if (ev->client_name[0]) {
            resp_str(r, "name");
            resp_str(r, ev->client_name);
            resp_str(r, "name_source");
            resp_str(r, ev->client_name_source);
        }
    }
    resp_head(r, '*', 1);
    resp_str(r, "EXEC");
    if (r->oom || redisAppendFormattedCommand(e->ctx, r->buf, r->len) != REDIS_OK)
        return -1;
    for (int done = 0; !done;)
        if (redisBufferWrite(e->ctx, &done) != REDIS_OK)
            return -1;
    return 0;
}

/* An event that was not stored: retry, or drop after the last attempt. */
static void not_stored(struct ksd_emit *e, size_t i, const char *err, int *transient,
                       uint64_t *errors)
{
    (*errors)++;
    if (err && err_is_transient(err)) {
        if (!*transient)
            snprintf(e->errmsg, sizeof(e->errmsg), "%.200s", err);
        *transient = 1;
        return;
    }
    if (++e->attempts[i] >= KSD_EMIT_MAX_ATTEMPTS)
        e->status[i] = EMIT_DROP;
}

/* Read the replies of one append_txn. 0, or -1 when the connection broke. */
static int read_txn(struct ksd_emit *e, size_t start, size_t cnt, int *transient, uint64_t *errors)
{
    char queue_err[256] = "";
    redisReply *r = NULL;
    /* MULTI, the EVAL, XADD and PUBLISH per event, the id HSETs: +OK /
     * +QUEUED, or a queueing error that makes EXEC fail with EXECABORT */
    size_t nid = id_writes(&e->batch[start], cnt);
    for (size_t i = 0; i < 2 + 2 * cnt + nid; i++) {
        if (redisGetReply(e->ctx, (void **)&r) != REDIS_OK || !r)
            return -1;
        if (r->type == REDIS_REPLY_ERROR && !queue_err[0])
            snprintf(queue_err, sizeof(queue_err), "%.200s", r->str);
        freeReplyObject(r);
    }
    if (redisGetReply(e->ctx, (void **)&r) != REDIS_OK || !r)
        return -1;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 1 + 2 * cnt + nid) {
        /* nothing ran */
        const char *why = queue_err[0] ? queue_err : r->type == REDIS_REPLY_ERROR ? r->str : NULL;
        for (size_t j = 0; j < cnt; j++)
            not_stored(e, start + j, why, transient, errors);
        freeReplyObject(r);
        return 0;
    }
    /* the script's reply: an error means it wrote nothing (the stream key
     * has the wrong type, so every XADD failed too); a string, that some
     * marker or host record could not be written */
    const redisReply *s = r->element[0];
    int marked = s->type != REDIS_REPLY_ERROR;
    if (s->type == REDIS_REPLY_ERROR || s->type == REDIS_REPLY_STRING)
        (*errors)++;
    for (size_t j = 0; j < cnt; j++) {
        const redisReply *x = r->element[1 + 2 * j];
        if (x->type == REDIS_REPLY_STRING) {
            e->status[start + j] = EMIT_STORED;
        } else if (marked) {
            /* its marker is there without its entry, so a resend would be
             * taken for a duplicate: count it lost (no XADD error other
             * than the wrong type the script checked is known to happen) */
            (*errors)++;
            e->status[start + j] = EMIT_DROP;
        } else {
            not_stored(e, start + j, x->type == REDIS_REPLY_ERROR ? x->str : NULL, transient,
                       errors);
        }
        if (r->element[2 + 2 * j]->type == REDIS_REPLY_ERROR)
            (*errors)++;
    }
    for (size_t i = 0; i < nid; i++)
        if (r->element[1 + 2 * cnt + i]->type == REDIS_REPLY_ERROR)
            (*errors)++;
    freeReplyObject(r);
    return 0;
}

/*
 * Pipeline the batch (plus WAIT for sentinel targets) and read every reply.
 * A batch that never went out takes the fresh path, transactions of up to
 * KSD_EMIT_TXN events; a batch from the spool, or one sent before (reply
 * lost, rejected events, unconfirmed WAIT), goes through emit_script in
 * groups of KSD_EMIT_GROUP events, which skips what Redis already has.
 * Returns 0, or -1 when the connection must be dropped.
 */
static int send_batch(struct ksd_emit *e)
{
    int64_t now = mono_ms();
    int use_wait = e->tgt.kind == KSD_EMIT_SENTINEL && e->wait_ms > 0 && now >= e->wait_skip_until;
    int fresh = !e->batch_from_spool && !e->batch_sent;
    int transient = 0;
    uint64_t errors = 0;
    size_t start, cnt, nparts = 0;
    size_t *part = e->parts;
    char wait_ms[16];
    e->batch_sent = 1;
    for (start = 0; start < e->nbatch; start += cnt) {
        size_t rest = e->nbatch - start;
        if (fresh) {
            size_t nb, nc;
            cnt = plan_txn(e, start, rest < KSD_EMIT_TXN ? rest : KSD_EMIT_TXN, &nb, &nc);
            if (append_txn(e, start, cnt, nb, nc) != 0)
                return -1;
        } else {
            cnt = rest < KSD_EMIT_GROUP ? rest : KSD_EMIT_GROUP;
            if (append_group(e, start, cnt) != 0)
                return -1;
            /* write each group at once: Redis runs it while the next is built */
            for (int done = 0; !done;)
                if (redisBufferWrite(e->ctx, &done) != REDIS_OK)
                    return -1;
        }
        part[nparts++] = cnt;
    }
    if (use_wait) {
        snprintf(wait_ms, sizeof(wait_ms), "%d", e->wait_ms);
        const char *argv[3] = {"WAIT", "1", wait_ms};
        if (redisAppendCommandArgv(e->ctx, 3, argv, NULL) != REDIS_OK)
            return -1;
    }
    int broken = 0;
    start = 0;
    for (size_t k = 0; k < nparts && !broken; start += part[k++]) {
        if (fresh) {
            broken = read_txn(e, start, part[k], &transient, &errors) != 0;
            continue;
        }
        redisReply *r = NULL;
        if (redisGetReply(e->ctx, (void **)&r) != REDIS_OK || !r) {
            broken = 1;
            break;
        }
        group_reply(e, r, start, part[k], &transient, &errors);
        freeReplyObject(r);
    }
    if (!broken && use_wait) {
        redisReply *r = NULL;
        if (redisGetReply(e->ctx, (void **)&r) != REDIS_OK || !r) {
            broken = 1;
        } else {
            if (r->type != REDIS_REPLY_INTEGER || r->integer < 1) {
                /* no replica confirmed: accept, and stop waiting for a while */
                e->wait_skip_until = now + EMIT_WAIT_SKIP;
                pthread_mutex_lock(&e->mu);
                e->st.unreplicated++;
                pthread_mutex_unlock(&e->mu);
            }
            freeReplyObject(r);
        }
    }
    if (errors) {
        pthread_mutex_lock(&e->mu);
        e->st.errors += errors;
        pthread_mutex_unlock(&e->mu);
    }
    if (broken && use_wait) {
        /* unconfirmed: everything is sent again to whichever master is next */
        memset(e->status, EMIT_PENDING, e->nbatch);
    }
    commit_batch(e);
    if (broken)
        return -1;
    if (transient) {
        drop_conn(e, e->errmsg);
        return 0;
    }
    e->backoff_ms = KSD_EMIT_BACKOFF_MIN;
    return 0;
}

static int send_stats(struct ksd_emit *e)
{
    char v[10][24];
    char ttl[16];
    struct ksd_sensor_snapshot s;
    struct ksd_emit_stats st;
    ksd_emit_get_stats(e, &st);
    pthread_mutex_lock(&e->mu);
    s = e->snap;
    char version[64];
    copy_str(version, sizeof(version), e->snap_version);
    pthread_mutex_unlock(&e->mu);
    snprintf(v[0], sizeof(v[0]), "%llu", (unsigned long long)s.packets);
    snprintf(v[1], sizeof(v[1]), "%llu", (unsigned long long)s.bytes);
    snprintf(v[2], sizeof(v[2]), "%llu", (unsigned long long)s.drops);
    snprintf(v[3], sizeof(v[3]), "%llu", (unsigned long long)s.flows);
    snprintf(v[4], sizeof(v[4]), "%llu", (unsigned long long)s.events);
    snprintf(v[5], sizeof(v[5]), "%llu", (unsigned long long)(st.queued_now + st.spool_now));
    snprintf(v[6], sizeof(v[6]), "%lld", (long long)(s.started ? s.started : e->start_s));
    snprintf(v[7], sizeof(v[7]), "%llu", (unsigned long long)st.dropped);
    snprintf(v[8], sizeof(v[8]), "%llu", (unsigned long long)st.sent);
    snprintf(v[9], sizeof(v[9]), "%llu", (unsigned long long)st.spooled);
    snprintf(ttl, sizeof(ttl), "%d", e->stats_ttl_s);
    const char *hset[] = {"HSET",    e->k_sensor, "packets", v[0], "bytes",   v[1],
                          "drops",   v[2],        "flows",   v[3], "events",  v[4],
                          "backlog", v[5],        "started", v[6], "version", version,
                          "dropped", v[7],        "sent",    v[8], "spooled", v[9]};
    const char *expire[] = {"EXPIRE", e->k_sensor, ttl};
    if (redisAppendCommandArgv(e->ctx, (int)KSD_ARRAY_LEN(hset), hset, NULL) != REDIS_OK ||
        redisAppendCommandArgv(e->ctx, 3, expire, NULL) != REDIS_OK)
        return -1;
    for (int i = 0; i < 2; i++) {
        redisReply *r = NULL;
        if (redisGetReply(e->ctx, (void **)&r) != REDIS_OK || !r)
            return -1;
        if (r->type == REDIS_REPLY_ERROR) {
            pthread_mutex_lock(&e->mu);
            e->st.errors++;
            pthread_mutex_unlock(&e->mu);
        }
        freeReplyObject(r);
    }
    return 0;
}

/* ---- the thread ---- */

/* Everything undelivered goes to the spool (or is dropped). */
static void emit_finish(struct ksd_emit *e)
{
    uint64_t dropped = 0;
    if (e->ctx) {
        redisFree(e->ctx);
        e->ctx = NULL;
    }
    pthread_mutex_lock(&e->mu);
    if (e->nbatch > 0 && !e->batch_from_spool) {
        /* in flight from the ring: older than the ring, maybe newer than
         * part of the spool (the order exception documented in emit.h) */
        int w = e->spool ? ksd_spool_append(e->spool, e->batch, e->nbatch) : 0;
        if (w < 0)
            w = 0;
        e->st.spooled += (uint64_t)w;
        dropped += e->nbatch - (size_t)w;
    }
    e->nbatch = 0;
    e->inflight = 0;
    if (e->spool)
        while (e->count > 0) {
            size_t before = e->count;
            spill_locked(e, KSD_EMIT_SPILL_CHUNK);
            if (e->count == before)
                break;
        }
    dropped += e->count;
    e->count = 0;
    e->st.dropped += dropped;
    e->connected = 0;
    pthread_mutex_unlock(&e->mu);
    if (dropped)
        e->result = KSD_ELIMIT;
    else if (e->spool && ksd_spool_pending(e->spool) > 0)
        e->result = 1;
    else
        e->result = 0;
    if (e->spool)
        ksd_spool_sync(e->spool);
}

static void *emit_main(void *arg)
{
    struct ksd_emit *e = arg;
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, NULL);
    e->backoff_ms = KSD_EMIT_BACKOFF_MIN;
    e->next_connect = 0;
    e->next_stats = 0;
    e->next_sync = mono_ms() + EMIT_SYNC_MS;
    for (;;) {
        int64_t now = mono_ms();
        pthread_mutex_lock(&e->mu);
        int stopping = e->stopping;
        int64_t deadline = e->deadline;
        size_t queued = e->count;
        pthread_mutex_unlock(&e->mu);
        int work = e->nbatch > 0 || queued > 0 || (e->spool && ksd_spool_pending(e->spool) > 0);
        if (stopping && (!work || now >= deadline))
            break;
        if (e->spool && now >= e->next_sync) {
            ksd_spool_sync(e->spool);
            e->next_sync = now + EMIT_SYNC_MS;
        }
        if (!e->ctx) {
            if (now >= e->next_connect && emit_connect(e) != 0) {
                if (!e->down_logged)
                    emit_log(e, "redis: cannot connect to %s (%s), retrying", e->target_text,
                             e->errmsg);
                e->down_logged = 1;
                e->ctx = NULL;
                drop_conn(e, NULL);
            }
            if (!e->ctx) {
                if (e->spool) {
                    pthread_mutex_lock(&e->mu);
                    while (e->count >= e->cap / 2 && e->count > 0) {
                        size_t before = e->count;
                        spill_locked(e, KSD_EMIT_SPILL_CHUNK);
                        if (e->count == before)
                            break;
                    }
                    pthread_mutex_unlock(&e->mu);
                }
                int64_t until = e->next_connect < e->next_sync ? e->next_connect : e->next_sync;
                wait_for(e, e->spool ? (e->cap / 2 > 0 ? e->cap / 2 : 1) : SIZE_MAX, until);
                continue;
            }
        }
        if (now >= e->next_stats) {
            if (send_stats(e) != 0) {
                drop_conn(e, NULL);
                continue;
            }
            e->next_stats = now + e->stats_interval_ms;
        }
        if (e->nbatch == 0 && fill_batch(e) == 0) {
            int64_t until = e->next_stats < e->next_sync ? e->next_stats : e->next_sync;
            wait_for(e, 1, until);
            continue;
        }
        if (send_batch(e) != 0)
            drop_conn(e, NULL);
    }
    /* a last statistics refresh so sensor:<id> shows the final backlog */
    if (e->ctx && send_stats(e) != 0) {
        redisFree(e->ctx);
        e->ctx = NULL;
    }
    emit_finish(e);
    return NULL;
}

/* ---- start / stop ---- */

static void emit_free(struct ksd_emit *e)
{
    if (!e)
        return;
    if (e->spool)
        ksd_spool_close(e->spool);
    explicit_bzero(e->auth_pass, sizeof(e->auth_pass));
    free(e->ring);
    free(e->batch);
    free(e->status);
    free(e->attempts);
    free(e->hosts);
    free(e->bkts);
    free(e->bidx);
    free(e->parts);
    free(e->ids);
    free(e->json);
    free(e->out.buf);
    free(e->slots);
    free(e->chash);
    free(e->argv);
    free(e->argl);
    free(e);
}

struct ksd_emit *ksd_emit_start(const struct ksd_emit_conf *c, char *err, size_t errlen)
{
    struct ksd_emit *e = calloc(1, sizeof(*e));
    const char *reason = NULL;
    pthread_condattr_t ca;
    int mu_ok = 0, cv_ok = 0;
    if (!e) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (ksd_emit_parse_target(c->target, &e->tgt, &reason) != 0) {
        snprintf(err, errlen, "redis target \"%s\": %s", c->target ? c->target : "", reason);
        goto fail;
    }
    copy_str(e->target_text, sizeof(e->target_text), c->target);
    const char *prefix = c->prefix ? c->prefix : "ksd:";
    const char *sid = c->sensor_id && *c->sensor_id ? c->sensor_id : "ksd";
    if (strlen(prefix) >= sizeof(e->prefix) || strlen(sid) >= sizeof(e->sensor_id)) {
        snprintf(err, errlen, "redis prefix or sensor id too long (at most 63 bytes)");
        goto fail;
    }
    copy_str(e->prefix, sizeof(e->prefix), prefix);
    copy_str(e->sensor_id, sizeof(e->sensor_id), sid);
    if (c->auth_file && read_auth_file(e, c->auth_file, err, errlen) != 0)
        goto fail;
    e->connect_timeout_ms = c->connect_timeout_ms > 0 ? c->connect_timeout_ms : 1000;
    e->command_timeout_ms = c->command_timeout_ms > 0 ? c->command_timeout_ms : 2000;
    e->cap = c->queue_max > 0 ? c->queue_max : 65536;
    e->maxlen = c->stream_maxlen > 0 ? c->stream_maxlen : 1000000;
    e->stats_interval_ms = c->stats_interval_ms > 0 ? c->stats_interval_ms : 5000;
    e->stats_ttl_s = c->stats_ttl_s > 0 ? c->stats_ttl_s : 3 * e->stats_interval_ms / 1000;
    if (e->stats_ttl_s < 1)
        e->stats_ttl_s = 1;
    e->dedup_ttl_s = c->dedup_ttl_s > 0 ? c->dedup_ttl_s : 86400;
    e->wait_ms = c->replica_wait_ms == 0 ? 100 : (c->replica_wait_ms < 0 ? 0 : c->replica_wait_ms);
    e->log = c->log;
    e->log_arg = c->log_arg;
    e->start_s = (int64_t)time(NULL);
    snprintf(e->k_events, sizeof(e->k_events), "%sevents", e->prefix);
    snprintf(e->k_hosts, sizeof(e->k_hosts), "%shosts", e->prefix);
    snprintf(e->k_live, sizeof(e->k_live), "%slive", e->prefix);
    snprintf(e->k_sensor, sizeof(e->k_sensor), "%ssensor:%s", e->prefix, e->sensor_id);
    /* calloc: pages of an unused ring are never touched, so a large
     * queue_max costs address space, not memory */
    e->ring = calloc(e->cap, sizeof(*e->ring));
    e->batch = calloc(KSD_EMIT_MAX_BATCH, sizeof(*e->batch));
    e->status = calloc(KSD_EMIT_MAX_BATCH, 1);
    e->attempts = calloc(KSD_EMIT_MAX_BATCH, 1);
    e->slots = calloc(KSD_EMIT_GROUP, sizeof(*e->slots));
    e->chash = calloc(EMIT_ALL_CHASH, sizeof(*e->chash));
    e->argv = calloc(EMIT_MAX_ARGS, sizeof(*e->argv));
    e->argl = calloc(EMIT_MAX_ARGS, sizeof(*e->argl));
    e->hosts = calloc(KSD_EMIT_TXN, sizeof(*e->hosts));
    e->bkts = calloc(KSD_EMIT_TXN, sizeof(*e->bkts));
    e->bidx = calloc(KSD_EMIT_TXN, sizeof(*e->bidx));
    e->parts = calloc(KSD_EMIT_MAX_BATCH, sizeof(*e->parts));
    e->ids = malloc(16 * KSD_EMIT_TXN);
    e->json = malloc(EMIT_JSON_MAX);
    if (!e->ring || !e->batch || !e->status || !e->attempts || !e->slots || !e->chash || !e->argv ||
        !e->argl || !e->hosts || !e->bkts || !e->bidx || !e->parts || !e->ids || !e->json) {
        snprintf(err, errlen, "out of memory for a queue of %zu events", e->cap);
        goto fail;
    }
    if (c->spool_path) {
        int serr = 0;
        uint64_t max = c->spool_max_bytes ? c->spool_max_bytes : 256ull << 20;
        e->spool = ksd_spool_open(c->spool_path, max, &serr);
        if (!e->spool) {
            snprintf(err, errlen, "spool %s: %s", c->spool_path,
                     serr == -EWOULDBLOCK
                         ? "in use by another process"
                         : (serr < 0 && serr > -4096 ? strerror(-serr) : "not a regular file"));
            goto fail;
        }
    }
    if (pthread_mutex_init(&e->mu, NULL) != 0)
        goto fail_sys;
    mu_ok = 1;
    if (pthread_condattr_init(&ca) != 0)
        goto fail_sys;
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    cv_ok = pthread_cond_init(&e->cv, &ca) == 0;
    pthread_condattr_destroy(&ca);
    if (!cv_ok)
        goto fail_sys;
    /* the thread starts with every signal blocked: signals go to the
     * capture threads, and a SIGPIPE from a dead socket is handled there */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&e->thr, NULL, emit_main, e);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0)
        goto fail_sys;
    return e;
fail_sys:
    snprintf(err, errlen, "cannot start the Redis output thread");
fail:
    if (cv_ok)
        pthread_cond_destroy(&e->cv);
    if (mu_ok)
        pthread_mutex_destroy(&e->mu);
    emit_free(e);
    return NULL;
}

int ksd_emit_stop(struct ksd_emit *e, int drain_timeout_ms)
{
    return ksd_emit_stop_stats(e, drain_timeout_ms, NULL);
}

int ksd_emit_stop_stats(struct ksd_emit *e, int drain_timeout_ms, struct ksd_emit_stats *final)
{
    if (!e)
        return 0;
    pthread_mutex_lock(&e->mu);
    e->stopping = 1;
    e->deadline = mono_ms() + (drain_timeout_ms > 0 ? drain_timeout_ms : 0);
    pthread_cond_signal(&e->cv);
    pthread_mutex_unlock(&e->mu);
    pthread_join(e->thr, NULL);
    int result = e->result;
    if (final)
        ksd_emit_get_stats(e, final);
    pthread_cond_destroy(&e->cv);
    pthread_mutex_destroy(&e->mu);
    emit_free(e);
    return result;
}
