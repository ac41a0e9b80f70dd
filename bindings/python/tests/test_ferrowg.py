"""The uniffi Python binding driving real tunnels: two engines in host packet I/O mode,
real UDP on 127.0.0.1, real encryption. Run by bindings/run-tests.sh."""

import base64
import sys
import struct
import threading
import time

import pytest

import ferrowg
from ferrowg import NicMode, Tunnel, TunnelError, TunnelEvent

A_IP, B_IP, C_IP = "198.19.0.1", "198.19.0.2", "198.19.0.3"
DEADLINE_S = 30


def private_key(seed):
    return base64.b64encode(bytes([seed]) * 32).decode()


def hex_key(b64):
    return base64.b64decode(b64).hex()


def ipv4(src, dst, payload):
    """An IPv4/UDP packet with a valid header checksum."""
    udp = struct.pack("!HHHH", 40000, 40001, 8 + len(payload), 0) + payload
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                      bytes(map(int, src.split("."))), bytes(map(int, dst.split("."))))
    s = sum(struct.unpack("!10H", hdr))
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    return hdr[:10] + struct.pack("!H", ~s & 0xFFFF) + hdr[12:] + udp


def start(seed):
    text = f"[Interface]\nPrivateKey = {private_key(seed)}\n"
    return Tunnel.start(text, NicMode.HOST_PACKETS(), "127.0.0.1")


def wait_for(pred, what):
    end = time.monotonic() + DEADLINE_S
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.02)
    pytest.fail(f"gave up waiting for {what}")


def recv_all(tunnel, n):
    got = []
    end = time.monotonic() + DEADLINE_S
    while len(got) < n and time.monotonic() < end:
        got += tunnel.read_packets(256, 200)
    return got


def exchange(src, dst, packets, window=32):
    """Sends in windows of `window` packets, each received before the next is sent:
    flow control, since loopback UDP drops bursts that overflow a socket buffer."""
    got = []
    for i in range(0, len(packets), window):
        chunk = packets[i:i + window]
        assert src.write_packets(chunk, 5000) == len(chunk)
        got += recv_all(dst, len(chunk))
    return got


class Pair:
    """Tunnel a (198.19.0.1) and b (198.19.0.2), peered over loopback UDP."""

    def __init__(self):
        self.a, self.b = start(1), start(2)
        self.a_pub = self.a.config().public_key
        self.b_pub = self.b.config().public_key
        self.a.set_config(
            f"public_key={hex_key(self.b_pub)}\nendpoint=127.0.0.1:{self.b.listen_port()}\n"
            f"allowed_ip={B_IP}/32\n", False)
        self.b.set_config(f"[Peer]\nPublicKey = {self.a_pub}\nAllowedIPs = {A_IP}/32\n", False)

    def connect(self):
        """Completes the handshake: the engine stages only a few packets before it."""
        hello = ipv4(A_IP, B_IP, b"hello")
        self.a.write_packets([hello], 5000)
        assert recv_all(self.b, 1) == [hello]

    def close(self):
        self.a.stop()
        self.b.stop()


@pytest.fixture
def pair():
    p = Pair()
    yield p
    p.close()


class Events(ferrowg.TunnelObserver):
    def __init__(self):
        self.events = []
        self.lock = threading.Lock()

    def on_event(self, event):
        with self.lock:
            self.events.append(event)

    def handshakes(self):
        with self.lock:
            return [e for e in self.events if isinstance(e, TunnelEvent.HANDSHAKE_COMPLETE)]


def test_version():
    assert ferrowg.version().count(".") == 2


