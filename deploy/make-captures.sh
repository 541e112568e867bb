#!/usr/bin/env bash
# make-captures.sh - regenerate deploy/demo.pcap and tests/pcap/*.pcap from
# real protocol stacks (dnsmasq, dig, curl, openssl s_client/s_server,
# python3 http.server, socat) talking across Linux network namespaces.
#
# Usage (as root):  deploy/make-captures.sh [-o REPO_ROOT] [-k]
#   -o DIR   write DIR/deploy/demo.pcap and DIR/tests/pcap/*.pcap
#            (default: the repository this script lives in)
#   -k       keep the work directory (certificates, server logs) for debugging
#
# Topology (everything lives in namespaces this script creates and deletes):
#   ksdgen-srv   one "server" namespace holding bridge br0. br0 carries the
#                client gateway 10.77.0.1/16 and every server address
#                (10.78.0.0/16, fd77::/64); all servers run here.
#   ksdgen-cN    one namespace per simulated host, a veth into br0.
#   tcpdump -i br0 sees every frame between a client and any server (the
#   bridge is promiscuous while captured). Offloads are switched off so the
#   capture shows wire-sized segments with real checksums.
# No namespace has a default route: nothing can leave 10.77/16, 10.78/16 and
# fd77::/64. Every client command runs under `timeout`; every loop is bounded.
#
# Debian packages: iproute2 tcpdump dnsmasq-base socat curl dnsutils openssl
# ethtool python3 (tshark for the self-check at the end).
set -euo pipefail

PFX=ksdgen
SRV=$PFX-srv
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
KEEP=0
PY=/usr/bin/python3

while getopts "o:kh" opt; do
    case $opt in
        o) ROOT=$(cd "$OPTARG" && pwd) ;;
        k) KEEP=1 ;;
        h)
            sed -n '2,/^set -euo/{/^#/p}' "$0"
            exit 0
            ;;
        *) exit 2 ;;
    esac
done

die() {
    echo "make-captures: $*" >&2
    exit 1
}
log() { echo "make-captures: $*" >&2; }

[ "$(id -u)" -eq 0 ] || die "must run as root (network namespaces)"
for t in ip tcpdump dnsmasq socat curl dig openssl ethtool timeout; do
    command -v "$t" >/dev/null 2>&1 || die "missing $t (Debian: iproute2 tcpdump dnsmasq-base socat curl dnsutils openssl ethtool coreutils)"
done
[ -x "$PY" ] || die "missing $PY (Debian: python3)"

OUT_DEMO=$ROOT/deploy/demo.pcap
OUT_TESTS=$ROOT/tests/pcap
mkdir -p "$OUT_TESTS" "$(dirname "$OUT_DEMO")"

WORK=""

# ---------------------------------------------------------------- cleanup

# Kill every process inside one of our namespaces (by pid), then delete it.
drop_ns() {
    local n=$1 pids i
    pids=$(ip netns pids "$n" 2>/dev/null || true)
    if [ -n "$pids" ]; then
        # shellcheck disable=SC2086
        kill -TERM $pids 2>/dev/null || true
        for i in $(seq 30); do
            pids=$(ip netns pids "$n" 2>/dev/null || true)
            [ -z "$pids" ] && break
            sleep 0.1
        done
        if [ -n "$pids" ]; then
            # shellcheck disable=SC2086
            kill -KILL $pids 2>/dev/null || true
        fi
    fi
    ip netns del "$n" 2>/dev/null || true
    rm -rf "/etc/netns/$n"
}

drop_all_ns() {
    local n
    for n in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$PFX-" || true); do
        drop_ns "$n"
    done
}

