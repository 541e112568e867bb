#!/bin/sh
# install-deps.sh - install the Debian packages ksd needs to build, test and run.
#
# Usage: deploy/install-deps.sh [build|test|demo|fuzz|bench|all]   (default: all)
#
# Only packages that are missing are installed. As root it runs apt-get itself;
# otherwise it prints the one `sudo apt-get install ...` line to run and exits 1.
set -eu

want=${1:-all}

BUILD="make gcc pkg-config libpcap-dev libndpi-dev libhiredis-dev libssl-dev libinih-dev libmicrohttpd-dev zlib1g-dev"
TEST="libcmocka-dev redis-server redis-sentinel redis-tools tcpdump tshark python3 iproute2 dnsutils openssl curl clang-format dnsmasq-base socat stunnel4 systemd logrotate groff-base time valgrind chromium nodejs npm"
DEMO="redis-server redis-tools python3"
FUZZ="clang libclang-rt-14-dev"
BENCH="tcpdump libndpi-bin time valgrind redis-server redis-tools python3 tcpreplay iproute2 linux-perf"
BROWSER="chromium nodejs npm"

case "$want" in
    build) pkgs="$BUILD" ;;
    test) pkgs="$BUILD $TEST $FUZZ" ;;
    demo) pkgs="$BUILD $DEMO" ;;
    fuzz) pkgs="$BUILD $FUZZ" ;;
    bench) pkgs="$BUILD $BENCH" ;;
    all) pkgs="$BUILD $TEST $DEMO $FUZZ $BENCH" ;;
    *)
        echo "usage: $0 [build|test|demo|fuzz|bench|all]" >&2
        exit 2
        ;;
esac

missing=""
for p in $pkgs; do
    # Node.js from another source (e.g. /usr/local) is as good as Debian's.
    case "$p" in nodejs) command -v node >/dev/null 2>&1 && continue ;; npm) command -v npm >/dev/null 2>&1 && continue ;; esac
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing="$missing $p"
    fi
done

[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "ksd needs these Debian packages; run:" >&2
    echo "  sudo apt-get install -y$missing" >&2
    exit 1
fi

echo "install-deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
# A fresh machine has empty package lists; refresh them once if a package is unknown.
if ! apt-get install -y -q --no-install-recommends $missing >/dev/null 2>&1; then
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends $missing >/dev/null
fi
# tshark asks about non-root capture through debconf; nothing to answer offline.
exit 0
