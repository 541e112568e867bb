#!/bin/sh
# e2e_tls.sh - ksd to a central Redis over TLS, the shipped way: ksd writes to
# a local stunnel client configured from deploy/ksd-stunnel.conf, which
# carries it to `redis-server --tls-port` (no plain port) after verifying the
# server's certificate. Certificates (a CA, a server certificate for
# redis.test and 127.0.0.1, and a second CA that did not sign it) are made
# here with openssl. Checks: the tunnel answers PING; ksd -r deploy/demo.pcap
# through it stores every event of its --json output in the stream (count
# and indicators); the server refuses plain RESP; a tunnel that expects
# another server name, or trusts another CA, gets no answer; the shipped
# unit passes systemd-analyze verify.
#
# Prints "ok N - ..." / "not ok N - ..."; "skip ..." (exit 0) when stunnel4
# cannot be installed or redis-server was built without TLS. Every process
# started here is stopped on exit; traffic stays on 127.0.0.1.
#
# Environment: KSD (binary, default ./ksd).
set -u
cd "$(dirname "$0")/.."
KSD=${KSD:-./ksd}
n=0
failed=0
tmp=$(mktemp -d /tmp/ksd-e2e-tls-XXXXXX)
pids=""

cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

. tests/tap.sh

# ---- tools ----
command -v stunnel4 >/dev/null 2>&1 || sh deploy/install-deps.sh test >/dev/null 2>&1 || true
if ! command -v stunnel4 >/dev/null 2>&1; then
    echo "skip e2e_tls - stunnel4 is not installed and could not be (deploy/install-deps.sh test)"
    exit 0
fi
for t in redis-server redis-cli openssl python3; do
    if ! command -v $t >/dev/null 2>&1; then
        notok "$t installed (deploy/install-deps.sh test)"
        exit 1
    fi
done
if [ ! -x "$KSD" ]; then
    notok "ksd binary $KSD exists (run make first)"
    exit 1
fi

# ---- certificates ----
(
    cd "$tmp" || exit 1
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=ksd test CA" \
        -keyout ca-key.pem -out ca.pem &&
        openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=other CA" \
            -keyout other-key.pem -out other.pem &&
        openssl req -newkey rsa:2048 -nodes -subj "/CN=redis.test" \
            -keyout server-key.pem -out server.csr &&
        printf 'subjectAltName = DNS:redis.test, IP:127.0.0.1\n' >ext.cnf &&
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 \
            -extfile ext.cnf -out server.pem
) >"$tmp/openssl.log" 2>&1
if [ ! -s "$tmp/server.pem" ]; then
    notok "openssl made a CA and a server certificate"
    sed 's/^/#   /' "$tmp/openssl.log" | tail -5
    exit 1
fi
ok "openssl made a CA, a server certificate for redis.test/127.0.0.1 and another CA"

# ---- the central Redis: TLS only ----
tport=$(free_port)
redis-server --port 0 --tls-port "$tport" --bind 127.0.0.1 --tls-cert-file "$tmp/server.pem" \
    --tls-key-file "$tmp/server-key.pem" --tls-ca-cert-file "$tmp/ca.pem" \
    --tls-auth-clients no --save '' --appendonly no --dir "$tmp" >"$tmp/redis.log" 2>&1 &
rpid=$!
pids="$rpid"
if ! wait_for 10 grep -q 'Ready to accept connections' "$tmp/redis.log"; then
    if grep -qi 'tls\|bad directive' "$tmp/redis.log" && ! kill -0 "$rpid" 2>/dev/null; then
        echo "skip e2e_tls - this redis-server has no TLS support:"
        sed 's/^/#   /' "$tmp/redis.log" | tail -3
        exit 0
    fi
    notok "redis-server --tls-port $tport started"
    sed 's/^/#   /' "$tmp/redis.log" | tail -5
    exit 1
fi
ok "redis-server --tls-port $tport --port 0 started"

