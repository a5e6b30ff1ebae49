//! Who the client is: the socket's peer, or, when that peer is a trusted
//! proxy (`--trusted-proxy CIDR`), the address it forwarded. Per-IP limits
//! count this address and logs show it.
//!
//! The forwarded address is the last hop of `X-Forwarded-For` (else of
//! `Forwarded: for=`) that is not itself a trusted proxy: each proxy appends
//! the address it got the request from, so hops to the right of the last
//! untrusted one were added by our own proxies, while anything to its left
//! came from the client and may be made up. Headers from untrusted peers are
//! ignored.

use std::net::{IpAddr, SocketAddr};

use axum::http::request::Parts;
use axum::http::HeaderMap;
use ipnet::IpNet;

/// The socket peer of a request, set by the server on each request it
/// serves (what `ConnectInfo` is to axum).
#[derive(Clone, Copy, Debug)]
pub(crate) struct SocketPeer(pub(crate) SocketAddr);

/// The socket peer of a request: [`SocketPeer`], else the `Peer` of
/// `ssehub::axum::Listener` when the router is served by another app.
fn socket_peer(parts: &Parts) -> Option<SocketAddr> {
    if let Some(SocketPeer(addr)) = parts.extensions.get::<SocketPeer>() {
        return Some(*addr);
    }
    parts
        .extensions
        .get::<axum::extract::ConnectInfo<ssehub::axum::Peer>>()
        .map(|info| info.0.addr())
}

/// The client's address for a request (see the module docs); `None` when
/// the server did not say who its peer is.
pub(crate) fn ip(parts: &Parts, trusted: &[IpNet]) -> Option<IpAddr> {
    socket_peer(parts).map(|peer| address(peer.ip(), &parts.headers, trusted))
}

/// The client's address for a request from `peer` (see the module docs).
pub(crate) fn address(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let peer = canonical(peer);
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(&canonical(*ip)));
    if !is_trusted(&peer) {
        return peer;
    }
    let hops: Vec<Option<IpAddr>> = if headers.contains_key("x-forwarded-for") {
        list(headers, "x-forwarded-for").map(hop).collect()
    } else {
        list(headers, "forwarded").map(forwarded_for).collect()
    };
    // From the nearest hop outwards; an unreadable hop ends the walk (what
    // lies beyond it cannot be told apart from the client's own words).
    let mut client = peer;
    for hop in hops.into_iter().rev() {
        let Some(ip) = hop else { break };
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    client
}

/// The comma-separated elements of every `name` header, in order.
fn list<'a>(headers: &'a HeaderMap, name: &str) -> impl Iterator<Item = &'a str> {
    headers
        .get_all(name)
        .into_iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
}

/// An address as proxies write it: `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1`,
/// `[2001:db8::1]:5678`.
fn hop(text: &str) -> Option<IpAddr> {
    let text = text.trim();
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Some(canonical(addr.ip()));
    }
    text.strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .and_then(|t| t.parse().ok())
        .map(canonical)
}

/// The `for=` parameter of one `Forwarded` element (RFC 7239), if it is an
/// address (`unknown` and obfuscated identifiers are not).
fn forwarded_for(element: &str) -> Option<IpAddr> {
    element.split(';').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        if !key.trim().eq_ignore_ascii_case("for") {
            return None;
        }
        hop(value.trim().trim_matches('"'))
    })
}

/// IPv4-mapped IPv6 addresses (a dual-stack socket's view of IPv4 clients)
/// as IPv4, so that one client is one address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        map
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let h = headers(&[("x-forwarded-for", "1.1.1.1"), ("forwarded", "for=2.2.2.2")]);
        assert_eq!(
            address(ip("9.9.9.9"), &h, &nets(&["10.0.0.0/8"])),
            ip("9.9.9.9")
        );
        assert_eq!(address(ip("9.9.9.9"), &h, &[]), ip("9.9.9.9"));
    }

    #[test]
    fn the_last_untrusted_hop_is_the_client() {
        let trusted = nets(&["10.0.0.0/8", "127.0.0.1/32"]);
        // A client that made up 6.6.6.6, then our two proxies.
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 203.0.113.7, 10.0.0.2")]);
        assert_eq!(address(ip("10.0.0.1"), &h, &trusted), ip("203.0.113.7"));
        // Several header lines are one list, in order.
        let h = headers(&[
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-for", "203.0.113.7:4711"),
        ]);
        assert_eq!(address(ip("127.0.0.1"), &h, &trusted), ip("203.0.113.7"));
    }

    #[test]
    fn all_hops_trusted_gives_the_first() {
        let trusted = nets(&["10.0.0.0/8"]);
        let h = headers(&[("x-forwarded-for", "10.1.1.1, 10.0.0.2")]);
        assert_eq!(address(ip("10.0.0.1"), &h, &trusted), ip("10.1.1.1"));
    }

    #[test]
    fn no_header_or_garbage_stops_at_the_nearest_known_hop() {
        let trusted = nets(&["10.0.0.0/8"]);
        assert_eq!(
            address(ip("10.0.0.1"), &HeaderMap::new(), &trusted),
            ip("10.0.0.1")
        );
        let h = headers(&[("x-forwarded-for", "203.0.113.7, nonsense, 10.0.0.2")]);
        assert_eq!(address(ip("10.0.0.1"), &h, &trusted), ip("10.0.0.2"));
    }

    #[test]
    fn forwarded_is_read_when_there_is_no_x_forwarded_for() {
        let trusted = nets(&["10.0.0.0/8"]);
        let h = headers(&[(
            "forwarded",
            r#"for=6.6.6.6, for="[2001:db8:cafe::17]:4711";proto=https, for=10.0.0.9;by=10.0.0.1"#,
        )]);
        assert_eq!(
            address(ip("10.0.0.1"), &h, &trusted),
            ip("2001:db8:cafe::17")
        );
        let h = headers(&[("forwarded", "for=unknown, for=10.0.0.9")]);
        assert_eq!(address(ip("10.0.0.1"), &h, &trusted), ip("10.0.0.9"));
    }

    #[test]
    fn mapped_ipv4_is_ipv4() {
        let trusted = nets(&["127.0.0.0/8"]);
        let h = headers(&[("x-forwarded-for", "::ffff:203.0.113.7")]);
        assert_eq!(
            address(ip("::ffff:127.0.0.1"), &h, &trusted),
            ip("203.0.113.7")
        );
    }
}