def test_two_tunnels_exchange_packets_stats_and_handshake_event(pair):
    obs = Events()
    pair.a.set_observer(obs)
    pair.connect()
    sent = [ipv4(A_IP, B_IP, f"a->b {i}".encode() * (1 + i % 40)) for i in range(500)]
    assert exchange(pair.a, pair.b, sent) == sent, "every packet arrives, in order, unchanged"

    back = [ipv4(B_IP, A_IP, bytes([i % 256]) * 700) for i in range(200)]
    assert exchange(pair.b, pair.a, back) == back

    wait_for(lambda: obs.handshakes(), "the handshake event")
    assert obs.handshakes()[0].peer == pair.b_pub

    sa, sb = pair.a.stats(), pair.b.stats()
    assert sa.listen_port == pair.a.listen_port()
    (pa,) = sa.peers
    (pb,) = sb.peers
    assert pa.public_key == pair.b_pub and pb.public_key == pair.a_pub
    assert pa.tx_packets >= len(sent) and pb.rx_packets >= len(sent)
    assert pa.rx_packets >= len(back) and pb.tx_packets >= len(back)
    assert pa.tx_bytes > sum(map(len, sent)) and pa.handshakes >= 1
    assert pa.last_handshake_unix_ms is not None and pa.last_handshake_unix_ms > 1_600_000_000_000
    assert pb.endpoint == f"127.0.0.1:{pair.a.listen_port()}"
    assert f"public_key={hex_key(pair.b_pub)}" in pair.a.uapi_get()


def test_packet_sink_receives_in_order(pair):
    got, lock = [], threading.Lock()

    class Sink(ferrowg.PacketSink):
        def on_packets(self, packets):
            with lock:
                got.extend(packets)

    pair.connect()
    pair.b.set_packet_sink(Sink())
    sent = [ipv4(A_IP, B_IP, i.to_bytes(4, "big") * 100) for i in range(300)]
    for i in range(0, len(sent), 32):
        assert pair.a.write_packets(sent[i:i + 32], 5000) == len(sent[i:i + 32])
        wait_for(lambda: len(got) >= min(i + 32, len(sent)), "sink deliveries")
    pair.b.set_packet_sink(None)
    assert got == sent


def test_live_config_change(pair):
    to_c = ipv4(A_IP, C_IP, b"to c")
    to_b = ipv4(A_IP, B_IP, b"to b")
    pair.connect()
    # No route to C yet: dropped by a, so b sees only the marker that follows it.
    pair.a.write_packets([to_c, to_b], 5000)
    assert recv_all(pair.b, 1) == [to_b]

    pair.a.set_config(f"public_key={hex_key(pair.b_pub)}\nallowed_ip={C_IP}/32\n", False)
    (peer,) = pair.a.config().peers
    assert sorted(peer.allowed_ips) == [f"{B_IP}/32", f"{C_IP}/32"]
    pair.a.write_packets([to_c], 5000)
    assert recv_all(pair.b, 1) == [to_c]

    # Full replace with wg-quick text: C gone again, keepalive set.
    pair.a.set_config(
        f"[Interface]\nPrivateKey = {private_key(1)}\n[Peer]\nPublicKey = {pair.b_pub}\n"
        f"AllowedIPs = {B_IP}/32\nEndpoint = 127.0.0.1:{pair.b.listen_port()}\n"
        "PersistentKeepalive = 25\n", True)
    (peer,) = pair.a.config().peers
    assert peer.allowed_ips == [f"{B_IP}/32"] and peer.persistent_keepalive == 25
    pair.a.write_packets([to_c, to_b], 5000)
    assert recv_all(pair.b, 1) == [to_b]


def test_bad_config_raises_typed_error_with_line():
    text = "[Interface]\nPrivateKey = " + private_key(3) + "\n\nListenPort = 70000\n"
    with pytest.raises(TunnelError.Config) as e:
        Tunnel.start(text, NicMode.HOST_PACKETS(), "127.0.0.1")
    assert e.value.line == 4
    assert "ListenPort" in e.value.detail

    with pytest.raises(TunnelError.Config) as e:
        Tunnel.start("private_key=00\n", NicMode.HOST_PACKETS(), "127.0.0.1")
    assert e.value.line == 1

    t = start(4)
    try:
        with pytest.raises(TunnelError.Config) as e:
            t.set_config("[Peer]\nPublicKey = nope\n", False)
        assert e.value.line == 2
        with pytest.raises(TunnelError.InvalidArgument):
            Tunnel.start("[Interface]\n", NicMode.HOST_PACKETS(), "not an address")
    finally:
        t.stop()


