// Stand-ins for the NetworkExtension classes NetworkExtensionSample.swift uses, with
// Apple's initialisers and property names, so the sample compiles and runs in the Linux
// tests (on Apple platforms the real framework is used and this file is empty).
#if !canImport(NetworkExtension)
import Foundation

class NETunnelNetworkSettings {
    let tunnelRemoteAddress: String
    var dnsSettings: NEDNSSettings?
    init(tunnelRemoteAddress: String) { self.tunnelRemoteAddress = tunnelRemoteAddress }
}

class NEPacketTunnelNetworkSettings: NETunnelNetworkSettings {
    var ipv4Settings: NEIPv4Settings?
    var ipv6Settings: NEIPv6Settings?
    var mtu: NSNumber?
}

class NEIPv4Route {
    let destinationAddress: String
    let destinationSubnetMask: String
    init(destinationAddress: String, subnetMask: String) {
        self.destinationAddress = destinationAddress
        self.destinationSubnetMask = subnetMask
    }
}

class NEIPv4Settings {
    let addresses: [String]
    let subnetMasks: [String]
    var includedRoutes: [NEIPv4Route]?
    var excludedRoutes: [NEIPv4Route]?
    init(addresses: [String], subnetMasks: [String]) {
        self.addresses = addresses
        self.subnetMasks = subnetMasks
    }
}

class NEIPv6Route {
    let destinationAddress: String
    let destinationNetworkPrefixLength: NSNumber
    init(destinationAddress: String, networkPrefixLength: NSNumber) {
        self.destinationAddress = destinationAddress
        self.destinationNetworkPrefixLength = networkPrefixLength
    }
}

class NEIPv6Settings {
    let addresses: [String]
    let networkPrefixLengths: [NSNumber]
    var includedRoutes: [NEIPv6Route]?
    var excludedRoutes: [NEIPv6Route]?
    init(addresses: [String], networkPrefixLengths: [NSNumber]) {
        self.addresses = addresses
        self.networkPrefixLengths = networkPrefixLengths
    }
}

class NEDNSSettings {
    let servers: [String]
    var searchDomains: [String]?
    var matchDomains: [String]?
    init(servers: [String]) { self.servers = servers }
}

class NEVPNProtocol {}

class NETunnelProviderProtocol: NEVPNProtocol {
    var providerConfiguration: [String: Any]?
}

enum NEProviderStopReason: Int {
    case none = 0
    case userInitiated = 1
}

class NEPacketTunnelProvider {
    var protocolConfiguration: NEVPNProtocol = NETunnelProviderProtocol()
    /// For the tests: what the provider handed to `setTunnelNetworkSettings`.
    var appliedSettings: NETunnelNetworkSettings?

    required init() {}

    func setTunnelNetworkSettings(
        _ settings: NETunnelNetworkSettings?, completionHandler: ((Error?) -> Void)? = nil
    ) {
        appliedSettings = settings
        completionHandler?(nil)
    }

    func startTunnel(options: [String: NSObject]?, completionHandler: @escaping (Error?) -> Void) {}
    func stopTunnel(with reason: NEProviderStopReason, completionHandler: @escaping () -> Void) {}
    func sleep(completionHandler: @escaping () -> Void) { completionHandler() }
    func wake() {}
}
#endif