cleanup() {
    local rc=$?
    set +e
    drop_all_ns
    rmdir /etc/netns 2>/dev/null # only if empty
    wait 2>/dev/null
    if [ -n "$WORK" ] && [ -d "$WORK" ]; then
        if [ "$KEEP" -eq 1 ]; then
            log "work directory kept: $WORK"
        else
            rm -rf "$WORK"
        fi
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

drop_all_ns # leftovers of an interrupted run
WORK=$(mktemp -d /tmp/ksdgen.XXXXXX)

# ---------------------------------------------------------------- helpers

ns() { # ns HOST CMD... : run CMD inside namespace $PFX-HOST
    local h=$1
    shift
    ip netns exec "$PFX-$h" "$@"
}

# fail MSG : count a failed client action (a file, so background subshells count too)
fail() {
    log "warning: $*"
    echo "$*" >>"$WORK/failures"
}

wait_until() { # wait_until TRIES CMD... : poll every 0.1 s, at most TRIES times
    local n=$1 i
    shift
    for i in $(seq "$n"); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    return 1
}

# run HOST CMD... : a client action; its failure is counted, not fatal.
run() {
    local h=$1 rc=0
    shift
    ns "$h" timeout 10 "$@" >>"$WORK/client.out" 2>>"$WORK/client.err" </dev/null || rc=$?
    if [ "$rc" -ne 0 ]; then
        fail "[$h] $* exited $rc"
    fi
}

# run_fail HOST CMD... : a client action that is expected to fail (refused by a proxy).
run_fail() {
    local h=$1
    shift
    ns "$h" timeout 10 "$@" >>"$WORK/client.out" 2>>"$WORK/client.err" </dev/null || true
}

CURL=(curl -q -s -S -k --max-time 6 -o /dev/null)

# tls_get HOST ADDR:PORT [s_client options...] : one HTTP/1.0 GET over openssl s_client
tls_get() {
    local h=$1 target=$2 rc=0
    shift 2
    printf 'GET / HTTP/1.0\r\n\r\n' |
        ns "$h" timeout 10 openssl s_client -quiet -connect "$target" "$@" \
            >>"$WORK/client.out" 2>>"$WORK/client.err" || rc=$?
    if [ "$rc" -ne 0 ]; then
        fail "[$h] s_client $target $* exited $rc"
    fi
}

q() { # q HOST NAME [TYPE] [SERVER] : one dig lookup
    run "$1" dig "@${4:-10.78.0.53}" +tries=1 +time=2 "$2" "${3:-A}"
}

# ---------------------------------------------------------------- address plan
# name  IPv4  IPv6  roles (dns: dnsmasq record; tls: s_server -www on 443;
#                          kltls: TLS 1.2 with the Kaspersky-CA-style chain)
# Plain HTTP (python3 http.server) answers on port 80 of every IPv4 address.
SERVERS="
s07.upd.kaspersky.com            10.78.1.7   -           dns,tls
s03.upd.kaspersky.com            10.78.1.3   -           dns,tls
s01.upd.kaspersky.com            10.78.1.1   -           tls
s11.upd.kaspersky.com            10.78.1.11  fd77::1:11  dns,tls
upd-cdn.example.net              10.78.1.20  -           dns,tls
dnl-03.geo.kaspersky.com         10.78.1.30  -           dns
ksn-file-geo.kaspersky-labs.com  10.78.2.1   -           dns,tls
dc1.ksn.kaspersky-labs.com       10.78.2.2   -           dns,kltls
dc1-file.ksn.kaspersky-labs.com  10.78.2.3   fd77::2:3   dns,tls
activation-v2.kaspersky.com      10.78.3.1   -           dns,tls
crl.kaspersky.com                10.78.3.2   -           dns
ds.kaspersky.com                 10.78.3.3   -           dns,tls
www.kaspersky.com                10.78.4.1   -           dns,tls
securelist.com                   10.78.4.2   -           dns,tls
notkaspersky.com                 10.78.5.1   -           dns,tls
kaspersky.com.example.net        10.78.5.2   -           dns,tls
kaspersky-update.com             10.78.5.3   -           dns,tls
kasperskyupdate.com              10.78.5.4   -           dns,tls
www.example.org                  10.78.6.1   -           dns,tls
intranet.corp.example            10.78.6.2   -           dns
news.example.com                 10.78.6.3   -           dns
ksc.corp.example                 10.78.0.10  -           dns
proxy.corp.example               10.78.0.8   -           dns
"
# downloads.upd.kaspersky.com is a CNAME into a CDN-like name, as in real life.
CNAMES="downloads.upd.kaspersky.com,upd-cdn.example.net"
DNS4=10.78.0.53  # dnsmasq
DNS6=fd77::53    # dnsmasq over IPv6
ODDDNS=10.78.0.54 # python3 responder with an unrelated answer record
KSC=10.78.0.10   # KSC Administration Server: TLS 13000, sends UDP 15000
PROXY=10.78.0.8  # HTTP proxy on 3128

# client hosts: name IPv4 IPv6 MTU
CLIENTS="
c1  10.77.0.11  -         1500
c2  10.77.0.12  -         1500
c3  10.77.0.13  -         1500
c4  10.77.0.14  -         1500
c5  10.77.0.15  -         1500
c6  10.77.0.16  -         1500
c7  10.77.0.17  -         1500
c8  10.77.0.18  -         1500
c9  10.77.0.19  -         576
c10 -           fd77::10  1500
"

# ---------------------------------------------------------------- certificates and content

make_certs() {
    local d=$WORK/pki
    mkdir -p "$d"
    # generic self-signed server certificate for every ordinary TLS listener
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
        -subj "/O=ksdgen lab/CN=ksdgen lab server" -keyout "$d/gen.key" -out "$d/gen.pem" 2>/dev/null
    # private CA styled after Kaspersky's service CA, and a KSN leaf signed by it
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -sha256 \
        -subj "/C=RU/O=Kaspersky Lab/CN=Kaspersky Lab Public Services TLS CA" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -keyout "$d/klca.key" -out "$d/klca.pem" 2>/dev/null
    openssl req -new -newkey rsa:2048 -nodes \
        -subj "/C=RU/ST=Moscow/L=Moscow/O=Kaspersky/OU=IT/CN=ksn.kaspersky-labs.com" \
        -keyout "$d/ksn.key" -out "$d/ksn.csr" 2>/dev/null
    cat >"$d/ksn.ext" <<'EOF'
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:ksn.kaspersky-labs.com,DNS:*.ksn.kaspersky-labs.com
crlDistributionPoints=URI:http://crl.kaspersky.com/cdp/KasperskyLabPublicServicesTLSCA.crl
authorityInfoAccess=OCSP;URI:http://ocsp.kaspersky.com/ocsp,caIssuers;URI:http://crl.kaspersky.com/aia/KasperskyLabPublicServicesTLSCA.crt
EOF
    openssl x509 -req -in "$d/ksn.csr" -CA "$d/klca.pem" -CAkey "$d/klca.key" -set_serial 0x3a00000b750d71e0c54f8a4dae000000000b75 \
        -days 730 -sha256 -extfile "$d/ksn.ext" -out "$d/ksn.pem" 2>/dev/null
    # a CRL of that CA, served by crl.kaspersky.com
    mkdir -p "$d/ca"
    : >"$d/ca/index.txt"
    echo 1000 >"$d/ca/crlnumber"
    cat >"$d/ca.cnf" <<EOF
[ca]
default_ca = kl
[kl]
database = $d/ca/index.txt
crlnumber = $d/ca/crlnumber
default_md = sha256
default_crl_days = 7
EOF
    openssl ca -batch -config "$d/ca.cnf" -gencrl -keyfile "$d/klca.key" -cert "$d/klca.pem" \
        -out "$d/kl.crl.pem" 2>/dev/null
    # KSC Administration Server: self-signed, CA:true, 397 days (KSC's own certificate habit)
    openssl req -x509 -newkey rsa:2048 -nodes -days 397 -sha256 -subj "/CN=ksc.corp.example" \
        -addext "basicConstraints=critical,CA:TRUE" -keyout "$d/ksc.key" -out "$d/ksc.pem" 2>/dev/null
}

make_webroot() {
    local w=$WORK/www
    mkdir -p "$w/index" "$w/cdp" "$w/aia" "$w/2024"
    printf '<html><body>ksdgen lab web server</body></html>\n' >"$w/index.html"
    cat >"$w/index/u0607g.xml" <<'EOF'
<?xml version="1.0" encoding="UTF-8"?>
<UpdateFiles><FileDescription Filename="u0607g.xml" RelativeSrvPath="index/" Comment="ksdgen lab stand-in"/></UpdateFiles>
EOF
    openssl crl -in "$WORK/pki/kl.crl.pem" -outform DER -out "$w/cdp/KasperskyLabPublicServicesTLSCA.crl"
    openssl x509 -in "$WORK/pki/klca.pem" -outform DER -out "$w/aia/KasperskyLabPublicServicesTLSCA.crt"
    printf '<html><body><h1>Why the kaspersky ban matters</h1><p>News article.</p></body></html>\n' \
        >"$w/2024/kaspersky-ban-explained"
}

write_helpers() {
    # A small HTTP proxy: CONNECT tunnels and absolute-form GET, with a deny list.
    cat >"$WORK/proxy.py" <<'EOF'
import select, socket, socketserver, sys, time

LISTEN = (sys.argv[1], int(sys.argv[2]))
DENY = {h.lower() for h in (sys.argv[3] if len(sys.argv) > 3 else "").split(",") if h}
MAX_HDR_LINES = 64
TUNNEL_SECONDS = 15


def relay(a, b):
    deadline = time.monotonic() + TUNNEL_SECONDS
    while time.monotonic() < deadline:
        ready, _, _ = select.select([a, b], [], [], 1.0)
        for s in ready:
            data = s.recv(16384)
            if not data:
                return
            (b if s is a else a).sendall(data)


class Handler(socketserver.StreamRequestHandler):
    rbufsize = 0  # never read past the request head: the tunnel bytes follow it
    timeout = 10

    def reply(self, code, text):
        body = ("%d %s\n" % (code, text)).encode()
        head = "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
        self.wfile.write((head % (code, text, len(body))).encode() + body)

    def handle(self):
        line = self.rfile.readline(8192).decode("latin-1").strip()
        for _ in range(MAX_HDR_LINES):
            if self.rfile.readline(8192) in (b"", b"\r\n", b"\n"):
                break
        parts = line.split()
        if len(parts) != 3:
            return self.reply(400, "Bad Request")
        method, target = parts[0], parts[1]
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            hostport, path = target, ""
        elif method == "GET" and target.startswith("http://"):
            hostport, _, path = target[7:].partition("/")
            host, _, port = hostport.partition(":")
            port = port or "80"
        else:
            return self.reply(405, "Method Not Allowed")
        if host.lower() in DENY:
            return self.reply(403, "Forbidden")
        try:
            up = socket.create_connection((host, int(port)), timeout=5)
        except (OSError, ValueError):
            return self.reply(502, "Bad Gateway")
        with up:
            if method == "CONNECT":
                self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            else:
                req = "GET /%s HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n\r\n" % (path, hostport)
                up.sendall(req.encode("latin-1"))
            relay(self.connection, up)


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


Server(LISTEN, Handler).serve_forever()
EOF
    # A DNS responder whose A answers carry one extra, unrelated A record
    # (owner s01.upd.kaspersky.com): the "answer not about the question" case.
    cat >"$WORK/odddns.py" <<'EOF'
import socket, struct, sys

MAX_QUERIES = 64
MAX_LABELS = 128


def wire(name):
    return b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\0"


def a_rr(owner, addr):
    return owner + struct.pack("!HHIH", 1, 1, 300, 4) + socket.inet_aton(addr)


s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 53))
for _ in range(MAX_QUERIES):
    q, peer = s.recvfrom(4096)
    if len(q) < 17:
        continue
    i = 12
    for _ in range(MAX_LABELS):
        if i >= len(q) or q[i] == 0:
            break
        i += 1 + q[i]
    i += 5
    if i > len(q):
        continue
    qtype = struct.unpack("!H", q[i - 4 : i - 2])[0]
    answers = []
    if qtype == 1:
        answers = [a_rr(b"\xc0\x0c", "10.78.6.1"), a_rr(wire("s01.upd.kaspersky.com"), "10.78.1.1")]
    head = q[:2] + struct.pack("!HHHHH", 0x8180 | (q[2] & 1) << 8, 1, len(answers), 0, 0)
    s.sendto(head + q[12:i] + b"".join(answers), peer)
