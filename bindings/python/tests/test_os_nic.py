"""NIC modes 1 and 2 on Linux: the library creates a tun adapter, or adopts a tun
descriptor the test opened, and the kernel's own UDP traffic crosses the tunnel to a
host-mode peer. Needs root; run-tests.sh runs this file inside a fresh network
namespace (`unshare -n`), so nothing touches the host's interfaces."""

import fcntl
import os
import socket
import struct
import subprocess
import sys
import time

import pytest

from ferrowg import NicMode, Tunnel, apply_network_plan
from test_ferrowg import A_IP, B_IP, DEADLINE_S, hex_key, private_key, start

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or os.environ.get("FERROWG_NETNS") != "1",
    reason="needs root inside a throwaway network namespace (run-tests.sh sets it up)")

TUNSETIFF = 0x400454CA
IFF_TUN, IFF_NO_PI = 0x0001, 0x1000


def ip(*args):
    subprocess.run(["ip", *args], check=True)


def udp_reply(src, sport, dst, dport, payload):
    """IPv4/UDP packet with a valid header checksum (UDP checksum 0 = none, allowed)."""
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                      socket.inet_aton(src), socket.inet_aton(dst))
    s = sum(struct.unpack("!10H", hdr))
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    return hdr[:10] + struct.pack("!H", ~s & 0xFFFF) + hdr[12:] + udp


def round_trip(a_ifname, b, configure=True):
    if configure:
        ip("addr", "add", f"{A_IP}/24", "dev", a_ifname)
        ip("link", "set", a_ifname, "up")
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((A_IP, 0))
    sock.settimeout(0.2)
    sport = sock.getsockname()[1]
    end = time.monotonic() + DEADLINE_S
    seen = None
    while seen is None and time.monotonic() < end:
        sock.sendto(b"ping through the tunnel", (B_IP, 9999))
        for p in b.read_packets(64, 200):
            if p[0] >> 4 == 4 and p[9] == 17 and p[28:] == b"ping through the tunnel":
                seen = p
    assert seen is not None, "the kernel's datagram reached the peer, decrypted"
    assert socket.inet_ntoa(seen[12:16]) == A_IP and struct.unpack("!H", seen[20:22])[0] == sport
    answer = None
    while answer is None and time.monotonic() < end:
        b.write_packets([udp_reply(B_IP, 9999, A_IP, sport, b"pong")], 1000)
        try:
            answer = sock.recvfrom(100)
        except socket.timeout:
            pass
    sock.close()
    assert answer == (b"pong", (B_IP, 9999))


def configs():
    b = start(2)
    b_pub = b.config().public_key
    a_text = (f"[Interface]\nPrivateKey = {private_key(1)}\nMTU = 1400\n[Peer]\nPublicKey = {b_pub}\n"
              f"AllowedIPs = {B_IP}/32\nEndpoint = 127.0.0.1:{b.listen_port()}\n")
    return b, a_text


def peer_b_with(b, a):
    b.set_config(f"public_key={hex_key(a.config().public_key)}\nallowed_ip={A_IP}/32\n", False)


@pytest.fixture(autouse=True)
def loopback_up():
    ip("link", "set", "lo", "up")


def test_create_adapter():
    b, a_text = configs()
    a = Tunnel.start(a_text, NicMode.CREATE_ADAPTER("fwgtest0"), "127.0.0.1")
    try:
        peer_b_with(b, a)
        round_trip("fwgtest0", b)
        assert a.stats().peers[0].handshakes >= 1
    finally:
        a.stop()
        b.stop()
    # Stopping removes the adapter.
    assert subprocess.run(["ip", "link", "show", "fwgtest0"], capture_output=True).returncode != 0


def test_adopt_fd():
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH22x", b"fwgtest1", IFF_TUN | IFF_NO_PI))
    b, a_text = configs()
    try:
        a = Tunnel.start(a_text, NicMode.ADOPT_FD(fd), "127.0.0.1")
    finally:
        os.close(fd)  # the library keeps its own duplicate
    try:
        peer_b_with(b, a)
        round_trip("fwgtest1", b)
    finally:
        a.stop()
        b.stop()


def test_network_plan_applied_by_the_library():
    """apply_network_plan sets the file's Address, MTU and routes on the adapter (no `ip`
    calls by the test), traffic flows, and undo removes exactly that."""
    ifname = f"fwgnp{os.getpid() % 100000}"
    b, a_text = configs()
    a_text = a_text.replace("MTU = 1400\n", f"MTU = 1400\nAddress = {A_IP}/24\n")
    a = Tunnel.start(a_text, NicMode.CREATE_ADAPTER(ifname), "127.0.0.1")
    try:
        setup = apply_network_plan(ifname, a_text)
        try:
            assert setup.is_applied() and setup.fwmark() is None
            shown = subprocess.run(["ip", "addr", "show", "dev", ifname], capture_output=True,
                                   text=True, check=True).stdout
            assert f"{A_IP}/24" in shown and "mtu 1400" in shown and ",UP" in shown, shown
            peer_b_with(b, a)
            round_trip(ifname, b, configure=False)
        finally:
            setup.undo()
        setup.undo()  # idempotent
        assert not setup.is_applied()
        shown = subprocess.run(["ip", "addr", "show", "dev", ifname], capture_output=True,
                               text=True, check=True).stdout
        assert A_IP not in shown, shown
        assert not os.path.exists(f"/run/ferrowg/{ifname}.state")
    finally:
        a.stop()
        b.stop()
