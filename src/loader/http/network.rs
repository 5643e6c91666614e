//! Network blocking: which addresses the HTTP loader refuses to dial.
//!
//! The check runs on the address actually dialled: on every resolved address (through a
//! custom [`Resolve`], whose answer is the only list the connector dials) and on IP-literal
//! hosts, which never reach the resolver. IPv6 addresses that carry an IPv4 address
//! (IPv4-mapped `::ffff:0:0/96`, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`, Teredo
//! `2001::/32`) are checked as that IPv4 address too.
//!
//! The categories (all on by default):
//!
//! | category | networks |
//! | --- | --- |
//! | loopback | `127.0.0.0/8`, `0.0.0.0/8`, `::1`, `::` |
//! | private | `10.0.0.0/8`, `172.16.0.0/12`, `192.168.0.0/16`, `fc00::/7`, CGNAT `100.64.0.0/10`, benchmarking `198.18.0.0/15` |
//! | link-local | `169.254.0.0/16`, `224.0.0.0/24`, `fe80::/10`, link-local multicast `ff02::/16` (any flags), and the cloud metadata addresses `169.254.169.254`, `169.254.170.2`, `fd00:ec2::254`, `100.100.100.200` |
//!
//! The metadata addresses that lie outside `169.254.0.0/16` are in the link-local category
//! too, so they stay blocked when only the private networks are opened.

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;

/// An IP network in CIDR notation (`10.0.0.0/8`, `fd00::/8`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

/// Why a CIDR does not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct BadCidr(String);

impl fmt::Display for BadCidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid CIDR `{}`", self.0)
    }
}

impl std::error::Error for BadCidr {}

impl FromStr for Cidr {
    type Err = BadCidr;

    fn from_str(text: &str) -> Result<Self, BadCidr> {
        let bad = || BadCidr(text.to_owned());
        let (addr, prefix) = text.trim().split_once('/').ok_or_else(bad)?;
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let prefix: u8 = prefix.parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return Err(bad());
        }
        Ok(Self { addr, prefix })
    }
}

impl Cidr {
    /// Whether `ip` lies in this network (an IPv4 network never contains an IPv6 address
    /// and the other way round).
    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// The networks the loader refuses to connect to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct NetworkPolicy {
    /// Loopback and unspecified: `127.0.0.0/8`, `0.0.0.0/8`, `::1`, `::`.
    pub(crate) loopback: bool,
    /// Private: `10.0.0.0/8`, `172.16.0.0/12`, `192.168.0.0/16`, `fc00::/7`, CGNAT
    /// `100.64.0.0/10`, benchmarking `198.18.0.0/15`.
    pub(crate) private: bool,
    /// Link-local: `169.254.0.0/16`, `224.0.0.0/24`, `fe80::/10`, link-local multicast, and
    /// the cloud metadata addresses.
    pub(crate) link_local: bool,
    /// Custom networks.
    pub(crate) networks: Vec<Cidr>,
    /// Networks dialled even when a category or a custom network covers them.
    pub(crate) allowed: Vec<Cidr>,
}

impl NetworkPolicy {
    /// Every category on, no custom networks: the loader's default.
    #[cfg(test)]
    pub(crate) fn all_categories() -> Self {
        Self {
            loopback: true,
            private: true,
            link_local: true,
            ..Self::default()
        }
    }

    /// Whether dialling `ip` is refused.
    pub(crate) fn blocks(&self, ip: IpAddr) -> bool {
        let v4 = match ip {
            IpAddr::V6(v6) => embedded_ipv4(v6).map(IpAddr::V4),
            IpAddr::V4(_) => None,
        };
        if self.allows_explicitly(ip) || v4.is_some_and(|v4| self.allows_explicitly(v4)) {
            return false;
        }
        self.blocks_one(ip) || v4.is_some_and(|v4| self.blocks_one(v4))
    }

    fn allows_explicitly(&self, ip: IpAddr) -> bool {
        self.allowed.iter().any(|net| net.contains(ip))
    }

    fn blocks_one(&self, ip: IpAddr) -> bool {
        (self.loopback && is_loopback(ip))
            || (self.private && is_private(ip))
            || (self.link_local && (is_link_local(ip) || is_metadata(ip)))
            || self.networks.iter().any(|net| net.contains(ip))
    }
}

fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.octets()[0] == 0,
        IpAddr::V6(v6) => v6.is_loopback() || v6.is_unspecified(),
    }
}

fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, _, _] = v4.octets();
            let cgnat = a == 100 && b & 0xC0 == 64;
            let benchmark = a == 198 && b & 0xFE == 18;
            v4.is_private() || cgnat || benchmark
        }
        IpAddr::V6(v6) => v6.octets()[0] & 0xFE == 0xFC,
    }
}

/// Cloud instance metadata services: AWS, GCP, Azure, OpenStack (`169.254.169.254`), AWS ECS
/// task metadata (`169.254.170.2`), AWS over IPv6 (`fd00:ec2::254`), Alibaba Cloud
/// (`100.100.100.200`).
const METADATA: [IpAddr; 4] = [
    IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254)),
    IpAddr::V4(Ipv4Addr::new(169, 254, 170, 2)),
    IpAddr::V6(Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254)),
    IpAddr::V4(Ipv4Addr::new(100, 100, 100, 200)),
];

fn is_metadata(ip: IpAddr) -> bool {
    METADATA.contains(&ip)
}

fn is_link_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            v4.is_link_local() || (a == 224 && b == 0 && c == 0)
        }
        IpAddr::V6(v6) => {
            let octets = v6.octets();
            let unicast = octets[0] == 0xFE && octets[1] & 0xC0 == 0x80;
            let multicast = octets[0] == 0xFF && octets[1] & 0x0F == 0x02;
            unicast || multicast
        }
    }
}

/// The IPv4 address an IPv6 address carries, for the forms that route to it.
pub(crate) fn embedded_ipv4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let o = v6.octets();
    let last = Ipv4Addr::new(o[12], o[13], o[14], o[15]);
    let mapped = o[..10].iter().all(|b| *b == 0) && o[10] == 0xFF && o[11] == 0xFF;
    let nat64 = o[..4] == [0x00, 0x64, 0xFF, 0x9B] && o[4..12].iter().all(|b| *b == 0);
    if mapped || nat64 {
        return Some(last);
    }
    if o[..2] == [0x20, 0x02] {
        return Some(Ipv4Addr::new(o[2], o[3], o[4], o[5]));
    }
    if o[..4] == [0x20, 0x01, 0x00, 0x00] {
        // Teredo stores the client address with every bit flipped.
        return Some(Ipv4Addr::new(!o[12], !o[13], !o[14], !o[15]));
    }
    None
}

/// The error a refused address produces inside the client; the loader turns it into
/// `Error::UnauthorizedRequest`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Blocked;

impl fmt::Display for Blocked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("unauthorized request")
    }
}

impl std::error::Error for Blocked {}

/// The error a failed name lookup produces inside the client (the system's message stays in
/// the logs; the loader answers "no such host").
#[derive(Debug)]
pub(crate) struct LookupFailed(pub(crate) Option<std::io::Error>);

impl fmt::Display for LookupFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no such host")
    }
}

