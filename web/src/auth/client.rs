//! The address a request came from, for rate limits and logs. Without proxies in front it is the
//! connection's peer. Behind `trusted_proxy_hops` proxies (a load balancer, an Ingress) the peer
//! is the nearest proxy, and each proxy appends the address it saw to `X-Forwarded-For`: the
//! client is then the entry that many places from the end. Entries further left were written by
//! the client itself and are never believed.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;

use crate::error::AppError;
use crate::state::AppState;

/// The client's address as far as the trusted proxies vouch for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let ConnectInfo(peer) = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .copied()
            .ok_or_else(|| AppError::Internal("the listener did not record the peer's address".into()))?;
        Ok(Self(client_address(peer.ip(), &parts.headers, state.settings.trusted_proxy_hops)))
    }
}

/// The client of a request from `peer` through `hops` trusted proxies.
pub fn client_address(peer: IpAddr, headers: &HeaderMap, hops: usize) -> IpAddr {
    if hops == 0 {
        return peer;
    }
    let entries: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect();
    // Fewer entries than proxies: the request skipped one; the leftmost is still one a trusted
    // proxy wrote.
    let Some(entry) = entries.get(entries.len().saturating_sub(hops)).copied() else { return peer };
    match parse(entry) {
        Some(address) => address,
        None => {
            tracing::debug!(entry, "X-Forwarded-For entry from a trusted proxy is not an address");
            peer
        }
    }
}

/// An address as proxies write it: `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1` or `[2001:db8::1]:4711`.
fn parse(entry: &str) -> Option<IpAddr> {
    entry.parse::<IpAddr>().ok().or_else(|| entry.parse::<SocketAddr>().ok().map(|a| a.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("x-forwarded-for", value.parse().expect("header value"));
        }
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("address")
    }

    #[test]
    fn without_trusted_proxies_the_header_is_ignored() {
        let peer = ip("203.0.113.9");
        assert_eq!(client_address(peer, &headers(&["198.51.100.1"]), 0), peer);
    }

    #[test]
    fn behind_trusted_proxies_the_entry_they_wrote_is_the_client_and_forged_ones_are_not() {
        let ingress = ip("10.0.0.2");
        // The client forged an entry; the Ingress appended the address it saw.
        let forged = headers(&["1.2.3.4, 198.51.100.7"]);
        assert_eq!(client_address(ingress, &forged, 1), ip("198.51.100.7"));
        // A CDN and an Ingress; several headers count as one list.
        let two = headers(&["1.2.3.4", "198.51.100.7, 10.9.8.7"]);
        assert_eq!(client_address(ingress, &two, 2), ip("198.51.100.7"));
        assert_eq!(client_address(ingress, &headers(&["[2001:db8::7]:4711"]), 1), ip("2001:db8::7"));
        assert_eq!(client_address(ingress, &headers(&["198.51.100.7:4711"]), 1), ip("198.51.100.7"));
    }

    #[test]
    fn a_missing_or_unreadable_entry_falls_back_to_the_peer() {
        let ingress = ip("10.0.0.2");
        assert_eq!(client_address(ingress, &HeaderMap::new(), 1), ingress);
        assert_eq!(client_address(ingress, &headers(&["unknown"]), 1), ingress);
        assert_eq!(
            client_address(ingress, &headers(&["198.51.100.7"]), 3),
            ip("198.51.100.7"),
            "fewer entries"
        );
    }
}
