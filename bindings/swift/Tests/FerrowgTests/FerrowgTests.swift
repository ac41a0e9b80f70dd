// The uniffi Swift binding driving real tunnels: two engines in host packet I/O mode,
// real UDP on 127.0.0.1, real encryption. Mirrors bindings/python/tests/test_ferrowg.py.
// Run by bindings/run-tests.sh (swift test, on Linux in a Debian root).
import Foundation
import XCTest
@testable import Ferrowg

final class Events: TunnelObserver, @unchecked Sendable {
    let events = Locked<[TunnelEvent]>([])
    let threads = Locked<Set<Bool>>([])

    func onEvent(event: TunnelEvent) {
        threads.with { _ = $0.insert(Thread.isMainThread) }
        events.with { $0.append(event) }
    }

    var handshakes: [String] {
        events.get.compactMap { if case .handshakeComplete(let peer) = $0 { return peer } else { return nil } }
    }
}

final class CollectingSink: PacketSink, @unchecked Sendable {
    let got = Locked<[Data]>([])
    let calls = Locked(0)
    func onPackets(packets: [Data]) {
        calls.with { $0 += 1 }
        got.with { $0 += packets }
    }
}

final class FerrowgTests: XCTestCase {
    func testVersion() {
        XCTAssertEqual(version().filter { $0 == "." }.count, 2)
        XCTAssertEqual(try publicKeyFromPrivate(privateKey: privateKey(1)).count, 44)
    }

    func testTwoTunnelsExchangePacketsStatsAndHandshakeEvent() throws {
        let pair = try Pair()
        defer { pair.close() }
        let obs = Events()
        try pair.a.setObserver(observer: obs)
        try pair.connect()
        let sent = (0..<500).map { i in
            ipv4(aIP, bIP, String(repeating: "a->b \(i)", count: 1 + i % 40))
        }
        XCTAssertEqual(try exchange(pair.a, pair.b, sent), sent, "every packet arrives, in order, unchanged")
        let back = (0..<200).map { i in ipv4(bIP, aIP, [UInt8](repeating: UInt8(i % 256), count: 700)) }
        XCTAssertEqual(try exchange(pair.b, pair.a, back), back)

        waitFor("the handshake event") { !obs.handshakes.isEmpty }
        XCTAssertEqual(obs.handshakes.first, pair.bPub)
        XCTAssertEqual(obs.threads.get, [false], "events come on library threads")

        let sa = try pair.a.stats(), sb = try pair.b.stats()
        XCTAssertEqual(sa.listenPort, try pair.a.listenPort())
        XCTAssertEqual(sa.peers.count, 1)
        XCTAssertEqual(sb.peers.count, 1)
        let pa = sa.peers[0], pb = sb.peers[0]
        XCTAssertEqual(pa.publicKey, pair.bPub)
        XCTAssertEqual(pb.publicKey, pair.aPub)
        XCTAssertGreaterThanOrEqual(pa.txPackets, UInt64(sent.count))
        XCTAssertGreaterThanOrEqual(pb.rxPackets, UInt64(sent.count))
        XCTAssertGreaterThanOrEqual(pa.rxPackets, UInt64(back.count))
        XCTAssertGreaterThanOrEqual(pb.txPackets, UInt64(back.count))
        XCTAssertGreaterThan(pa.txBytes, UInt64(sent.reduce(0) { $0 + $1.count }))
        XCTAssertGreaterThanOrEqual(pa.handshakes, 1)
        XCTAssertGreaterThan(pa.lastHandshakeUnixMs ?? 0, 1_600_000_000_000)
        XCTAssertEqual(pb.endpoint, "127.0.0.1:\(try pair.a.listenPort())")
        XCTAssertTrue(try pair.a.uapiGet().contains("public_key=\(hexKey(pair.bPub))"))
    }

    func testPacketSinkReceivesInOrderOnLibraryThreads() throws {
        let pair = try Pair()
        defer { pair.close() }
        try pair.connect()
        let sink = CollectingSink()
        let onMain = Locked(false)
        final class ThreadCheck: PacketSink, @unchecked Sendable {
            let inner: CollectingSink, onMain: Locked<Bool>
            init(_ inner: CollectingSink, _ onMain: Locked<Bool>) { self.inner = inner; self.onMain = onMain }
            func onPackets(packets: [Data]) {
                if Thread.isMainThread { onMain.with { $0 = true } }
                inner.onPackets(packets: packets)
            }
        }
        try pair.b.setPacketSink(sink: ThreadCheck(sink, onMain))
        let sent = (0..<300).map { i -> Data in
            let be = [UInt8(i >> 24 & 0xFF), UInt8(i >> 16 & 0xFF), UInt8(i >> 8 & 0xFF), UInt8(i & 0xFF)]
            return ipv4(aIP, bIP, Array([[UInt8]](repeating: be, count: 100).joined()))
        }
        for i in stride(from: 0, to: sent.count, by: 32) {
            let chunk = Array(sent[i..<min(i + 32, sent.count)])
            XCTAssertEqual(try pair.a.writePackets(packets: chunk, timeoutMs: 5000), UInt32(chunk.count))
            waitFor("sink deliveries") { sink.got.get.count >= i + chunk.count }
        }
        try pair.b.setPacketSink(sink: nil)
        XCTAssertEqual(sink.got.get, sent)
        XCTAssertFalse(onMain.get)
    }