impl std::error::Error for LookupFailed {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0
            .as_ref()
            .map(|err| err as &(dyn std::error::Error + 'static))
    }
}

/// A resolver that drops blocked addresses, and fails with [`Blocked`] when none is left
/// ([`LookupFailed`] when the name does not resolve). The connector dials only the
/// addresses it returns, so what is checked is what is connected to.
#[derive(Clone, Debug)]
pub(crate) struct BlockingResolver {
    policy: Arc<NetworkPolicy>,
}

impl BlockingResolver {
    pub(crate) fn new(policy: Arc<NetworkPolicy>) -> Self {
        Self { policy }
    }
}

impl Resolve for BlockingResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = Arc::clone(&self.policy);
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|err| LookupFailed(Some(err)))?
                .collect();
            if resolved.is_empty() {
                return Err(LookupFailed(None).into());
            }
            let allowed: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|addr| !policy.blocks(addr.ip()))
                .collect();
            if allowed.is_empty() {
                return Err(Blocked.into());
            }
            let addrs: Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn cidrs_parse_and_contain() {
        let net: Cidr = "10.1.0.0/16".parse().unwrap();
        assert!(net.contains(ip("10.1.255.3")));
        assert!(!net.contains(ip("10.2.0.1")));
        assert!(!net.contains(ip("::ffff:10.1.0.1")));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("203.0.113.9")));
        let host: Cidr = "2001:db8::1/128".parse().unwrap();
        assert!(host.contains(ip("2001:db8::1")));
        assert!(!host.contains(ip("2001:db8::2")));
        let all6: Cidr = "::/0".parse().unwrap();
        assert!(all6.contains(ip("fe80::1")));
        for bad in [
            "10.0.0.0",
            "10.0.0.0/33",
            "::/129",
            "x/8",
            "10.0.0.0/",
            "10.0.0.0/+8",
        ] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }

    /// The default policy (nothing blocked) changed by `set`.
    fn only(set: impl FnOnce(&mut NetworkPolicy)) -> NetworkPolicy {
        let mut policy = NetworkPolicy::default();
        set(&mut policy);
        policy
    }

    /// Asserts that `policy` blocks every address of `blocked` and none of `open`.
    fn assert_blocks(policy: &NetworkPolicy, blocked: &[&str], open: &[&str]) {
        for addr in blocked {
            assert!(policy.blocks(ip(addr)), "{addr} should be blocked");
        }
        for addr in open {
            assert!(!policy.blocks(ip(addr)), "{addr} should be open");
        }
    }

    #[test]
    fn categories_follow_the_spec() {
        assert_blocks(
            &only(|policy| policy.loopback = true),
            &[
                "127.0.0.1",
                "127.9.9.9",
                "0.0.0.0",
                "::1",
                "::",
                "::ffff:127.0.0.1",
            ],
            &["10.0.0.1"],
        );

        assert_blocks(
            &only(|policy| policy.private = true),
            &[
                "10.0.0.1",
                "172.16.0.1",
                "172.31.255.255",
                "192.168.1.1",
                "fd00::1",
            ],
            &["172.32.0.1", "127.0.0.1", "8.8.8.8", "2001:4860::1"],
        );

        assert_blocks(
            &only(|policy| policy.link_local = true),
            &[
                "169.254.169.254",
                "224.0.0.251",
                "fe80::1",
                "ff02::fb",
                "ff12::1",
            ],
            &["224.0.1.1", "ff05::1", "10.0.0.1"],
        );
        assert_blocks(&NetworkPolicy::default(), &[], &["127.0.0.1"]);
    }

    #[test]
    fn embedded_ipv4_is_checked_as_ipv4() {
        let policy = NetworkPolicy {
            networks: vec!["203.0.113.0/24".parse().unwrap()],
            ..NetworkPolicy::all_categories()
        };
        let cases = [
            ("::ffff:192.168.0.1", true),
            ("64:ff9b::7f00:1", true),
            ("64:ff9b::169.254.169.254", true),
            ("2002:7f00:1::", true),
            ("2002:a9fe:a9fe::1", true),
            ("2001:0:4136:e378:8000:63bf:80ff:fefe", true), // client ~= 127.0.0.1
            ("2001:0:4136:e378:0:0:5601:5601", true),       // client ~= 169.254.169.254
            ("::ffff:203.0.113.7", true),
            ("2002:0808:0808::", false),
            ("64:ff9b::808:808", false),
            ("2001:4860:4860::8888", false),
        ];
        for (addr, blocked) in cases {
            assert_eq!(policy.blocks(ip(addr)), blocked, "{addr}");
        }
    }

    #[test]
    fn cgnat_benchmark_and_metadata() {
        assert_blocks(
            &only(|policy| policy.private = true),
            &[
                "100.64.0.1",
                "100.127.255.255",
                "198.18.0.1",
                "198.19.255.255",
                "::ffff:100.64.0.1",
            ],
            &[
                "100.63.255.255",
                "100.128.0.0",
                "198.17.255.255",
                "198.20.0.0",
            ],
        );

        // Metadata addresses belong to the link-local category, wherever they lie.
        assert_blocks(
            &only(|policy| policy.link_local = true),
            &[
                "169.254.169.254",
                "169.254.170.2",
                "fd00:ec2::254",
                "100.100.100.200",
                "::ffff:100.100.100.200",
            ],
            &["100.100.100.201", "fd00:ec2::253"],
        );
        let without_link_local = NetworkPolicy {
            link_local: false,
            ..NetworkPolicy::all_categories()
        };
        // 100.100.100.200 is still CGNAT.
        assert_blocks(
            &without_link_local,
            &["100.100.100.200"],
            &["169.254.169.254"],
        );
    }

    #[test]
    fn allowed_networks_open_holes() {
        let policy = NetworkPolicy {
            allowed: vec![
                "127.0.0.2/32".parse().unwrap(),
                "10.1.0.0/16".parse().unwrap(),
            ],
            networks: vec!["10.0.0.0/8".parse().unwrap()],
            ..NetworkPolicy::all_categories()
        };
        assert_blocks(
            &policy,
            &["127.0.0.1", "10.2.0.1"],
            &["127.0.0.2", "::ffff:127.0.0.2", "10.1.2.3"],
        );
    }
}
