//! The login limiter over real HTTP, as attackers meet it: one address spraying many accounts,
//! forged `X-Forwarded-For` headers with and without a trusted proxy, many addresses spraying
//! many accounts, and a burst of concurrent guesses at one account.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has already failed

mod common;

use common::{PASSWORD, TestApp, USER};
use heliograph_testkit::wait_until_async;
use heliograph_web::WebSettings;

/// Posts the login form, claiming to come from `forwarded_for` when given; the status.
async fn attempt(
    app: &TestApp,
    provider: &str,
    user: &str,
    password: &str,
    forwarded_for: Option<&str>,
) -> u16 {
    let (token, cookie) = app.login_form().await.unwrap();
    let mut request = app.http.post(format!("{}/login", app.base)).header("cookie", cookie).form(&[
        ("csrf", token.as_str()),
        ("provider", provider),
        ("username", user),
        ("password", password),
    ]);
    if let Some(address) = forwarded_for {
        request = request.header("x-forwarded-for", address);
    }
    request.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn without_a_trusted_proxy_forged_forwarded_for_headers_do_not_escape_the_address_limit() {
    let settings = WebSettings { login_address_failures: 4, login_delay_secs: 60, ..WebSettings::default() };
    let (app, _, _) = TestApp::spawn_with(settings).await.unwrap();
    let mut statuses = Vec::new();
    for n in 0..6 {
        let forged = format!("198.51.100.{n}");
        statuses.push(attempt(&app, "sunrise", &format!("user{n}"), "guess", Some(&forged)).await);
    }
    println!("one address, six accounts, a new forged X-Forwarded-For each time: {statuses:?}");
    assert_eq!(statuses, [401, 401, 401, 401, 429, 429]);
    assert_eq!(
        attempt(&app, "sunrise", USER, PASSWORD, Some("203.0.113.1")).await,
        429,
        "the same address waits"
    );
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_client_has_its_own_address_limit() {
    let settings = WebSettings {
        trusted_proxy_hops: 1,
        login_address_failures: 4,
        login_delay_secs: 60,
        ..WebSettings::default()
    };
    let (app, _, _) = TestApp::spawn_with(settings).await.unwrap();
    // The client forges a leftmost entry; the proxy appended the address it saw.
    let mut statuses = Vec::new();
    for n in 0..5 {
        statuses.push(
            attempt(
                &app,
                "sunrise",
                &format!("user{n}"),
                "guess",
                Some(&format!("10.1.1.{n}, 198.51.100.7")),
            )
            .await,
        );
    }
    println!("client 198.51.100.7 behind the proxy, five accounts: {statuses:?}");
    assert_eq!(statuses, [401, 401, 401, 401, 429]);
    let other = attempt(&app, "sunrise", USER, PASSWORD, Some("198.51.100.8")).await;
    println!("another client behind the same proxy: {other}");
    assert_eq!(other, 303, "a user behind the same proxy is not held up by someone else's failures");
}

#[tokio::test]
async fn a_stranger_failing_on_purpose_holds_the_user_up_for_the_delay_not_the_window() {
    let settings = WebSettings { login_delay_secs: 1, login_max_delay_secs: 2, ..WebSettings::default() };
    let (app, _, _) = TestApp::spawn_with(settings).await.unwrap();
    for n in 0..5 {
        assert_eq!(attempt(&app, "sunrise", USER, "guess", None).await, 401, "failure {n}");
    }
    // The account waits (from any address), but only as long as the delay says.
    let refused = std::cell::Cell::new(0);
    let (app, counted) = (&app, &refused);
    wait_until_async(std::time::Duration::from_secs(30), "the user to get in", || async move {
        match attempt(app, "sunrise", USER, PASSWORD, None).await {
            303 => Some(()),
            429 => {
                counted.set(counted.get() + 1);
                None
            }
            other => panic!("unexpected {other}"),
        }
    })
    .await;
    println!("after five failures the right password was refused {} times, then let in", refused.get());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_addresses_spraying_many_accounts_run_into_the_global_failure_budget() {
    let settings = WebSettings {
        trusted_proxy_hops: 1,
        login_failures_per_minute: 10,
        password_checks: 16,
        ..WebSettings::default()
    };
    let (app, _, _) = TestApp::spawn_with(settings).await.unwrap();
    // All at once, so that the budget has no time to refill meanwhile.
    let mut forms = Vec::new();
    for _ in 0..12 {
        forms.push(app.login_form().await.unwrap());
    }
    let sprays = forms.iter().enumerate().map(|(n, (token, cookie))| {
        let request = app
            .http
            .post(format!("{}/login", app.base))
            .header("cookie", cookie)
            .header("x-forwarded-for", format!("198.51.100.{n}"))
            .form(&[
                ("csrf", token.as_str()),
                ("provider", "sunrise"),
                ("username", &format!("user{n}")),
                ("password", "guess"),
            ]);
        async move { request.send().await.unwrap().status().as_u16() }
    });
    let mut statuses = futures::future::join_all(sprays).await;
    statuses.sort_unstable();
    println!("twelve addresses, twelve accounts at once, budget ten a minute: {statuses:?}");
    assert_eq!(statuses, [401, 401, 401, 401, 401, 401, 401, 401, 401, 401, 429, 429]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_fifty_concurrent_guesses_at_one_account_only_five_reach_a_password_check() {
    let settings = WebSettings { password_checks: 64, login_delay_secs: 60, ..WebSettings::default() };
    let (app, _, _) = TestApp::spawn_with(settings).await.unwrap();
    // Forms first, so that the guesses themselves go out together.
    let mut forms = Vec::new();
    for _ in 0..50 {
        forms.push(app.login_form().await.unwrap());
    }
    let guesses = forms.iter().enumerate().map(|(n, (token, cookie))| {
        let request = app.http.post(format!("{}/login", app.base)).header("cookie", cookie).form(&[
            ("csrf", token.as_str()),
            ("provider", "sunrise"),
            ("username", USER),
            ("password", &format!("guess {n}")),
        ]);
        async move { request.send().await.unwrap().status().as_u16() }
    });
    let statuses = futures::future::join_all(guesses).await;
    let checked = statuses.iter().filter(|&&s| s == 401).count();
    let limited = statuses.iter().filter(|&&s| s == 429).count();
    println!("50 concurrent guesses at one account: {checked} checked (401), {limited} told to wait (429)");
    assert_eq!(checked, 5);
    assert_eq!(limited, 45);
}
