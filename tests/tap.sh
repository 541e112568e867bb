# tap.sh - the TAP-style helpers of the end-to-end scripts that source it
# (e2e_dashboard.sh, e2e_tls.sh): `. tests/tap.sh` from the repository root,
# after setting n=0 and failed=0.
#
#   ok DESC / notok DESC        print "ok N - DESC" / "not ok N - DESC" (sets failed=1)
#   check DESC COMMAND...       ok when the command succeeds, not ok otherwise
#   free_port                   a free TCP port on 127.0.0.1
#   wait_for SECONDS COMMAND... run the command every 0.1 s until it succeeds;
#                               1 when SECONDS pass first

ok() {
    n=$((n + 1))
    echo "ok $n - $*"
}
notok() {
    n=$((n + 1))
    echo "not ok $n - $*"
    failed=1
}
check() {
    desc=$1
    shift
    if "$@"; then ok "$desc"; else notok "$desc"; fi
}
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_for() {
    limit=$(($1 * 10))
    shift
    i=0
    until "$@" >/dev/null 2>&1; do
        i=$((i + 1))
        [ $i -gt $limit ] && return 1
        sleep 0.1
    done
}