EOF
}

# ---------------------------------------------------------------- topology

sysctl_ns() { # sysctl_ns NS key=value...
    local n=$1
    shift
    ip netns exec "$n" sysctl -q -w "$@" >/dev/null
}

no_offload() { # no_offload NS DEV : wire-sized segments, real checksums in the capture
    ip netns exec "$1" ethtool -K "$2" tx off sg off tso off gso off gro off >/dev/null 2>&1 || true
}

topology_up() {
    local name a4 a6 roles c mtu
    ip netns add "$SRV"
    mkdir -p "/etc/netns/$SRV"
    printf 'nameserver %s\noptions timeout:1 attempts:1\n' "$DNS4" >"/etc/netns/$SRV/resolv.conf"
    printf '127.0.0.1 localhost\n::1 localhost\n' >"/etc/netns/$SRV/hosts"
    ip -n "$SRV" link set lo up
    sysctl_ns "$SRV" net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.default.accept_ra=0 \
        net.ipv6.conf.default.router_solicitations=0 net.ipv6.conf.all.accept_dad=0
    ip -n "$SRV" link add br0 type bridge mcast_snooping 0
    no_offload "$SRV" br0
    ip -n "$SRV" addr add 10.77.0.1/16 dev br0
    ip -n "$SRV" addr add 10.78.0.1/16 dev br0
    ip -n "$SRV" addr add "$DNS6/64" dev br0 nodad
    for a4 in "$DNS4" "$ODDDNS" "$KSC" "$PROXY"; do
        ip -n "$SRV" addr add "$a4/16" dev br0
    done
    while read -r name a4 a6 roles; do
        [ -n "$name" ] || continue
        case $name in ksc.* | proxy.*) continue ;; esac
        ip -n "$SRV" addr add "$a4/16" dev br0
        [ "$a6" = "-" ] || ip -n "$SRV" addr add "$a6/64" dev br0 nodad
    done <<<"$SERVERS"
    ip -n "$SRV" link set br0 up

    while read -r c a4 a6 mtu; do
        [ -n "$c" ] || continue
        ip netns add "$PFX-$c"
        mkdir -p "/etc/netns/$PFX-$c"
        if [ "$a4" = "-" ]; then
            printf 'nameserver %s\noptions timeout:1 attempts:1\n' "$DNS6" >"/etc/netns/$PFX-$c/resolv.conf"
        else
            printf 'nameserver %s\noptions timeout:1 attempts:1\n' "$DNS4" >"/etc/netns/$PFX-$c/resolv.conf"
        fi
        printf '127.0.0.1 localhost\n::1 localhost\n' >"/etc/netns/$PFX-$c/hosts"
        ip -n "$PFX-$c" link set lo up
        if [ "$a6" = "-" ]; then
            sysctl_ns "$PFX-$c" net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
        else
            sysctl_ns "$PFX-$c" net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.default.accept_ra=0 \
                net.ipv6.conf.default.router_solicitations=0 net.ipv6.conf.all.accept_dad=0
        fi
        ip -n "$SRV" link add "v$c" type veth peer name eth0 netns "$PFX-$c"
        sysctl_ns "$SRV" "net.ipv6.conf.v$c.disable_ipv6=1"
        no_offload "$SRV" "v$c"
        no_offload "$PFX-$c" eth0
        ip -n "$SRV" link set "v$c" master br0 up
        [ "$mtu" = 1500 ] || ip -n "$PFX-$c" link set eth0 mtu "$mtu"
        # with IPv6 disabled by default the moved eth0 normally has no IPv6 state at all
        if [ "$a6" = "-" ]; then
            sysctl_ns "$PFX-$c" net.ipv6.conf.eth0.disable_ipv6=1 2>/dev/null || true
        fi
        [ "$a4" = "-" ] || ip -n "$PFX-$c" addr add "$a4/16" dev eth0
        [ "$a6" = "-" ] || ip -n "$PFX-$c" addr add "$a6/64" dev eth0 nodad
        ip -n "$PFX-$c" link set eth0 up
        [ "$a4" = "-" ] || ip -n "$PFX-$c" route add 10.78.0.0/16 via 10.77.0.1
    done <<<"$CLIENTS"
}

