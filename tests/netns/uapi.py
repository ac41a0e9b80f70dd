#!/usr/bin/env python3
"""Send one raw UAPI request to a WireGuard userspace daemon and print the reply.

Usage: uapi.py SOCKET_PATH < request

The request is read from stdin as is (it must end with an empty line, as the
protocol requires). The reply is printed up to and including the empty line
that ends it. `wg` validates its input before it talks to the socket, so this
is the way to send requests `wg` would never produce. Bounded: 5 s timeout.
"""

import socket
import sys


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    request = sys.stdin.buffer.read()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect(sys.argv[1])
        s.sendall(request)
        reply = b""
        while not reply.endswith(b"\n\n") and reply != b"\n":
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                print("uapi.py: timeout waiting for the reply", file=sys.stderr)
                return 1
            if not chunk:
                break
            reply += chunk
    sys.stdout.write(reply.decode("utf-8", "replace"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
