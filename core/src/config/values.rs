//! Value types shared by both text formats: allowed IPs, interface addresses, endpoints.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::str::FromStr;

/// An allowed-IPs entry: an address and prefix length with the host bits cleared, the
/// form the kernel and wireguard-go store (`10.0.0.1/8` becomes `10.0.0.0/8`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AllowedIp {
    addr: IpAddr,
    cidr: u8,
}

/// An interface address from wg-quick's `Address`: host bits are kept (`10.0.0.2/24`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InterfaceAddress {
    addr: IpAddr,
    prefix: u8,
}

/// Why an `IP[/prefix]` string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    /// The part before `/` is not an IPv4 or IPv6 address.
    #[error("`{0}` is not an IP address")]
    Address(String),
    /// The prefix length is not a number or is too large for the address family.
    #[error("`/{prefix}` is not a prefix length for {family} (0-{max})")]
    Prefix {
        /// The text after `/`.
        prefix: String,
        /// "IPv4" or "IPv6".
        family: &'static str,
        /// 32 or 128.
        max: u8,
    },
    /// A `/prefix` is required here (UAPI `allowed_ip`) but absent.
    #[error("`{0}` has no /prefix length")]
    MissingPrefix(String),
}

/// A peer's endpoint: a socket address, or a `host:port` kept unresolved. Core makes no
/// OS call: the host resolves names (`ferrowg_platform::resolve`) before the config
/// reaches the engine, which refuses a hostname.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// A literal IP address and port.
    Addr(SocketAddr),
    /// A hostname (or an IPv6 address with a named zone) and a port.
    Host {
        /// The hostname, without brackets.
        host: String,
        /// The UDP port.
        port: u16,
    },
}

/// Why an endpoint string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// The value is empty.
    #[error("endpoint is empty")]
    Empty,
    /// `[` without a matching `]`.
    #[error("`{0}` has no closing `]`")]
    NoClosingBracket(String),
    /// No `:port` at the end.
    #[error("`{0}` has no port (expected host:port, IPv4:port or [IPv6]:port)")]
    MissingPort(String),
    /// The port is not a number from 0 to 65535.
    #[error("`{0}` has an invalid port (expected 0-65535)")]
    Port(String),
    /// The host part is empty or has characters no hostname or address has.
    #[error("`{0}` is not a hostname or IP address")]
    Host(String),
}

impl AllowedIp {
    /// Builds an entry, clearing host bits. Fails if `cidr` is too long for the family.
    pub fn new(addr: IpAddr, cidr: u8) -> Result<Self, CidrError> {
        let max = max_prefix(addr);
        if cidr > max {
            return Err(CidrError::Prefix { prefix: cidr.to_string(), family: family(addr), max });
        }
        Ok(Self { addr: mask(addr, cidr), cidr })
    }

    /// Parses `IP/prefix`, or a bare `IP` meaning /32 or /128 (as wg accepts).
    pub fn parse(s: &str) -> Result<Self, CidrError> {
        let (addr, cidr) = parse_cidr(s, false)?;
        Self::new(addr, cidr)
    }

    /// Parses `IP/prefix` with the prefix required, as UAPI `allowed_ip` does.
    pub fn parse_with_prefix(s: &str) -> Result<Self, CidrError> {
        let (addr, cidr) = parse_cidr(s, true)?;
        Self::new(addr, cidr)
    }

    /// The network address (host bits are zero).
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length.
    pub fn cidr(&self) -> u8 {
        self.cidr
    }
}

impl fmt::Display for AllowedIp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.cidr)
    }
}