# ---------------------------------------------------------------- servers

bg_srv() { # bg_srv LOGNAME CMD... : a server process in the server namespace
    local logf=$WORK/$1.log
    shift
    ip netns exec "$SRV" "$@" >"$logf" 2>&1 </dev/null &
}

listening() { # listening tcp|udp ADDR PORT
    local flag=-ltn
    [ "$1" = udp ] && flag=-lun
    ip netns exec "$SRV" ss -H "$flag" | awk '{print $4}' | grep -qxF "$2:$3"
}

servers_up() {
    local name a4 a6 roles d=$WORK/pki args
    args=(--keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts --no-poll
        --bind-interfaces "--listen-address=$DNS4" "--listen-address=$DNS6" --port=53
        --user=root --pid-file= --local-ttl=300 "--log-facility=$WORK/dnsmasq.events")
    while read -r name a4 a6 roles; do
        [ -n "$name" ] || continue
        case ",$roles," in *,dns,*) ;; *) continue ;; esac
        if [ "$a6" = "-" ]; then
            args+=("--host-record=$name,$a4")
        else
            args+=("--host-record=$name,$a4,$a6")
        fi
    done <<<"$SERVERS"
    args+=("--cname=$CNAMES")
    bg_srv dnsmasq dnsmasq "${args[@]}"

    bg_srv httpd "$PY" -m http.server 80 --bind 0.0.0.0 --directory "$WORK/www"
    bg_srv proxy "$PY" "$WORK/proxy.py" "$PROXY" 3128 downloads.upd.kaspersky.com
    bg_srv odddns "$PY" "$WORK/odddns.py" "$ODDDNS"
    bg_srv ksc openssl s_server -quiet -www -accept "$KSC:13000" -cert "$d/ksc.pem" -key "$d/ksc.key"

    while read -r name a4 a6 roles; do
        [ -n "$name" ] || continue
        case ",$roles," in
            *,tls,*)
                bg_srv "tls-$a4" openssl s_server -quiet -www -accept "$a4:443" \
                    -cert "$d/gen.pem" -key "$d/gen.key"
                if [ "$a6" != "-" ]; then
                    bg_srv "tls-$a6" openssl s_server -quiet -www -accept "[$a6]:443" \
                        -cert "$d/gen.pem" -key "$d/gen.key"
                fi
                ;;
            *,kltls,*)
                bg_srv "tls-$a4" openssl s_server -quiet -www -tls1_2 -accept "$a4:443" \
                    -cert "$d/ksn.pem" -key "$d/ksn.key" -cert_chain "$d/klca.pem"
                ;;
        esac
    done <<<"$SERVERS"

    wait_until 50 listening udp "$DNS4" 53 || die "dnsmasq did not start (see $WORK/dnsmasq.log)"
    wait_until 50 listening udp "$ODDDNS" 53 || die "odddns.py did not start"
    wait_until 50 listening tcp 0.0.0.0 80 || die "http.server did not start"
    wait_until 50 listening tcp "$PROXY" 3128 || die "proxy.py did not start"
    wait_until 50 listening tcp "$KSC" 13000 || die "KSC s_server did not start"
    while read -r name a4 a6 roles; do
        [ -n "$name" ] || continue
        case ",$roles," in *tls,*) ;; *) continue ;; esac
        wait_until 50 listening tcp "$a4" 443 || die "s_server on $a4 did not start"
        [ "$a6" = "-" ] || wait_until 50 listening tcp "[$a6]" 443 || die "s_server on $a6 did not start"
    done <<<"$SERVERS"
}

