// Helpers for the tests: keys, IPv4 packets, two peered tunnels, waiting with a deadline.
import Foundation
import XCTest
@testable import Ferrowg

let aIP = "198.19.0.1", bIP = "198.19.0.2", cIP = "198.19.0.3"
let deadlineSeconds = 30.0

func privateKey(_ seed: UInt8) -> String {
    Data(repeating: seed, count: 32).base64EncodedString()
}

func hexKey(_ b64: String) -> String {
    Data(base64Encoded: b64)!.map { String(format: "%02x", $0) }.joined()
}

/// An IPv4/UDP packet with a valid header checksum.
func ipv4(_ src: String, _ dst: String, _ payload: [UInt8]) -> Data {
    func be16(_ v: Int) -> [UInt8] { [UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
    func addr(_ s: String) -> [UInt8] { s.split(separator: ".").map { UInt8($0)! } }
    let udp = be16(40000) + be16(40001) + be16(8 + payload.count) + be16(0) + payload
    var hdr: [UInt8] = [0x45, 0] + be16(20 + udp.count) + be16(0) + be16(0) + [64, 17, 0, 0]
    hdr += addr(src) + addr(dst)
    var sum = stride(from: 0, to: 20, by: 2).reduce(0) { $0 + (Int(hdr[$1]) << 8 | Int(hdr[$1 + 1])) }
    sum = (sum & 0xFFFF) + (sum >> 16)
    sum = (sum & 0xFFFF) + (sum >> 16)
    hdr.replaceSubrange(10..<12, with: be16(~sum & 0xFFFF))
    return Data(hdr + udp)
}

func ipv4(_ src: String, _ dst: String, _ text: String) -> Data {
    ipv4(src, dst, Array(text.utf8))
}

func start(_ seed: UInt8) throws -> Tunnel {
    try Tunnel.start(config: "[Interface]\nPrivateKey = \(privateKey(seed))\n",
                     mode: .hostPackets, bindAddress: "127.0.0.1")
}

/// Polls `pred` until it holds or the deadline passes (then the test fails).
func waitFor(_ what: String, file: StaticString = #filePath, line: UInt = #line,
             _ pred: () throws -> Bool) rethrows {
    let end = Date().addingTimeInterval(deadlineSeconds)
    while Date() < end {
        if try pred() { return }
        Thread.sleep(forTimeInterval: 0.02)
    }
    XCTFail("gave up waiting for \(what)", file: file, line: line)
}

func recvAll(_ t: Tunnel, _ n: Int) throws -> [Data] {
    var got: [Data] = []
    let end = Date().addingTimeInterval(deadlineSeconds)
    while got.count < n && Date() < end {
        got += try t.readPackets(max: 256, timeoutMs: 200)
    }
    return got
}

/// Sends in windows, each received before the next is sent: loopback UDP drops bursts
/// that overflow a socket buffer.
func exchange(_ src: Tunnel, _ dst: Tunnel, _ packets: [Data], window: Int = 32) throws -> [Data] {
    var got: [Data] = []
    for i in stride(from: 0, to: packets.count, by: window) {
        let chunk = Array(packets[i..<min(i + window, packets.count)])
        XCTAssertEqual(try src.writePackets(packets: chunk, timeoutMs: 5000), UInt32(chunk.count))
        got += try recvAll(dst, chunk.count)
    }
    return got
}

/// Tunnel a (198.19.0.1) and b (198.19.0.2), peered over loopback UDP.
final class Pair {
    let a: Tunnel, b: Tunnel
    let aPub: String, bPub: String

    init(a: Tunnel, b: Tunnel, peer: Bool = true) throws {
        self.a = a
        self.b = b
        aPub = try a.config().publicKey!
        bPub = try b.config().publicKey!
        if peer {
            try a.setConfig(config: "public_key=\(hexKey(bPub))\nendpoint=127.0.0.1:\(try b.listenPort())\n"
                + "allowed_ip=\(bIP)/32\n", replace: false)
            try b.setConfig(config: "[Peer]\nPublicKey = \(aPub)\nAllowedIPs = \(aIP)/32\n", replace: false)
        }
    }

    convenience init() throws {
        try self.init(a: try start(1), b: try start(2))
    }

    /// Completes the handshake: the engine stages only a few packets before it.
    func connect() throws {
        let hello = ipv4(aIP, bIP, "hello")
        _ = try a.writePackets(packets: [hello], timeoutMs: 5000)
        XCTAssertEqual(try recvAll(b, 1), [hello])
    }

    func close() {
        try? a.stop()
        try? b.stop()
    }
}

/// A value shared with callbacks on library threads.
final class Locked<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: T
    init(_ value: T) { self.value = value }
    func with<R>(_ f: (inout T) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try f(&value)
    }
    var get: T { with { $0 } }
}
