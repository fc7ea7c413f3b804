//! Keeps subscriptions from reaching the machine's own network (SSRF): an address that is loopback,
//! private, link-local or otherwise not on the public internet is refused unless
//! `outbound.allow_private_networks` is set.
//!
//! Host names are checked inside the HTTP client's resolver, so the addresses checked are exactly
//! the ones connected to (no window for DNS rebinding); every resolved address must pass. IP literals
//! never reach a resolver, so [`check_ip`] is called on them before the request.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Why an address is not public, or `None` when it is.
pub fn non_public_reason(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_reason(v4),
        IpAddr::V6(v6) => {
            // An IPv4-mapped address (::ffff:a.b.c.d) reaches the IPv4 host.
            if let Some(v4) = v6.to_ipv4_mapped() {
                return v4_reason(v4);
            }
            v6_reason(v6)
        }
    }
}

fn v4_reason(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_private() {
        Some("a private address")
    } else if ip.is_link_local() {
        Some("a link-local address")
    } else if ip.is_unspecified() || a == 0 {
        Some("an unspecified (\"this network\") address")
    } else if ip.is_broadcast() {
        Some("the broadcast address")
    } else if ip.is_multicast() {
        Some("a multicast address")
    } else if a == 100 && (64..128).contains(&b) {
        Some("a shared (carrier-grade NAT) address")
    } else if a == 192 && b == 0 && c == 0 {
        Some("an IETF protocol assignment address")
    } else if a >= 240 {
        Some("a reserved address")
    } else if a == 198 && (b == 18 || b == 19) {
        Some("a benchmarking address")
    } else if ip.is_documentation() {
        Some("a documentation address")
    } else {
        None
    }
}

fn v6_reason(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_unspecified() {
        Some("an unspecified address")
    } else if ip.is_multicast() {
        Some("a multicast address")
    } else if first & 0xfe00 == 0xfc00 {
        Some("a unique local (private) address")
    } else if first & 0xffc0 == 0xfe80 {
        Some("a link-local address")
    } else if first & 0xffc0 == 0xfec0 {
        Some("a site-local address")
    } else if first == 0x2001 && ip.segments()[1] == 0x0db8 {
        Some("a documentation address")
    } else if let Some(v4) = ip.to_ipv4() {
        // IPv4-compatible (::a.b.c.d) and NAT64 forms reach IPv4 hosts too.
        v4_reason(v4)
    } else if first == 0x0064 && ip.segments()[1] == 0xff9b {
        let [.., a, b, c, d] = ip.octets();
        v4_reason(Ipv4Addr::new(a, b, c, d))
    } else {
        None
    }
}

/// An outbound request refused because of where it would go.
#[derive(Debug, Clone)]
pub struct Refused {
    pub host: String,
    pub ip: IpAddr,
    pub reason: &'static str,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Self { host, ip, reason } = self;
        let literal = host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>().is_ok_and(|h| h == *ip);
        if literal {
            write!(f, "refused: {ip} is {reason}")?;
        } else {
            write!(f, "refused: {host} resolves to {ip}, {reason}")?;
        }
        f.write_str("; outbound.allow_private_networks is false, so deliveries go only to public addresses")
    }
}

impl std::error::Error for Refused {}

/// Checks an address the request would connect to.
pub fn check_ip(host: &str, ip: IpAddr) -> Result<(), Refused> {
    match non_public_reason(ip) {
        Some(reason) => Err(Refused { host: host.to_owned(), ip, reason }),
        None => Ok(()),
    }
}

/// The HTTP client's resolver when private networks are not allowed: the system resolver, then every
/// address checked.
pub struct GuardedResolver;

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            for addr in &addrs {
                check_ip(&host, addr.ip())?;
            }
            let addrs: Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_refused_with_a_reason() {
        for (ip, why) in [
            ("127.0.0.1", "loopback"),
            ("127.8.9.10", "loopback"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("172.31.255.255", "private"),
            ("192.168.1.1", "private"),
            ("169.254.169.254", "link-local"),
            ("0.0.0.0", "unspecified"),
            ("0.1.2.3", "unspecified"),
            ("100.64.0.1", "carrier-grade"),
            ("224.0.0.1", "multicast"),
            ("255.255.255.255", "broadcast"),
            ("240.0.0.1", "reserved"),
            ("192.0.2.1", "documentation"),
            ("198.18.0.1", "benchmarking"),
            ("::1", "loopback"),
            ("::", "unspecified"),
            ("fc00::1", "unique local"),
            ("fd12:3456::1", "unique local"),
            ("fe80::1", "link-local"),
            ("ff02::1", "multicast"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:10.0.0.1", "private"),
            ("::ffff:169.254.169.254", "link-local"),
            ("64:ff9b::a9fe:a9fe", "link-local"),
            ("2001:db8::1", "documentation"),
        ] {
            let reason = non_public_reason(ip.parse().unwrap());
            assert!(reason.is_some_and(|r| r.contains(why)), "{ip}: expected {why}, got {reason:?}");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for ip in ["1.1.1.1", "8.8.8.8", "172.32.0.1", "100.128.0.1", "93.184.216.34", "2606:4700:4700::1111"] {
            assert_eq!(non_public_reason(ip.parse().unwrap()), None, "{ip}");
        }
    }

    #[test]
    fn a_refusal_names_the_host_the_address_and_the_setting() {
        let err = check_ip("internal.example", "10.0.0.7".parse().unwrap()).unwrap_err().to_string();
        for part in ["refused", "internal.example", "10.0.0.7", "private", "allow_private_networks"] {
            assert!(err.contains(part), "{err} should mention {part}");
        }
    }
}