# ---------------------------------------------------------------- capture

capture() { # capture OUTFILE FUNCTION : tcpdump on br0 around one scenario
    local out=$1 fn=$2 tmp=$WORK/capture.pcap err=$WORK/tcpdump.err pid i
    rm -f "$tmp"
    ip netns exec "$SRV" tcpdump -i br0 -s 0 -U --immediate-mode -n -Z root -w "$tmp" \
        2>"$err" </dev/null &
    pid=$!
    wait_until 50 grep -q "listening on" "$err" || die "tcpdump did not start: $(cat "$err")"
    sleep 0.2
    "$fn"
    sleep 0.5
    kill -INT "$pid" 2>/dev/null || true
    for i in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    wait "$pid" 2>/dev/null || true
    [ -s "$tmp" ] || die "empty capture for $out"
    mv "$tmp" "$out"
    log "wrote $out ($(stat -c %s "$out") bytes)"
}

# ---------------------------------------------------------------- scenarios (tests/pcap)

sc_dns_kaspersky() { # c1 resolves update, KSN, activation, revocation and KSC-cloud names
    local n
    for n in s07.upd.kaspersky.com downloads.upd.kaspersky.com dnl-03.geo.kaspersky.com \
        ksn-file-geo.kaspersky-labs.com dc1.ksn.kaspersky-labs.com activation-v2.kaspersky.com \
        crl.kaspersky.com; do
        q c1 "$n"
    done
}

sc_dns_lookalikes() {
    local n
    for n in notkaspersky.com kaspersky.com.example.net kaspersky-update.com kasperskyupdate.com; do
        q c4 "$n"
    done
}

sc_dns_other_question() { # answer record about another name, then a no-SNI connection to it
    q c4 www.example.org A "$ODDDNS"
    tls_get c4 10.78.1.1:443 -noservername
}

sc_tls_sni_update() {
    run c1 "${CURL[@]}" --resolve s07.upd.kaspersky.com:443:10.78.1.7 https://s07.upd.kaspersky.com/index/u0607g.xml
}

sc_tls_sni_website() {
    run c3 "${CURL[@]}" --resolve www.kaspersky.com:443:10.78.4.1 https://www.kaspersky.com/
}

sc_tls_split_hello() { # c9 has MTU 576: a ~1.9 KB ClientHello leaves in 4 segments
    local alpn i
    alpn="h2,http/1.1"
    for i in $(seq -w 1 14); do
        alpn="$alpn,ksdgen-large-hello-$i-$(printf '%0100d' 0)"
    done
    tls_get c9 10.78.1.7:443 -servername s07.upd.kaspersky.com -alpn "$alpn"
}