# ---- the tunnel, from the shipped configuration ----
# tunnel NAME LOCALPORT CAFILE HOST: deploy/ksd-stunnel.conf with the
# addresses, CA and expected server name of this test; started in the background
tunnel() {
    sed -e "s|^accept = .*|accept = 127.0.0.1:$2|" -e "s|^connect = .*|connect = 127.0.0.1:$tport|" \
        -e "s|^CAfile = .*|CAfile = $3|" -e "s|^checkHost = .*|checkHost = $4|" \
        deploy/ksd-stunnel.conf >"$tmp/$1.conf"
    stunnel4 "$tmp/$1.conf" >"$tmp/$1.log" 2>&1 &
    pids="$! $pids"
    wait_for 10 python3 -c "import socket; socket.create_connection(('127.0.0.1', $2), 1)"
}
sport=$(free_port)
tunnel good "$sport" "$tmp/ca.pem" redis.test
check "stunnel4 client listens on 127.0.0.1:$sport" \
    python3 -c "import socket; socket.create_connection(('127.0.0.1', $sport), 1)"
check "PING through the tunnel answers PONG" \
    wait_for 10 sh -c "redis-cli -p $sport ping | grep -qx PONG"

# ---- ksd through the tunnel ----
if "$KSD" -r deploy/demo.pcap -s signatures/kaspersky.rules --redis "127.0.0.1:$sport" \
    --sensor-id tls-1 --threads 1 --json "$tmp/events.json" >"$tmp/ksd.out" 2>"$tmp/ksd.err"; then
    ok "ksd -r deploy/demo.pcap --redis 127.0.0.1:$sport (the tunnel) exits 0"
else
    notok "ksd -r deploy/demo.pcap --redis 127.0.0.1:$sport (the tunnel) exits 0"
    sed 's/^/#   /' "$tmp/ksd.err" | tail -5
fi
want=$(wc -l <"$tmp/events.json")
got=$(redis-cli -p "$sport" xlen ksd:events)
check "every event of the run's JSON is in the stream ($got of $want)" \
    sh -c "[ '$want' -gt 0 ] && [ '$got' = '$want' ]"
python3 -c '
import json, sys
for line in open(sys.argv[1]):
    print(json.loads(line)["indicator"])' "$tmp/events.json" | sort >"$tmp/want.ind"
redis-cli -p "$sport" --raw xrange ksd:events - + |
    awk 'take { print; take = 0; next } $0 == "indicator" { take = 1 }' | sort >"$tmp/got.ind"
check "the stream holds the same indicators as the JSON ($(wc -l <"$tmp/got.ind") lines)" \
    sh -c "[ -s '$tmp/want.ind' ] && cmp -s '$tmp/want.ind' '$tmp/got.ind'"
sent=$(redis-cli -p "$sport" hget ksd:sensor:tls-1 sent)
check "sensor:tls-1 counts them as sent ($sent)" test "$sent" = "$want"

# ---- what the tunnel protects against ----
check "the central Redis refuses plain RESP (no PONG on its TLS port)" \
    sh -c "! timeout 5 redis-cli -p $tport ping 2>/dev/null | grep -q PONG"
wport=$(free_port)
tunnel wrongname "$wport" "$tmp/ca.pem" not-redis.test
check "a tunnel expecting another server name gets no answer" \
    sh -c "! timeout 5 redis-cli -p $wport ping 2>/dev/null | grep -q PONG"
check "stunnel says why (the name check failed)" \
    wait_for 5 grep -qi 'CERT: No matching host name found\|certificate verify failed' "$tmp/wrongname.log"
grep -i 'host name\|verify failed' "$tmp/wrongname.log" | head -2 | sed 's/^/#   /'
oport=$(free_port)
tunnel otherca "$oport" "$tmp/other.pem" redis.test
check "a tunnel trusting another CA gets no answer" \
    sh -c "! timeout 5 redis-cli -p $oport ping 2>/dev/null | grep -q PONG"
grep -i 'verify failed\|CERT:' "$tmp/otherca.log" | head -2 | sed 's/^/#   /'

# ---- the shipped unit ----
if command -v systemd-analyze >/dev/null 2>&1; then
    if systemd-analyze verify --man=no deploy/ksd-stunnel.service >"$tmp/va" 2>&1 &&
        ! grep -v 'ksd.service' "$tmp/va" | grep -q .; then
        ok "systemd-analyze verify deploy/ksd-stunnel.service: clean"
    else
        notok "systemd-analyze verify deploy/ksd-stunnel.service: clean"
        sed 's/^/#   /' "$tmp/va" | head -8
    fi
else
    echo "skip systemd-analyze verify ksd-stunnel.service - no systemd-analyze"
fi
check "ksd-stunnel.service is ordered before ksd.service" \
    grep -qx 'Before=ksd.service' deploy/ksd-stunnel.service

exit $failed
