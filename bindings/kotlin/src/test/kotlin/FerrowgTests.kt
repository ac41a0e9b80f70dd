// The uniffi Kotlin binding driving real tunnels on the JVM: two engines in host packet I/O
// mode, real UDP on 127.0.0.1, real encryption. Mirrors bindings/python/tests/test_ferrowg.py.
// Run by bindings/run-tests.sh (kotlinc + java with JNA); prints "N passed, N failed".
import java.util.Base64
import java.util.Collections
import java.util.concurrent.atomic.AtomicBoolean
import java.util.concurrent.atomic.AtomicInteger
import kotlin.system.exitProcess
import kotlin.test.assertContentEquals
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertTrue
import kotlin.test.fail
import uniffi.ferrowg.*

const val A_IP = "198.19.0.1"
const val B_IP = "198.19.0.2"
const val C_IP = "198.19.0.3"
const val DEADLINE_MS = 30_000L

fun privateKey(seed: Int): String = Base64.getEncoder().encodeToString(ByteArray(32) { seed.toByte() })

fun hexKey(b64: String): String = Base64.getDecoder().decode(b64).joinToString("") { "%02x".format(it) }

/** An IPv4/UDP packet with a valid header checksum. */
fun ipv4(src: String, dst: String, payload: ByteArray): ByteArray {
    fun be16(v: Int) = byteArrayOf((v shr 8 and 0xFF).toByte(), (v and 0xFF).toByte())
    fun addr(s: String) = s.split(".").map { it.toInt().toByte() }.toByteArray()
    val udp = be16(40000) + be16(40001) + be16(8 + payload.size) + be16(0) + payload
    val hdr = byteArrayOf(0x45, 0) + be16(20 + udp.size) + be16(0) + be16(0) +
        byteArrayOf(64, 17, 0, 0) + addr(src) + addr(dst)
    var sum = (0 until 20 step 2).sumOf { (hdr[it].toInt() and 0xFF shl 8) or (hdr[it + 1].toInt() and 0xFF) }
    sum = (sum and 0xFFFF) + (sum shr 16)
    sum = (sum and 0xFFFF) + (sum shr 16)
    be16(sum.inv() and 0xFFFF).copyInto(hdr, 10)
    return hdr + udp
}

fun ipv4(src: String, dst: String, text: String) = ipv4(src, dst, text.toByteArray())

fun start(seed: Int): Tunnel =
    Tunnel.start("[Interface]\nPrivateKey = ${privateKey(seed)}\n", NicMode.HostPackets, "127.0.0.1")

fun waitFor(what: String, pred: () -> Boolean) {
    val end = System.currentTimeMillis() + DEADLINE_MS
    while (System.currentTimeMillis() < end) {
        if (pred()) return
        Thread.sleep(20)
    }
    fail("gave up waiting for $what")
}

fun recvAll(t: Tunnel, n: Int): List<ByteArray> {
    val got = mutableListOf<ByteArray>()
    val end = System.currentTimeMillis() + DEADLINE_MS
    while (got.size < n && System.currentTimeMillis() < end) got += t.readPackets(256u, 200u)
    return got
}

fun assertPackets(expected: List<ByteArray>, actual: List<ByteArray>, what: String = "packets") {
    assertEquals(expected.size, actual.size, "$what: count")
    expected.zip(actual).forEachIndexed { i, (e, a) -> assertContentEquals(e, a, "$what: packet $i") }
}

/** Sends in windows, each received before the next is sent (loopback UDP drops bursts). */
fun exchange(src: Tunnel, dst: Tunnel, packets: List<ByteArray>, window: Int = 32): List<ByteArray> {
    val got = mutableListOf<ByteArray>()
    for (chunk in packets.chunked(window)) {
        assertEquals(chunk.size.toUInt(), src.writePackets(chunk, 5000u))
        got += recvAll(dst, chunk.size)
    }
    return got
}

/** Tunnel a (198.19.0.1) and b (198.19.0.2), peered over loopback UDP. */
class Pair(val a: Tunnel = start(1), val b: Tunnel = start(2), peer: Boolean = true) : AutoCloseable {
    val aPub = a.config().publicKey!!
    val bPub = b.config().publicKey!!

    init {
        if (peer) {
            a.setConfig("public_key=${hexKey(bPub)}\nendpoint=127.0.0.1:${b.listenPort()}\nallowed_ip=$B_IP/32\n", false)
            b.setConfig("[Peer]\nPublicKey = $aPub\nAllowedIPs = $A_IP/32\n", false)
        }
    }

