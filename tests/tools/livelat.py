#!/usr/bin/env python3
"""livelat.py - detection latency of a live ksd, for tests/e2e_live.sh.

  livelat.py send DST N PORT0 GAP_MS NAME OUT
      (run in the client namespace) N DNS queries for NAME to DST:53, query i
      from UDP source port PORT0+i, GAP_MS apart; writes "port unix_time"
      per query to OUT.
  livelat.py watch JSON REDIS_PORT STREAM N PORT0 DEADLINE_S OUT
      (run beside ksd) follows the --json file (complete lines only) and the
      Redis stream (XRANGE over a plain socket; REDIS_PORT 0 = no Redis) and
      writes "port json_time redis_time" for every source port PORT0..+N-1
      seen, until all are seen or DEADLINE_S passes.
  livelat.py connect DST PORT JSON INDICATOR DEADLINE_S
      (run in the client namespace) one TCP connection attempt to DST:PORT
      (refused: SYN answered by RST), then follows JSON for a complete line
      holding "INDICATOR"; prints the time from the SYN to that line, exits
      1 when it does not come within DEADLINE_S.
  livelat.py report SENT SEEN N
      prints count, p50 and p99 of JSON and Redis latency, and exits 1 when a
      detection is missing or a p99 is over 1 s.
"""
import json
import socket
import struct
import sys
import time


def dns_query(name, qid):
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\x00" + struct.pack(">HH", 1, 1)


def send(dst, n, port0, gap_ms, name, out):
    with open(out, "w") as f:
        for i in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("0.0.0.0", port0 + i))
            t = time.time()
            s.sendto(dns_query(name, i + 1), (dst, 53))
            s.close()
            f.write("%d %.6f\n" % (port0 + i, t))
            time.sleep(gap_ms / 1000.0)


class Redis:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=2)
        self.buf = b""

    def _line(self):
        while b"\r\n" not in self.buf:
            d = self.s.recv(65536)
            if not d:
                raise EOFError
            self.buf += d
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _reply(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t in (b"+", b"-", b":"):
            return rest
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self.buf += self.s.recv(65536)
            v, self.buf = self.buf[:n], self.buf[n + 2:]
            return v
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise ValueError(line)

    def cmd(self, *args):
        msg = b"*%d\r\n" % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            msg += b"$%d\r\n%s\r\n" % (len(a), a)
        self.s.sendall(msg)
        return self._reply()


def watch(path, rport, stream, n, port0, deadline, out):
    want = set(range(port0, port0 + n))
    seen_j, seen_r = {}, {}
    r = Redis(rport) if rport else None
    last_id = "0-0"
    pos, part = 0, b""
    end = time.time() + deadline
    while time.time() < end and not (want <= set(seen_j) and (not r or want <= set(seen_r))):
        now = time.time()
        try:
            with open(path, "rb") as f:
                f.seek(pos)
                data = f.read()
        except FileNotFoundError:
            data = b""
        pos += len(data)
        part += data
        *lines, part = part.split(b"\n")
        for line in lines:
            try:
                p = json.loads(line)["sport"]
            except (ValueError, KeyError):
                continue
            if p in want and p not in seen_j:
                seen_j[p] = now
        if r:
            ents = r.cmd("XRANGE", stream, "(" + last_id, "+", "COUNT", 1000) or []
            for ent in ents:
                last_id = ent[0].decode()
                kv = ent[1]
                f = {kv[i].decode(): kv[i + 1].decode() for i in range(0, len(kv), 2)}
                try:
                    p = int(f.get("sport", "-1"))
                except ValueError:
                    continue
                if p in want and p not in seen_r:
                    seen_r[p] = now
        time.sleep(0.002)
    with open(out, "w") as f:
        for p in sorted(want):
            f.write("%d %s %s\n" % (p, seen_j.get(p, "-"), seen_r.get(p, "-") if r else "x"))


def connect(dst, port, path, indicator, deadline):
    t = time.time()
    s = socket.socket()
    s.settimeout(2)
    try:
        s.connect((dst, port))
    except OSError:
        pass
    s.close()
    needle = ('"indicator":"%s"' % indicator).encode()
    while time.time() < t + deadline:
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            data = b""
        if any(needle in line for line in data.split(b"\n")[:-1]):
            print("%.3f" % (time.time() - t))
            return 0
        time.sleep(0.005)
    print("none")
    return 1


def pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(q * len(v)))] if v else float("nan")


def report(sent_path, seen_path, n):
    sent = {int(a): float(b) for a, b in (l.split() for l in open(sent_path))}
    lat_j, lat_r, redis = [], [], True
    for l in open(seen_path):
        p, j, r = l.split()
        if j != "-":
            lat_j.append(float(j) - sent[int(p)])
        if r == "x":
            redis = False
        elif r != "-":
            lat_r.append(float(r) - sent[int(p)])
    bad = 0
    for what, lat, on in (("json", lat_j, True), ("redis", lat_r, redis)):
        if not on:
            continue
        print("%s: %d/%d detections, p50 %.3f s, p99 %.3f s, max %.3f s"
              % (what, len(lat), n, pct(lat, 0.5), pct(lat, 0.99), max(lat) if lat else float("nan")))
        if len(lat) < n or pct(lat, 0.99) > 1.0:
            bad = 1
    return bad


if __name__ == "__main__":
    a = sys.argv
    if a[1] == "send":
        send(a[2], int(a[3]), int(a[4]), float(a[5]), a[6], a[7])
    elif a[1] == "watch":
        watch(a[2], int(a[3]), a[4], int(a[5]), int(a[6]), float(a[7]), a[8])
    elif a[1] == "connect":
        sys.exit(connect(a[2], int(a[3]), a[4], a[5], float(a[6])))
    elif a[1] == "report":
        sys.exit(report(a[2], a[3], int(a[4])))
