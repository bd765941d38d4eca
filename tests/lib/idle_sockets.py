#!/usr/bin/env python3
"""idle_sockets.py PORT BIND N: open N silent TCP connections to
127.0.0.1:PORT from address BIND (no TLS hello, no request) and print how
many the server (or the proxy in front of it) left open after a second."""
import select
import socket
import sys
import time


def closed(s):
    r, _, _ = select.select([s], [], [], 0)
    if not r:
        return False
    try:
        return s.recv(1) == b""
    except OSError:
        return True


def main():
    port, bind, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind((bind, 0))
        s.connect(("127.0.0.1", port))
        socks.append(s)
    time.sleep(1)
    print(sum(1 for s in socks if not closed(s)))


main()