def test_use_after_stop_and_double_stop():
    t = start(5)
    t.stop()
    t.stop()
    assert not t.is_running()
    for call in (t.stats, t.config, t.uapi_get, t.listen_port, t.network_changed):
        with pytest.raises(TunnelError.Stopped):
            call()
    with pytest.raises(TunnelError.Stopped):
        t.write_packets([b"x"], 0)
    with pytest.raises(TunnelError.Stopped):
        t.set_config("listen_port=1\n", False)


def test_invalid_utf8_is_refused_before_the_library():
    with pytest.raises(UnicodeEncodeError):
        Tunnel.start("[Interface]\n\udcff\n", NicMode.HOST_PACKETS(), None)


def test_raising_callbacks_are_contained(pair):
    class BadSink(ferrowg.PacketSink):
        def __init__(self):
            self.calls = 0

        def on_packets(self, packets):
            self.calls += 1
            raise RuntimeError("sink raised")

    class BadObserver(ferrowg.TunnelObserver):
        def on_event(self, event):
            raise ValueError("observer raised")

    before = ferrowg.callback_failures()
    sink = BadSink()
    pair.b.set_packet_sink(sink)
    pair.b.set_observer(BadObserver())
    pair.a.write_packets([ipv4(A_IP, B_IP, b"boom")] * 20, 5000)
    wait_for(lambda: sink.calls > 0, "the raising sink")
    assert ferrowg.callback_failures() > before
    # Both tunnels still work afterwards.
    pair.b.set_packet_sink(None)
    pair.b.set_observer(None)
    marker = ipv4(A_IP, B_IP, b"after")
    pair.a.write_packets([marker], 5000)
    got = recv_all(pair.b, 1)
    assert got and got[-1] == marker
    assert pair.b.stats().peers[0].rx_packets > 0


def test_stop_from_inside_a_callback_is_refused(pair):
    errors = []

    class Stopper(ferrowg.PacketSink):
        def on_packets(self, packets):
            try:
                pair.b.stop()
            except TunnelError.Reentrant:
                errors.append("reentrant")

    pair.b.set_packet_sink(Stopper())
    pair.a.write_packets([ipv4(A_IP, B_IP, b"x")], 5000)
    wait_for(lambda: errors, "the callback")
    pair.b.set_packet_sink(None)
    assert pair.b.is_running()


def test_unregister_under_load_means_no_more_calls(pair):
    calls = [0]

    class Counter(ferrowg.PacketSink):
        def on_packets(self, packets):
            calls[0] += 1

    stop = threading.Event()
    pair.connect()

    def pump():
        pkt = ipv4(A_IP, B_IP, b"load" * 50)
        end = time.monotonic() + DEADLINE_S
        while not stop.is_set() and time.monotonic() < end:
            pair.a.write_packets([pkt] * 32, 100)

    pumper = threading.Thread(target=pump)
    pumper.start()
    try:
        for _ in range(5):
            pair.b.set_packet_sink(Counter())
            wait_for(lambda: calls[0] > 0, "sink calls under load")
            pair.b.set_packet_sink(None)
            frozen = calls[0]
            # Traffic keeps flowing into the pull queue; the old sink must stay silent.
            n = len(recv_all(pair.b, 64))
            assert n > 0
            assert calls[0] == frozen
            calls[0] = 0
    finally:
        stop.set()
        pumper.join()


