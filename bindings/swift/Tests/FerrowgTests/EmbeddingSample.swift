// The Swift sample of docs/embedding.md, compiled and run here (the doc quotes the part
// between the sample markers; bindings/check-samples.py keeps the two equal).
import Foundation
import XCTest
@testable import Ferrowg

// sample:begin
/// Owns the tunnel of a VPN extension: start, events, reconfigure, network changes, stats.
final class VpnSession: TunnelObserver, @unchecked Sendable {
    private(set) var tunnel: Tunnel?
    private let onHandshake: @Sendable (String) -> Void

    init(onHandshake: @escaping @Sendable (String) -> Void) {
        self.onHandshake = onHandshake
    }

    /// In a packet tunnel provider: `mode: .adoptFd(fd: try findUtunFd())`, after
    /// `setTunnelNetworkSettings` (the tests use `.hostPackets` on 127.0.0.1).
    func start(wgQuick: String, mode: NicMode, bindAddress: String? = nil) throws {
        let t = try Tunnel.start(config: wgQuick, mode: mode, bindAddress: bindAddress)
        try t.setObserver(observer: self)
        tunnel = t
    }

    /// A new configuration from the app (`handleAppMessage`): replaces the running one.
    /// Returns what to show the user, or nil when it was applied.
    func apply(wgQuick: String) -> String? {
        do {
            try tunnel?.setConfig(config: wgQuick, replace: true)
            return nil
        } catch TunnelError.Config(let line, let detail) {
            return "line \(line): \(detail)"
        } catch {
            return "\(error)"
        }
    }

    /// Wi-Fi <-> cellular, sleep/wake (from an `NWPathMonitor`).
    func pathChanged() {
        try? tunnel?.networkChanged()
    }

    /// Bytes received and sent per peer, for a status screen.
    func traffic() throws -> [(peer: String, rx: UInt64, tx: UInt64)] {
        try (tunnel?.stats().peers ?? []).map { ($0.publicKey, $0.rxBytes, $0.txBytes) }
    }

    func stop() {
        try? tunnel?.stop()
        tunnel = nil
    }

    // On a library thread: hand the event off and return quickly.
    func onEvent(event: TunnelEvent) {
        if case .handshakeComplete(let peer) = event {
            onHandshake(peer)
        }
    }
}
// sample:end

final class EmbeddingSampleTests: XCTestCase {
    func testVpnSessionFromTheDocs() throws {
        let b = try start(2)
        defer { try? b.stop() }
        let bPub = try b.config().publicKey!
        let handshakes = Locked<[String]>([])
        let session = VpnSession { peer in handshakes.with { $0.append(peer) } }
        let conf = """
            [Interface]
            PrivateKey = \(privateKey(1))
            [Peer]
            PublicKey = \(bPub)
            AllowedIPs = \(bIP)/32
            Endpoint = 127.0.0.1:\(try b.listenPort())

            """
        try session.start(wgQuick: conf, mode: .hostPackets, bindAddress: "127.0.0.1")
        defer { session.stop() }
        let a = try XCTUnwrap(session.tunnel)
        try b.setConfig(config: "[Peer]\nPublicKey = \(try a.config().publicKey!)\nAllowedIPs = \(aIP)/32\n",
                        replace: false)
        let pair = try Pair(a: a, b: b, peer: false)
        try pair.connect()
        waitFor("the handshake callback") { handshakes.get == [bPub] }

        let bad = session.apply(wgQuick: "[Interface]\nListenPort = 70000\n")
        XCTAssertTrue(bad?.hasPrefix("line 2: ") ?? false, "\(bad ?? "nil")")
        XCTAssertNil(session.apply(wgQuick: conf + "PersistentKeepalive = 25\n"))
        XCTAssertEqual(try a.config().peers.first?.persistentKeepalive, 25)

        session.pathChanged()
        try pair.connect()
        let back = ipv4(bIP, aIP, "back")
        _ = try b.writePackets(packets: [back], timeoutMs: 5000)
        XCTAssertEqual(try recvAll(a, 1), [back])
        let traffic = try session.traffic()
        XCTAssertEqual(traffic.map(\.peer), [bPub])
        XCTAssertGreaterThan(traffic[0].tx, 0)
        XCTAssertGreaterThan(traffic[0].rx, 0)
        session.stop()
        XCTAssertFalse(a.isRunning())
    }
}
