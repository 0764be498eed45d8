#!/usr/bin/env python3
"""Print free TCP ports on 127.0.0.1, one per line.

Usage: free-port.py [COUNT]      (COUNT defaults to 1)

Each port is found by binding a socket to 127.0.0.1:0 and reading the port the
kernel chose. All sockets are held open until every port is picked, so the
ports printed are distinct. There is a small window between this script
exiting and the caller binding the port; that is fine for tests on loopback.
"""
import socket
import sys


def free_ports(count=1):
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def main():
    if len(sys.argv) > 2 or (len(sys.argv) == 2 and not sys.argv[1].isdigit()):
        sys.stderr.write(__doc__)
        return 2
    count = int(sys.argv[1]) if len(sys.argv) == 2 else 1
    for p in free_ports(count):
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
