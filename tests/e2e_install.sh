#!/bin/sh
# e2e_install.sh - `make install` / `make uninstall` (deploy/install.mk):
# every file of the layout in a DESTDIR, with its mode; the installed binary,
# rules, sample configuration and man pages work; an edited /etc/ksd/ksd.conf
# survives reinstall and uninstall; uninstall removes everything else; the
# unit passes `systemd-analyze verify` (package systemd) and its offline
# security score, when systemd-analyze exists. Output: "ok N - ..." /
# "not ok N - ..." / "skip ..." lines; exit 1 on any failure.
set -u
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
no() { n=$((n + 1)); failed=1; echo "not ok $n - $1"; }
check() { # check DESC command...
    desc=$1
    shift
    if "$@" >"$tmp/out" 2>&1; then ok "$desc"; else no "$desc"; sed 's/^/#   /' "$tmp/out" | head -8; fi
}
# A clean make: not the caller's SANITIZE=... or jobserver (run.sh runs
# under `make check`), so the plain ./ksd is what gets installed.
mk() { env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS make --no-print-directory "$@"; }

D=$tmp/root
P=/usr/local
if mk install DESTDIR="$D" PREFIX=$P >"$tmp/install.log" 2>&1; then
    ok "make install DESTDIR PREFIX=$P"
else
    no "make install DESTDIR PREFIX=$P"
    sed 's/^/#   /' "$tmp/install.log" | tail -15
    exit 1
fi

mode() { stat -c %a "$1" 2>/dev/null; }
layout="$P/sbin/ksd:755 $P/share/ksd/kaspersky.rules:644 $P/share/ksd/ksd.conf.example:644
        $P/share/ksd/ksd-redis.conf:644 /etc/ksd/ksd.conf:644
        $P/lib/systemd/system/ksd.service:644 $P/lib/sysusers.d/ksd.conf:644
        $P/share/man/man8/ksd.8:644 $P/share/man/man5/ksd.rules.5:644 /etc/logrotate.d/ksd:644"