    func testLiveConfigChange() throws {
        let pair = try Pair()
        defer { pair.close() }
        let toC = ipv4(aIP, cIP, "to c"), toB = ipv4(aIP, bIP, "to b")
        try pair.connect()
        // No route to C yet: dropped by a, so b sees only the marker that follows it.
        _ = try pair.a.writePackets(packets: [toC, toB], timeoutMs: 5000)
        XCTAssertEqual(try recvAll(pair.b, 1), [toB])

        try pair.a.setConfig(config: "public_key=\(hexKey(pair.bPub))\nallowed_ip=\(cIP)/32\n", replace: false)
        XCTAssertEqual(try pair.a.config().peers.map { $0.allowedIps.sorted() }, [["\(bIP)/32", "\(cIP)/32"]])
        _ = try pair.a.writePackets(packets: [toC], timeoutMs: 5000)
        XCTAssertEqual(try recvAll(pair.b, 1), [toC])

        // Full replace with wg-quick text: C gone again, keepalive set.
        try pair.a.setConfig(config: """
            [Interface]
            PrivateKey = \(privateKey(1))
            [Peer]
            PublicKey = \(pair.bPub)
            AllowedIPs = \(bIP)/32
            Endpoint = 127.0.0.1:\(try pair.b.listenPort())
            PersistentKeepalive = 25

            """, replace: true)
        let peers = try pair.a.config().peers
        XCTAssertEqual(peers.map(\.allowedIps), [["\(bIP)/32"]])
        XCTAssertEqual(peers.first?.persistentKeepalive, 25)
        _ = try pair.a.writePackets(packets: [toC, toB], timeoutMs: 5000)
        XCTAssertEqual(try recvAll(pair.b, 1), [toB])
    }

    func testBadConfigThrowsTypedErrorWithLine() throws {
        let text = "[Interface]\nPrivateKey = \(privateKey(3))\n\nListenPort = 70000\n"
        XCTAssertThrowsError(try Tunnel.start(config: text, mode: .hostPackets, bindAddress: "127.0.0.1")) { e in
            guard case TunnelError.Config(let line, let detail) = e else { return XCTFail("\(e)") }
            XCTAssertEqual(line, 4)
            XCTAssertTrue(detail.contains("ListenPort"), detail)
        }
        XCTAssertThrowsError(try Tunnel.start(config: "private_key=00\n", mode: .hostPackets, bindAddress: "127.0.0.1")) { e in
            guard case TunnelError.Config(let line, _) = e else { return XCTFail("\(e)") }
            XCTAssertEqual(line, 1)
        }
        let t = try start(4)
        defer { try? t.stop() }
        XCTAssertThrowsError(try t.setConfig(config: "[Peer]\nPublicKey = nope\n", replace: false)) { e in
            guard case TunnelError.Config(let line, _) = e else { return XCTFail("\(e)") }
            XCTAssertEqual(line, 2)
        }
        XCTAssertThrowsError(try Tunnel.start(config: "[Interface]\n", mode: .hostPackets, bindAddress: "not an address")) { e in
            guard case TunnelError.InvalidArgument = e else { return XCTFail("\(e)") }
        }
    }

    func testUseAfterStopAndDoubleStop() throws {
        let t = try start(5)
        try t.stop()
        try t.stop()
        XCTAssertFalse(t.isRunning())
        let calls: [() throws -> Void] = [
            { _ = try t.stats() }, { _ = try t.config() }, { _ = try t.uapiGet() },
            { _ = try t.listenPort() }, { try t.networkChanged() },
            { _ = try t.writePackets(packets: [Data([1])], timeoutMs: 0) },
            { try t.setConfig(config: "listen_port=1\n", replace: false) },
        ]
        for call in calls {
            XCTAssertThrowsError(try call()) { XCTAssertEqual($0 as? TunnelError, .Stopped) }
        }
    }

    func testThrowingCallbacksAreContainedAndStopInsideIsRefused() throws {
        let pair = try Pair()
        defer { pair.close() }
        final class Stopper: PacketSink, @unchecked Sendable {
            let tunnel: Tunnel
            let errors = Locked<[TunnelError]>([])
            init(_ t: Tunnel) { tunnel = t }
            func onPackets(packets: [Data]) {
                do { try tunnel.stop() } catch let e as TunnelError { errors.with { $0.append(e) } } catch {}
            }
        }
        let stopper = Stopper(pair.b)
        try pair.b.setPacketSink(sink: stopper)
        _ = try pair.a.writePackets(packets: [ipv4(aIP, bIP, "x")], timeoutMs: 5000)
        waitFor("the callback") { !stopper.errors.get.isEmpty }
        try pair.b.setPacketSink(sink: nil)
        XCTAssertEqual(stopper.errors.get.first, .Reentrant)
        XCTAssertTrue(pair.b.isRunning())
        let marker = ipv4(aIP, bIP, "after")
        _ = try pair.a.writePackets(packets: [marker], timeoutMs: 5000)
        XCTAssertEqual(try recvAll(pair.b, 1).last, marker)
    }