sc_http_host_update() {
    run c1 "${CURL[@]}" --resolve dnl-03.geo.kaspersky.com:80:10.78.1.30 http://dnl-03.geo.kaspersky.com/index/u0607g.xml
}

sc_http_news_path() {
    run c4 "${CURL[@]}" --resolve news.example.com:80:10.78.6.3 http://news.example.com/2024/kaspersky-ban-explained
}

sc_http_connect_proxy() { # one tunnel allowed, one refused by the proxy, one ordinary
    run c6 "${CURL[@]}" -x "http://$PROXY:3128" https://s03.upd.kaspersky.com/
    run_fail c6 "${CURL[@]}" -x "http://$PROXY:3128" https://downloads.upd.kaspersky.com/
    run c6 "${CURL[@]}" -x "http://$PROXY:3128" https://www.example.org/
}

sc_http_proxy_absolute() { # plain HTTP through the proxy: absolute-form request line
    run c6 "${CURL[@]}" -x "http://$PROXY:3128" http://dnl-03.geo.kaspersky.com/index/u0607g.xml
}

ksc_cycle() { # ksc_cycle HOST ADDR : agent sync, server's UDP 15000 wake-up, agent reconnects
    local h=$1 a=$2 rpid
    tls_get "$h" "$KSC:13000" -noservername
    ns "$h" timeout 4 socat -u UDP-RECV:15000 OPEN:/dev/null >/dev/null 2>&1 </dev/null &
    rpid=$!
    sleep 0.3
    head -c 32 /dev/urandom | ip netns exec "$SRV" timeout 3 socat -u - "UDP-SENDTO:$a:15000,bind=$KSC" ||
        fail "UDP 15000 send to $a"
    sleep 0.3
    kill "$rpid" 2>/dev/null || true
    wait "$rpid" 2>/dev/null || true
    tls_get "$h" "$KSC:13000" -noservername
}

sc_ksc_management() {
    ksc_cycle c2 10.77.0.12
}

sc_udp15000_game() { # game beacons 15000<->15000 between two hosts, no TCP 13000 anywhere
    local rpid i
    ns c8 timeout 5 socat UDP-LISTEN:15000,reuseaddr PIPE >/dev/null 2>&1 </dev/null &
    rpid=$!
    sleep 0.3
    for i in 1 2 3 4; do
        printf 'BEACON %d lobby=ksdgen players=2\n' "$i" |
            ns c7 timeout 2 socat -t 0.5 - UDP:10.77.0.18:15000,sourceport=15000,reuseaddr \
                >/dev/null 2>&1 || true
        sleep 0.2
    done
    kill "$rpid" 2>/dev/null || true
    wait "$rpid" 2>/dev/null || true
}

sc_dns_ip_nosni() { # resolve, then TLS to the address without SNI
    local ip
    ip=$(ns c5 timeout 5 dig "@$DNS4" +tries=1 +time=2 +short activation-v2.kaspersky.com A | tail -n 1)
    [ -n "$ip" ] || die "no answer for activation-v2.kaspersky.com"
    tls_get c5 "$ip:443" -noservername
}

sc_cert_kaspersky_ca() { # TLS 1.2: the certificate chain is in clear
    tls_get c1 10.78.2.2:443 -servername dc1.ksn.kaspersky-labs.com
    tls_get c1 10.78.2.2:443 -noservername
}

sc_ipv6_dns_tls() {
    q c10 s11.upd.kaspersky.com AAAA "$DNS6"
    run c10 "${CURL[@]}" -6 https://s11.upd.kaspersky.com/
    run c10 "${CURL[@]}" -6 https://dc1-file.ksn.kaspersky-labs.com/
}

# ---------------------------------------------------------------- demo

demo_h1() { # 10.77.0.11: unmanaged Windows-like host with a Kaspersky product
    q c1 dc1.ksn.kaspersky-labs.com
    run c1 "${CURL[@]}" https://s07.upd.kaspersky.com/index/u0607g.xml
    run c1 "${CURL[@]}" http://dnl-03.geo.kaspersky.com/index/u0607g.xml
    sleep 0.4
    run c1 "${CURL[@]}" https://downloads.upd.kaspersky.com/
    run c1 "${CURL[@]}" https://ksn-file-geo.kaspersky-labs.com/
    run c1 "${CURL[@]}" https://dc1.ksn.kaspersky-labs.com/
    sleep 0.4
    run c1 "${CURL[@]}" http://crl.kaspersky.com/cdp/KasperskyLabPublicServicesTLSCA.crl
    run c1 "${CURL[@]}" https://activation-v2.kaspersky.com/activationservice/activationservice.svc
    run c1 "${CURL[@]}" https://www.example.org/
}

demo_h2() { # 10.77.0.12: KSC-managed host
    sleep 0.2
    q c2 ds.kaspersky.com
    run c2 "${CURL[@]}" http://intranet.corp.example/
    ksc_cycle c2 10.77.0.12
}

demo_h3() { # 10.77.0.13: browses the Kaspersky web site and securelist only
    sleep 0.5
    run c3 "${CURL[@]}" https://www.kaspersky.com/
    run c3 "${CURL[@]}" https://securelist.com/
    run c3 "${CURL[@]}" http://www.example.org/
}

