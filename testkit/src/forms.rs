//! The panel's login forms as a browser fills them: fetch the form (its CSRF token in a hidden
//! field, the signed copy in a cookie), post it back with both.

use reqwest::{Client, Response};

use crate::cookies::cookie_pair;

/// Why a login form could not be submitted.
#[derive(Debug, thiserror::Error)]
pub enum FormError {
    /// The request failed.
    #[error("http: {0}")]
    Http(#[from] reqwest::Error),
    /// The page has no `csrf` field.
    #[error("the form at {0} has no csrf field")]
    NoToken(String),
    /// The panel answered the login with this status instead of admitting it (`401`: wrong
    /// account or password; `403`: the form token; `429` or `503`: held back).
    #[error("the login was refused with {0}")]
    Refused(reqwest::StatusCode),
    /// The page set no form cookie.
    #[error("the form at {path} set no {cookie} cookie")]
    NoCookie {
        /// The form's path.
        path: String,
        /// The cookie looked for.
        cookie: &'static str,
    },
}

/// The first hidden `csrf` field of a page.
pub fn csrf_field(html: &str) -> Option<String> {
    const FIELD: &str = r#"name="csrf" value=""#;
    let at = html.find(FIELD)? + FIELD.len();
    Some(html[at..].split('"').next()?.to_owned())
}

/// Fetches the login form at `base` + `path` (its token cookie named `form_cookie`) and posts
/// `fields` back with the token; the answer. `http` should not follow redirects, so that the
/// session cookie of a successful login (a `303`) can be read from the answer.
pub async fn submit_login(
    http: &Client,
    base: &str,
    path: &str,
    form_cookie: &'static str,
    fields: &[(&str, &str)],
) -> Result<Response, FormError> {
    let url = format!("{base}{path}");
    let form = http.get(&url).send().await?;
    let cookie = cookie_pair(form.headers(), form_cookie)
        .ok_or_else(|| FormError::NoCookie { path: path.to_owned(), cookie: form_cookie })?;
    let token = csrf_field(&form.text().await?).ok_or_else(|| FormError::NoToken(path.to_owned()))?;
    let mut body = vec![("csrf", token.as_str())];
    body.extend_from_slice(fields);
    Ok(http.post(&url).header(reqwest::header::COOKIE, cookie).form(&body).send().await?)
}

/// Logs a provider's user in at `/login`; the `hg_session=…` cookie pair when the panel admits
/// the login (a `303` with that cookie), else [`FormError::Refused`] with the status it answered,
/// so that a test expecting a refusal can tell a wrong password (`401`) from a broken server.
pub async fn log_in(
    http: &Client,
    base: &str,
    provider: &str,
    user: &str,
    password: &str,
) -> Result<String, FormError> {
    let fields = [("provider", provider), ("username", user), ("password", password)];
    let answer = submit_login(http, base, "/login", "hg_login", &fields).await?;
    let status = answer.status();
    match cookie_pair(answer.headers(), "hg_session") {
        Some(cookie) if status == reqwest::StatusCode::SEE_OTHER => Ok(cookie),
        _ => Err(FormError::Refused(status)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_csrf_field_is_read_from_a_form() {
        let html = r#"<form><input type="hidden" name="csrf" value="abc123"><input name="x"></form>"#;
        assert_eq!(csrf_field(html).as_deref(), Some("abc123"));
        assert_eq!(csrf_field("<form></form>"), None);
    }
}
