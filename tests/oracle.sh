#!/bin/sh
# oracle.sh - agreement of ksd's --facts with the tshark oracle's expected
# facts over the shared real-capture corpus (../shared/corpus/real).
#
# Prints a Markdown table per fact kind: oracle facts, ksd facts, in both,
# only oracle, only ksd; the per-file differences go to build/oracle/diff.txt.
# Usage: tests/oracle.sh [--update] [CORPUS_DIR]   (KSD=path to the binary, default ./ksd)
# --update also rewrites the table between the oracle markers of tests/ORACLE.md.
set -u
update=0
[ "${1:-}" = "--update" ] && { update=1; shift; }
KSD=${KSD:-./ksd}
corpus=${1:-${KSD_CORPUS:-../shared/corpus/real}}
out=build/oracle
rm -rf "$out"
mkdir -p "$out/ksd" "$out/exp"
[ -d "$corpus" ] || { echo "oracle.sh: no corpus at $corpus" >&2; exit 2; }
kinds="dns_query dns_answer tls_sni ja3 ja4 http_host quic_sni quic_ja4"
: >"$out/diff.txt"
for f in "$corpus"/*.pcap "$corpus"/*.pcapng; do
    [ -f "$f" ] || continue
    b=$(basename "$f")
    "$KSD" -r "$f" -s signatures/kaspersky.rules --facts "$out/ksd/$b.raw" 2>>"$out/stderr.txt"
    grep -E "^($(echo $kinds | tr ' ' '|'))	" "$out/ksd/$b.raw" | sort -u >"$out/ksd/$b"
    cat "$corpus/expected/$b.facts" "$corpus/expected/$b.ja4" 2>/dev/null | sort -u >"$out/exp/$b"
    if ! cmp -s "$out/ksd/$b" "$out/exp/$b"; then
        {
            echo "== $b"
            comm -23 "$out/exp/$b" "$out/ksd/$b" | sed 's/^/  only oracle: /'
            comm -13 "$out/exp/$b" "$out/ksd/$b" | sed 's/^/  only ksd:    /'
        } >>"$out/diff.txt"
    fi
done
{
echo "| kind | oracle | ksd | both | only oracle | only ksd | agreement |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for k in $kinds; do
    o=0; s=0; both=0
    for e in "$out"/exp/*; do
        b=$(basename "$e")
        eo=$(grep -c "^$k	" "$e")
        ks=$(grep -c "^$k	" "$out/ksd/$b")
        bo=$(comm -12 "$e" "$out/ksd/$b" | grep -c "^$k	")
        o=$((o + eo)); s=$((s + ks)); both=$((both + bo))
    done
    if [ "$o" -gt 0 ]; then
        pct=$(awk -v b="$both" -v o="$o" 'BEGIN { printf "%.1f%%", 100 * b / o }')
    else
        pct="-"
    fi
    echo "| $k | $o | $s | $both | $((o - both)) | $((s - both)) | $pct |"
done
} >"$out/table.md"
cat "$out/table.md"
echo
if [ "$update" -eq 1 ]; then
    python3 - "$out/table.md" tests/ORACLE.md <<'PY'
import sys
table = open(sys.argv[1]).read()
doc = open(sys.argv[2]).read()
a, b = "<!-- oracle:begin -->\n", "<!-- oracle:end -->"
i, j = doc.index(a) + len(a), doc.index(b)
open(sys.argv[2], "w").write(doc[:i] + table + doc[j:])
PY
    echo "tests/ORACLE.md updated"
fi
echo "differences per file: $out/diff.txt"