def test_log_sink_receives_library_lines():
    lines, lock = [], threading.Lock()

    class Sink(ferrowg.LogSink):
        def on_log(self, level, message):
            with lock:
                lines.append((level, message))

    ferrowg.set_log_sink(Sink(), ferrowg.LogLevel.DEBUG)
    try:
        p = Pair()
        p.connect()
        p.close()
    finally:
        ferrowg.set_log_sink(None, ferrowg.LogLevel.ERROR)
    with lock:
        started = [m for lvl, m in lines if "tunnel started: host packet I/O" in m]
        assert len(started) == 2 and all(lvl == ferrowg.LogLevel.INFO for lvl, m in lines if m in started)
        # The handshake line comes once per side, from core through the one channel.
        done = [m for lvl, m in lines if lvl == ferrowg.LogLevel.DEBUG and m.startswith("ferrowg::handshake: handshake complete")]
        assert len([m for m in done if f"peer={p.b_pub}" in m]) == 1, lines
    # Removed: no more lines arrive.
    n = len(lines)
    Pair().close()
    assert len(lines) == n


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="checks the Linux answers")
def test_fd_mode_and_socket_handles_on_linux():
    with pytest.raises(TunnelError.Unsupported):
        ferrowg.find_utun_fd()
    with pytest.raises(TunnelError.InvalidArgument):
        Tunnel.start("[Interface]\n", NicMode.ADOPT_FD(-1), "127.0.0.1")
    loopback = start(6)
    try:
        assert loopback.socket_handles() == []
    finally:
        loopback.stop()
    # Platform sockets (all interfaces; nothing is sent): handles for Android protect.
    t = Tunnel.start(f"[Interface]\nPrivateKey = {private_key(7)}\n", NicMode.HOST_PACKETS(), None)
    try:
        handles = t.socket_handles()
        assert 1 <= len(handles) <= 2 and all(h > 2 for h in handles)
        t.network_changed()
        # Without a configured ListenPort the engine may move to a new port.
        assert t.listen_port() > 0
        assert len(t.socket_handles()) == len(handles)
    finally:
        t.stop()


def test_bad_packets_are_refused(pair):
    for bad in ([b""], [b"x" * 1421], [ipv4(A_IP, B_IP, b"ok"), b""]):
        with pytest.raises(TunnelError.InvalidArgument):
            pair.a.write_packets(bad, 0)
    assert pair.a.read_packets(0, 0) == []
    pair.connect()


class Protector(ferrowg.SocketProtector):
    def __init__(self, allow=True):
        self.allow = allow
        self.sockets = []

    def protect(self, socket):
        self.sockets.append(socket)
        return self.allow


def test_socket_protector_sees_every_socket_before_use():
    # Platform sockets on all interfaces; traffic goes only to 127.0.0.1.
    prot = Protector()
    a = Tunnel.start_protected(f"[Interface]\nPrivateKey = {private_key(1)}\n", NicMode.HOST_PACKETS(), prot)
    b = start(2)
    try:
        first = a.socket_handles()
        # Every socket in use was protected (the port search may also protect sockets
        # it then closes).
        assert first and set(first) <= set(prot.sockets)
        p = Pair.__new__(Pair)
        p.a, p.b = a, b
        p.a_pub, p.b_pub = a.config().public_key, b.config().public_key
        a.set_config(f"public_key={hex_key(p.b_pub)}\nendpoint=127.0.0.1:{b.listen_port()}\n"
                     f"allowed_ip={B_IP}/32\n", False)
        b.set_config(f"public_key={hex_key(p.a_pub)}\nallowed_ip={A_IP}/32\n", False)
        p.connect()
        before = len(prot.sockets)
        a.network_changed()
        assert set(a.socket_handles()) <= set(prot.sockets[before:]), "new sockets protected too"
        # Traffic goes on from the new sockets (b follows a's new endpoint).
        p.connect()
    finally:
        a.stop()
        b.stop()

    with pytest.raises(TunnelError.Bind):
        Tunnel.start_protected("[Interface]\n", NicMode.HOST_PACKETS(), Protector(allow=False))


