#!/bin/sh
# layering.sh - the include rules of STYLE.md part 3, checked with grep:
#  - dissectors/ includes only its own headers (and system/libcrypto headers)
#  - signatures/ includes dissectors/ headers and its own, nothing from sensor/
#  - only sensor/emit*.c includes hiredis, only sensor/capture.c includes pcap
#  - nDPI only in sensor/classify.c
set -u
bad=0
complain() { echo "layering: $*"; bad=1; }

for f in dissectors/*.[ch] signatures/*.[ch]; do
    [ -f "$f" ] || continue
    grep -n '#include *"sensor/' "$f" && complain "$f includes sensor/"
done
for f in dissectors/*.[ch]; do
    [ -f "$f" ] || continue
    grep -n '#include *"signatures/' "$f" && complain "$f includes signatures/"
done
for f in $(grep -l 'hiredis' sensor/*.[ch] dissectors/*.[ch] signatures/*.[ch] 2>/dev/null); do
    # the Redis writer and the two Redis readers (report, dashboard)
    case "$f" in sensor/emit*.c | sensor/report.c | sensor/web.c) ;; *) grep -q '#include.*hiredis' "$f" && complain "$f includes hiredis" ;; esac
done
for f in $(grep -l '#include.*pcap' sensor/*.[ch] dissectors/*.[ch] signatures/*.[ch] 2>/dev/null); do
    case "$f" in sensor/capture.c) ;; *) complain "$f includes pcap.h" ;; esac
done
for f in $(grep -l '#include.*ndpi' sensor/*.[ch] dissectors/*.[ch] signatures/*.[ch] 2>/dev/null); do
    case "$f" in sensor/classify.c) ;; *) complain "$f includes nDPI" ;; esac
done
[ $bad -eq 0 ] && echo "layering: ok"
exit $bad
