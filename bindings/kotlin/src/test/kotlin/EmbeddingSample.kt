// The Kotlin sample of docs/embedding.md, compiled and run here (the doc quotes the part
// between the sample markers; bindings/check-samples.py keeps the two equal).
import java.util.Collections
import kotlin.test.assertContentEquals
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertNull
import kotlin.test.assertTrue
import uniffi.ferrowg.*

// sample:begin
/** Owns the tunnel of a VpnService: start, events, reconfigure, network changes, stats. */
class VpnSession(private val onHandshake: (String) -> Unit) : TunnelObserver {
    var tunnel: Tunnel? = null
        private set

    /**
     * In a VpnService: `mode = NicMode.AdoptFd(pfd.fd)` from `Builder().establish()` (then
     * close `pfd`: the library keeps a duplicate), and a `protector` that returns
     * `protect(socket.toInt())`, called for every UDP socket before it is used.
     */
    fun start(wgQuick: String, mode: NicMode, protector: SocketProtector) {
        val t = Tunnel.startProtected(wgQuick, mode, protector)
        t.setObserver(this)
        tunnel = t
    }

    /** A new configuration from the app: replaces the running one. Returns what to show
     *  the user, or null when it was applied. */
    fun apply(wgQuick: String): String? = try {
        tunnel?.setConfig(wgQuick, true)
        null
    } catch (e: TunnelException.Config) {
        "line ${e.line}: ${e.detail}"
    } catch (e: TunnelException) {
        e.message
    }

    /** From a ConnectivityManager.NetworkCallback: new UDP sockets (protected again). */
    fun networkChanged() {
        tunnel?.networkChanged()
    }

    /** Bytes received and sent per peer, for a status screen. */
    fun traffic(): List<Triple<String, ULong, ULong>> =
        tunnel?.stats()?.peers?.map { Triple(it.publicKey, it.rxBytes, it.txBytes) } ?: emptyList()

    fun stop() {
        tunnel?.stop()
        tunnel?.destroy()
        tunnel = null
    }

    // On a library thread: post to the main thread before touching UI.
    override fun onEvent(event: TunnelEvent) {
        if (event is TunnelEvent.HandshakeComplete) onHandshake(event.peer)
    }
}
// sample:end

fun vpnSessionFromTheDocs() {
    val b = start(2)
    val bPub = b.config().publicKey!!
    val handshakes: MutableList<String> = Collections.synchronizedList(mutableListOf())
    val protected: MutableList<Long> = Collections.synchronizedList(mutableListOf())
    val session = VpnSession { handshakes += it }
    val conf = "[Interface]\nPrivateKey = ${privateKey(1)}\n[Peer]\nPublicKey = $bPub\n" +
        "AllowedIPs = $B_IP/32\nEndpoint = 127.0.0.1:${b.listenPort()}\n"
    // Platform sockets on all interfaces, as on Android; traffic goes only to 127.0.0.1.
    session.start(conf, NicMode.HostPackets, object : SocketProtector {
        override fun protect(socket: Long): Boolean {
            protected += socket
            return true
        }
    })
    try {
        val a = session.tunnel!!
        assertTrue(protected.containsAll(a.socketHandles()))
        b.setConfig("[Peer]\nPublicKey = ${a.config().publicKey}\nAllowedIPs = $A_IP/32\n", false)
        val pair = Pair(a, b, peer = false)
        pair.connect()
        waitFor("the handshake callback") { handshakes.toList() == listOf(bPub) }

        val bad = session.apply("[Interface]\nListenPort = 70000\n")
        assertTrue(bad?.startsWith("line 2: ") == true, "$bad")
        assertNull(session.apply(conf + "PersistentKeepalive = 25\n"))
        assertEquals(25.toUShort(), a.config().peers.single().persistentKeepalive)

        val before = protected.size
        session.networkChanged()
        assertTrue(protected.drop(before).containsAll(a.socketHandles()), "new sockets protected")
        pair.connect()
        val back = ipv4(B_IP, A_IP, "back")
        b.writePackets(listOf(back), 5000u)
        assertContentEquals(back, recvAll(a, 1).single())
        val (peer, rx, tx) = session.traffic().single()
        assertEquals(bPub, peer)
        assertTrue(rx > 0uL && tx > 0uL)
        session.stop()
        assertNull(session.tunnel)
        // stop() also destroyed the object: using it now is an error, not a crash.
        assertFailsWith<IllegalStateException> { a.isRunning() }
    } finally {
        session.stop()
        b.stop()
    }
}
