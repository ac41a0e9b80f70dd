// The NetworkExtension sample of docs/embedding.md (bindings/check-samples.py keeps the
// doc's copy equal to the part between the sample markers). On Apple platforms it
// compiles against NetworkExtension; in the Linux tests against NEShims.swift, and
// NetworkSettingsTests.swift runs it.
import Foundation
#if canImport(NetworkExtension)
import NetworkExtension
#endif
@testable import Ferrowg

// sample:begin
/// A full-tunnel packet tunnel provider: the library computes the network settings from
/// the wg-quick file, NetworkExtension applies them (addresses, routes with the endpoints
/// excluded, DNS, MTU), then the tunnel adopts the utun descriptor.
class PacketTunnelProvider: NEPacketTunnelProvider {
    private var tunnel: Tunnel?

    /// The library's record as NetworkExtension objects.
    static func networkSettings(_ s: TunnelNetworkSettings) -> NEPacketTunnelNetworkSettings {
        let settings = NEPacketTunnelNetworkSettings(tunnelRemoteAddress: s.tunnelRemoteAddress)
        if let v4 = s.ipv4 {
            let ipv4 = NEIPv4Settings(addresses: v4.addresses, subnetMasks: v4.subnetMasks)
            let route = { (r: Ipv4Route) in
                NEIPv4Route(destinationAddress: r.destinationAddress, subnetMask: r.subnetMask)
            }
            ipv4.includedRoutes = v4.includedRoutes.map(route)
            ipv4.excludedRoutes = v4.excludedRoutes.map(route)
            settings.ipv4Settings = ipv4
        }
        if let v6 = s.ipv6 {
            let ipv6 = NEIPv6Settings(addresses: v6.addresses,
                                      networkPrefixLengths: v6.networkPrefixLengths.map { NSNumber(value: $0) })
            let route = { (r: Ipv6Route) in
                NEIPv6Route(destinationAddress: r.destinationAddress,
                            networkPrefixLength: NSNumber(value: r.networkPrefixLength))
            }
            ipv6.includedRoutes = v6.includedRoutes.map(route)
            ipv6.excludedRoutes = v6.excludedRoutes.map(route)
            settings.ipv6Settings = ipv6
        }
        if let d = s.dns {
            let dns = NEDNSSettings(servers: d.servers)
            dns.searchDomains = d.searchDomains
            dns.matchDomains = d.matchDomains   // [""]: every query goes through the tunnel
            settings.dnsSettings = dns
        }
        settings.mtu = NSNumber(value: s.mtu)
        return settings
    }

    override func startTunnel(options: [String: NSObject]?, completionHandler: @escaping (Error?) -> Void) {
        let proto = protocolConfiguration as? NETunnelProviderProtocol
        guard let wgQuick = proto?.providerConfiguration?["wgQuickConfig"] as? String else {
            completionHandler(TunnelError.InvalidArgument(detail: "no wgQuickConfig"))
            return
        }
        let settings: TunnelNetworkSettings
        do {
            settings = try networkSettingsFor(wgQuickConfig: wgQuick)
        } catch {
            completionHandler(error)   // TunnelError.Config(line:detail:) for a bad file
            return
        }
        setTunnelNetworkSettings(Self.networkSettings(settings)) { error in
            if let error = error {
                completionHandler(error)
                return
            }
            do {
                // The utun NetworkExtension made for these settings.
                self.tunnel = try Tunnel.start(config: wgQuick, mode: .adoptFd(fd: try findUtunFd()),
                                               bindAddress: nil)
                completionHandler(nil)
            } catch {
                completionHandler(error)
            }
        }
    }

    override func stopTunnel(with reason: NEProviderStopReason, completionHandler: @escaping () -> Void) {
        try? tunnel?.stop()
        tunnel = nil
        completionHandler()
    }

    override func sleep(completionHandler: @escaping () -> Void) {
        try? tunnel?.suspend()   // sockets closed, timers stopped until wake
        completionHandler()
    }

    override func wake() {
        try? tunnel?.resume()    // reopen, re-handshake at once where packets wait
    }
}
// sample:end