impl FromStr for AllowedIp {
    type Err = CidrError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl InterfaceAddress {
    /// Builds an address; fails if `prefix` is too long for the family.
    pub fn new(addr: IpAddr, prefix: u8) -> Result<Self, CidrError> {
        let max = max_prefix(addr);
        if prefix > max {
            return Err(CidrError::Prefix {
                prefix: prefix.to_string(),
                family: family(addr),
                max,
            });
        }
        Ok(Self { addr, prefix })
    }

    /// Parses `IP/prefix`, or a bare `IP` meaning /32 or /128 (as `ip address add` does).
    pub fn parse(s: &str) -> Result<Self, CidrError> {
        let (addr, prefix) = parse_cidr(s, false)?;
        Self::new(addr, prefix)
    }

    /// The address, host bits included.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length of the on-link network.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }
}

impl fmt::Display for InterfaceAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for InterfaceAddress {
    type Err = CidrError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Endpoint {
    /// Parses `IPv4:port`, `[IPv6]:port`, `[IPv6%scope]:port` or `hostname:port`, split
    /// the way wg does (bracketed host, else the last `:`).
    pub fn parse(s: &str) -> Result<Self, EndpointError> {
        if s.is_empty() {
            return Err(EndpointError::Empty);
        }
        let (host, port, bracketed) = if let Some(rest) = s.strip_prefix('[') {
            let (host, after) =
                rest.split_once(']').ok_or_else(|| EndpointError::NoClosingBracket(clip(s)))?;
            let port = after.strip_prefix(':').filter(|p| !p.is_empty());
            (host, port.ok_or_else(|| EndpointError::MissingPort(clip(s)))?, true)
        } else {
            let (host, port) =
                s.rsplit_once(':').ok_or_else(|| EndpointError::MissingPort(clip(s)))?;
            if port.is_empty() {
                return Err(EndpointError::MissingPort(clip(s)));
            }
            (host, port, false)
        };
        let port = parse_decimal(port, u16::MAX.into())
            .map(|p| p as u16)
            .ok_or_else(|| EndpointError::Port(clip(s)))?;
        if let Some(ip) = parse_ip_literal(host) {
            return Ok(Self::Addr(SocketAddr::new(ip, port)));
        }
        if bracketed {
            if let Some((ip, scope)) = host.split_once('%') {
                if let (Ok(ip), Some(scope)) = (ip.parse(), parse_decimal(scope, u32::MAX.into())) {
                    return Ok(Self::Addr(SocketAddr::V6(SocketAddrV6::new(
                        ip,
                        port,
                        0,
                        scope as u32,
                    ))));
                }
            }
        }
        if !is_hostname(host, bracketed) {
            return Err(EndpointError::Host(clip(s)));
        }
        Ok(Self::Host { host: host.to_owned(), port })
    }

    /// The literal socket address, if this endpoint is not a hostname.
    pub fn addr(&self) -> Option<SocketAddr> {
        match self {
            Self::Addr(addr) => Some(*addr),
            Self::Host { .. } => None,
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Addr(SocketAddr::V4(a)) => write!(f, "{}:{}", a.ip(), a.port()),
            Self::Addr(SocketAddr::V6(a)) if a.scope_id() != 0 => {
                write!(f, "[{}%{}]:{}", a.ip(), a.scope_id(), a.port())
            }
            Self::Addr(SocketAddr::V6(a)) => write!(f, "[{}]:{}", a.ip(), a.port()),
            Self::Host { host, port } if host.contains([':', '%']) => write!(f, "[{host}]:{port}"),
            Self::Host { host, port } => write!(f, "{host}:{port}"),
        }
    }
}

impl FromStr for Endpoint {
    type Err = EndpointError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl From<SocketAddr> for Endpoint {
    fn from(addr: SocketAddr) -> Self {
        Self::Addr(addr)
    }
}

/// Parses a run of ASCII digits (no sign, no spaces) no larger than `max`.
pub(crate) fn parse_decimal(s: &str, max: u64) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<u64>().ok().filter(|v| *v <= max)
}

/// What an error shows in place of text that could be key material.
pub(crate) const HIDDEN: &str = "<hidden>";

/// Runs of base64 characters this long or longer are hidden from error messages.
const SECRET_RUN: usize = 8;

/// Words of configuration key names (wg-quick and UAPI) that are shown, with their
/// beginnings (`AllowedIP`), although they are long runs: key material never spells
/// eight letters of a key name.
const KEY_WORDS: [&str; 16] = [
    "PrivateKey",
    "PublicKey",
    "PresharedKey",
    "ListenPort",
    "AllowedIPs",
    "Endpoint",
    "PersistentKeepalive",
    "SaveConfig",
    "PostDown",
    "Interface",
    "preshared",
    "persistent",
    "keepalive",
    "interval",
    "protocol",
    "handshake",
];

/// Prepares user-supplied text for an error message: every run of 8 or more characters
/// from the base64 alphabet (which includes hex) that is not a configuration key name
/// becomes `<hidden>`, and the result is shortened. Every value, key or line an error
/// echoes goes through here, so no error (Display or Debug) holds any 8-character piece
/// of a private or preshared key, whatever the line looked like.
pub(crate) fn clip(s: &str) -> String {
    const MAX: usize = 64;
    let shown = hide_secret_runs(s);
    match shown.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}...", &shown[..i]),
        None => shown,
    }
}