    /** Completes the handshake: the engine stages only a few packets before it. */
    fun connect() {
        val hello = ipv4(A_IP, B_IP, "hello")
        a.writePackets(listOf(hello), 5000u)
        assertPackets(listOf(hello), recvAll(b, 1), "hello")
    }

    override fun close() {
        a.stop(); b.stop()
        a.destroy(); b.destroy()
    }
}

class Events : TunnelObserver {
    val events: MutableList<TunnelEvent> = Collections.synchronizedList(mutableListOf())
    val threads: MutableSet<String> = Collections.synchronizedSet(mutableSetOf())
    override fun onEvent(event: TunnelEvent) {
        threads += Thread.currentThread().name
        events += event
    }
    fun handshakes() = synchronized(events) { events.filterIsInstance<TunnelEvent.HandshakeComplete>() }
}

class CollectingSink : PacketSink {
    val got: MutableList<ByteArray> = Collections.synchronizedList(mutableListOf())
    val calls = AtomicInteger()
    val threads: MutableSet<String> = Collections.synchronizedSet(mutableSetOf())
    override fun onPackets(packets: List<ByteArray>) {
        threads += Thread.currentThread().name
        calls.incrementAndGet()
        got += packets
    }
}

val tests = linkedMapOf<String, () -> Unit>(
    "version" to {
        assertEquals(2, version().count { it == '.' })
        assertEquals(44, publicKeyFromPrivate(privateKey(1)).length)
    },
    "two tunnels exchange packets, stats, handshake event" to {
        Pair().use { pair ->
            val obs = Events()
            pair.a.setObserver(obs)
            pair.connect()
            val sent = (0 until 500).map { ipv4(A_IP, B_IP, "a->b $it".repeat(1 + it % 40)) }
            assertPackets(sent, exchange(pair.a, pair.b, sent), "a->b")
            val back = (0 until 200).map { ipv4(B_IP, A_IP, ByteArray(700) { _ -> it.toByte() }) }
            assertPackets(back, exchange(pair.b, pair.a, back), "b->a")
            waitFor("the handshake event") { obs.handshakes().isNotEmpty() }
            assertEquals(pair.bPub, obs.handshakes()[0].peer)
            assertFalse(Thread.currentThread().name in obs.threads, "events come on library threads")

            val sa = pair.a.stats()
            val sb = pair.b.stats()
            assertEquals(pair.a.listenPort(), sa.listenPort)
            val pa = sa.peers.single()
            val pb = sb.peers.single()
            assertEquals(pair.bPub, pa.publicKey)
            assertEquals(pair.aPub, pb.publicKey)
            assertTrue(pa.txPackets >= sent.size.toULong() && pb.rxPackets >= sent.size.toULong())
            assertTrue(pa.rxPackets >= back.size.toULong() && pb.txPackets >= back.size.toULong())
            assertTrue(pa.txBytes > sent.sumOf { it.size }.toULong() && pa.handshakes >= 1uL)
            assertTrue((pa.lastHandshakeUnixMs ?: 0uL) > 1_600_000_000_000uL)
            assertEquals("127.0.0.1:${pair.a.listenPort()}", pb.endpoint)
            assertTrue("public_key=${hexKey(pair.bPub)}" in pair.a.uapiGet())
        }
    },
    "packet sink receives in order on library threads" to {
        Pair().use { pair ->
            pair.connect()
            val sink = CollectingSink()
            pair.b.setPacketSink(sink)
            val sent = (0 until 300).map { i ->
                ipv4(A_IP, B_IP, ByteArray(400) { (i shr (24 - 8 * (it % 4)) and 0xFF).toByte() })
            }
            for ((n, chunk) in sent.chunked(32).withIndex()) {
                assertEquals(chunk.size.toUInt(), pair.a.writePackets(chunk, 5000u))
                waitFor("sink deliveries") { sink.got.size >= minOf((n + 1) * 32, sent.size) }
            }
            pair.b.setPacketSink(null)
            assertPackets(sent, sink.got.toList(), "sink")
            assertFalse(Thread.currentThread().name in sink.threads)
        }
    },
    "live config change" to {
        Pair().use { pair ->
            val toC = ipv4(A_IP, C_IP, "to c")
            val toB = ipv4(A_IP, B_IP, "to b")
            pair.connect()
            // No route to C yet: dropped by a, so b sees only the marker that follows it.
            pair.a.writePackets(listOf(toC, toB), 5000u)
            assertPackets(listOf(toB), recvAll(pair.b, 1))

            pair.a.setConfig("public_key=${hexKey(pair.bPub)}\nallowed_ip=$C_IP/32\n", false)
            assertEquals(listOf("$B_IP/32", "$C_IP/32"), pair.a.config().peers.single().allowedIps.sorted())
            pair.a.writePackets(listOf(toC), 5000u)
            assertPackets(listOf(toC), recvAll(pair.b, 1))

            // Full replace with wg-quick text: C gone again, keepalive set.
            pair.a.setConfig(
                "[Interface]\nPrivateKey = ${privateKey(1)}\n[Peer]\nPublicKey = ${pair.bPub}\n" +
                    "AllowedIPs = $B_IP/32\nEndpoint = 127.0.0.1:${pair.b.listenPort()}\nPersistentKeepalive = 25\n",
                true,
            )
            val peer = pair.a.config().peers.single()
            assertEquals(listOf("$B_IP/32"), peer.allowedIps)
            assertEquals(25.toUShort(), peer.persistentKeepalive)
            pair.a.writePackets(listOf(toC, toB), 5000u)
            assertPackets(listOf(toB), recvAll(pair.b, 1))
        }
    },
    "bad config throws typed error with line" to {
        val text = "[Interface]\nPrivateKey = ${privateKey(3)}\n\nListenPort = 70000\n"
        val e = assertFailsWith<TunnelException.Config> { Tunnel.start(text, NicMode.HostPackets, "127.0.0.1") }
        assertEquals(4u, e.line)
        assertTrue("ListenPort" in e.detail, e.detail)
        assertTrue("ListenPort" in e.message, "Throwable.message carries the detail")
        val e2 = assertFailsWith<TunnelException.Config> {
            Tunnel.start("private_key=00\n", NicMode.HostPackets, "127.0.0.1")
        }
        assertEquals(1u, e2.line)
        val t = start(4)
        try {
            val e3 = assertFailsWith<TunnelException.Config> { t.setConfig("[Peer]\nPublicKey = nope\n", false) }
            assertEquals(2u, e3.line)
            assertFailsWith<TunnelException.InvalidArgument> {
                Tunnel.start("[Interface]\n", NicMode.HostPackets, "not an address")
            }
        } finally {
            t.stop()
        }
    },
    "use after stop and double stop" to {
        val t = start(5)
        t.stop()
        t.stop()
        assertFalse(t.isRunning())
        val calls = listOf<() -> Unit>(
            { t.stats() }, { t.config() }, { t.uapiGet() }, { t.listenPort() }, { t.networkChanged() },
            { t.writePackets(listOf(byteArrayOf(1)), 0u) }, { t.setConfig("listen_port=1\n", false) },
        )
        for (call in calls) assertFailsWith<TunnelException.Stopped> { call() }
        t.destroy()
    },
    "throwing callbacks are contained" to {
        Pair().use { pair ->
            val calls = AtomicInteger()
            val before = callbackFailures()
            pair.b.setPacketSink(object : PacketSink {
                override fun onPackets(packets: List<ByteArray>) {
                    calls.incrementAndGet()
                    throw RuntimeException("sink threw")
                }
            })
            pair.b.setObserver(object : TunnelObserver {
                override fun onEvent(event: TunnelEvent) = throw IllegalStateException("observer threw")
            })
            pair.a.writePackets(List(20) { ipv4(A_IP, B_IP, "boom") }, 5000u)
            waitFor("the throwing sink") { calls.get() > 0 }
            assertTrue(callbackFailures() > before)
            // Both tunnels still work afterwards.
            pair.b.setPacketSink(null)
            pair.b.setObserver(null)
            val marker = ipv4(A_IP, B_IP, "after")
            pair.a.writePackets(listOf(marker), 5000u)
            assertContentEquals(marker, recvAll(pair.b, 1).last())
            assertTrue(pair.b.stats().peers[0].rxPackets > 0uL)
        }
    },
    "stop from inside a callback is refused" to {
        Pair().use { pair ->
            val errors: MutableList<TunnelException> = Collections.synchronizedList(mutableListOf())
            pair.b.setPacketSink(object : PacketSink {
                override fun onPackets(packets: List<ByteArray>) {
                    try {
                        pair.b.stop()
                    } catch (e: TunnelException) {
                        errors += e
                    }
                }
            })
            pair.a.writePackets(listOf(ipv4(A_IP, B_IP, "x")), 5000u)
            waitFor("the callback") { errors.isNotEmpty() }
            pair.b.setPacketSink(null)
            assertTrue(errors[0] is TunnelException.Reentrant, "${errors[0]}")
            assertTrue(pair.b.isRunning())
        }
    },
    "unregister under load means no more calls" to {
        Pair().use { pair ->
            pair.connect()
            val stop = AtomicBoolean(false)
            val pumper = Thread {
                val pkt = ipv4(A_IP, B_IP, "load".repeat(50))
                val end = System.currentTimeMillis() + DEADLINE_MS
                while (!stop.get() && System.currentTimeMillis() < end) pair.a.writePackets(List(32) { pkt }, 100u)
            }
            pumper.start()
            try {
                repeat(5) {
                    val counter = CollectingSink()
                    pair.b.setPacketSink(counter)
                    waitFor("sink calls under load") { counter.calls.get() > 0 }
                    pair.b.setPacketSink(null)
                    val frozen = counter.calls.get()
                    // Traffic keeps flowing into the pull queue; the old sink must stay silent.
                    assertTrue(recvAll(pair.b, 64).isNotEmpty())
                    assertEquals(frozen, counter.calls.get())
                }
            } finally {
                stop.set(true)
                pumper.join(DEADLINE_MS)
            }
        }
    },
    "log sink receives library lines" to {
        val lines: MutableList<kotlin.Pair<LogLevel, String>> = Collections.synchronizedList(mutableListOf())
        setLogSink(object : LogSink {
            override fun onLog(level: LogLevel, message: String) {
                lines += level to message
            }
        }, LogLevel.DEBUG)
        try {
            Pair().use { it.connect() }
        } finally {
            setLogSink(null, LogLevel.ERROR)
        }
        val seen = synchronized(lines) { lines.toList() }
        val started = seen.filter { "tunnel started: host packet I/O" in it.second }
        assertEquals(2, started.size)
        assertTrue(started.all { it.first == LogLevel.INFO })
        assertTrue(seen.any { it.first == LogLevel.DEBUG && it.second.startsWith("ferrowg::handshake: handshake complete") })
        Pair().close()
        assertEquals(seen.size, lines.size, "removed: no more lines")
    },
    "fd mode and socket handles on Linux" to {
        assertFailsWith<TunnelException.Unsupported> { findUtunFd() }
        assertFailsWith<TunnelException.InvalidArgument> {
            Tunnel.start("[Interface]\n", NicMode.AdoptFd(-1), "127.0.0.1")
        }
        val loopback = start(6)
        assertEquals(emptyList(), loopback.socketHandles())
        loopback.stop()
    },
    "bad packets are refused" to {
        Pair().use { pair ->
            for (bad in listOf(listOf(ByteArray(0)), listOf(ByteArray(1421)), listOf(ipv4(A_IP, B_IP, "ok"), ByteArray(0)))) {
                assertFailsWith<TunnelException.InvalidArgument> { pair.a.writePackets(bad, 0u) }
            }
            assertEquals(0, pair.a.readPackets(0u, 0u).size)
            pair.connect()
        }
    },
    "socket protector sees every socket before use" to {
        class Protector(val allow: Boolean) : SocketProtector {
            val sockets: MutableList<Long> = Collections.synchronizedList(mutableListOf())
            override fun protect(socket: Long): Boolean {
                sockets += socket
                return allow
            }
        }
        // Platform sockets on all interfaces; traffic goes only to 127.0.0.1.
        val prot = Protector(true)
        val a = Tunnel.startProtected("[Interface]\nPrivateKey = ${privateKey(1)}\n", NicMode.HostPackets, prot)
        Pair(a, start(2)).use { pair ->
            val first = a.socketHandles()
            assertTrue(first.isNotEmpty() && prot.sockets.containsAll(first))
            pair.connect()
            val before = prot.sockets.size
            a.networkChanged()
            assertTrue(prot.sockets.drop(before).containsAll(a.socketHandles()), "new sockets protected too")
            pair.connect()
        }
        assertFailsWith<TunnelException.Bind> {
            Tunnel.startProtected("[Interface]\n", NicMode.HostPackets, Protector(false))
        }
    },
    "the embedding guide's VpnSession" to { vpnSessionFromTheDocs() },
)

fun main(args: Array<String>) {
    var passed = 0
    var failed = 0
    for ((name, test) in tests) {
        if (args.isNotEmpty() && args.none { it in name }) continue
        try {
            test()
            passed++
            println("ok   $name")
        } catch (e: Throwable) {
            failed++
            println("FAIL $name: $e")
            e.printStackTrace(System.out)
        }
    }
    println("$passed passed, $failed failed")
    exitProcess(if (failed == 0 && passed > 0) 0 else 1)
}
