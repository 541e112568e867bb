#!/bin/sh
# e2e_indirect.sh - indirect evidence and what the network says about the
# client, on captures that tests/tools/mkcaps.py writes into a temp dir:
#  - a CNAME alias (av-updates.partner.example -> dnl-09.geo.kaspersky.com):
#    the event carries via = the question name and the lowered confidence;
#  - name-less TLS/HTTP flows to an address another host resolved as
#    Kaspersky's: dns_ip, category infrastructure, confidence 40, via; a flow
#    with its own SNI, a flow without TLS/HTTP and a flow after the TTL are
#    not reported; the same with --threads 2;
#  - which machine: client_mac, client_name and client_name_source from a
#    DHCP exchange, a NetBIOS registration, an mDNS announcement and an
#    LLMNR answer; nothing for a routed host; the DHCP name gone after the
#    lease, the NetBIOS name after --name-age; the --facts kinds; the
#    machine (name, source, MAC) in the --hosts table, and in ksd report's
#    table (the same table) and JSON from Redis.
# Each check compares "client evidence indicator rule category confidence
# via" lines (sorted) with the expectation written below.
set -u
KSD=${KSD:-./ksd}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0
n=0
python3 tests/tools/mkcaps.py "$tmp" || {
    echo "not ok 1 - mkcaps.py failed"
    exit 1
}

lines() {
    python3 -c '
import json, sys
rows = set()
keys = sys.argv[2].split(",")
for line in open(sys.argv[1], encoding="utf-8"):
    if line.strip():
        e = json.loads(line)
        rows.add(" ".join(str(e.get(k, "-")) for k in keys))
for r in sorted(rows):
    print(r)
' "$1" "$2"
}

# check NAME PCAP KEYS EXPECTED [ksd options]
check() {
    name=$1 pcap=$2 keys=$3 want=$4
    shift 4
    n=$((n + 1))
    if ! "$KSD" -s signatures/kaspersky.rules -r "$tmp/$pcap" --json "$tmp/ev.json" "$@" \
        >"$tmp/out" 2>"$tmp/err"; then
        echo "not ok $n - $name: ksd failed"
        sed 's/^/#   /' "$tmp/err" | head -5
        failed=1
        return
    fi
    lines "$tmp/ev.json" "$keys" >"$tmp/got"
    printf '%s\n' "$want" >"$tmp/want"
    if cmp -s "$tmp/got" "$tmp/want"; then
        echo "ok $n - $name"
    else
        echo "not ok $n - $name"
        diff "$tmp/want" "$tmp/got" | sed 's/^/#   /' | head -20
        failed=1
    fi
}

K=client,evidence,indicator,rule,category,confidence,via
check cname-via cname-alias.pcap $K \
    "10.77.0.21 dns dnl-09.geo.kaspersky.com kl-upd-dnl09 update 70 av-updates.partner.example"

shared="10.77.0.22 dns ksn-file-geo.kaspersky-labs.com kl-ksn-geo-file telemetry 70 -
10.77.0.23 dns_ip 10.78.2.1 kl-ksn-geo-file infrastructure 40 ksn-file-geo.kaspersky-labs.com
10.77.0.24 dns_ip 10.78.2.1 kl-ksn-geo-file infrastructure 40 ksn-file-geo.kaspersky-labs.com"
check shared-dns-ip shared-dnsip.pcap $K "$shared" --threads 1
for i in 1 2 3; do
    check "shared-dns-ip-2-workers run $i" shared-dnsip.pcap $K "$shared" --threads 2
done
n=$((n + 1))
"$KSD" -s signatures/kaspersky.rules -r "$tmp/shared-dnsip.pcap" --threads 1 --hosts \
    >"$tmp/hosts" 2>/dev/null
if grep -q '^10\.77\.0\.23 .* suspected ' "$tmp/hosts" && grep -q '^10\.77\.0\.22 .* product ' "$tmp/hosts"; then
    echo "ok $n - shared-dns-ip: the host table says suspected for the name-less flow's host"
else
    echo "not ok $n - shared-dns-ip: host table verdicts"
    sed 's/^/#   /' "$tmp/hosts"
    failed=1
fi

W=client,indicator,client_mac,client_name,client_name_source
whois="10.77.0.31 dc1-file.ksn.kaspersky-labs.com 02:00:00:00:00:1f - -
10.77.0.31 ksn-file-geo.kaspersky-labs.com 02:00:00:00:00:1f desktop-a31.corp.example dhcp
10.77.0.32 dc1-file.ksn.kaspersky-labs.com 02:00:00:00:00:20 WKS-B32 netbios
10.77.0.32 ksn-file-geo.kaspersky-labs.com 02:00:00:00:00:20 WKS-B32 netbios
10.77.0.33 ksn-file-geo.kaspersky-labs.com 02:00:00:00:00:21 mac-c33 mdns
10.77.0.34 ksn-file-geo.kaspersky-labs.com 02:00:00:00:00:22 pc-d34 llmnr
10.79.0.40 ksn-file-geo.kaspersky-labs.com - - -"
check which-machine whois.pcap $W "$whois" --threads 1
check which-machine-name-age whois.pcap $W "$(printf '%s\n' "$whois" |
    sed 's/^\(10.77.0.32 dc1[^ ]* [^ ]*\) .*/\1 - -/')" --threads 1 --name-age 3600