demo_h4() { # 10.77.0.14: clean host, ordinary traffic and look-alike names
    run c4 "${CURL[@]}" https://www.example.org/
    run c4 "${CURL[@]}" http://news.example.com/2024/kaspersky-ban-explained
    sleep 0.3
    run c4 "${CURL[@]}" https://notkaspersky.com/
    run c4 "${CURL[@]}" https://kaspersky.com.example.net/
    run c4 "${CURL[@]}" https://kaspersky-update.com/
    q c4 kasperskyupdate.com
    run c4 "${CURL[@]}" http://intranet.corp.example/
}

demo_h5() { # 10.77.0.15: resolves activation-v2, then TLS by address without SNI
    sleep 0.7
    sc_dns_ip_nosni
}

demo_h6() { # 10.77.0.16: everything through the HTTP proxy
    sleep 0.4
    run c6 "${CURL[@]}" -x "http://$PROXY:3128" https://s03.upd.kaspersky.com/
    run c6 "${CURL[@]}" -x "http://$PROXY:3128" https://www.example.org/
}

sc_demo() {
    local pids=() p
    demo_h1 &
    pids+=($!)
    demo_h2 &
    pids+=($!)
    demo_h3 &
    pids+=($!)
    demo_h4 &
    pids+=($!)
    demo_h5 &
    pids+=($!)
    demo_h6 &
    pids+=($!)
    for p in "${pids[@]}"; do
        wait "$p" || fail "demo host job $p"
    done
}

# ---------------------------------------------------------------- self-check (tshark)

CHECKS=0
CHECK_FAILS=0
expect_frames() { # expect_frames FILE DISPLAY_FILTER MIN DESC
    local f=$1 filt=$2 min=$3 desc=$4 n
    CHECKS=$((CHECKS + 1))
    n=$(tshark -n -r "$f" -o tcp.check_checksum:FALSE -Y "$filt" 2>/dev/null | wc -l)
    if [ "$n" -lt "$min" ]; then
        log "CHECK FAILED: $(basename "$f"): $desc ($n frames match '$filt', want >= $min)"
        CHECK_FAILS=$((CHECK_FAILS + 1))
    fi
}
expect_none() { # expect_none FILE DISPLAY_FILTER DESC
    local f=$1 filt=$2 desc=$3 n
    CHECKS=$((CHECKS + 1))
    n=$(tshark -n -r "$f" -Y "$filt" 2>/dev/null | wc -l)
    if [ "$n" -ne 0 ]; then
        log "CHECK FAILED: $(basename "$f"): $desc ($n frames match '$filt', want 0)"
        CHECK_FAILS=$((CHECK_FAILS + 1))
    fi
}

