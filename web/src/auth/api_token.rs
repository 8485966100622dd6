//! API tokens: `hgp_<provider>_<64 hex digits>`. The provider part says which namespace to look
//! the token's hash up in; only the SHA-256 hash is stored.

use heliograph_shared::{GatewayToken, ProviderSlug, TokenHash};

use super::keys::random_token;

const PREFIX: &str = "hgp_";

/// A new token for `provider` and the hash to store.
pub fn issue(provider: &ProviderSlug) -> (String, TokenHash) {
    let token = format!("{PREFIX}{}_{}", provider.as_str(), random_token());
    let hash = GatewayToken::from_presented(&token).hash();
    (token, hash)
}

/// The provider a presented token names and the hash to look up; none when it is malformed.
pub fn parse(presented: &str) -> Option<(ProviderSlug, TokenHash)> {
    let rest = presented.strip_prefix(PREFIX)?;
    let (slug, secret) = rest.rsplit_once('_')?;
    if secret.len() != 64 || !secret.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let provider = ProviderSlug::parse(slug).ok()?;
    Some((provider, GatewayToken::from_presented(presented).hash()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_issued_token_names_its_provider_and_hashes_to_the_stored_hash() {
        let provider = ProviderSlug::parse("solar_co").expect("valid");
        let (token, hash) = issue(&provider);
        assert!(token.starts_with("hgp_solar_co_"));
        assert_eq!(parse(&token), Some((provider, hash)));
        assert_eq!(parse("hgp_solar_co_short"), None);
        assert_eq!(parse(&token.replacen("hgp_", "xyz_", 1)), None);
    }
}
