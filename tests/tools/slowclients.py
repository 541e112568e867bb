#!/usr/bin/env python3
"""slowclients.py - slow HTTP clients against the dashboard (a "slowloris").

    slowclients.py PORT N FIRST_ADDR ADDRS SECONDS [PERIOD [body]]

Opens N connections to 127.0.0.1:PORT, spread over ADDRS loopback source
addresses from 127.0.0.FIRST_ADDR on (the dashboard caps connections per
address). Each sends "GET / HTTP/1.1\\r\\n" and then one header byte every
PERIOD seconds (default 2), never ending its headers, for SECONDS. With "body", each sends whole headers
announcing a 100000-byte body instead, then one body byte every PERIOD. Prints
"connected K" once all connects are done (K = connections that succeeded),
then at the end one line "closed C min=S max=S" where C is the number of
connections the server closed and min/max the seconds from connect to the
close (as seen by the client), and "open O" for those still open.
"""
import select
import socket
import sys
import time


def main():
    port, n, first, addrs, seconds = (int(a) for a in sys.argv[1:6])
    period = float(sys.argv[6]) if len(sys.argv) > 6 else 2.0
    body = len(sys.argv) > 7 and sys.argv[7] == "body"
    first_bytes = b"GET / HTTP/1.1\r\n"
    if body:
        first_bytes = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"
    conns = []  # [socket, connect time, close time or None]
    for i in range(n):
        s = socket.socket()
        s.bind(("127.0.0.%d" % (first + i % addrs), 0))
        s.settimeout(5)
        try:
            s.connect(("127.0.0.1", port))
            s.sendall(first_bytes)
            s.setblocking(False)
            conns.append([s, time.monotonic(), None])
        except OSError:
            s.close()
    print("connected %d" % len(conns), flush=True)
    end = time.monotonic() + seconds
    next_byte = time.monotonic() + period
    while time.monotonic() < end:
        live = [c for c in conns if c[2] is None]
        if not live:
            break
        wait = max(0.0, min(next_byte, end) - time.monotonic())
        ready, _, _ = select.select([c[0] for c in live], [], [], wait)
        now = time.monotonic()
        for c in live:
            if c[0] in ready:
                try:
                    data = c[0].recv(4096)
                except OSError:
                    data = b""
                if not data:  # closed by the server (or reset)
                    c[2] = now
        if now >= next_byte:
            for c in conns:
                if c[2] is None:
                    try:
                        c[0].send(b"X")
                    except OSError:
                        c[2] = now
            next_byte = now + period
    closed = [c[2] - c[1] for c in conns if c[2] is not None]
    if closed:
        print("closed %d min=%.1f max=%.1f" % (len(closed), min(closed), max(closed)))
    else:
        print("closed 0 min=0 max=0")
    print("open %d" % (len(conns) - len(closed)), flush=True)


if __name__ == "__main__":
    main()
