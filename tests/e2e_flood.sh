#!/bin/sh
# e2e_flood.sh - memory bounded by a budget under hostile floods (issue
# "memory bounded"): tests/tools/floodgen (synflood for SYNs) writes each
# flood, ksd reads it with the default settings (--reassembly-mb 64,
# --max-flows 1000000) and /usr/bin/time gives its peak RSS, which must stay
# under the target:
#   200,000 flows of undecryptable QUIC Initials        <= 200 MB
#   200,000 flows of unfinished 4 KB ClientHellos       <= 200 MB
#   1,000,000 concurrent SYN-only flows                 <= 300 MB
# and the budget must have been enforced (handshake state dropped, counted
# per cause in --stats). The floods are piped, not written to disk (about
# 1 GB together). Under the sanitizer build (shadow memory makes RSS
# meaningless) the floods are smaller and RSS is not checked.
set -u
. tests/lib_e2e.sh
budget_of() { sed -n "s/^reassembly budget: .*$1=\([0-9]*\).*/\1/p" "$tmp/err"; }
flows_of() { sed -n "s/^flows: .*$1=\([0-9]*\).*/\1/p" "$tmp/err"; }

command -v /usr/bin/time >/dev/null || { echo "skip flood memory: /usr/bin/time missing"; exit 0; }
case "$BUILD" in *san*) S=20 san=1 ;; *) S=1 san=0 ;; esac

# flood MODE FLOWS LIMIT_MB: run ksd with defaults on the flood, print the figures
flood() {
    mode=$1 flows=$(($2 / S)) limit=$3
    case $mode in
        syn) gen="$TOOLS/synflood $flows" ;;
        *) gen="$TOOLS/floodgen $mode $flows" ;;
    esac
    $gen |
        /usr/bin/time -f '%M %e' -o "$tmp/time" "$KSD" -r - -s $R --stats >/dev/null 2>"$tmp/err"
    rss=$(cut -d' ' -f1 "$tmp/time")
    secs=$(cut -d' ' -f2 "$tmp/time")
    bpeak=$(budget_of peak)
    echo "# $mode flood: $flows flows, peak RSS $((rss / 1024)) MB, $secs s," \
        "budget peak $((bpeak / 1048576)) MB," \
        "dropped tcp=$(budget_of dropped_tcp) quic=$(budget_of dropped_quic)"
    check "$mode flood: all $flows flows tracked" '[ "$(flows_of created)" -eq $flows ]'
    [ $san -eq 1 ] || check "$mode flood: peak RSS $((rss / 1024)) MB <= $limit MB" \
        '[ "$rss" -le $((limit * 1024)) ]'
    check "$mode flood: budget exceeded by at most a few hellos" \
        '[ "$bpeak" -le $((64 * 1048576 + 65536 * 4)) ]'
}

flood quic 200000 200
flood hello 200000 200
[ $san -eq 1 ] || # the smaller sanitizer flood fits in the budget
    check "hello flood: oldest handshakes dropped and counted" '[ "$(budget_of dropped_tcp)" -gt 0 ]'
flood syn 1000000 300

# the budget is a setting (option and configuration key), shared by the workers
printf 'reassembly-mb = 8\n' >"$tmp/conf"
"$TOOLS/floodgen" hello 20000 | "$KSD" -c "$tmp/conf" -r - -s $R --threads 2 --stats \
    >/dev/null 2>"$tmp/err"
check "reassembly-mb = 8 from the configuration: limit $(budget_of limit), peak $(budget_of peak)" \
    '[ "$(budget_of limit)" = 8388608 ] && [ "$(budget_of peak)" -le $((8388608 + 4 * 65536)) ] &&
     [ "$(budget_of dropped_tcp)" -gt 0 ]'
exit $failed
