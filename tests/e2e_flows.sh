#!/bin/sh
# e2e_flows.sh - flat memory: a SYN flood of a million concurrent flows from
# random addresses and ports (tests/tools/synflood) stays under 300 MB and
# 200 bytes per idle flow; with a flow cap, the table never holds more than
# the cap and every eviction is counted. Under the sanitizer build (whose
# shadow memory makes RSS meaningless) the flood is smaller and RSS is not
# checked.
set -u
. tests/lib_e2e.sh
stat_of() { sed -n "s/^flows: .*$1=\([0-9]*\).*/\1/p" "$tmp/err"; }

case "$BUILD" in *san*) N=200000 san=1 ;; *) N=1000000 san=0 ;; esac
command -v /usr/bin/time >/dev/null || { echo "skip flow memory: /usr/bin/time missing"; exit 0; }

"$TOOLS/synflood" 0 | /usr/bin/time -f '%M' -o "$tmp/base" "$KSD" -r - -s $R --threads 1 2>/dev/null
"$TOOLS/synflood" $N | /usr/bin/time -f '%M' -o "$tmp/rss" "$KSD" -r - -s $R --threads 1 \
    --max-flows $N --stats >/dev/null 2>"$tmp/err"
check "$N concurrent flows tracked" '[ "$(stat_of peak)" = $N ] && [ "$(stat_of evicted)" = 0 ]'
if [ $san -eq 0 ]; then
    base=$(cat "$tmp/base")
    rss=$(cat "$tmp/rss")
    per=$(( (rss - base) * 1024 / N ))
    check "peak RSS $((rss / 1024)) MB for $N flows (limit 300 MB)" '[ "$rss" -lt 307200 ]'
    check "$per bytes per idle flow (limit 200)" '[ "$per" -le 200 ]'
fi

cap=$((N / 10))
"$TOOLS/synflood" $N | /usr/bin/time -f '%M' -o "$tmp/rss2" "$KSD" -r - -s $R --threads 1 \
    --max-flows $cap --stats >/dev/null 2>"$tmp/err"
check "flow cap $cap: the table never holds more" '[ "$(stat_of peak)" = $cap ]'
check "flow cap $cap: every eviction counted" '[ "$(stat_of evicted)" = $((N - cap)) ]'
if [ $san -eq 0 ]; then
    check "flow cap $cap: memory follows the cap ($(($(cat "$tmp/rss2") / 1024)) MB)" \
        '[ "$(cat "$tmp/rss2")" -lt $(( $(cat "$tmp/base") + 40000 )) ]'
fi

"$TOOLS/synflood" $N 7 | "$KSD" -r - -s $R --threads 2 --max-flows $cap --stats \
    >/dev/null 2>"$tmp/err"
# --max-flows is one cap over all workers: the tables together never hold
# more than the cap plus one flow per other worker (two may admit at once)
check "two workers: the tables together never hold more than the cap ($(stat_of peak))" \
    '[ "$(stat_of peak)" -le $((cap + 1)) ]'
check "two workers: evictions counted" '[ "$(stat_of evicted)" -ge $((N - 2 * cap)) ]'
exit $failed
