# lib_e2e.sh - sourced (not run) by e2e scripts: the binary and tools under
# test, the rules, a temporary directory removed on exit, and the TAP-style
# helpers ok / no / check (check NAME 'SHELL TEST'); $failed is the exit status.
KSD=${KSD:-./ksd}
BUILD=${BUILD:-build}
TOOLS=${TOOLS:-$BUILD/tools}
R=signatures/kaspersky.rules
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
no() { n=$((n + 1)); failed=1; echo "not ok $n - $1"; }
check() { if eval "$2"; then ok "$1"; else no "$1"; fi; }
