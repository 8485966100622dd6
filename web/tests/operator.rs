//! The operator console: an operator (created as the CLI does) logs in, sees the providers but
//! none of their data, and creates a provider with its first user, who can then log in. Forms
//! need the operator session's CSRF token, hostile ids are refused, and provider sessions and
//! operator sessions do not open each other's pages.

#![allow(clippy::unwrap_used)]

mod common;

use common::{TestApp, csrf_field, set_cookie};
use heliograph_shared::{PasswordDigest, ProviderSlug, User, Username};

const OPERATOR_PASSWORD: &str = "operator password 1";

/// Logs in as the operator `olga`; returns the session cookie and the console's CSRF token.
async fn operator_session(app: &TestApp) -> (String, String) {
    let form = app.http.get(format!("{}/operator/login", app.base)).send().await.unwrap();
    let login_cookie = set_cookie(&form, "hg_operator_login").unwrap();
    let token = csrf_field(&form.text().await.unwrap()).unwrap();
    let login_cookie = login_cookie.split(';').next().unwrap().to_owned();
    let wrong = app
        .http
        .post(format!("{}/operator/login", app.base))
        .header(reqwest::header::COOKIE, &login_cookie)
        .form(&[("csrf", token.as_str()), ("username", "olga"), ("password", "not it at all")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let response = app
        .http
        .post(format!("{}/operator/login", app.base))
        .header(reqwest::header::COOKIE, &login_cookie)
        .form(&[("csrf", token.as_str()), ("username", "olga"), ("password", OPERATOR_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()[reqwest::header::LOCATION], "/operator");
    let cookie = set_cookie(&response, "hg_operator").unwrap().split(';').next().unwrap().to_owned();
    let console = app
        .http
        .get(format!("{}/operator", app.base))
        .header(reqwest::header::COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(console.status(), 200);
    let csrf = csrf_field(&console.text().await.unwrap()).unwrap();
    (cookie, csrf)
}

async fn add_operator(app: &TestApp) {
    let password = PasswordDigest::hash(OPERATOR_PASSWORD).unwrap();
    let olga = User::new(Username::parse("olga").unwrap(), "Olga", password);
    app.store.upsert_operator(&olga).await.unwrap();
}

#[tokio::test]
async fn an_operator_creates_a_provider_and_its_first_user_who_can_then_log_in() {
    let (app, _sunrise, _voltwerk) = TestApp::spawn().await.unwrap();
    add_operator(&app).await;
    let anonymous = app.http.get(format!("{}/operator", app.base)).send().await.unwrap();
    assert_eq!(
        (anonymous.status().as_u16(), anonymous.headers()[reqwest::header::LOCATION].to_str().unwrap()),
        (303, "/operator/login")
    );

    let (cookie, csrf) = operator_session(&app).await;
    let console = app
        .http
        .get(format!("{}/operator", app.base))
        .header(reqwest::header::COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    let html = console.text().await.unwrap();
    assert!(html.contains("sunrise") && html.contains("voltwerk"), "{html}");
    assert!(!html.contains("Alice Huber") && !html.contains("SUN-1"), "no provider's data on the console");

    let create = |fields: Vec<(&'static str, String)>| {
        let request = app
            .http
            .post(format!("{}/operator/providers", app.base))
            .header(reqwest::header::COOKIE, &cookie);
        async move { request.form(&fields).send().await.unwrap() }
    };
    let fields = |csrf: &str, slug: &str| {
        vec![
            ("csrf", csrf.to_owned()),
            ("slug", slug.to_owned()),
            ("name", "Gamma Solar <b>GmbH</b>".to_owned()),
            ("timezone", "zurich".to_owned()),
            ("ingest_port", String::new()),
            ("username", "greta".to_owned()),
            ("user_display_name", "Greta".to_owned()),
            ("password", "greta's password".to_owned()),
        ]
    };
    assert_eq!(create(fields("", "gamma")).await.status(), 403, "no CSRF token, no provider");
    for hostile in ["gamma; DROP KEYSPACE heliograph", "Gamma", "hg_x\"", "a".repeat(40).as_str(), ""] {
        let response = create(fields(&csrf, hostile)).await;
        assert_eq!(response.status(), 400, "{hostile:?}");
        let html = response.text().await.unwrap();
        assert!(html.contains("Provider id"), "the form says what to fix");
        assert!(html.contains(r#"aria-describedby="slug-error""#), "next to the id field");
        assert!(html.contains(r#"value="greta""#), "the rest of the input is kept");
    }
    assert_eq!(app.store.providers().await.unwrap().len(), 2, "nothing was created by refused forms");

    let created = create(fields(&csrf, "gamma")).await;
    assert_eq!(
        (created.status().as_u16(), created.headers()[reqwest::header::LOCATION].to_str().unwrap()),
        (303, "/operator?created=gamma")
    );
    let gamma = app.store.provider(&ProviderSlug::parse("gamma").unwrap()).await.unwrap().unwrap();
    assert_eq!(
        (gamma.display_name.as_str(), gamma.timezone.name()),
        ("Gamma Solar <b>GmbH</b>", "Europe/Zurich")
    );
    let again = create(fields(&csrf, "gamma")).await;
    assert_eq!(again.status(), 409);
    let html = again.text().await.unwrap();
    assert!(html.contains(r#"<p class="field-error" id="slug-error">A provider gamma exists already"#));
    let listed = app
        .http
        .get(format!("{}/operator", app.base))
        .header(reqwest::header::COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    let html = listed.text().await.unwrap();
    assert!(
        html.contains("Gamma Solar &#60;b&#62;GmbH&#60;/b&#62;")
            || html.contains("Gamma Solar &lt;b&gt;GmbH&lt;/b&gt;"),
        "escaped: {html}"
    );

    let login = app.login("gamma", "greta", "greta's password").await.unwrap();
    assert_eq!(login.status(), 303, "the first user logs in to the new provider");
    let fleet = app
        .http
        .get(format!("{}/sites", app.base))
        .header(reqwest::header::COOKIE, set_cookie(&login, "hg_session").unwrap().split(';').next().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(fleet.status(), 200);
}

#[tokio::test]
async fn operator_and_provider_sessions_do_not_open_each_others_pages() {
    let (app, _sunrise, _voltwerk) = TestApp::spawn().await.unwrap();
    add_operator(&app).await;
    let (operator_cookie, _) = operator_session(&app).await;
    let provider = app.session("sunrise").await.unwrap();

    let as_operator = app
        .http
        .get(format!("{}/sites", app.base))
        .header(reqwest::header::COOKIE, &operator_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(as_operator.status(), 303);
    assert!(as_operator.headers()[reqwest::header::LOCATION].to_str().unwrap().starts_with("/login"));

    let as_provider = app
        .http
        .get(format!("{}/operator", app.base))
        .header(reqwest::header::COOKIE, &provider.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(
        (as_provider.status().as_u16(), as_provider.headers()[reqwest::header::LOCATION].to_str().unwrap()),
        (303, "/operator/login")
    );

    // A provider session's cookie value presented under the operator cookie's name is refused too.
    let value = provider.cookie.split_once('=').unwrap().1;
    let swapped = app
        .http
        .get(format!("{}/operator", app.base))
        .header(reqwest::header::COOKIE, format!("hg_operator={value}"))
        .send()
        .await
        .unwrap();
    assert_eq!(swapped.status(), 303);

    // A deactivated operator's session stops working at the next request.
    let mut olga = app.store.operator(&Username::parse("olga").unwrap()).await.unwrap().unwrap();
    olga.active = false;
    app.store.upsert_operator(&olga).await.unwrap();
    let after = app
        .http
        .get(format!("{}/operator", app.base))
        .header(reqwest::header::COOKIE, &operator_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 303);
}