/// [`clip`] for text an error shows right after a `/` (a prefix length): the slash can
/// extend a run of the key alphabet, so it is counted with the run.
fn clip_after_slash(s: &str) -> String {
    let shown = clip(&format!("/{s}"));
    match shown.strip_prefix('/') {
        Some(rest) => rest.to_owned(),
        None => shown,
    }
}

fn hide_secret_runs(s: &str) -> String {
    let is_key_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=');
    let push_run = |out: &mut String, run: &str| {
        let keyword = KEY_WORDS
            .iter()
            .any(|w| w.get(..run.len()).is_some_and(|head| head.eq_ignore_ascii_case(run)));
        out.push_str(if run.len() >= SECRET_RUN && !keyword { HIDDEN } else { run });
    };
    let mut out = String::with_capacity(s.len());
    let mut run_start = None;
    for (i, c) in s.char_indices() {
        if is_key_char(c) {
            run_start.get_or_insert(i);
        } else {
            if let Some(start) = run_start.take() {
                push_run(&mut out, &s[start..i]);
            }
            out.push(c);
        }
    }
    if let Some(start) = run_start {
        push_run(&mut out, &s[start..]);
    }
    out
}

fn parse_cidr(s: &str, prefix_required: bool) -> Result<(IpAddr, u8), CidrError> {
    let (ip, prefix) = match s.split_once('/') {
        Some((ip, prefix)) => (ip, Some(prefix)),
        None => (s, None),
    };
    let addr: IpAddr = ip.parse().map_err(|_| CidrError::Address(clip(ip)))?;
    let max = max_prefix(addr);
    match prefix {
        None if prefix_required => Err(CidrError::MissingPrefix(clip(s))),
        None => Ok((addr, max)),
        Some(p) => match parse_decimal(p, max.into()) {
            Some(v) => Ok((addr, v as u8)),
            None => {
                Err(CidrError::Prefix { prefix: clip_after_slash(p), family: family(addr), max })
            }
        },
    }
}

fn parse_ip_literal(host: &str) -> Option<IpAddr> {
    if let Ok(v4) = host.parse::<Ipv4Addr>() {
        return Some(IpAddr::V4(v4));
    }
    // wg splits at the last ':', so an unbracketed IPv6 literal still works there.
    host.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
}

fn is_hostname(host: &str, bracketed: bool) -> bool {
    !host.is_empty()
        && host.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(b, b'.' | b'-' | b'_')
                || (bracketed && matches!(b, b':' | b'%'))
        })
}

