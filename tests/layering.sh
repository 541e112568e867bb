#!/bin/sh
# layering.sh - the include rules of the README's architecture part, checked
# with grep over #include lines. Data flows one way:
#   dissectors/  includes only its own headers (and system/libcrypto headers)
#   signatures/  includes dissectors/ headers and its own, nothing from sensor/
#   sensor/path/ (the packet path) includes dissectors/, signatures/, its own
#                headers and the event record sensor/output/event.h only:
#                never the output queue, never the analyst tools
#   sensor/output/ includes dissectors/ helpers and its own headers: never
#                the packet path, never the analyst tools
#   sensor/analyst/ (report, dashboard) may read the output's connection code
#   sensor/*.c   (main, config, log, privdrop) wires everything
# Libraries: hiredis only in sensor/output/ and sensor/analyst/report*.c (the
# Redis reader); pcap only in sensor/path/capture.c; nDPI only in
# sensor/path/classify.c.
set -u
bad=0
complain() { echo "layering: $*"; bad=1; }
incl() { grep -n '^#include *"' "$1" | sed 's/.*#include *"\([^"]*\)".*/\1/'; }

for f in dissectors/*.[ch]; do
    [ -f "$f" ] || continue
    for h in $(incl "$f"); do
        case "$h" in dissectors/*) ;; *) complain "$f includes $h" ;; esac
    done
done
for f in signatures/*.[ch]; do
    [ -f "$f" ] || continue
    for h in $(incl "$f"); do
        case "$h" in dissectors/* | signatures/*) ;; *) complain "$f includes $h" ;; esac
    done
done
for f in sensor/path/*.[ch]; do
    [ -f "$f" ] || continue
    for h in $(incl "$f"); do
        case "$h" in
        dissectors/* | signatures/* | sensor/path/* | sensor/output/event.h) ;;
        *) complain "$f (packet path) includes $h" ;;
        esac
    done
done
for f in sensor/output/*.[ch]; do
    [ -f "$f" ] || continue
    for h in $(incl "$f"); do
        case "$h" in
        dissectors/* | sensor/output/*) ;;
        *) complain "$f (output) includes $h" ;;
        esac
    done
done
for f in sensor/analyst/*.[ch]; do
    [ -f "$f" ] || continue
    for h in $(incl "$f"); do
        case "$h" in sensor/path/*) complain "$f (analyst tool) includes $h" ;; esac
    done
done
for f in $(grep -rl '#include.*hiredis' sensor dissectors signatures 2>/dev/null); do
    case "$f" in sensor/output/*.c | sensor/analyst/report*.c) ;; *) complain "$f includes hiredis" ;; esac
done
for f in $(grep -rl '#include.*pcap' sensor dissectors signatures 2>/dev/null); do
    case "$f" in sensor/path/capture.c) ;; *) complain "$f includes pcap.h" ;; esac
done
for f in $(grep -rl '#include.*ndpi' sensor dissectors signatures 2>/dev/null); do
    case "$f" in sensor/path/classify.c) ;; *) complain "$f includes nDPI" ;; esac
done
[ $bad -eq 0 ] && echo "layering: ok"
exit $bad
