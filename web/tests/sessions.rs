//! Sessions end on the server, not only in the browser: after logging out, a new password, a
//! deactivation, or the account being made again under the same name, a cookie copied before
//! opens nothing, for provider users and operators alike. (Across several web processes on one
//! store, on both backends: `tests/session_revocation.rs`.)

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has already failed

mod common;

use common::{PASSWORD, Session, TestApp, USER, csrf_field, set_cookie};
use heliograph_shared::{PasswordDigest, User, Username};

async fn status(app: &TestApp, session: &Session, path: &str) -> u16 {
    app.get(session, path).await.unwrap().status().as_u16()
}

fn anna() -> Username {
    Username::parse(USER).unwrap()
}

#[tokio::test]
async fn logging_out_ends_every_session_of_the_user_on_the_server() {
    let (app, _, _) = TestApp::spawn().await.unwrap();
    let laptop = app.session("sunrise").await.unwrap();
    let phone = app.session("sunrise").await.unwrap();
    let copied = laptop.clone();
    let other_provider = app.session("voltwerk").await.unwrap();
    let response = app.post(&laptop, "/logout", &[]).await.unwrap();
    assert_eq!(response.status(), 303);
    assert!(set_cookie(&response, "hg_session").unwrap().contains("Max-Age=0"));
    assert_eq!(status(&app, &copied, "/sites").await, 303, "a copy of the cookie opens nothing");
    assert_eq!(status(&app, &phone, "/sites").await, 303, "nor does the user's other session");
    assert_eq!(status(&app, &other_provider, "/sites").await, 200, "another provider's anna is not affected");
    assert_eq!(app.login("sunrise", USER, PASSWORD).await.unwrap().status(), 303, "logging in again works");
}

#[tokio::test]
async fn a_new_password_ends_the_users_sessions_however_it_was_written() {
    let (app, sunrise, _) = TestApp::spawn().await.unwrap();
    let tenant = app.store.tenant(&sunrise.slug).await.unwrap();
    let before = app.session("sunrise").await.unwrap();
    let mut user = tenant.user(&anna()).await.unwrap().unwrap();
    user.set_password(PasswordDigest::hash("a brand new password").unwrap());
    tenant.upsert_user(&user).await.unwrap();
    assert_eq!(status(&app, &before, "/sites").await, 303);

    // Also when only the digest is replaced, the generation left as it was.
    let (app, sunrise, _) = TestApp::spawn().await.unwrap();
    let tenant = app.store.tenant(&sunrise.slug).await.unwrap();
    let before = app.session("sunrise").await.unwrap();
    let mut user = tenant.user(&anna()).await.unwrap().unwrap();
    user.password = PasswordDigest::hash(PASSWORD).unwrap();
    tenant.upsert_user(&user).await.unwrap();
    assert_eq!(status(&app, &before, "/sites").await, 303, "the same password hashed again is a new digest");
}

#[tokio::test]
async fn a_deactivated_user_stays_logged_out_when_activated_again() {
    let (app, sunrise, _) = TestApp::spawn().await.unwrap();
    let tenant = app.store.tenant(&sunrise.slug).await.unwrap();
    let session = app.session("sunrise").await.unwrap();
    let mut user = tenant.user(&anna()).await.unwrap().unwrap();
    user.deactivate();
    tenant.upsert_user(&user).await.unwrap();
    assert_eq!(status(&app, &session, "/sites").await, 303);
    user.active = true;
    tenant.upsert_user(&user).await.unwrap();
    assert_eq!(status(&app, &session, "/sites").await, 303, "activated again, the old session stays ended");
    assert_eq!(app.login("sunrise", USER, PASSWORD).await.unwrap().status(), 303);
}

#[tokio::test]
async fn a_user_made_again_under_the_same_name_does_not_get_old_sessions_back() {
    let (app, sunrise, _) = TestApp::spawn().await.unwrap();
    let tenant = app.store.tenant(&sunrise.slug).await.unwrap();
    let session = app.session("sunrise").await.unwrap();
    // Made again, even with the same password.
    let again = User::new(anna(), "Another Anna", PasswordDigest::hash(PASSWORD).unwrap());
    tenant.upsert_user(&again).await.unwrap();
    assert_eq!(status(&app, &session, "/sites").await, 303);
    let fresh = app.session("sunrise").await.unwrap();
    assert_eq!(status(&app, &fresh, "/sites").await, 200);
}

/// Logs in as operator `olga`; the session cookie and the console's CSRF token.
async fn operator_session(app: &TestApp, password: &str) -> (String, String) {
    let form = app.http.get(format!("{}/operator/login", app.base)).send().await.unwrap();
    let login_cookie = set_cookie(&form, "hg_operator_login").unwrap().split(';').next().unwrap().to_owned();
    let token = csrf_field(&form.text().await.unwrap()).unwrap();
    let response = app
        .http
        .post(format!("{}/operator/login", app.base))
        .header(reqwest::header::COOKIE, &login_cookie)
        .form(&[("csrf", token.as_str()), ("username", "olga"), ("password", password)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let cookie = set_cookie(&response, "hg_operator").unwrap().split(';').next().unwrap().to_owned();
    let console = operator_get(app, &cookie).await;
    assert_eq!(console.status(), 200);
    (cookie, csrf_field(&console.text().await.unwrap()).unwrap())
}

async fn operator_get(app: &TestApp, cookie: &str) -> reqwest::Response {
    app.http
        .get(format!("{}/operator", app.base))
        .header(reqwest::header::COOKIE, cookie)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_operators_sessions_end_at_logout_and_when_the_account_is_made_again() {
    let (app, _, _) = TestApp::spawn().await.unwrap();
    let olga = || {
        User::new(
            Username::parse("olga").unwrap(),
            "Olga",
            PasswordDigest::hash("operator password 1").unwrap(),
        )
    };
    app.store.upsert_operator(&olga()).await.unwrap();
    let (cookie, csrf) = operator_session(&app, "operator password 1").await;
    let (second, _) = operator_session(&app, "operator password 1").await;
    let logout = app
        .http
        .post(format!("{}/operator/logout", app.base))
        .header(reqwest::header::COOKIE, &cookie)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 303);
    assert_eq!(operator_get(&app, &cookie).await.status(), 303, "the copy of the cookie is refused");
    assert_eq!(operator_get(&app, &second).await.status(), 303, "so is the operator's other session");

    // `heliograph operator add` for an existing name resets the account: its sessions end.
    let (cookie, _) = operator_session(&app, "operator password 1").await;
    app.store.upsert_operator(&olga()).await.unwrap();
    assert_eq!(operator_get(&app, &cookie).await.status(), 303);
}
