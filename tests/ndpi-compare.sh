#!/bin/sh
# ndpi-compare.sh - the server names nDPI extracts (ndpi_host facts: its
# host_server_name when it labels a flow) against the names ksd's own
# dissectors extract (tls_sni, quic_sni, http_host, dns_query), per capture
# of the shared corpus, summed. Prints a Markdown table and the names each
# side alone found (build/ndpi-compare/diff.txt). ksd runs with --ndpi-full,
# so that nDPI dissects every hello and query itself and its names are its own.
set -u
KSD=${KSD:-./ksd}
corpus=${1:-${KSD_CORPUS:-../shared/corpus/real}}
out=build/ndpi-compare
rm -rf "$out"
mkdir -p "$out"
for f in "$corpus"/*.pcap "$corpus"/*.pcapng; do
    [ -f "$f" ] || continue
    "$KSD" -r "$f" -s signatures/kaspersky.rules --threads 1 --ndpi-full \
        --facts "$out/$(basename "$f").facts" \
        2>/dev/null
done
python3 - "$out" <<'PY'
import os, sys
out = sys.argv[1]
kinds = ["tls_sni", "quic_sni", "http_host", "dns_query"]
tot = {k: [0, 0] for k in kinds}
only_ndpi = 0
ndpi_total = 0
lines = []
for fn in sorted(os.listdir(out)):
    if not fn.endswith(".facts"):
        continue
    facts = {}
    for l in open(os.path.join(out, fn), encoding="utf-8", errors="replace"):
        p = l.rstrip("\n").split("\t")
        if len(p) >= 2:
            facts.setdefault(p[0], set()).add(p[1])
    nd = facts.get("ndpi_host", set())
    ours = set()
    for k in kinds:
        v = facts.get(k, set())
        ours |= v
        tot[k][0] += len(v)
        tot[k][1] += len(v & nd)
        for name in sorted(v - nd):
            lines.append("%s\tnDPI missed %s\t%s" % (fn[:-6], k, name))
    ndpi_total += len(nd)
    for name in sorted(nd - ours):
        only_ndpi += 1
        lines.append("%s\tonly nDPI\t%s" % (fn[:-6], name))
print("| ksd fact | names (per capture) | also named by nDPI | missed by nDPI |")
print("|---|---:|---:|---:|")
for k in kinds:
    print("| %s | %d | %d | %d |" % (k, tot[k][0], tot[k][1], tot[k][0] - tot[k][1]))
print()
print("nDPI names: %d; found by nDPI but by none of ksd's dissectors: %d" % (ndpi_total, only_ndpi))
open(os.path.join(out, "diff.txt"), "w").write("\n".join(lines) + "\n")
print("details: %s/diff.txt" % out)
PY
