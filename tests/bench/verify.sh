#!/bin/sh
# verify.sh - check a benchgen capture with tshark, an independent dissector.
#
# Usage: tests/bench/verify.sh [PACKETS]   (default 20000; writes build/bench/verify.pcap)
#
# Checks that every generated handshake parses: the TCP ClientHello count and
# the QUIC ClientHello count (tshark decrypts the Initials itself, RFC 9001)
# equal the generator's, every hello carries an SNI, DNS queries and responses
# decode, no TCP/DNS/QUIC/HTTP packet is malformed, and the clients that use
# a Kaspersky name (DNS, TLS SNI, QUIC SNI) are exactly FILE.kaspersky.
# Exit status 0 when all checks pass, 1 otherwise.
set -eu

cd "$(dirname "$0")/../.."
N=${1:-20000}
OUT=build/bench/verify.pcap
mkdir -p build/bench
make --no-print-directory build/tools/benchgen >/dev/null
./build/tools/benchgen -n "$N" -o "$OUT" 2>"$OUT.info"
cat "$OUT.info"

get() { sed -n "s/.* $1 \([0-9]*\).*/\1/p" "$OUT.info"; }
fail=0
check() { # desc got want
    if [ "$2" = "$3" ]; then
        echo "ok   $1: $2"
    else
        echo "FAIL $1: got $2, want $3"
        fail=1
    fi
}
ts() { tshark -r "$OUT" "$@" 2>/dev/null; }

check "TCP ClientHellos" "$(ts -Y 'tcp && tls.handshake.type == 1' | wc -l)" "$(get tcp_client_hellos)"
check "TCP ClientHellos with SNI" \
    "$(ts -Y 'tcp && tls.handshake.type == 1 && tls.handshake.extensions_server_name' | wc -l)" \
    "$(get tcp_client_hellos)"
check "QUIC ClientHellos with SNI (decrypted)" \
    "$(ts -Y 'quic && tls.handshake.type == 1 && tls.handshake.extensions_server_name' | wc -l)" \
    "$(get quic_client_hellos)"
check "DNS queries" "$(ts -Y 'dns.flags.response == 0 && dns.qry.name' | wc -l)" "$(get dns_queries)"
check "DNS responses with answers" "$(ts -Y 'dns.flags.response == 1 && dns.count.answers > 0' | wc -l)" \
    "$(get dns_queries)"
check "malformed TCP/DNS/QUIC/HTTP packets" \
    "$(ts -Y '_ws.malformed && (tcp || dns || quic || http)' | wc -l)" 0
check "TCP analysis problems" "$(ts -Y 'tcp.analysis.flags && !tcp.analysis.window_update' | wc -l)" 0

ts -Y 'dns.flags.response == 0 || tls.handshake.type == 1' -T fields -e ip.src -e dns.qry.name \
    -e tls.handshake.extensions_server_name |
    awk -F'\t' '$2 ~ /kaspersky/ || $3 ~ /kaspersky/ { print $1 }' | sort -u >"$OUT.kclients"
check "clients using Kaspersky names = $OUT.kaspersky" \
    "$(sort -u "$OUT.kaspersky" | cmp -s - "$OUT.kclients" && echo same || echo differ)" same
exit $fail