self_check() {
    local t=$OUT_TESTS f size
    if ! command -v tshark >/dev/null 2>&1; then
        log "tshark not installed: skipping the self-check"
        return 0
    fi
    expect_frames "$t/dns-kaspersky.pcap" 'dns.flags.response==1 && dns.qry.name=="s07.upd.kaspersky.com" && dns.a==10.78.1.7' 1 "s07 answer"
    expect_frames "$t/dns-kaspersky.pcap" 'dns.flags.response==1 && dns.cname=="upd-cdn.example.net" && dns.a==10.78.1.20' 1 "CNAME chain"
    expect_frames "$t/dns-kaspersky.pcap" 'dns.flags.response==1 && dns.qry.name=="activation-v2.kaspersky.com" && dns.a' 1 "activation answer"
    expect_frames "$t/dns-lookalikes.pcap" 'dns.flags.response==1 && dns.a' 4 "4 look-alike answers"
    expect_frames "$t/dns-other-question.pcap" 'dns.qry.name=="www.example.org" && dns.resp.name=="s01.upd.kaspersky.com" && dns.count.answers==2' 1 "unrelated answer record"
    expect_frames "$t/dns-other-question.pcap" 'tls.handshake.type==1 && ip.dst==10.78.1.1 && !tls.handshake.extensions_server_name' 1 "no-SNI hello to 10.78.1.1"
    expect_frames "$t/tls-sni-update.pcap" 'tls.handshake.extensions_server_name=="s07.upd.kaspersky.com"' 1 "SNI"
    expect_none "$t/tls-sni-update.pcap" 'dns' "no DNS"
    expect_frames "$t/tls-sni-website.pcap" 'tls.handshake.extensions_server_name=="www.kaspersky.com"' 1 "SNI"
    expect_frames "$t/tls-split-hello.pcap" 'tls.handshake.type==1 && tls.handshake.length>1500 && tcp.segment.count>=2' 1 "ClientHello > 1500 bytes over >= 2 segments"
    expect_frames "$t/tls-split-hello.pcap" 'tls.handshake.extensions_server_name=="s07.upd.kaspersky.com"' 1 "SNI"
    expect_frames "$t/http-host-update.pcap" 'http.host=="dnl-03.geo.kaspersky.com" && http.request.uri=="/index/u0607g.xml"' 1 "Host + URI"
    expect_frames "$t/http-news-path.pcap" 'http.host=="news.example.com" && http.request.uri contains "kaspersky"' 1 "news URI"
    expect_frames "$t/http-connect-proxy.pcap" 'http.request.method=="CONNECT" && http.request.uri=="s03.upd.kaspersky.com:443"' 1 "CONNECT s03"
    expect_frames "$t/http-connect-proxy.pcap" 'http.response.code==403' 1 "refused CONNECT"
    expect_frames "$t/http-connect-proxy.pcap" 'tls.handshake.extensions_server_name=="s03.upd.kaspersky.com"' 1 "SNI inside the tunnel"
    expect_none "$t/http-connect-proxy.pcap" 'dns' "no DNS from the client"
    expect_frames "$t/http-proxy-absolute.pcap" 'http.request.uri=="http://dnl-03.geo.kaspersky.com/index/u0607g.xml"' 1 "absolute-form GET"
    expect_frames "$t/ksc-management.pcap" 'tcp.dstport==13000 && tls.handshake.type==1' 2 "two TLS sessions to 13000"
    expect_frames "$t/ksc-management.pcap" 'udp.dstport==15000 && ip.src==10.78.0.10 && ip.dst==10.77.0.12' 1 "UDP 15000 from the server"
    expect_frames "$t/udp15000-game.pcap" 'udp.port==15000' 4 "game beacons"
    expect_none "$t/udp15000-game.pcap" 'tcp.port==13000' "no TCP 13000"
    expect_frames "$t/dns-ip-nosni.pcap" 'dns.qry.name=="activation-v2.kaspersky.com" && dns.a==10.78.3.1' 1 "activation answer"
    expect_frames "$t/dns-ip-nosni.pcap" 'tls.handshake.type==1 && ip.dst==10.78.3.1 && !tls.handshake.extensions_server_name' 1 "no-SNI hello"
    expect_frames "$t/cert-kaspersky-ca.pcap" 'tls.handshake.type==11 && tls.record.version==0x0303 && x509sat.uTF8String=="Kaspersky Lab Public Services TLS CA"' 2 "TLS 1.2 Certificate with the CA name"
    expect_frames "$t/cert-kaspersky-ca.pcap" 'tls.handshake.type==11 && x509ce.dNSName=="*.ksn.kaspersky-labs.com"' 2 "leaf SAN"
    expect_frames "$t/ipv6-dns-tls.pcap" 'ipv6 && dns.qry.name=="s11.upd.kaspersky.com" && dns.aaaa==fd77::1:11' 1 "AAAA answer"
    expect_frames "$t/ipv6-dns-tls.pcap" 'ipv6 && tls.handshake.extensions_server_name=="dc1-file.ksn.kaspersky-labs.com"' 1 "SNI over IPv6"
    expect_none "$t/ipv6-dns-tls.pcap" 'ip' "no IPv4"
    expect_frames "$OUT_DEMO" 'tls.handshake.extensions_server_name=="activation-v2.kaspersky.com"' 1 "activation hello"
    expect_frames "$OUT_DEMO" 'tcp.dstport==13000' 1 "KSC flow"
    expect_frames "$OUT_DEMO" 'http.request.method=="CONNECT"' 1 "proxy CONNECT"
    expect_frames "$OUT_DEMO" 'tls.handshake.extensions_server_name=="securelist.com"' 1 "securelist"
    expect_frames "$OUT_DEMO" 'tls.handshake.type==1 && ip.src==10.77.0.15 && !tls.handshake.extensions_server_name' 1 "dns_ip host"
    expect_frames "$OUT_DEMO" 'dns.qry.name=="ds.kaspersky.com"' 1 "ds lookup"
    for f in "$OUT_TESTS"/*.pcap "$OUT_DEMO"; do
        size=$(stat -c %s "$f")
        CHECKS=$((CHECKS + 1))
        if { [ "$f" = "$OUT_DEMO" ] && [ "$size" -ge 307200 ]; } ||
            { [ "$f" != "$OUT_DEMO" ] && [ "$size" -ge 102400 ]; }; then
            log "CHECK FAILED: $(basename "$f") is $size bytes (too large)"
            CHECK_FAILS=$((CHECK_FAILS + 1))
        fi
    done
    log "self-check: $((CHECKS - CHECK_FAILS)) passed, $CHECK_FAILS failed"
    [ "$CHECK_FAILS" -eq 0 ]
}

# ---------------------------------------------------------------- main

make_certs
make_webroot
write_helpers
topology_up
servers_up
sleep 2 # let link-up chatter (IPv6 MLD of the IPv6 host) pass before capturing

T=$OUT_TESTS
capture "$T/dns-kaspersky.pcap" sc_dns_kaspersky
capture "$T/dns-lookalikes.pcap" sc_dns_lookalikes
capture "$T/dns-other-question.pcap" sc_dns_other_question
capture "$T/tls-sni-update.pcap" sc_tls_sni_update
capture "$T/tls-sni-website.pcap" sc_tls_sni_website
capture "$T/tls-split-hello.pcap" sc_tls_split_hello
capture "$T/http-host-update.pcap" sc_http_host_update
capture "$T/http-news-path.pcap" sc_http_news_path
capture "$T/http-connect-proxy.pcap" sc_http_connect_proxy
capture "$T/http-proxy-absolute.pcap" sc_http_proxy_absolute
capture "$T/ksc-management.pcap" sc_ksc_management
capture "$T/udp15000-game.pcap" sc_udp15000_game
capture "$T/dns-ip-nosni.pcap" sc_dns_ip_nosni
capture "$T/cert-kaspersky-ca.pcap" sc_cert_kaspersky_ca
capture "$T/ipv6-dns-tls.pcap" sc_ipv6_dns_tls
capture "$OUT_DEMO" sc_demo

[ ! -s "$WORK/failures" ] || die "$(wc -l <"$WORK/failures") client actions failed (see warnings above)"
self_check || die "self-check failed"
log "done"
