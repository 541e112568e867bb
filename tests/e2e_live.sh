#!/bin/sh
# e2e_live.sh - ksd on a real interface: two network namespaces joined by a
# veth pair (10.79.0.0/24). The sensor side (10.79.0.1) runs `ksd -i` and
# the clients (dig, openssl s_client, curl); the server side (10.79.0.2)
# runs dnsmasq answering Kaspersky names, `openssl s_server -www` and
# `python3 -m http.server`. Checks the JSON events (dns, sni, http_host for
# names of signatures/kaspersky.rules), that ksd switched to user nobody
# with no capability left while capturing (when --user is available), and
# that SIGTERM ends it with status 0. A second ksd then runs as a service
# would, with traffic from the server side: CPU over 10 idle seconds (<= 1%
# of a core), SIGUSR1 and SIGHUP on the idle link (<= 1 s), the time from
# each of 100 DNS queries to its complete JSON line and to its Redis stream
# entry (p50/p99 printed, p99 <= 1 s, none lost; tests/tools/livelat.py), a
# SYN answered by a RST from a listed address and a silent connection to a
# DNS-learned address reported promptly, sensor:<id> on a quiet link,
# --json and the log file renamed then SIGHUP, a real logrotate run with
# deploy/logrotate.d/ksd, and SIGTERM on the idle link.
#
# Needs root (skips otherwise) and the Debian packages iproute2,
# dnsmasq-base, openssl, python3, curl, dnsutils (logrotate for its check). Every wait is bounded;
# the trap removes the namespaces and stops every process started here.
# Output: "ok N - ..." / "not ok N - ..." / "skip ..." lines.
set -u
KSD=${KSD:-./ksd}
RULES=${RULES:-signatures/kaspersky.rules}
if [ "$(id -u)" -ne 0 ]; then
    echo "skip live capture: needs root"
    exit 0
fi
for t in ip:iproute2 dnsmasq:dnsmasq-base openssl:openssl python3:python3 curl:curl dig:dnsutils; do
    if ! command -v "${t%%:*}" >/dev/null 2>&1; then
        echo "skip live capture: needs ${t%%:*} (Debian package ${t#*:})"
        exit 0
    fi
done

