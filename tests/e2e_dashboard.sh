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

cleanup() {
    [ -n "$dash_pid" ] && kill "$dash_pid" 2>/dev/null && wait "$dash_pid" 2>/dev/null
    [ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null && wait "$redis_pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

ok() {
    n=$((n + 1))
    echo "ok $n - $*"
}
notok() {
    n=$((n + 1))
    echo "not ok $n - $*"
    failed=1
}
# check DESCRIPTION COMMAND...: ok when the command succeeds
check() {
    desc=$1
    shift
    if "$@"; then ok "$desc"; else notok "$desc"; fi
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

have_browser() {
    [ -x /usr/bin/chromium ] && command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1
}

# ---- the page embedded in ksd is the one in deploy/web ----
check "sensor/analyst/web_assets.h matches deploy/web (sh deploy/web/embed.sh)" \
    sh -c 'sh deploy/web/embed.sh | cmp -s - sensor/analyst/web_assets.h'

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
        sed 's/^/#   /' "$tmp/dash.log"
        exit 1
    fi
    sleep 0.05
done
ok "ksd dashboard serves on 127.0.0.1:$dport"
curl -s -D "$tmp/headers" -o /dev/null "http://127.0.0.1:$dport/api/hosts"
check "API answers carry Content-Security-Policy default-src 'self'" \
    grep -qi "^content-security-policy: default-src 'self'" "$tmp/headers"

# ---- tools ----
if ! have_browser; then
    sh deploy/install-deps.sh test >/dev/null 2>&1 || true
    if ! have_browser && [ "$(id -u)" -eq 0 ]; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -q --no-install-recommends chromium nodejs npm >/dev/null 2>&1 ||
            { apt-get update -q >/dev/null 2>&1 &&
              apt-get install -y -q --no-install-recommends chromium nodejs npm >/dev/null 2>&1; }
    fi
fi
if ! have_browser; then
    echo "skip e2e_dashboard browser test - chromium, node or npm could not be installed"
    exit $failed
fi
if [ ! -d tests/browser/node_modules/playwright-core ]; then
    (cd tests/browser && { npm ci --no-audit --no-fund >"$tmp/npm.log" 2>&1 ||
        npm install --no-audit --no-fund >>"$tmp/npm.log" 2>&1; })
fi
if [ ! -d tests/browser/node_modules/playwright-core ]; then
    # no way to the npm registry from here (offline, or a proxy this system does not trust)
    echo "skip e2e_dashboard browser test - npm could not install playwright-core:"
    tail -n 5 "$tmp/npm.log" | sed 's/^/#   /'
    exit $failed
fi
check "playwright-core installed in tests/browser" test -d tests/browser/node_modules/playwright-core
# ---- the browser ----
BASE_URL="http://127.0.0.1:$dport" REDIS_PORT=$rport SHOT=$SHOT TAP_START=$n \
    node tests/browser/dashboard.test.js >"$tmp/browser.out" 2>&1
brc=$?
cat "$tmp/browser.out"
n=$((n + $(grep -c '^\(not \)\{0,1\}ok ' "$tmp/browser.out")))
if [ $brc -ne 0 ]; then
    grep -q '^not ok ' "$tmp/browser.out" || notok "browser test ran to the end"
    failed=1
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