    func testUnregisterUnderLoadMeansNoMoreCalls() throws {
        let pair = try Pair()
        defer { pair.close() }
        try pair.connect()
        let stop = Locked(false)
        let pumper = Thread {
            let pkt = ipv4(aIP, bIP, String(repeating: "load", count: 50))
            let end = Date().addingTimeInterval(deadlineSeconds)
            while !stop.get && Date() < end {
                _ = try? pair.a.writePackets(packets: Array(repeating: pkt, count: 32), timeoutMs: 100)
            }
            stop.with { $0 = true }
        }
        pumper.start()
        defer {
            stop.with { $0 = true }
            waitFor("the pump thread") { pumper.isFinished }
        }
        for _ in 0..<5 {
            let counter = CollectingSink()
            try pair.b.setPacketSink(sink: counter)
            waitFor("sink calls under load") { counter.calls.get > 0 }
            try pair.b.setPacketSink(sink: nil)
            let frozen = counter.calls.get
            // Traffic keeps flowing into the pull queue; the old sink must stay silent.
            XCTAssertGreaterThan(try recvAll(pair.b, 64).count, 0)
            XCTAssertEqual(counter.calls.get, frozen)
        }
    }

    func testLogSinkReceivesLibraryLines() throws {
        final class Lines: LogSink, @unchecked Sendable {
            let lines = Locked<[(LogLevel, String)]>([])
            func onLog(level: LogLevel, message: String) { lines.with { $0.append((level, message)) } }
        }
        let sink = Lines()
        try setLogSink(sink: sink, maxLevel: .debug)
        do {
            let p = try Pair()
            defer { p.close() }
            try p.connect()
        }
        try setLogSink(sink: nil, maxLevel: .error)
        let lines = sink.lines.get
        let started = lines.filter { $0.1.contains("tunnel started: host packet I/O") }
        XCTAssertEqual(started.count, 2)
        XCTAssertTrue(started.allSatisfy { $0.0 == .info })
        XCTAssertTrue(lines.contains { $0.0 == .debug && $0.1.hasPrefix("ferrowg::handshake: handshake complete") })
        try Pair().close()
        XCTAssertEqual(sink.lines.get.count, lines.count, "removed: no more lines")
    }

    func testFdModeAndSocketHandlesOnLinux() throws {
        XCTAssertThrowsError(try findUtunFd()) { e in
            guard case TunnelError.Unsupported = e else { return XCTFail("\(e)") }
        }
        XCTAssertThrowsError(try Tunnel.start(config: "[Interface]\n", mode: .adoptFd(fd: -1), bindAddress: "127.0.0.1")) { e in
            guard case TunnelError.InvalidArgument = e else { return XCTFail("\(e)") }
        }
        let loopback = try start(6)
        XCTAssertEqual(try loopback.socketHandles(), [])
        try loopback.stop()
    }

    func testBadPacketsAreRefused() throws {
        let pair = try Pair()
        defer { pair.close() }
        for bad in [[Data()], [Data(count: 1421)], [ipv4(aIP, bIP, "ok"), Data()]] {
            XCTAssertThrowsError(try pair.a.writePackets(packets: bad, timeoutMs: 0)) { e in
                guard case TunnelError.InvalidArgument = e else { return XCTFail("\(e)") }
            }
        }
        XCTAssertEqual(try pair.a.readPackets(max: 0, timeoutMs: 0), [])
        try pair.connect()
    }

    func testSocketProtectorSeesEverySocketBeforeUse() throws {
        final class Protector: SocketProtector, @unchecked Sendable {
            let allow: Bool
            let sockets = Locked<[Int64]>([])
            init(allow: Bool) { self.allow = allow }
            func protect(socket: Int64) -> Bool { sockets.with { $0.append(socket) }; return allow }
        }
        // Platform sockets on all interfaces; traffic goes only to 127.0.0.1.
        let prot = Protector(allow: true)
        let a = try Tunnel.startProtected(config: "[Interface]\nPrivateKey = \(privateKey(1))\n",
                                          mode: .hostPackets, protector: prot)
        let pair = try Pair(a: a, b: try start(2))
        defer { pair.close() }
        let first = try a.socketHandles()
        XCTAssertFalse(first.isEmpty)
        XCTAssertTrue(Set(first).isSubset(of: Set(prot.sockets.get)))
        try pair.connect()
        let before = prot.sockets.get.count
        try a.networkChanged()
        XCTAssertTrue(Set(try a.socketHandles()).isSubset(of: Set(prot.sockets.get.dropFirst(before))),
                      "new sockets protected too")
        try pair.connect()

        XCTAssertThrowsError(try Tunnel.startProtected(config: "[Interface]\n", mode: .hostPackets,
                                                        protector: Protector(allow: false))) { e in
            guard case TunnelError.Bind = e else { return XCTFail("\(e)") }
        }
    }
}