def test_engine_options_reach_the_tunnel():
    """The TX path, CoDel values, worker ring, receive CoDel, scheduler slice and real-time
    priority chosen at start are the ones in effect, and traffic flows through the CoDel
    queues; unset options keep the defaults."""
    from ferrowg import RingMode, TunnelOptions, TxQueueMode

    opts = TunnelOptions(bind_address="127.0.0.1", tx_queue=TxQueueMode.CODEL,
                         codel_target_us=2000, codel_interval_us=40000, ring=RingMode.LOCKED,
                         rx_codel_target_us=700, sched_slice_us=500, rt_priority=1)
    a = Tunnel.start_with_options(f"[Interface]\nPrivateKey = {private_key(1)}\n",
                                  NicMode.HOST_PACKETS(), opts)
    b = start(2)
    try:
        eff = a.options()
        assert (eff.tx_queue, eff.codel_target_us, eff.codel_interval_us, eff.ring) == \
            (TxQueueMode.CODEL, 2000, 40000, RingMode.LOCKED)
        assert (eff.rx_codel, eff.rx_codel_target_us, eff.rx_codel_interval_us) == (True, 700, 10000)
        assert eff.sched_slice_us == 500
        assert (eff.rt_priority, eff.rt_priority_when_saturated) == (1, False)
        assert eff.bind_address == "127.0.0.1"
        default = b.options()
        assert default.tx_queue is not None and default.ring is not None
        assert default.rx_codel is False and default.sched_slice_us == 0
        assert (default.rt_priority, default.rt_priority_when_saturated) == (0, False)
        a.set_config(f"public_key={hex_key(b.config().public_key)}\n"
                     f"endpoint=127.0.0.1:{b.listen_port()}\nallowed_ip={B_IP}/32\n", False)
        b.set_config(f"[Peer]\nPublicKey = {a.config().public_key}\nAllowedIPs = {A_IP}/32\n", False)
        sent = [ipv4(A_IP, B_IP, f"codel {i}".encode()) for i in range(100)]
        assert exchange(a, b, sent) == sent
        stats = a.stats()
        assert stats.codel_drops == 0 and stats.tx_queued_packets >= 0
    finally:
        a.stop()
        b.stop()
    with pytest.raises(TunnelError.InvalidArgument):
        Tunnel.start_with_options(f"[Interface]\nPrivateKey = {private_key(3)}\n",
                                  NicMode.HOST_PACKETS(),
                                  TunnelOptions(codel_target_us=500000))
    with pytest.raises(TunnelError.InvalidArgument):
        Tunnel.start_with_options(f"[Interface]\nPrivateKey = {private_key(3)}\n",
                                  NicMode.HOST_PACKETS(),
                                  TunnelOptions(rx_codel=False, rx_codel_interval_us=5000))


def test_real_time_priority_options():
    """Raised only while saturated is reported as asked; a priority above 99, or "when
    saturated" without a priority, is refused."""
    from ferrowg import TunnelOptions

    cfg = f"[Interface]\nPrivateKey = {private_key(4)}\n"
    t = Tunnel.start_with_options(cfg, NicMode.HOST_PACKETS(),
                                  TunnelOptions(bind_address="127.0.0.1", rt_priority=3,
                                                rt_priority_when_saturated=True))
    try:
        eff = t.options()
        assert (eff.rt_priority, eff.rt_priority_when_saturated) == (3, True)
    finally:
        t.stop()
    for bad in (TunnelOptions(rt_priority=100), TunnelOptions(rt_priority_when_saturated=True),
                TunnelOptions(rt_priority=0, rt_priority_when_saturated=True)):
        with pytest.raises(TunnelError.InvalidArgument):
            Tunnel.start_with_options(cfg, NicMode.HOST_PACKETS(), bad)
