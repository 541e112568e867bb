#!/bin/sh
# cost.sh PCAP [RUNS] - what the capture thread spends per packet, with 1
# and 2 workers and without nDPI: `ksd --stats` gives each thread's CPU
# time (its "cpu:" line), `perf record` (task-clock samples: a virtual
# machine may have no cycle counter) splits the capture thread's samples
# into reading the file (the mapped walk, page mapping and dropping),
# dispatching (client hash, queueing offsets, waking the worker) and the
# rest (its own share of the clients: decode, flows, dissection). Prints
# ns per packet read, the median of RUNS (3) runs each. Needs perf (Debian
# package linux-perf) and perf_event_paranoid <= 2; prints "skip cost: why"
# otherwise. Environment: KSD (./ksd), RULES (signatures/kaspersky.rules).
set -u
KSD=${KSD:-./ksd}
RULES=${RULES:-signatures/kaspersky.rules}
PCAP=${1:?usage: cost.sh PCAP [RUNS]}
RUNS=${2:-3}
command -v perf >/dev/null 2>&1 || { echo "skip cost: perf is not installed (Debian package linux-perf)"; exit 0; }
command -v python3 >/dev/null 2>&1 || { echo "skip cost: python3 is not installed"; exit 0; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if ! perf record -q -o "$tmp/probe" true >/dev/null 2>"$tmp/err"; then
    echo "skip cost: perf record does not work here ($(head -1 "$tmp/err"))"
    exit 0
fi
i=0
while [ "$i" -lt "$RUNS" ]; do
    for t in 1 2; do
        perf record -q -F 4999 -o "$tmp/p.data" "$KSD" -r "$PCAP" -s "$RULES" --threads "$t" \
            --no-ndpi --json /dev/null --stats 2>"$tmp/err" >/dev/null || {
            echo "cost: ksd failed" >&2
            cat "$tmp/err" >&2
            exit 1
        }
        sed -n 's/^cpu: //p' "$tmp/err" >"$tmp/cpu.$t.$i"
        sed -n 's/^packets: \([0-9]*\) .*/\1/p' "$tmp/err" >"$tmp/pk.$t.$i"
        perf report -i "$tmp/p.data" --no-children --stdio --sort pid,sym 2>/dev/null |
            grep -E '^ +[0-9]' >"$tmp/rep.$t.$i"
    done
    i=$((i + 1))
done
python3 - "$tmp" "$RUNS" <<'EOF'
import re, statistics, sys
tmp, runs = sys.argv[1], int(sys.argv[2])
# the file walk and its page mapping; the dispatch to other workers
READ = ('ksd_capture_next', 'map_', 'fmap_', 'run_source')
KREAD = ('next_uptodate_folio', 'filemap_', 'folio_', '__get_user_pages', 'follow_page', 'set_pte',
         'unmap_page_range', 'zap_', 'madvise', 'tlb_', 'flush_tlb', 'smp_call_function',
         'native_write_msr', 'page_cache_', 'pte_', '__pte', 'mod_memcg', '__lruvec', 'lru')
DISP = ('quick_hash', 'client_hash', 'push_at', 'push_frame', 'over_soft', 'commit', 'wake',
        'reserve', 'ksd_pool_packet', 'ksd_flow_is_service_port', 'pick')
for t in (1, 2):
    res = {'all': [], 'read': [], 'disp': [], 'own': []}
    for i in range(runs):
        cpu = open(f'{tmp}/cpu.{t}.{i}').read()
        c0 = float(re.search(r'worker 0 \(capture thread\) ([0-9.]+) s', cpu).group(1))
        pk = int(open(f'{tmp}/pk.{t}.{i}').read().split()[0])
        rows = [l.split(None, 3) for l in open(f'{tmp}/rep.{t}.{i}')]
        tids = {}
        for r in rows:
            tids[r[1]] = tids.get(r[1], 0) + float(r[0].rstrip('%'))
        main = min(tids, key=lambda k: int(k.split(':')[0]))
        tot = tids[main]
        rd = ds = 0.0
        for pct, tid, kind, sym in rows:
            if tid != main:
                continue
            v, sym = float(pct.rstrip('%')), sym.strip()
            if sym.startswith(READ) or (kind == '[k]' and sym.startswith(KREAD)):
                rd += v
            elif sym.startswith(DISP):
                ds += v
        ns = c0 / pk * 1e9
        res['all'].append(ns)
        res['read'].append(ns * rd / tot)
        res['disp'].append(ns * ds / tot)
        res['own'].append(ns * (tot - rd - ds) / tot)
    m = {k: statistics.median(v) for k, v in res.items()}
    print(f"cost: {t} worker{'s' if t > 1 else ''}, no nDPI: capture thread {m['all']:.0f} ns per packet "
          f"read = reading {m['read']:.0f} + dispatching {m['disp']:.0f} + its own share "
          f"{m['own']:.0f} (median of {runs})")
EOF
