//! `ferrowg show [IFNAME]`: what `wg show` prints, read over the UAPI socket (so it
//! works with ferrowg, wireguard-go or any userspace implementation).

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ferrowg_core::config::uapi::{parse_get_response, GetResponse};

use crate::uapi_server::SOCKET_DIR;

/// Prints one interface, or every interface with a socket in [`SOCKET_DIR`].
pub fn run(ifname: Option<&str>) -> Result<(), String> {
    let names = match ifname {
        Some(n) => vec![n.to_owned()],
        None => list_interfaces()?,
    };
    let now = SystemTime::now();
    let mut out = String::new();
    for (i, name) in names.iter().enumerate() {
        let resp = query(name)?;
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&format_show(name, &resp, now));
    }
    print!("{out}");
    Ok(())
}

fn list_interfaces() -> Result<Vec<String>, String> {
    let dir = std::fs::read_dir(SOCKET_DIR).map_err(|e| format!("{SOCKET_DIR}: {e}"))?;
    let mut names: Vec<String> = dir
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.strip_suffix(".sock").map(str::to_owned))
        .collect();
    names.sort();
    Ok(names)
}

/// Sends `get=1` to IFNAME's socket and parses the answer.
fn query(ifname: &str) -> Result<GetResponse, String> {
    let path = Path::new(SOCKET_DIR).join(format!("{ifname}.sock"));
    let mut conn = UnixStream::connect(&path)
        .map_err(|e| format!("unable to access interface {ifname}: {e}"))?;
    conn.set_read_timeout(Some(Duration::from_secs(10))).map_err(|e| e.to_string())?;
    conn.write_all(b"get=1\n\n").map_err(|e| e.to_string())?;
    let mut reader = BufReader::new(conn);
    let mut text = String::new();
    loop {
        let mut line = String::new();
        let n = reader.read_line(&mut line).map_err(|e| e.to_string())?;
        if n == 0 || line == "\n" {
            break;
        }
        text.push_str(&line);
    }
    parse_get_response(&text).map_err(|e| format!("{ifname}: {e}"))
}

/// The `wg show` text for one interface, peers with the latest handshake first.
pub fn format_show(ifname: &str, resp: &GetResponse, now: SystemTime) -> String {
    let mut s = String::new();
    let cfg = &resp.config;
    let _ = writeln!(s, "interface: {ifname}");
    if let Some(k) = &cfg.private_key {
        let _ = writeln!(s, "  public key: {}", k.public_key().to_base64());
        s.push_str("  private key: (hidden)\n");
    }
    if let Some(p) = cfg.listen_port {
        let _ = writeln!(s, "  listening port: {p}");
    }
    if let Some(m) = cfg.fwmark.filter(|&m| m != 0) {
        let _ = writeln!(s, "  fwmark: 0x{m:x}");
    }
    let mut order: Vec<usize> = (0..cfg.peers.len()).collect();
    let hs = |i: usize| resp.stats.get(i).and_then(|st| st.last_handshake).unwrap_or_default();
    order.sort_by_key(|&i| std::cmp::Reverse(hs(i)));
    for i in order {
        let Some(peer) = cfg.peers.get(i) else { continue };
        let st = resp.stats.get(i).copied().unwrap_or_default();
        let _ = writeln!(s, "\npeer: {}", peer.public_key.to_base64());
        if peer.preshared_key.as_ref().is_some_and(|k| !k.is_zero()) {
            s.push_str("  preshared key: (hidden)\n");
        }
        if let Some(ep) = &peer.endpoint {
            let _ = writeln!(s, "  endpoint: {ep}");
        }
        let ips: Vec<String> = peer.allowed_ips.iter().map(|ip| ip.to_string()).collect();
        let ips = if ips.is_empty() { "(none)".to_owned() } else { ips.join(", ") };
        let _ = writeln!(s, "  allowed ips: {ips}");
        if let Some(t) = st.last_handshake.filter(|t| !t.is_zero()) {
            let ago = now.duration_since(UNIX_EPOCH + t).unwrap_or_default();
            let _ = writeln!(s, "  latest handshake: {} ago", human_duration(ago.as_secs()));
        }
        if st.rx_bytes > 0 || st.tx_bytes > 0 {
            let _ = writeln!(
                s,
                "  transfer: {} received, {} sent",
                human_bytes(st.rx_bytes),
                human_bytes(st.tx_bytes)
            );
        }
        if let Some(k) = peer.persistent_keepalive.filter(|&k| k > 0) {
            let _ = writeln!(s, "  persistent keepalive: every {}", human_duration(k.into()));
        }
    }
    s
}

/// `1 hour, 2 minutes, 3 seconds` as `wg` writes it.
fn human_duration(secs: u64) -> String {
    if secs == 0 {
        return "Now".to_owned();
    }
    let units =
        [("year", 365 * 86400), ("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)];
    let mut left = secs;
    let mut parts = Vec::new();
    for (name, size) in units {
        let n = left / size;
        left %= size;
        if n > 0 {
            parts.push(format!("{n} {name}{}", if n == 1 { "" } else { "s" }));
        }
    }
    parts.join(", ")
}

/// `1.50 KiB` as `wg` writes it.
fn human_bytes(b: u64) -> String {
    const UNITS: [(&str, f64); 4] =
        [("TiB", 1099511627776.0), ("GiB", 1073741824.0), ("MiB", 1048576.0), ("KiB", 1024.0)];
    for (name, size) in UNITS {
        if b as f64 >= size {
            return format!("{:.2} {name}", b as f64 / size);
        }
    }
    format!("{b} B")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_sizes_like_wg() {
        assert_eq!(human_duration(0), "Now");
        assert_eq!(human_duration(1), "1 second");
        assert_eq!(human_duration(3725), "1 hour, 2 minutes, 5 seconds");
        assert_eq!(human_bytes(1000), "1000 B");
        assert_eq!(human_bytes(1536), "1.50 KiB");
        assert_eq!(human_bytes(3 << 30), "3.00 GiB");
    }

    #[test]
    fn show_lists_peer_with_handshake_and_transfer() {
        let peer = "6465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f80818283";
        let text = format!(
            "private_key={}\nlisten_port=51820\npublic_key={peer}\npreshared_key={}\n\
             protocol_version=1\nendpoint=198.18.0.2:51821\nlast_handshake_time_sec=1000\n\
             last_handshake_time_nsec=0\ntx_bytes=2048\nrx_bytes=100\n\
             persistent_keepalive_interval=25\nallowed_ip=198.19.0.2/32\nerrno=0\n",
            "11".repeat(32),
            "00".repeat(32)
        );
        let resp = parse_get_response(&text).unwrap();
        let out = format_show("wg0", &resp, UNIX_EPOCH + Duration::from_secs(1062));
        assert!(out.starts_with("interface: wg0\n  public key: "), "{out}");
        assert!(out.contains("  listening port: 51820\n"), "{out}");
        assert!(!out.contains("preshared key"), "an all-zero PSK is not shown: {out}");
        assert!(out.contains("  endpoint: 198.18.0.2:51821\n"), "{out}");
        assert!(out.contains("  latest handshake: 1 minute, 2 seconds ago\n"), "{out}");
        assert!(out.contains("  transfer: 100 B received, 2.00 KiB sent\n"), "{out}");
        assert!(out.contains("  persistent keepalive: every 25 seconds\n"), "{out}");
    }
}
