//! Reading the cookies a server sets.

use http::HeaderMap;
use http::header::SET_COOKIE;

/// The whole `Set-Cookie` value (`name=value; Path=/; …`) of the cookie named `name`.
pub fn set_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    let prefix = format!("{name}=");
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find(|value| value.starts_with(&prefix))
        .map(str::to_owned)
}

/// `name=value` of the cookie named `name`, as a browser would send it back.
pub fn cookie_pair(headers: &HeaderMap, name: &str) -> Option<String> {
    set_cookie(headers, name).and_then(|value| value.split(';').next().map(str::to_owned))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn the_named_cookie_is_found_among_several() {
        let mut headers = HeaderMap::new();
        headers.append(SET_COOKIE, HeaderValue::from_static("hg_login=abc; Path=/; HttpOnly"));
        headers.append(SET_COOKIE, HeaderValue::from_static("hg_session=xyz; Path=/; HttpOnly"));
        assert_eq!(set_cookie(&headers, "hg_session").as_deref(), Some("hg_session=xyz; Path=/; HttpOnly"));
        assert_eq!(cookie_pair(&headers, "hg_login").as_deref(), Some("hg_login=abc"));
        assert_eq!(set_cookie(&headers, "hg"), None, "a prefix of a name is not the name");
    }
}
