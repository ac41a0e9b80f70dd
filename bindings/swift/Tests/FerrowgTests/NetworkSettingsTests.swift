// networkSettingsFor: a wg-quick file as the NEPacketTunnelNetworkSettings values a
// packet tunnel provider hands to NetworkExtension (see docs/embedding.md).
import XCTest
@testable import Ferrowg

final class NetworkSettingsTests: XCTestCase {
    func testFullTunnelSettings() throws {
        let config = """
            [Interface]
            PrivateKey = \(privateKey(1))
            Address = 10.0.0.2/24, fd00::2/64
            DNS = 10.0.0.53, corp.example
            MTU = 1380

            [Peer]
            PublicKey = \(try publicKeyFromPrivate(privateKey: privateKey(2)))
            AllowedIPs = 0.0.0.0/0, ::/0
            Endpoint = 192.0.2.1:51820
            """
        let s = try networkSettingsFor(wgQuickConfig: config)
        XCTAssertEqual(s.tunnelRemoteAddress, "192.0.2.1")
        XCTAssertEqual(s.mtu, 1380)
        let v4 = try XCTUnwrap(s.ipv4)
        XCTAssertEqual(v4.addresses, ["10.0.0.2"])
        XCTAssertEqual(v4.subnetMasks, ["255.255.255.0"])
        XCTAssertEqual(v4.includedRoutes.map { "\($0.destinationAddress)/\($0.subnetMask)" },
                       ["10.0.0.0/255.255.255.0", "0.0.0.0/0.0.0.0"])
        XCTAssertEqual(v4.excludedRoutes, [Ipv4Route(destinationAddress: "192.0.2.1", subnetMask: "255.255.255.255")])
        let v6 = try XCTUnwrap(s.ipv6)
        XCTAssertEqual(v6.addresses, ["fd00::2"])
        XCTAssertEqual(v6.networkPrefixLengths, [64])
        XCTAssertEqual(v6.includedRoutes.map { "\($0.destinationAddress)/\($0.networkPrefixLength)" },
                       ["fd00::/64", "::/0"])
        XCTAssertEqual(v6.excludedRoutes, [])
        let dns = try XCTUnwrap(s.dns)
        XCTAssertEqual(dns.servers, ["10.0.0.53"])
        XCTAssertEqual(dns.searchDomains, ["corp.example"])
        XCTAssertEqual(dns.matchDomains, [""])
    }

    func testSplitTunnelWithoutDnsOrIpv6() throws {
        let config = "[Interface]\nPrivateKey = \(privateKey(1))\nAddress = 10.0.0.2/32\n"
            + "[Peer]\nPublicKey = \(try publicKeyFromPrivate(privateKey: privateKey(2)))\n"
            + "AllowedIPs = 10.8.0.0/16\n"
        let s = try networkSettingsFor(wgQuickConfig: config)
        XCTAssertEqual(s.tunnelRemoteAddress, "127.0.0.1")
        XCTAssertEqual(s.mtu, 1420)
        XCTAssertNil(s.ipv6)
        XCTAssertNil(s.dns)
        XCTAssertEqual(s.ipv4?.includedRoutes, [Ipv4Route(destinationAddress: "10.8.0.0", subnetMask: "255.255.0.0")])
        XCTAssertThrowsError(try networkSettingsFor(wgQuickConfig: "[Interface]\nListenPort = 70000\n"))
    }

    #if !canImport(NetworkExtension)
    /// The docs' provider, against the stand-ins: the settings it hands NetworkExtension,
    /// then the start fails cleanly on Linux (no utun).
    func testPacketTunnelProviderSampleAppliesTheSettings() throws {
        let provider = PacketTunnelProvider()
        let proto = NETunnelProviderProtocol()
        proto.providerConfiguration = ["wgQuickConfig": """
            [Interface]
            PrivateKey = \(privateKey(1))
            Address = 10.0.0.2/32, fd00::2/128
            DNS = 10.0.0.53

            [Peer]
            PublicKey = \(try publicKeyFromPrivate(privateKey: privateKey(2)))
            AllowedIPs = 0.0.0.0/0, ::/0
            Endpoint = [2001:db8::1]:51820
            """]
        provider.protocolConfiguration = proto
        var result: Error?
        provider.startTunnel(options: nil) { result = $0 }
        let applied = try XCTUnwrap(provider.appliedSettings as? NEPacketTunnelNetworkSettings)
        XCTAssertEqual(applied.tunnelRemoteAddress, "2001:db8::1")
        XCTAssertEqual(applied.mtu, NSNumber(value: 1420))
        let v4 = try XCTUnwrap(applied.ipv4Settings)
        XCTAssertEqual(v4.addresses, ["10.0.0.2"])
        XCTAssertEqual(v4.includedRoutes?.map { $0.destinationSubnetMask }, ["0.0.0.0"])
        XCTAssertEqual(v4.excludedRoutes?.count, 0)
        let v6 = try XCTUnwrap(applied.ipv6Settings)
        XCTAssertEqual(v6.networkPrefixLengths, [NSNumber(value: 128)])
        XCTAssertEqual(v6.includedRoutes?.map { $0.destinationNetworkPrefixLength }, [NSNumber(value: 0)])
        XCTAssertEqual(v6.excludedRoutes?.map { $0.destinationAddress }, ["2001:db8::1"])
        XCTAssertEqual(applied.dnsSettings?.servers, ["10.0.0.53"])
        XCTAssertEqual(applied.dnsSettings?.matchDomains, [""])
        guard let e = result as? TunnelError, case .Unsupported = e else {
            return XCTFail("no utun on Linux: \(String(describing: result))")
        }

        let empty = PacketTunnelProvider()
        var refused: Error?
        empty.startTunnel(options: nil) { refused = $0 }
        XCTAssertNotNil(refused as? TunnelError)
        XCTAssertNil(empty.appliedSettings)
    }
    #endif
}