fn max_prefix(addr: IpAddr) -> u8 {
    match addr {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

fn family(addr: IpAddr) -> &'static str {
    match addr {
        IpAddr::V4(_) => "IPv4",
        IpAddr::V6(_) => "IPv6",
    }
}

fn mask(addr: IpAddr, cidr: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let m = u32::MAX.checked_shl(32 - u32::from(cidr)).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(u32::from(a) & m))
        }
        IpAddr::V6(a) => {
            let m = u128::MAX.checked_shl(128 - u32::from(cidr)).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(a) & m))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_ips_are_masked_like_the_kernel() {
        let cases = [
            ("10.1.2.3/8", "10.0.0.0/8"),
            ("10.1.2.3", "10.1.2.3/32"),
            ("10.1.2.3/0", "0.0.0.0/0"),
            ("192.168.77.255/23", "192.168.76.0/23"),
            ("fd00::1:2/64", "fd00::/64"),
            ("fd00::1", "fd00::1/128"),
            ("::ffff:10.1.2.3/120", "::ffff:10.1.2.0/120"),
        ];
        for (input, want) in cases {
            assert_eq!(AllowedIp::parse(input).unwrap().to_string(), want, "{input}");
        }
    }

    #[test]
    fn bad_cidrs_say_why() {
        assert_eq!(
            AllowedIp::parse("10.0.0.0/33").unwrap_err().to_string(),
            "`/33` is not a prefix length for IPv4 (0-32)"
        );
        assert_eq!(
            AllowedIp::parse("::/129").unwrap_err().to_string(),
            "`/129` is not a prefix length for IPv6 (0-128)"
        );
        assert_eq!(AllowedIp::parse("10.0.0/8").unwrap_err(), CidrError::Address("10.0.0".into()));
        assert_eq!(
            AllowedIp::parse("10.0.0.0/+8").unwrap_err().to_string(),
            "`/+8` is not a prefix length for IPv4 (0-32)"
        );
        assert_eq!(
            AllowedIp::parse_with_prefix("10.0.0.1").unwrap_err(),
            CidrError::MissingPrefix("10.0.0.1".into())
        );
    }

    #[test]
    fn endpoint_forms() {
        let cases = [
            ("1.2.3.4:51820", "1.2.3.4:51820"),
            ("[fd00::1]:51820", "[fd00::1]:51820"),
            ("fd00::1:51820", "[fd00::1]:51820"),
            ("[fe80::1%3]:7", "[fe80::1%3]:7"),
            ("[fe80::1%eth0]:7", "[fe80::1%eth0]:7"),
            ("vpn.example.com:443", "vpn.example.com:443"),
        ];
        for (input, want) in cases {
            assert_eq!(Endpoint::parse(input).unwrap().to_string(), want, "{input}");
        }
        assert!(matches!(Endpoint::parse("vpn.example.com:443"), Ok(Endpoint::Host { .. })));
        assert!(matches!(Endpoint::parse("[fe80::1%3]:7"), Ok(Endpoint::Addr(_))));
    }

    #[test]
    fn bad_endpoints_say_why() {
        let cases = [
            ("", EndpointError::Empty),
            ("[fd00::1:51820", EndpointError::NoClosingBracket("[fd00::1:51820".into())),
            ("[fd00::1]51820", EndpointError::MissingPort("[fd00::1]51820".into())),
            ("[fd00::1]:", EndpointError::MissingPort("[fd00::1]:".into())),
            ("example.com", EndpointError::MissingPort("example.com".into())),
            ("1.2.3.4:65536", EndpointError::Port("1.2.3.4:65536".into())),
            ("1.2.3.4:http", EndpointError::Port("1.2.3.4:http".into())),
            (":51820", EndpointError::Host(":51820".into())),
            ("a/b:1", EndpointError::Host("a/b:1".into())),
        ];
        for (input, want) in cases {
            assert_eq!(Endpoint::parse(input), Err(want), "{input}");
        }
    }

    #[test]
    fn literal_endpoints_have_an_address_and_hostnames_none() {
        let e = Endpoint::parse("127.0.0.1:9").unwrap();
        assert_eq!(e.addr(), Some("127.0.0.1:9".parse::<SocketAddr>().unwrap()));
        assert_eq!(Endpoint::parse("vpn.example.com:9").unwrap().addr(), None);
    }

    #[test]
    fn clip_hides_key_like_runs_and_keeps_key_names() {
        let cases = [
            ("70000", "70000"),
            ("1234567", "1234567"),
            ("12345678", "<hidden>"),
            ("0x100000000", "<hidden>"),
            ("vpn.example.com:1", "vpn.example.com:1"),
            ("wireguard.example.com", "<hidden>.example.com"),
            ("PrivateKey: yMnKy8zNzs/Q0dLT1NXW19jZ2tvc3d7f4OHi4+Tl5uc=", "PrivateKey: <hidden>"),
            ("[yMnKy8zN]", "[<hidden>]"),
            ("persistent_keepalive_interval", "persistent_keepalive_interval"),
            ("privatekey", "privatekey"),
            ("AllowedIP", "AllowedIP"),
            ("PersistentKeepalve", "<hidden>"),
            ("PrivateKeyAAAAAAAA", "<hidden>"),
            ("<hidden>", "<hidden>"),
        ];
        for (input, want) in cases {
            assert_eq!(clip(input), want, "{input}");
        }
        assert_eq!(clip_after_slash("33"), "33");
        assert_eq!(clip_after_slash("abcdefg"), "<hidden>");
        assert_eq!(clip(&"a.".repeat(40)), format!("{}...", "a.".repeat(32)));
    }

    #[test]
    fn decimal_is_strict() {
        assert_eq!(parse_decimal("0065535", 65535), Some(65535));
        assert_eq!(parse_decimal("65536", 65535), None);
        assert_eq!(parse_decimal("+1", 65535), None);
        assert_eq!(parse_decimal("", 65535), None);
        assert_eq!(parse_decimal("99999999999999999999999", u64::MAX), None);
    }
}
