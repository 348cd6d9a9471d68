//! The address guard: which hosts and addresses `http_request` may reach.
//!
//! A model that can fetch URLs can be talked (by a page it read, say) into fetching the
//! services behind the firewall: the cloud metadata endpoint, an admin panel on
//! localhost, a router. So every address is checked, literal or resolved, against the
//! special-purpose ranges of the IANA IPv4 and IPv6 registries (RFC 6890 and its
//! updates); only what is left, the public internet, is reachable, plus the hosts the
//! operator allowlists.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

/// An address the guard refuses, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{address} is {reason}")]
pub struct ForbiddenAddress {
    /// The address.
    pub address: IpAddr,
    /// What kind of address it is.
    pub reason: &'static str,
}

/// Why the guard refuses a URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuardError {
    /// Not `http` or `https`.
    #[error("only http and https URLs can be fetched, not `{0}:`")]
    Scheme(String),
    /// No host to connect to.
    #[error("the URL has no host")]
    NoHost,
    /// A user name or password in the URL.
    #[error("the URL may not carry a user name or password; send an Authorization header")]
    Credentials,
    /// A literal address in a refused range.
    #[error("refused: {0}, which is not a public internet address")]
    Address(#[from] ForbiddenAddress),
    /// A name that only means something inside a private network.
    #[error("refused: `{host}` is {reason}, not a public internet host")]
    Name {
        /// The host.
        host: String,
        /// What kind of name it is.
        reason: &'static str,
    },
    /// An allowlisted host on a port it is not allowlisted for.
    #[error("refused: `{host}` is allowlisted only on port {ports}")]
    Port {
        /// The host.
        host: String,
        /// The ports it is open on.
        ports: String,
    },
}

/// Checks `ip` against the refused ranges.
pub fn check_ip(ip: IpAddr) -> Result<(), ForbiddenAddress> {
    let reason = match ip {
        IpAddr::V4(v4) => v4_reason(v4),
        IpAddr::V6(v6) => v6_reason(v6),
    };
    match reason {
        Some(reason) => Err(ForbiddenAddress {
            address: ip,
            reason,
        }),
        None => Ok(()),
    }
}

/// Whether `ip` lies in `base/prefix`.
fn in_v4(ip: Ipv4Addr, base: [u8; 4], prefix: u32) -> bool {
    let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(base)) & mask
}

fn in_v6(ip: Ipv6Addr, base: [u16; 8], prefix: u32) -> bool {
    let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
    u128::from(ip) & mask == u128::from(Ipv6Addr::from(base)) & mask
}

/// The IPv4 special-purpose ranges, most specific first so the reason is the sharpest.
const V4_RANGES: &[([u8; 4], u32, &str)] = &[
    ([169, 254, 169, 254], 32, "a cloud metadata service address"),
    ([169, 254, 170, 2], 32, "a cloud metadata service address"),
    ([100, 100, 100, 200], 32, "a cloud metadata service address"),
    ([192, 0, 0, 192], 32, "a cloud metadata service address"),
    ([255, 255, 255, 255], 32, "the broadcast address"),
    ([0, 0, 0, 0], 8, "an unspecified (\"this network\") address"),
    ([10, 0, 0, 0], 8, "a private (RFC 1918) address"),
    (
        [100, 64, 0, 0],
        10,
        "a shared carrier-grade NAT (RFC 6598) address",
    ),
    ([127, 0, 0, 0], 8, "a loopback address"),
    ([169, 254, 0, 0], 16, "a link-local address"),
    ([172, 16, 0, 0], 12, "a private (RFC 1918) address"),
    ([192, 0, 0, 0], 24, "an IETF protocol assignment address"),
    ([192, 0, 2, 0], 24, "a documentation address"),
    ([192, 88, 99, 0], 24, "a 6to4 relay anycast address"),
    ([192, 168, 0, 0], 16, "a private (RFC 1918) address"),
    ([198, 18, 0, 0], 15, "a benchmarking address"),
    ([198, 51, 100, 0], 24, "a documentation address"),
    ([203, 0, 113, 0], 24, "a documentation address"),
    ([224, 0, 0, 0], 4, "a multicast address"),
    ([240, 0, 0, 0], 4, "a reserved address"),
];

fn v4_reason(ip: Ipv4Addr) -> Option<&'static str> {
    V4_RANGES
        .iter()
        .find(|(base, prefix, _)| in_v4(ip, *base, *prefix))
        .map(|(_, _, reason)| *reason)
}