for e in $layout; do
    f=${e%%:*} m=${e##*:}
    if [ -f "$D$f" ] && [ "$(mode "$D$f")" = "$m" ]; then
        ok "installed $f (mode $m)"
    else
        no "installed $f (mode $m; got '$(mode "$D$f")')"
    fi
done
K=$D$P/sbin/ksd
check "rules installed unchanged" cmp signatures/kaspersky.rules "$D$P/share/ksd/kaspersky.rules"
check "redis sample installed unchanged" cmp deploy/ksd-redis.conf "$D$P/share/ksd/ksd-redis.conf"
check "logrotate file installed unchanged" cmp deploy/logrotate.d/ksd "$D/etc/logrotate.d/ksd"
if command -v logrotate >/dev/null 2>&1; then
    # parse only (-d), with root for the user ksd that may not exist here
    sed 's/ ksd ksd$/ root root/; s/ ksd$/ root/' "$D/etc/logrotate.d/ksd" >"$tmp/lr.conf"
    if logrotate -d -s "$tmp/lr.state" "$tmp/lr.conf" >"$tmp/lr.out" 2>&1 &&
        ! grep -q "^error" "$tmp/lr.out" && grep -q "^Handling 1 logs" "$tmp/lr.out"; then
        ok "logrotate -d parses the installed logrotate.d/ksd"
    else
        no "logrotate -d parses the installed logrotate.d/ksd"
        grep -i error "$tmp/lr.out" | sed 's/^/#   /' | head -5
    fi
else
    echo "skip logrotate parse: needs logrotate (Debian package logrotate)"
fi
check "ksd.conf is the sample" cmp "$D$P/share/ksd/ksd.conf.example" "$D/etc/ksd/ksd.conf"
check "installed binary runs --version" "$K" --version
check "installed binary validates the installed rules" "$K" --check-signatures "$D$P/share/ksd/kaspersky.rules"
if "$K" --help 2>&1 | grep -q "$P/share/ksd/kaspersky.rules"; then
    ok "compiled-in rules path is $P/share/ksd/kaspersky.rules"
else
    no "compiled-in rules path is $P/share/ksd/kaspersky.rules"
fi
check "unit ExecStart is $P/sbin/ksd -c /etc/ksd/ksd.conf" \
    grep -qx "ExecStart=$P/sbin/ksd -c /etc/ksd/ksd.conf" "$D$P/lib/systemd/system/ksd.service"
check "unit keeps only the capture and user-switch capabilities" grep -qx \
    "CapabilityBoundingSet=CAP_NET_RAW CAP_NET_ADMIN CAP_SETUID CAP_SETGID CAP_SETPCAP" \
    "$D$P/lib/systemd/system/ksd.service"

# The sample configuration: parses, every key documented, every key accepted.
C=$D/etc/ksd/ksd.conf
"$K" -c "$C" --print-config >"$tmp/pc" 2>&1
if [ $? -eq 0 ] && grep -qx "signatures = $P/share/ksd/kaspersky.rules" "$tmp/pc"; then
    ok "installed ksd.conf parses (--print-config)"
else
    no "installed ksd.conf parses (--print-config)"
    sed 's/^/#   /' "$tmp/pc" | head -5
fi
undoc=$(awk '/^;?[a-z][a-z-]* *=/ { if (prev !~ /^#/) print NR": "$0 } { if ($0 != "") prev = $0 }' "$C")
[ -z "$undoc" ] && ok "every ksd.conf key follows a comment" || {
    no "every ksd.conf key follows a comment"
    echo "$undoc" | sed 's/^/#   /'
}
keys=0 bad=0
for line in $(sed -n 's/^;\{0,1\}\([a-z][a-z-]*\) *= *\(.*\)$/\1=\2/p' "$C" | tr ' ' '\001'); do
    line=$(echo "$line" | tr '\001' ' ')
    k=${line%%=*} v=${line#*=}
    keys=$((keys + 1))
    : >"$tmp/one.conf"
    if [ "$k" != read ] && [ "$k" != interface ]; then echo "interface = lo" >"$tmp/one.conf"; fi
    printf '%s = %s\n' "$k" "$v" >>"$tmp/one.conf"
    if "$K" -c "$tmp/one.conf" -s "$D$P/share/ksd/kaspersky.rules" --print-config >"$tmp/o1" 2>&1; then
        :
    elif grep -q "not built yet" "$tmp/o1"; then
        echo "skip ksd.conf key '$k': $(head -1 "$tmp/o1")"
    else
        bad=1
        echo "#   key '$k': $(head -1 "$tmp/o1")"
    fi
done
[ $bad -eq 0 ] && [ $keys -ge 20 ] && ok "every ksd.conf key ($keys) is accepted by ksd" ||
    no "every ksd.conf key ($keys) is accepted by ksd"

# Man pages: render cleanly and cover every option of --help.
if command -v groff >/dev/null 2>&1; then
    for m in man8/ksd.8 man5/ksd.rules.5; do
        out=$(groff -man -ww -z "$D$P/share/man/$m" 2>&1)
        [ -z "$out" ] && ok "man page $m renders without warnings" || {
            no "man page $m renders without warnings"
            echo "$out" | sed 's/^/#   /' | head -5
        }
    done
else
    echo "skip man page rendering: groff not installed (Debian package groff-base)"
fi
missing=""
for o in $("$K" --help 2>&1 | grep -o -- '--[a-z][a-z-]*' | sort -u); do
    grep -q -- "$(echo "$o" | sed 's/-/\\\\-/g')" "$D$P/share/man/man8/ksd.8" || missing="$missing $o"
done
[ -z "$missing" ] && ok "ksd.8 documents every --help option" || no "ksd.8 documents every --help option:$missing"

# An edited configuration survives reinstall and uninstall.
echo "# local edit" >>"$C"
mk install DESTDIR="$D" PREFIX=$P >"$tmp/install2.log" 2>&1
if [ $? -eq 0 ] && tail -1 "$C" | grep -qx "# local edit"; then
    ok "reinstall keeps an edited ksd.conf"
else
    no "reinstall keeps an edited ksd.conf"
fi
mk uninstall DESTDIR="$D" PREFIX=$P >"$tmp/un.log" 2>&1
if [ $? -eq 0 ] && [ -f "$C" ] && grep -q "KEEP" "$tmp/un.log"; then
    ok "uninstall keeps an edited ksd.conf"
else
    no "uninstall keeps an edited ksd.conf"
fi
left=$(cd "$D" && find . -type f ! -path ./etc/ksd/ksd.conf)
[ -z "$left" ] && ok "uninstall removes every other file" || {
    no "uninstall removes every other file"
    echo "$left" | sed 's/^/#   /'
}

# Fresh install then uninstall: nothing left at all.
D2=$tmp/root2
mk install DESTDIR="$D2" PREFIX=$P >"$tmp/i3.log" 2>&1 && mk uninstall DESTDIR="$D2" PREFIX=$P \
    >"$tmp/u3.log" 2>&1
left=$(cd "$D2" && find . -type f)
[ -z "$left" ] && [ ! -e "$D2/etc/ksd" ] && ok "make uninstall DESTDIR removes the whole layout" || {
    no "make uninstall DESTDIR removes the whole layout"
    echo "$left" | sed 's/^/#   /'
}

# PREFIX=/usr: unit in /lib/systemd/system, rules path compiled in (dry run:
# a real one would rebuild every object with the other path).
mk -n install DESTDIR="$tmp/r3" PREFIX=/usr >"$tmp/dry" 2>&1
if grep -q "KSD_DEFAULT_RULES=.*/usr/share/ksd/kaspersky.rules" "$tmp/dry" &&
    grep -q "$tmp/r3/lib/systemd/system/ksd.service" "$tmp/dry" &&
    grep -q "$tmp/r3/usr/sbin/ksd" "$tmp/dry"; then
    ok "PREFIX=/usr: /usr/sbin, /lib/systemd/system, rules path compiled in"
else
    no "PREFIX=/usr: /usr/sbin, /lib/systemd/system, rules path compiled in"
fi

# systemd-analyze: verify the unit as installed (ExecStart pointed at the
# DESTDIR binary, man pages found through MANPATH) and score it offline.
if command -v systemd-analyze >/dev/null 2>&1; then
    mk install DESTDIR="$D2" PREFIX=$P >/dev/null 2>&1
    mkdir -p "$tmp/unit"
    sed "s|^ExecStart=$P/sbin/ksd|ExecStart=$D2$P/sbin/ksd|" "$D2$P/lib/systemd/system/ksd.service" \
        >"$tmp/unit/ksd.service"
    # Documentation= is checked by running man(1), which minimal systems lack;
    # the pages themselves are checked above.
    man_opt=--man=no
    command -v man >/dev/null 2>&1 && man_opt=--man=yes
    if MANPATH="$D2$P/share/man" systemd-analyze verify $man_opt "$tmp/unit/ksd.service" >"$tmp/va" 2>&1 &&
        ! grep -q . "$tmp/va"; then
        ok "systemd-analyze verify ksd.service: clean"
    else
        no "systemd-analyze verify ksd.service: clean"
        sed 's/^/#   /' "$tmp/va" | head -8
    fi
    if systemd-analyze security --offline=yes --threshold=40 "$tmp/unit/ksd.service" >"$tmp/sec" 2>&1; then
        ok "systemd-analyze security: $(grep -o 'exposure level.*' "$tmp/sec" | head -1)"
    elif grep -q "unrecognized option\|Unknown option" "$tmp/sec"; then
        echo "skip systemd-analyze security --offline: not supported by this systemd"
    else
        no "systemd-analyze security: exposure at most 4.0"
        grep -o 'exposure level.*' "$tmp/sec" | sed 's/^/#   /'
    fi
else
    echo "skip systemd-analyze verify: not installed (Debian package systemd)"
fi

exit $failed
