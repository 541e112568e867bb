#!/bin/sh
# e2e_dashboard.sh - what analysts see, end to end: a throwaway redis-server
# filled by the real ksd from deploy/demo.pcap, `ksd report` on it, then
# the host table of `ksd --hosts` equal to `ksd report`'s,
# `ksd dashboard` driven by headless Chromium (tests/browser/dashboard.test.js):
# demo hosts and verdicts in the table, sorting and filters, the SVG
# timeline, the live feed with a published event whose indicator is
# <script>alert(1)</script> (shown as text, never run), and a screenshot in
# build/dashboard.png.
#
# Prints "ok N - ..." / "not ok N - ..." and exits non-zero on any failure;
# prints "skip ..." and exits 0 only when Chromium or Node.js cannot be
# installed. Every server started here is stopped on exit.
#
# Environment: KSD (binary, default ./ksd), SHOT (default build/dashboard.png).
set -u
cd "$(dirname "$0")/.."
KSD=${KSD:-./ksd}
SHOT=${SHOT:-build/dashboard.png}
n=0
failed=0
tmp=$(mktemp -d /tmp/ksd-e2e-dash-XXXXXX)
redis_pid=""
dash_pid=""
pdash_pid=""
slow_pid=""
body_pid=""

cleanup() {
    [ -n "$slow_pid" ] && kill "$slow_pid" 2>/dev/null
    [ -n "$body_pid" ] && kill "$body_pid" 2>/dev/null
    [ -n "$dash_pid" ] && kill "$dash_pid" 2>/dev/null && wait "$dash_pid" 2>/dev/null
    [ -n "$pdash_pid" ] && kill "$pdash_pid" 2>/dev/null && wait "$pdash_pid" 2>/dev/null
    [ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null && wait "$redis_pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

. tests/tap.sh

have_browser() {
    [ -x /usr/bin/chromium ] && command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1
}

if [ ! -x "$KSD" ]; then
    notok "ksd binary $KSD exists (run make first)"
    exit 1
fi

# ---- Redis filled by the real ksd ----
rport=$(free_port)
redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --dir "$tmp" \
    --daemonize no >"$tmp/redis.log" 2>&1 &
redis_pid=$!
i=0
until redis-cli -p "$rport" ping >/dev/null 2>&1; do
    i=$((i + 1))
    if [ $i -gt 100 ]; then
        notok "redis-server started on port $rport"
        exit 1
    fi
    sleep 0.05
done
ok "redis-server started on port $rport"

if "$KSD" -r deploy/demo.pcap -s signatures/kaspersky.rules --redis "127.0.0.1:$rport" \
    --known-hosts deploy/demo.known --sites deploy/demo.sites --sensor-id demo-1 --threads 2 \
    --hosts >"$tmp/ksd.out" 2>"$tmp/ksd.err"; then
    ok "ksd -r deploy/demo.pcap --redis filled Redis"
else
    notok "ksd -r deploy/demo.pcap --redis filled Redis"
    sed 's/^/#   /' "$tmp/ksd.err"
fi
hosts=$(redis-cli -p "$rport" zcard ksd:hosts 2>/dev/null)
check "ksd:hosts holds the demo hosts ($hosts)" test "${hosts:-0}" -ge 2

# ---- ksd report on the same data ----
"$KSD" report --redis "127.0.0.1:$rport" --csv >"$tmp/report.csv" 2>"$tmp/report.err"
check "ksd report --csv lists 10.77.0.11 as product" \
    grep -q '^10\.77\.0\.11,[^,]*,[^,]*,product,' "$tmp/report.csv"
check "ksd report --csv lists 10.77.0.13 as website-only" \
    grep -q '^10\.77\.0\.13,[^,]*,[^,]*,website-only,' "$tmp/report.csv"
# one definition of a flagged host: the table ksd --hosts printed from its own
# records and the one ksd report prints from Redis are the same, line for line
"$KSD" report --redis "127.0.0.1:$rport" | sed '/^$/,$d' >"$tmp/report.table"
check "ksd --hosts and ksd report print the same host table ($(wc -l <"$tmp/ksd.out") lines)" \
    sh -c "grep -q '^10\.77\.0\.11 ' '$tmp/ksd.out' && cmp -s '$tmp/ksd.out' '$tmp/report.table'"
if ! cmp -s "$tmp/ksd.out" "$tmp/report.table"; then
    diff "$tmp/ksd.out" "$tmp/report.table" | sed 's/^/#   /'
fi
"$KSD" report --redis "127.0.0.1:$rport" --fail-if-any >/dev/null 2>&1
check "ksd report --fail-if-any exits 3 on the demo data" test $? -eq 3

# ---- the dashboard ----
dport=$(free_port)
"$KSD" dashboard --redis "127.0.0.1:$rport" --listen "127.0.0.1:$dport" >"$tmp/dash.log" 2>&1 &
dash_pid=$!
i=0
until curl -sf -o /dev/null "http://127.0.0.1:$dport/"; do
    i=$((i + 1))
    if [ $i -gt 100 ] || ! kill -0 "$dash_pid" 2>/dev/null; then
        notok "ksd dashboard serves on 127.0.0.1:$dport"
# the page embedded at build time is the one in sensor/analyst/web/
for f in index.html app.js style.css; do
    curl -s -o "$tmp/served" "http://127.0.0.1:$dport/$f"
    check "served /$f is sensor/analyst/web/$f byte for byte" cmp -s "$tmp/served" "sensor/analyst/web/$f"
done
        sed 's/^/#   /' "$tmp/dash.log"
        exit 1
    fi
    sleep 0.05
done
ok "ksd dashboard serves on 127.0.0.1:$dport"
# the page embedded at build time is the one in sensor/analyst/web/
for f in index.html app.js style.css; do
    curl -s -o "$tmp/served" "http://127.0.0.1:$dport/$f"
    check "served /$f is sensor/analyst/web/$f byte for byte" cmp -s "$tmp/served" "sensor/analyst/web/$f"
done
curl -s -D "$tmp/headers" -o /dev/null "http://127.0.0.1:$dport/api/hosts"
check "API answers carry Content-Security-Policy default-src 'self'" \
    grep -qi "^content-security-policy: default-src 'self'" "$tmp/headers"

# ---- /metrics: Prometheus text from the sensor:<id> hashes ----
# a second sensor whose id needs escaping in a label value
redis-cli -p "$rport" hset "$(printf 'ksd:sensor:we"ird\\id\nx')" packets 5 updated junk >/dev/null
code=$(curl -s -D "$tmp/mheaders" -o "$tmp/metrics" -w '%{http_code}' "http://127.0.0.1:$dport/metrics")
check "/metrics answers 200 as text/plain; version=0.0.4 ($code)" \
    sh -c "[ $code = 200 ] && grep -qi '^content-type: text/plain; version=0.0.4' '$tmp/mheaders'"
python3 tests/tools/promcheck.py "$tmp/metrics" >"$tmp/promcheck.out" 2>&1
check "/metrics follows the exposition format ($(tail -n 1 "$tmp/promcheck.out"))" test $? -eq 0
sed -n '/problems$/!s/^/#   /p' "$tmp/promcheck.out"
printf 'ksd_x{a="b} 1\nksd_x 1\n# TYPE ksd_x gauge\nksd_y one\n' >"$tmp/bad.prom"
check "promcheck.py refuses a page with a bad label, a late TYPE and a bad value" \
    sh -c "! python3 tests/tools/promcheck.py '$tmp/bad.prom' >/dev/null"
if command -v promtool >/dev/null 2>&1; then
    promtool check metrics <"$tmp/metrics" >"$tmp/promtool.out" 2>&1
    check "promtool check metrics accepts /metrics" test $? -eq 0
    sed 's/^/#   /' "$tmp/promtool.out"
else
    echo "skip promtool check metrics - promtool (Debian package prometheus) not installed"
fi
# every metric of the issue, for demo-1, equal to the hash ksd wrote
for m in packets:ksd_sensor_packets_total drops:ksd_sensor_drops_total flows:ksd_sensor_flows \
    events:ksd_sensor_events_total backlog:ksd_sensor_backlog \
    dropped:ksd_sensor_events_dropped_total spooled:ksd_sensor_events_spooled_total \
    sent:ksd_sensor_events_sent_total updated:ksd_sensor_last_update_time_seconds; do
    field=${m%%:*}
    name=${m#*:}
    want=$(redis-cli -p "$rport" hget ksd:sensor:demo-1 "$field")
    got=$(sed -n "s/^$name{sensor=\"demo-1\"} //p" "$tmp/metrics")
    check "/metrics $name{sensor=\"demo-1\"} is the hash's $field ($got = $want)" \
        sh -c "[ -n '$want' ] && [ '$got' = '$want' ]"
done
check "/metrics escapes a sensor id with a quote, a backslash and a newline" \
    grep -qF 'ksd_sensor_packets_total{sensor="we\"ird\\id\nx"} 5' "$tmp/metrics"
check "/metrics gives no sample for a value that is not a number" \
    sh -c "! grep -q 'last_update_time_seconds{sensor=\"we' '$tmp/metrics'"
redis-cli -p "$rport" del "$(printf 'ksd:sensor:we"ird\\id\nx')" >/dev/null

# ---- limits: slow clients, the per-address cap, a busy port ----
# A second dashboard with --password-file: the slow clients never finish their
# headers, so they are held off before authentication.
printf 's3cret pass\n' >"$tmp/pw"
chmod 600 "$tmp/pw"
pport=$(free_port)
"$KSD" dashboard --redis "127.0.0.1:$rport" --listen "127.0.0.1:$pport" \
    --password-file "$tmp/pw" >"$tmp/pdash.log" 2>&1 &
pdash_pid=$!
i=0
until [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$pport/")" = 401 ]; do
    i=$((i + 1))
    if [ $i -gt 100 ] || ! kill -0 "$pdash_pid" 2>/dev/null; then
        notok "ksd dashboard --password-file serves on 127.0.0.1:$pport"
        sed 's/^/#   /' "$tmp/pdash.log"
        exit 1
    fi
    sleep 0.05
done
ok "ksd dashboard --password-file serves on 127.0.0.1:$pport (401 without credentials)"

# slow CONNS FIRST ADDRS SECONDS OUT [body]: start slow clients in the
# background and wait (up to 30 s) until they are connected.
slow() {
    python3 tests/tools/slowclients.py "$pport" "$1" "$2" "$3" "$4" 2 ${6:-} >"$5" 2>&1 &
    slow_pid=$!
    wait_for 30 grep -q '^connected' "$5"
}
# fresh [curl options]: "STATUS SECONDS" of a new client's GET / on the guarded dashboard
fresh() {
    curl -s -o /dev/null -w '%{http_code} %{time_total}' --max-time 10 "$@" \
        "http://127.0.0.1:$pport/" 2>/dev/null || true
}
# within A B: A <= B as decimals
within() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 <= b + 0) }'; }
# answered "STATUS SECONDS" STATUS: that status within 3 s
answered() { [ "${1%% *}" = "$2" ] && within "${1#* }" 3; }
# trickled_out RESULT [N]: every one of N (64) closed between 9.5 and 15 s after connecting
trickled_out() {
    echo "$1" | grep -q "^closed ${2:-64} " &&
        within 9.5 "$(echo "$1" | sed -n 's/.*min=\([0-9.]*\).*/\1/p')" &&
        within "$(echo "$1" | sed -n 's/.*max=\([0-9.]*\).*/\1/p')" 15
}
# evicted RESULT OPENLINE: at least 16 shut, at most 96 left open
evicted() {
    [ "$(echo "$1" | cut -d' ' -f2)" -ge 16 ] && [ "${2#open }" -le 96 ]
}

# 4 clients that send whole headers and then trickle a body, beside the flood
slow 4 10 1 25 "$tmp/body" body
body_pid=$slow_pid
slow 64 2 8 25 "$tmp/flood64"
check "64 slow clients from 127.0.0.2-9 connected ($(head -n 1 "$tmp/flood64"))" \
    grep -q '^connected 64$' "$tmp/flood64"
got=$(fresh -u 'ksd:s3cret pass')
echo "# fresh client with credentials under 64 slow clients: status and seconds: $got"
check "a fresh client gets its page within 3 s under 64 slow clients ($got)" answered "$got" 200
got=$(fresh)
check "a fresh client without credentials gets 401 within 3 s under the flood ($got)" \
    answered "$got" 401
wait "$slow_pid"
res=$(grep '^closed' "$tmp/flood64")
echo "# slow clients sending a byte every 2 s: $res"
check "all 64 trickling clients closed by the 10 s header deadline, not before 9.5 s nor after 15 s ($res)" \
    trickled_out "$res"
wait "$body_pid"
res=$(grep '^closed' "$tmp/body")
echo "# slow bodies, a byte every 2 s: $res"
check "4 clients trickling a body closed by the 10 s body deadline ($res)" trickled_out "$res" 4

# more slow clients than the dashboard lets wait (96): the oldest are shut at once
slow 112 20 8 6 "$tmp/flood112"
got=$(fresh -u 'ksd:s3cret pass')
echo "# fresh client under 112 slow clients: $got"
check "a fresh client gets its page within 3 s under 112 slow clients ($got)" answered "$got" 200
wait "$slow_pid"
res=$(grep '^closed' "$tmp/flood112")
open=$(grep '^open' "$tmp/flood112")
check "beyond 96 waiting connections the oldest are shut ($res, $open)" evicted "$res" "$open"

# one address: 16 connections, the 17th and later are refused
slow 20 60 1 3 "$tmp/perip"
wait "$slow_pid"
check "one address gets 16 connections, the other 4 are closed at once ($(tr '\n' ' ' <"$tmp/perip"))" \
    sh -c "grep -q '^open 16$' '$tmp/perip' && grep -q '^closed 4 min=0\.' '$tmp/perip'"

# a busy port: a clear message naming the address
"$KSD" dashboard --redis "127.0.0.1:$rport" --listen "127.0.0.1:$pport" >"$tmp/busy.out" 2>&1
brc=$?
sed 's/^/#   /' "$tmp/busy.out"
check "a second dashboard on a busy port exits 1 naming 127.0.0.1:$pport" \
    sh -c "[ $brc -eq 1 ] && grep -q 'cannot listen on 127.0.0.1:$pport: Address already in use' '$tmp/busy.out'"
kill "$pdash_pid" 2>/dev/null
wait "$pdash_pid" 2>/dev/null
pdash_pid=""

# ---- the browser: tools ----
if ! have_browser; then
    sh deploy/install-deps.sh test >/dev/null 2>&1 || true
    if ! have_browser && [ "$(id -u)" -eq 0 ]; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -q --no-install-recommends chromium nodejs npm >/dev/null 2>&1 ||
            { apt-get update -q >/dev/null 2>&1 &&
              apt-get install -y -q --no-install-recommends chromium nodejs npm >/dev/null 2>&1; }
    fi
fi
browser=1
if ! have_browser; then
    echo "skip e2e_dashboard browser test - chromium, node or npm could not be installed"
    browser=0
fi
if [ $browser -eq 1 ] && [ ! -d tests/browser/node_modules/playwright-core ]; then
    (cd tests/browser && { npm ci --no-audit --no-fund >"$tmp/npm.log" 2>&1 ||
        npm install --no-audit --no-fund >>"$tmp/npm.log" 2>&1; })
    if [ ! -d tests/browser/node_modules/playwright-core ]; then
        # no way to the npm registry from here (offline, or a proxy this system does not trust)
        echo "skip e2e_dashboard browser test - npm could not install playwright-core:"
        tail -n 5 "$tmp/npm.log" | sed 's/^/#   /'
        browser=0
    fi
fi
if [ $browser -eq 1 ]; then
    BASE_URL="http://127.0.0.1:$dport" REDIS_PORT=$rport SHOT=$SHOT TAP_START=$n \
        node tests/browser/dashboard.test.js >"$tmp/browser.out" 2>&1
    brc=$?
    cat "$tmp/browser.out"
    n=$((n + $(grep -c '^\(not \)\{0,1\}ok ' "$tmp/browser.out")))
    if [ $brc -ne 0 ]; then
        grep -q '^not ok ' "$tmp/browser.out" || notok "browser test ran to the end"
        failed=1
    fi
fi

# ---- stop ----
kill "$dash_pid" 2>/dev/null
i=0
while kill -0 "$dash_pid" 2>/dev/null && [ $i -lt 100 ]; do
    i=$((i + 1))
    sleep 0.05
done
check "ksd dashboard stops on SIGTERM" sh -c "! kill -0 $dash_pid 2>/dev/null"
wait "$dash_pid" 2>/dev/null
dash_pid=""

exit $failed