NS=ksd$$s # sensor and clients
NC=ksd$$c # servers
A=10.79.0.1
B=10.79.0.2
tmp=$(mktemp -d)
chmod 755 "$tmp" # the servers and a dropped ksd read files here
pids=""
ksd_pid=""
cleanup() {
    for p in $ksd_pid $pids; do kill "$p" 2>/dev/null; done
    for ns in $NS $NC; do
        for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
        ip netns del "$ns" 2>/dev/null
    done
    wait 2>/dev/null # reap them (all were in the namespaces, now SIGKILLed)
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
no() { n=$((n + 1)); failed=1; echo "not ok $n - $1"; }
# wait_for TENTHS command...: run command every 0.1 s until it succeeds.
wait_for() {
    tries=$1
    shift
    while [ "$tries" -gt 0 ]; do
        "$@" >/dev/null 2>&1 && return 0
        tries=$((tries - 1))
        sleep 0.1
    done
    return 1
}
inS() { ip netns exec "$NS" "$@"; }
inC() { ip netns exec "$NC" "$@"; }

# ---- network ---------------------------------------------------------------
# A system that cannot make namespaces and veth pairs (a chroot, a container
# without CAP_SYS_ADMIN) cannot run this test at all: say so and skip.
if ip netns add "$NS" 2>"$tmp/netns.err" && ip netns add "$NC" 2>>"$tmp/netns.err" &&
    ip -n "$NS" link add vS type veth peer name vC netns "$NC" 2>>"$tmp/netns.err" &&
    ip -n "$NS" addr add $A/24 dev vS && ip -n "$NC" addr add $B/24 dev vC &&
    ip -n "$NS" link set vS up && ip -n "$NC" link set vC up &&
    ip -n "$NS" link set lo up && ip -n "$NC" link set lo up; then
    ok "two namespaces joined by a veth pair ($A - $B)"
else
    echo "skip live capture: network namespaces and veth pairs cannot be set up here ($(head -1 "$tmp/netns.err"))"
    exit 0
fi

# ---- servers ---------------------------------------------------------------
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
    -subj "/CN=s07.upd.kaspersky.com" -keyout "$tmp/key.pem" -out "$tmp/cert.pem" \
    >"$tmp/req.log" 2>&1 || { no "test certificate"; exit 1; }
mkdir -p "$tmp/www"
echo "index" >"$tmp/www/index.html"

inC dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts --no-poll \
    --bind-interfaces --listen-address=$B --port=53 --user=root --pid-file= \
    --address=/kaspersky.com/$B --address=/kaspersky-labs.com/$B \
    >"$tmp/dnsmasq.log" 2>&1 &
pids="$pids $!"
inC openssl s_server -accept $B:443 -cert "$tmp/cert.pem" -key "$tmp/key.pem" -www -quiet \
    >"$tmp/s_server.log" 2>&1 </dev/null &
pids="$pids $!"
inC python3 -m http.server 80 --bind $B --directory "$tmp/www" >"$tmp/http.log" 2>&1 &
pids="$pids $!"
listening() { inC ss -H -ln "$@" | grep -q .; }
if wait_for 100 listening -u "sport = :53" && wait_for 100 listening -t "sport = :443" &&
    wait_for 100 listening -t "sport = :80"; then
    ok "dnsmasq, openssl s_server and http.server listen on $B"
else
    no "dnsmasq, openssl s_server and http.server listen on $B"
    tail -3 "$tmp"/dnsmasq.log "$tmp"/s_server.log "$tmp"/http.log | sed 's/^/#   /'
    exit 1
fi

# Redis on the sensor side's loopback, when installed: events must still
# reach it after the privilege drop (the output thread starts after it).
redis_args=""
if command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1; then
    mkdir -p "$tmp/redis" "$tmp/spool"
    chown nobody "$tmp/spool" 2>/dev/null
    inS redis-server --port 6390 --bind 127.0.0.1 --dir "$tmp/redis" --save "" --appendonly no \
        --daemonize no >"$tmp/redis.log" 2>&1 &
    pids="$pids $!"
    if wait_for 100 inS redis-cli -p 6390 ping; then
        redis_args="--redis 127.0.0.1:6390 --spool $tmp/spool/spool"
    else
        echo "skip redis output check: redis-server did not start"
    fi
else
    echo "skip redis output check: needs redis-server and redis-cli (Debian package redis-server)"
fi

# ---- ksd -------------------------------------------------------------------
user_args="--user nobody"
if "$KSD" --user nobody -r /dev/null 2>&1 | grep -q "not built yet\|unknown option"; then
    user_args=""
    echo "skip privilege drop check: this ksd has no --user yet"
fi
start_ksd() {
    # shellcheck disable=SC2086
    ip netns exec "$NS" "$KSD" -i vS -s "$RULES" --json "$tmp/events.json" --threads 2 \
        --stats $user_args $redis_args >"$tmp/ksd.out" 2>"$tmp/ksd.err" &
    ksd_pid=$!
}
start_ksd
capturing() { grep -q "capturing on vS" "$tmp/ksd.err"; }
if wait_for 100 capturing; then
    ok "ksd captures on vS inside namespace $NS"
else
    no "ksd captures on vS inside namespace $NS"
    sed 's/^/#   /' "$tmp/ksd.err" | head -5
    exit 1
fi
# two workers on a live interface: one socket each in a PACKET_FANOUT group
if grep -q "PACKET_FANOUT" "$tmp/ksd.err"; then
    ok "2 workers read their own sockets (PACKET_FANOUT)"
else
    no "2 workers read their own sockets (PACKET_FANOUT): $(grep 'fanout\|capturing' "$tmp/ksd.err")"
fi
# `ip netns exec` execs the command: the pid is ksd's own
[ "$(cat /proc/$ksd_pid/comm 2>/dev/null)" = ksd ] || echo "# pid $ksd_pid is not ksd"

if [ -n "$user_args" ]; then
    nobody=$(id -u nobody)
    dropped() { awk -v u="$nobody" '/^Uid:/ { exit !($2 == u && $3 == u && $4 == u && $5 == u) }' \
        "/proc/$ksd_pid/status"; }
    if wait_for 50 dropped; then
        ok "ksd runs as nobody after opening the capture ($(grep '^Uid:' /proc/$ksd_pid/status | tr '\t' ' '))"
    else
        no "ksd runs as nobody after opening the capture"
        grep '^Uid:' "/proc/$ksd_pid/status" | sed 's/^/#   /'
    fi
    caps=$(awk '/^Cap(Eff|Prm|Bnd|Amb):/ { printf "%s%s ", $1, $2 }' "/proc/$ksd_pid/status")
    if awk '/^Cap(Eff|Prm|Bnd|Amb|Inh):/ { if ($2 !~ /^0+$/) bad = 1 } END { exit bad }' \
        "/proc/$ksd_pid/status"; then
        ok "ksd holds no capability ($caps)"
    else
        no "ksd holds no capability ($caps)"
    fi
    # every thread (workers, Redis output) started after the drop
    nt=0 badt=""
    for st in /proc/$ksd_pid/task/*/status; do
        nt=$((nt + 1))
        awk -v u="$nobody" '/^Uid:/ { if ($2 != u || $3 != u || $4 != u || $5 != u) bad = 1 }
            /^Cap(Eff|Prm|Bnd|Amb|Inh):/ { if ($2 !~ /^0+$/) bad = 1 }
            /^NoNewPrivs:/ { if ($2 != 1) bad = 1 } END { exit bad }' "$st" || badt="$badt $st"
    done
    [ -z "$badt" ] && ok "all $nt threads: uid nobody, no capability, no_new_privs" ||
        no "all $nt threads: uid nobody, no capability, no_new_privs:$badt"
    gid0=$(awk '/^Groups:/ { for (i = 2; i <= NF; i++) if ($i == 0) print "yes" }' \
        "/proc/$ksd_pid/status")
    [ -z "$gid0" ] && ok "ksd is in no root group" || no "ksd is in no root group"
fi

# ---- traffic from the sensor side --------------------------------------------
if inS dig @$B s07.upd.kaspersky.com A +time=2 +tries=2 +short >"$tmp/dig.out" 2>&1 &&
    grep -qx "$B" "$tmp/dig.out"; then
    ok "dig s07.upd.kaspersky.com answered by dnsmasq"
else
    no "dig s07.upd.kaspersky.com answered by dnsmasq"
    sed 's/^/#   /' "$tmp/dig.out" | head -3
fi
if echo | inS timeout 10 openssl s_client -connect $B:443 -servername s07.upd.kaspersky.com \
    >"$tmp/s_client.out" 2>&1 && grep -q "CN *= *s07.upd.kaspersky.com" "$tmp/s_client.out"; then
    ok "TLS handshake with SNI s07.upd.kaspersky.com"
else
    no "TLS handshake with SNI s07.upd.kaspersky.com"
    tail -3 "$tmp/s_client.out" | sed 's/^/#   /'
fi
if inS curl -s -o /dev/null -w '%{http_code}' --max-time 10 \
    --resolve ds.kaspersky.com:80:$B http://ds.kaspersky.com/ >"$tmp/curl.out" 2>&1 &&
    grep -qx 200 "$tmp/curl.out"; then
    ok "HTTP GET with Host ds.kaspersky.com"
else
    no "HTTP GET with Host ds.kaspersky.com (got $(cat "$tmp/curl.out"))"
fi

# ---- stop and check ------------------------------------------------------------
sleep 0.5 # let the last packets reach the capture ring
kill -TERM "$ksd_pid" 2>/dev/null
tries=100
while [ $tries -gt 0 ] && kill -0 "$ksd_pid" 2>/dev/null; do
    tries=$((tries - 1))
    sleep 0.1
done
if kill -0 "$ksd_pid" 2>/dev/null; then
    no "ksd exits within 10 s of SIGTERM"
    kill -KILL "$ksd_pid" 2>/dev/null
    wait "$ksd_pid" 2>/dev/null
else
    wait "$ksd_pid"
    st=$?
    [ "$st" -eq 0 ] && ok "ksd exits 0 on SIGTERM" || {
        no "ksd exits 0 on SIGTERM (status $st)"
        sed 's/^/#   /' "$tmp/ksd.err" | tail -5
    }
fi
ksd_pid=""

event() { # event EVIDENCE INDICATOR RULE
    grep "\"evidence\":\"$1\"" "$tmp/events.json" 2>/dev/null | grep "\"indicator\":\"$2\"" |
        grep "\"rule\":\"$3\"" | grep -q "\"client\":\"$A\""
}
for e in "dns s07.upd.kaspersky.com kl-upd-s07" "sni s07.upd.kaspersky.com kl-upd-s07" \
    "http_host ds.kaspersky.com kl-prod-ds"; do
    # shellcheck disable=SC2086
    set -- $e
    if event "$1" "$2" "$3"; then
        ok "event $1 $2 ($3) from client $A"
    else
        no "event $1 $2 ($3) from client $A"
    fi
done
if [ -n "$redis_args" ]; then
    got=$(inS redis-cli -p 6390 XLEN ksd:events 2>&1)
    if [ "$got" -ge 3 ] 2>/dev/null && inS redis-cli -p 6390 HGET "ksd:host:$A" events | grep -q '^[1-9]'; then
        ok "Redis output after the privilege drop: ksd:events has $got entries, ksd:host:$A exists"
    else
        no "Redis output after the privilege drop: ksd:events has 3+ entries (got '$got')"
    fi
fi
# ---- a service on a quiet link -------------------------------------------------
# A second ksd, as a service runs: idle CPU, detection latency to the JSON
# file and to Redis, address evidence of a refused connection, signals and
# sensor:<id> on an idle link, rotation of --json, SIGTERM. Traffic comes
# from the server side (10.79.0.2) to addresses of the sensor side, which
# nothing answers but the kernel.
LAT=tests/tools/livelat.py
K=$(ip netns exec "$NS" sh -c 'getconf CLK_TCK')
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
now() { date +%s.%N; }
took() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
mkdir -p "$tmp/lr"
J2=$tmp/lr/events.json # --json, and standard error as the log file, where
L2=$tmp/lr/ksd.log     # the shipped logrotate.d/ksd would rotate them
redis2=""
[ -n "$redis_args" ] && redis2="--redis 127.0.0.1:6390 --redis-prefix live2: --sensor-id live2"
# shellcheck disable=SC2086
ip netns exec "$NS" "$KSD" -i vS -s "$RULES" --json "$J2" --threads 2 \
    --dedup-window 0 $redis2 >"$tmp/ksd2.out" 2>"$L2" &
ksd_pid=$!
capturing2() { grep -q "capturing on vS" "$L2"; }
if ! wait_for 100 capturing2; then
    no "second ksd captures on vS"
    sed 's/^/#   /' "$L2" | head -5
    exit 1
fi
sleep 1 # start-up work (rule loading, nDPI) is not idle time
t0=$(cpu_ticks "$ksd_pid")
s0=$(now)
sleep 10
t1=$(cpu_ticks "$ksd_pid")
pct=$(awk -v t=$((t1 - t0)) -v k="$K" -v a="$s0" -v b="$(now)" 'BEGIN { printf "%.2f", 100 * t / k / (b - a) }')
if awk -v p="$pct" 'BEGIN { exit !(p <= 1.0) }'; then
    ok "idle CPU over 10 s: $pct% of one core ($((t1 - t0)) ticks of 1/$K s)"
else
    no "idle CPU over 10 s: $pct% of one core (limit 1%)"
fi

# SIGUSR1 and SIGHUP on the idle link: acted on within 1 s
s0=$(now)
kill -USR1 "$ksd_pid"
statsout() { grep -q "^flows:" "$L2"; }
if wait_for 10 statsout; then ok "SIGUSR1 on an idle link: statistics after $(took "$s0") s"; else
    no "SIGUSR1 on an idle link: no statistics within 1 s"; fi
s0=$(now)
kill -HUP "$ksd_pid"
reloaded() { grep -q "reloaded" "$L2"; }
if wait_for 10 reloaded; then ok "SIGHUP on an idle link: reloaded after $(took "$s0") s"; else
    no "SIGHUP on an idle link: no reload within 1 s"; fi

# 100 DNS queries, 30 ms apart, each from its own source port: time to the
# complete JSON line and to the stream entry
NQ=100
inS python3 $LAT watch "$J2" "$([ -n "$redis2" ] && echo 6390 || echo 0)" \
    live2:events $NQ 21000 30 "$tmp/seen" &
wpid=$!
sleep 0.3
inC python3 $LAT send $A $NQ 21000 30 s07.upd.kaspersky.com "$tmp/sent"
wait $wpid
if python3 $LAT report "$tmp/sent" "$tmp/seen" $NQ >"$tmp/lat"; then
    while read -r l; do ok "detection latency, $l"; done <"$tmp/lat"
else
    while read -r l; do no "detection latency (p99 <= 1 s, none lost), $l"; done <"$tmp/lat"
fi

# A SYN answered by a RST from a listed Kaspersky address (cidr rule
# 185.85.12.0/24), put on the sensor side's loopback: the ip event comes
# promptly, not when the flow expires.
KIP=185.85.12.10
ip -n "$NS" addr add $KIP/32 dev lo && ip -n "$NC" route add $KIP/32 via $A
if lat=$(inC python3 $LAT connect $KIP 443 "$J2" $KIP 5) &&
    awk -v l="$lat" 'BEGIN { exit !(l <= 1.0) }'; then
    ok "SYN/RST to listed $KIP: ip event line $lat s after the SYN"
else
    no "SYN/RST to listed $KIP: ip event line after $lat s (limit 1 s)"
fi

# A connection to an address learned from a Kaspersky DNS answer that
# carries no name (held open, silent): dns_ip once the name is overdue
# (1 s), not when the flow ends.
inS dig @$B s07.upd.kaspersky.com A +time=2 +tries=2 +short >/dev/null 2>&1
inS python3 -c "import socket, time
s = socket.create_connection(('$B', 80), timeout=2)
time.sleep(4)" &
hold=$!
s0=$(now)
dnsip() { grep '"evidence":"dns_ip"' "$J2" | grep -q "\"server\":\"$B\""; }
if wait_for 30 dnsip; then ok "silent connection to a DNS-learned address: dns_ip event after $(took "$s0") s"; else
    no "silent connection to a DNS-learned address: no dns_ip event within 3 s"; fi
wait $hold

# sensor:<id> shows the packets on a quiet link (refreshed by the clock)
if [ -n "$redis2" ]; then
    pk() { v=$(inS redis-cli -p 6390 HGET live2:sensor:live2 packets); [ "${v:-0}" -ge $NQ ]; }
    if wait_for 120 pk; then
        ok "sensor:live2 shows $(inS redis-cli -p 6390 HGET live2:sensor:live2 packets) packets on a quiet link"
    else
        no "sensor:live2 does not show the packets within 12 s (packets=$(inS redis-cli -p 6390 HGET live2:sensor:live2 packets))"
    fi
fi

# Rotation: rename --json, send, SIGHUP, send: nothing lost, new lines in a new file
mv "$J2" "$J2.1"
mv "$L2" "$L2.1" # standard error is a file: the log file
inC python3 $LAT send $A 20 22000 10 s07.upd.kaspersky.com "$tmp/sent2"
sleep 0.5
kill -HUP "$ksd_pid"
reopened() { [ -e "$J2" ]; }
wait_for 10 reopened
inC python3 $LAT send $A 20 22020 10 s07.upd.kaspersky.com "$tmp/sent3"
inS python3 $LAT watch "$J2" 0 - 20 22020 3 "$tmp/seen3"
old=$(grep -c '"sport":220[01][0-9],' "$J2.1")
new=$(grep -c '"sport":220[2-3][0-9],' "$J2")
mixed=$(grep -c '"sport":220[2-3][0-9],' "$J2.1")
if [ "$old" -eq 20 ] && [ "$new" -eq 20 ] && [ "$mixed" -eq 0 ]; then
    ok "--json renamed, then SIGHUP: 20 events before in the old file, 20 after in a new one"
else
    no "--json rotation: before=$old (want 20) after=$new (want 20) after-in-old=$mixed (want 0)"
fi
if grep -q "reloaded" "$L2" 2>/dev/null; then
    ok "log file (standard error) renamed, then SIGHUP: new messages in a new file"
else
    no "log file (standard error) renamed, then SIGHUP: no new file with the reload message"
fi

# The shipped deploy/logrotate.d/ksd, run by logrotate on these files (paths
# moved to the test directory, root for the user ksd, the postrotate's
# `systemctl reload` as the SIGHUP it sends): events before the rotation in
# the rotated file, after it in the new one, none lost.
if command -v logrotate >/dev/null 2>&1; then
    sed -e "s|/var/log/ksd|$tmp/lr|g" -e 's/ ksd ksd$/ root root/; s/ ksd$/ root/' \
        -e "s|systemctl reload ksd.service.*|kill -HUP $ksd_pid|" deploy/logrotate.d/ksd >"$tmp/lr.conf"
    chmod 755 "$tmp/lr"
    inC python3 $LAT send $A 20 23000 10 s07.upd.kaspersky.com "$tmp/sent4"
    sleep 0.5
    rm -f "$J2.1" "$L2.1"
    if logrotate -f -s "$tmp/lr.state" "$tmp/lr.conf" >"$tmp/lr.out" 2>&1; then
        inC python3 $LAT send $A 20 23020 10 s07.upd.kaspersky.com "$tmp/sent5"
        inS python3 $LAT watch "$J2" 0 - 20 23020 3 "$tmp/seen5"
        rot=$(ls "$tmp/lr"/events.json-* 2>/dev/null | head -1)
        old=$(cat "$rot" 2>/dev/null | grep -c '"sport":230[01][0-9],')
        new=$(grep -c '"sport":230[2-3][0-9],' "$J2")
        if [ -n "$rot" ] && [ "$old" -eq 20 ] && [ "$new" -eq 20 ] && grep -q reloaded "$L2"; then
            ok "logrotate with deploy/logrotate.d/ksd: 20 events in ${rot##*/}, 20 in a new events.json, log file reopened"
        else
            no "logrotate with deploy/logrotate.d/ksd: rotated='${rot##*/}' before=$old after=$new (want 20, 20)"
        fi
    else
        no "logrotate with deploy/logrotate.d/ksd ran"
        sed 's/^/#   /' "$tmp/lr.out" | head -5
    fi
else
    echo "skip logrotate rotation: needs logrotate (Debian package logrotate)"
fi

# SIGTERM on an idle link: exit 0 within 2 s
s0=$(now)
kill -TERM "$ksd_pid"
gone() { ! kill -0 "$ksd_pid" 2>/dev/null; }
if wait_for 20 gone; then
    wait "$ksd_pid"
    st=$?
    [ "$st" -eq 0 ] && ok "SIGTERM on an idle link: exit 0 after $(took "$s0") s" ||
        no "SIGTERM on an idle link: exit status $st"
else
    no "SIGTERM on an idle link: still running after 2 s"
fi
ksd_pid=""

if [ "$failed" -ne 0 ]; then
    echo "# events:"
    sed 's/^/#   /' "$tmp/events.json" 2>/dev/null | head -10
    echo "# ksd stderr:"
    sed 's/^/#   /' "$tmp/ksd.err" | head -20
fi
exit $failed