n=$((n + 1))
"$KSD" -s signatures/kaspersky.rules -r "$tmp/whois.pcap" --facts "$tmp/facts" >/dev/null 2>&1
missing=""
while IFS= read -r want; do
    grep -qxF "$want" "$tmp/facts" || missing="$missing
$want"
done <<EOF2
$(printf 'dhcp_host\tDESKTOP-A31\t02:00:00:00:00:1f
dhcp_host\tdesktop-a31.corp.example\t02:00:00:00:00:1f
dhcp_vendor\tMSFT 5.0\t02:00:00:00:00:1f
mac\t10.77.0.31\t02:00:00:00:00:1f
netbios_name\tWKS-B32\t10.77.0.32
mdns_name\tmac-c33\t10.77.0.33
llmnr_name\tpc-d34\t10.77.0.34')
EOF2
if [ -z "$missing" ] && ! grep -q "^mac.10.79.0.40" "$tmp/facts"; then
    echo "ok $n - which-machine facts"
else
    echo "not ok $n - which-machine facts"
    printf '#   missing: %s\n' "$missing"
    failed=1
fi

# ---- the machine in the host table: the latest name and MAC of each host ----
n=$((n + 1))
"$KSD" -s signatures/kaspersky.rules -r "$tmp/whois.pcap" --threads 1 --hosts >"$tmp/hosts" 2>/dev/null
m31='^10\.77\.0\.31  desktop-a31\.corp\.example (dhcp) 02:00:00:00:00:1f  '
m32='^10\.77\.0\.32  WKS-B32 (netbios) 02:00:00:00:00:20  '
m40='^10\.79\.0\.40  -  '
if head -1 "$tmp/hosts" | grep -q '^CLIENT  *MACHINE  ' && grep -q "$m31" "$tmp/hosts" &&
    grep -q "$m32" "$tmp/hosts" && grep -q "$m40" "$tmp/hosts"; then
    echo "ok $n - which-machine in the --hosts table"
else
    echo "not ok $n - which-machine in the --hosts table"
    sed 's/^/#   /' "$tmp/hosts"
    failed=1
fi

# ---- the same in Redis: stream fields and the host record ----
n=$((n + 1))
if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
    echo "skip $n - which-machine in Redis: redis-server or redis-cli not installed"
    exit $failed
fi
. tests/tap.sh # free_port, wait_for
rport=$(free_port)
redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --dir "$tmp" \
    --daemonize no >"$tmp/redis.log" 2>&1 &
redis_pid=$!
trap 'kill "$redis_pid" 2>/dev/null; wait "$redis_pid" 2>/dev/null; rm -rf "$tmp"' EXIT
if ! wait_for 10 redis-cli -p "$rport" ping; then
    echo "not ok $n - redis-server did not start on port $rport"
    exit 1
fi
"$KSD" -s signatures/kaspersky.rules -r "$tmp/whois.pcap" --threads 1 \
    --redis "127.0.0.1:$rport" --hosts >"$tmp/out" 2>"$tmp/err"
host=$(redis-cli -p "$rport" --no-raw HMGET ksd:host:10.77.0.32 mac name name_source | tr '\n' ' ')
entry=$(redis-cli -p "$rport" XRANGE ksd:events - + COUNT 1 | tr '\n' ' ')
want_host='1) "02:00:00:00:00:20" 2) "WKS-B32" 3) "netbios" '
case "$host|$entry" in
"$want_host|"*"community_id 1:"*"client_mac 02:00:00:00:00:1f client_name desktop-a31.corp.example client_name_source dhcp"*)
    echo "ok $n - which-machine in Redis (host record mac/name/name_source, stream fields)" ;;
*)
    echo "not ok $n - which-machine in Redis"
    echo "#   host: $host"
    echo "#   first entry: $entry"
    failed=1
    ;;
esac

# ksd report: the table ksd --hosts printed, and the record's fields in JSON
n=$((n + 1))
"$KSD" report --redis "127.0.0.1:$rport" | sed '/^$/,$d' >"$tmp/report.table"
"$KSD" report --redis "127.0.0.1:$rport" --json >"$tmp/report.json"
"$KSD" report --redis "127.0.0.1:$rport" --host 10.77.0.32 >"$tmp/report.host"
if cmp -s "$tmp/out" "$tmp/report.table" && grep -q "$m32" "$tmp/report.table" &&
    grep -qF '"mac":"02:00:00:00:00:20","name":"WKS-B32","name_source":"netbios"}' \
        "$tmp/report.json" &&
    grep -qx 'MACHINE         WKS-B32 (netbios) 02:00:00:00:00:20' "$tmp/report.host"; then
    echo "ok $n - which-machine in ksd report (table as --hosts, JSON, --host)"
else
    echo "not ok $n - which-machine in ksd report"
    diff "$tmp/out" "$tmp/report.table" | sed 's/^/#   /' | head -10
    sed 's/^/#   /' "$tmp/report.json" | head -5
    failed=1
fi
exit $failed