/// The IPv6 ranges refused outright. NAT64 and 6to4, which embed an IPv4 address, are
/// judged by the address they embed instead.
const V6_RANGES: &[([u16; 8], u32, &str)] = &[
    (
        [0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254],
        128,
        "a cloud metadata service address",
    ),
    ([0, 0, 0, 0, 0, 0, 0, 0], 128, "the unspecified address"),
    ([0, 0, 0, 0, 0, 0, 0, 1], 128, "the loopback address"),
    ([0, 0, 0, 0, 0, 0xffff, 0, 0], 96, "an IPv4-mapped address"),
    (
        [0, 0, 0, 0, 0, 0, 0, 0],
        96,
        "an IPv4-compatible (deprecated) address",
    ),
    (
        [0x64, 0xff9b, 1, 0, 0, 0, 0, 0],
        48,
        "a local-use NAT64 address",
    ),
    ([0x100, 0, 0, 0, 0, 0, 0, 0], 64, "a discard-only address"),
    (
        [0x2001, 0, 0, 0, 0, 0, 0, 0],
        32,
        "a Teredo tunnelling address",
    ),
    (
        [0x2001, 0x2, 0, 0, 0, 0, 0, 0],
        48,
        "a benchmarking address",
    ),
    ([0x2001, 0x10, 0, 0, 0, 0, 0, 0], 28, "an ORCHID address"),
    ([0x2001, 0x20, 0, 0, 0, 0, 0, 0], 28, "an ORCHID address"),
    (
        [0x2001, 0xdb8, 0, 0, 0, 0, 0, 0],
        32,
        "a documentation address",
    ),
    ([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20, "a documentation address"),
    (
        [0x5f00, 0, 0, 0, 0, 0, 0, 0],
        16,
        "a segment-routing address",
    ),
    (
        [0xfc00, 0, 0, 0, 0, 0, 0, 0],
        7,
        "a unique local (private) address",
    ),
    ([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10, "a link-local address"),
    (
        [0xfec0, 0, 0, 0, 0, 0, 0, 0],
        10,
        "a site-local (deprecated) address",
    ),
    ([0xff00, 0, 0, 0, 0, 0, 0, 0], 8, "a multicast address"),
];

fn v6_reason(ip: Ipv6Addr) -> Option<&'static str> {
    if let Some(reason) = V6_RANGES
        .iter()
        .find(|(base, prefix, _)| in_v6(ip, *base, *prefix))
        .map(|(_, _, reason)| *reason)
    {
        return Some(reason);
    }

    let bits = u128::from(ip);
    // NAT64 (RFC 6052) carries the IPv4 address in the last 32 bits; 6to4 (RFC 3056) in
    // the 32 bits after the 2002::/16 prefix. A gateway would forward to that address.
    if in_v6(ip, [0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96) {
        let embedded = Ipv4Addr::from((bits & 0xffff_ffff) as u32);
        return v4_reason(embedded).map(|_| "a NAT64 address embedding a refused IPv4 address");
    }
    if in_v6(ip, [0x2002, 0, 0, 0, 0, 0, 0, 0], 16) {
        let embedded = Ipv4Addr::from(((bits >> 80) & 0xffff_ffff) as u32);
        return v4_reason(embedded).map(|_| "a 6to4 address embedding a refused IPv4 address");
    }

    // Outside 2000::/3 nothing is allocated for global unicast; refusing it keeps
    // whatever the registries assign next closed until it is known to be public.
    (!in_v6(ip, [0x2000, 0, 0, 0, 0, 0, 0, 0], 3)).then_some("not a global unicast address")
}

/// Names refused before any lookup, by suffix: they name hosts inside a network.
const PRIVATE_SUFFIXES: &[(&str, &str)] = &[
    ("localhost", "a loopback name"),
    ("metadata.google.internal", "a cloud metadata service name"),
    ("metadata.goog", "a cloud metadata service name"),
    ("internal", "a private-use name (.internal)"),
    ("local", "a multicast DNS name (.local)"),
    ("localdomain", "a private-use name (.localdomain)"),
    ("home.arpa", "a home network name (.home.arpa)"),
    ("lan", "a private-use name (.lan)"),
];

/// Checks a host name (not an address) before it is looked up.
fn check_name(name: &str) -> Result<(), GuardError> {
    let refuse = |reason| GuardError::Name {
        host: name.to_owned(),
        reason,
    };
    for (suffix, reason) in PRIVATE_SUFFIXES {
        let dotted = name.len() > suffix.len()
            && name.ends_with(suffix)
            && name[..name.len() - suffix.len()].ends_with('.');
        if name == *suffix || dotted {
            return Err(refuse(reason));
        }
    }
    // A name without a dot is completed from the resolver's search domains, that is,
    // looked up inside the local network (`metadata`, `router`, `instance-data`).
    if !name.contains('.') {
        return Err(refuse("a single-label name, resolved on the local network"));
    }
    Ok(())
}

/// One allowlist entry: a host, open on one port or all.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Allowed {
    host: String,
    port: Option<u16>,
}

/// The guard's policy: the refused ranges, opened for the allowlisted hosts.
#[derive(Debug, Clone, Default)]
pub struct Guard {
    allowed: Vec<Allowed>,
}

/// Lowercases a host and drops a final dot, so that `Example.COM.` and `example.com`
/// compare equal, as DNS treats them.
pub(super) fn normalise(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

impl Guard {
    /// A guard opening the hosts in `allow_hosts`: `host`, `host:port`, an IPv4 address
    /// with or without a port, or a bracketed IPv6 address (`[::1]:8080`). An entry that
    /// does not parse opens nothing and is reported.
    pub fn new(allow_hosts: &[String]) -> (Self, Vec<String>) {
        let mut allowed = Vec::new();
        let mut rejected = Vec::new();
        for entry in allow_hosts {
            match parse_entry(entry) {
                Some(parsed) => allowed.push(parsed),
                None => rejected.push(entry.clone()),
            }
        }
        (Self { allowed }, rejected)
    }

    /// Whether `url` may be fetched. Literal addresses are checked here; names are
    /// checked here by suffix and then, once resolved, by [`Guard::name_is_allowlisted`]
    /// and [`check_ip`] in the resolver.
    pub fn check_url(&self, url: &Url) -> Result<(), GuardError> {
        let scheme = url.scheme();
        if scheme != "http" && scheme != "https" {
            return Err(GuardError::Scheme(scheme.to_owned()));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(GuardError::Credentials);
        }
        let host = url.host().ok_or(GuardError::NoHost)?;
        let port = url.port_or_known_default().ok_or(GuardError::NoHost)?;

        if self.check_port(&host, port)? {
            return Ok(());
        }
        match host {
            Host::Ipv4(v4) => check_ip(IpAddr::V4(v4)).map_err(GuardError::from),
            Host::Ipv6(v6) => check_ip(IpAddr::V6(v6)).map_err(GuardError::from),
            Host::Domain(name) => check_name(&normalise(name)),
        }
    }

    /// Whether the host is allowlisted on `port`. A host allowlisted only on other ports
    /// is refused outright: the resolver sees names without ports, so letting the
    /// request through would let it reach whatever the name resolves to on any port.
    fn check_port(&self, host: &Host<&str>, port: u16) -> Result<bool, GuardError> {
        let key = host_key(host);
        let entries: Vec<&Allowed> = self.allowed.iter().filter(|a| a.host == key).collect();
        if entries.is_empty() {
            return Ok(false);
        }
        if entries.iter().any(|a| a.port.is_none_or(|p| p == port)) {
            return Ok(true);
        }
        let ports: Vec<String> = entries
            .iter()
            .filter_map(|a| a.port.map(|p| p.to_string()))
            .collect();
        Err(GuardError::Port {
            host: key,
            ports: ports.join(" or "),
        })
    }

    /// Whether a name the resolver was asked for is allowlisted, so that what it resolves
    /// to is not checked.
    pub fn name_is_allowlisted(&self, name: &str) -> bool {
        let name = normalise(name);
        self.allowed.iter().any(|a| a.host == name)
    }
}

/// How a host is compared with the allowlist: an address in its canonical form, a name
/// normalised.
fn host_key(host: &Host<&str>) -> String {
    match host {
        Host::Domain(name) => normalise(name),
        Host::Ipv4(v4) => v4.to_string(),
        Host::Ipv6(v6) => v6.to_string(),
    }
}

fn parse_entry(entry: &str) -> Option<Allowed> {
    let entry = entry.trim();
    let (host, port) = split_port(entry)?;
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_owned()
    };

    // Parsing the host as a URL's normalises it exactly as the URLs it is compared
    // with are normalised (IDNA, IPv4 forms, IPv6 brackets).
    let url = Url::parse(&format!("http://{host}/")).ok()?;
    if url.path() != "/" || url.query().is_some() || url.port().is_some() {
        return None;
    }
    let parsed = url.host()?;
    Some(Allowed {
        host: host_key(&parsed),
        port,
    })
}

/// Splits `host:port` (or `[v6]:port`). The port is read here rather than by the URL
/// parser, which drops a port that is the scheme's default and so would turn
/// `example.com:80` into an entry for every port.
fn split_port(entry: &str) -> Option<(&str, Option<u16>)> {
    let Some((host, port)) = entry.rsplit_once(':') else {
        return Some((entry, None));
    };
    let bracketed = host.starts_with('[') && host.ends_with(']');
    if host.contains(':') && !bracketed {
        // A bare IPv6 address: its colons are not a port separator.
        return Some((entry, None));
    }
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((host, Some(port.parse().ok()?)))
}
