//! The panel over real HTTP: logging in and out, CSRF and rate limits, security headers, the
//! report pages and their CSV exports, and the forms that change things.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has already failed

mod common;

use common::{DAY, PASSWORD, TestApp, USER, csrf_field, set_cookie};
use heliograph_shared::{GatewayId, GatewayToken, RefusalReason, RefusedGateway};
use heliograph_web::WebSettings;

#[tokio::test]
async fn logging_in_with_the_right_password_opens_the_fleet_with_an_http_only_lax_cookie() {
    let (app, sunrise, _) = TestApp::spawn().await.unwrap();
    let response = app.login("sunrise", USER, PASSWORD).await.unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/");
    let cookie = set_cookie(&response, "hg_session").unwrap();
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Secure", "Max-Age="] {
        assert!(cookie.contains(attribute), "{attribute} missing from {cookie}");
    }
    let session = app.session("sunrise").await.unwrap();
    let page = app.get(&session, "/sites").await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains(&format!("/sites/{}", sunrise.gateway)), "the fleet lists the provider's site");
    assert!(html.contains("Alice Huber"));
    assert!(!html.contains("VOLT-1") && !html.contains("Bob Gruber"), "nothing of the other provider");
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_user_get_the_same_refusal() {
    let (app, _, _) = TestApp::spawn().await.unwrap();
    for (provider, user, password) in [
        ("sunrise", USER, "wrong password"),
        ("sunrise", "nobody", PASSWORD),
        ("nosuchprovider", USER, PASSWORD),
    ] {
        let response = app.login(provider, user, password).await.unwrap();
        assert_eq!(response.status(), 401, "{provider}/{user}");
        assert!(set_cookie(&response, "hg_session").is_none());
        assert!(response.text().await.unwrap().contains("Provider, user name or password is wrong."));
    }
}

#[tokio::test]
async fn a_login_post_without_the_forms_token_is_refused() {
    let (app, _, _) = TestApp::spawn().await.unwrap();
    let (_, cookie) = app.login_form().await.unwrap();
    let forged = app
        .http
        .post(format!("{}/login", app.base))
        .header("cookie", cookie)
        .form(&[
            ("csrf", "0".repeat(64).as_str()),
            ("provider", "sunrise"),
            ("username", USER),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    let without_cookie = app
        .http
        .post(format!("{}/login", app.base))
        .form(&[("csrf", "x"), ("provider", "sunrise"), ("username", USER), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(without_cookie.status(), 403);
}

#[tokio::test]
async fn after_five_failures_an_account_must_wait_even_with_the_right_password() {
    let settings = WebSettings { login_delay_secs: 60, ..WebSettings::default() };
    let (app, _, _) = TestApp::spawn_with(settings).await.unwrap();
    for _ in 0..5 {
        assert_eq!(app.login("sunrise", USER, "nope").await.unwrap().status(), 401);
    }
    let limited = app.login("sunrise", USER, PASSWORD).await.unwrap();
    assert_eq!(limited.status(), 429);
    let retry_after: u64 = limited.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "told to wait at most the first delay: {retry_after}");
    assert!(set_cookie(&limited, "hg_session").is_none());
    assert!(limited.text().await.unwrap().contains("Too many failed logins: try again in"));
    // Another user from the same address is not affected.
    assert_eq!(app.login("voltwerk", USER, PASSWORD).await.unwrap().status(), 303);
}

#[tokio::test]
async fn after_login_only_paths_on_this_site_are_followed() {
    let (app, _, _) = TestApp::spawn().await.unwrap();
    let cases = [
        ("/sites?sort=power", "/sites?sort=power"),
        ("/\t/evil.example", "/"),
        ("//evil.example", "/"),
        ("/\\evil.example", "/"),
        ("https://evil.example/", "/"),
        ("/\r\nSet-Cookie: x=1", "/"),
    ];
    for (next, expected) in cases {
        let (token, cookie) = app.login_form().await.unwrap();
        let response = app
            .http
            .post(format!("{}/login", app.base))
            .header("cookie", cookie)
            .form(&[
                ("csrf", token.as_str()),
                ("provider", "sunrise"),
                ("username", USER),
                ("password", PASSWORD),
                ("next", next),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 303, "{next:?}");
        assert_eq!(response.headers()["location"], expected, "{next:?}");
    }
}

#[tokio::test]
async fn a_form_without_the_sessions_csrf_token_is_refused_and_changes_nothing() {
    let (app, sunrise, _) = TestApp::spawn().await.unwrap();
    let session = app.session("sunrise").await.unwrap();
    let fields = [
        ("branding_name", "Hijacked"),
        ("report_schedule", "daily"),
        ("timezone", "UTC"),
        ("offline_after_minutes", "30"),
        ("underperformance_percent", "50"),
        ("reference_pr_percent", "75"),
        ("retention_days", "10"),
    ];
    for csrf in ["", "wrong", &"0".repeat(64)] {
        let mut form = vec![("csrf", csrf)];
        form.extend_from_slice(&fields);
        let response = app
            .http
            .post(format!("{}/settings", app.base))
            .header("cookie", &session.cookie)
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403, "token {csrf:?}");
    }
    let json = app
        .http
        .post(format!("{}/settings", app.base))
        .header("cookie", &session.cookie)
        .header("content-type", "application/json")
        .body(r#"{"branding_name":"Hijacked"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(json.status(), 403, "only url-encoded forms are accepted");
    let provider = app.store.provider(&sunrise.slug).await.unwrap().unwrap();
    assert_eq!(provider.preferences.branding_name, "");
    assert_eq!(provider.retention_days, 730);

    // With the token the same form is saved.
    let saved = app.post(&session, "/settings", &fields).await.unwrap();
    assert_eq!(saved.status(), 303);
    let provider = app.store.provider(&sunrise.slug).await.unwrap().unwrap();
    assert_eq!(provider.preferences.branding_name, "Hijacked");
    assert_eq!(provider.preferences.offline_after_minutes, 30);
    assert_eq!(provider.retention_days, 10);
    assert_eq!(provider.timezone, chrono_tz::Tz::UTC);
}

#[tokio::test]
async fn pages_send_visitors_without_a_valid_session_to_the_login_page() {
    let (app, _, _) = TestApp::spawn().await.unwrap();
    let anonymous = app.http.get(format!("{}/sites?q=x", app.base)).send().await.unwrap();
    assert_eq!(anonymous.status(), 303);
    assert_eq!(anonymous.headers()["location"], "/login?next=%2Fsites%3Fq%3Dx");
    let session = app.session("sunrise").await.unwrap();
    let tampered = format!("{}x", session.cookie);
    let response =
        app.http.get(format!("{}/sites", app.base)).header("cookie", tampered).send().await.unwrap();
    assert_eq!(response.status(), 303);
    assert!(set_cookie(&response, "hg_session").unwrap().contains("Max-Age=0"), "a bad cookie is cleared");
}

#[tokio::test]
async fn logging_out_clears_the_session_cookie() {
    let (app, _, _) = TestApp::spawn().await.unwrap();
    let session = app.session("sunrise").await.unwrap();
    let response = app.post(&session, "/logout", &[]).await.unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/login");
    assert!(set_cookie(&response, "hg_session").unwrap().contains("Max-Age=0"));
}

#[tokio::test]
async fn a_deactivated_user_loses_access_at_the_next_request() {
    let (app, sunrise, _) = TestApp::spawn().await.unwrap();
    let session = app.session("sunrise").await.unwrap();
    let tenant = app.store.tenant(&sunrise.slug).await.unwrap();
    let mut user = tenant.user(&heliograph_shared::Username::parse(USER).unwrap()).await.unwrap().unwrap();
    user.active = false;
    tenant.upsert_user(&user).await.unwrap();
    assert_eq!(app.get(&session, "/sites").await.unwrap().status(), 303);
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let (app, sunrise, _) = TestApp::spawn().await.unwrap();
    let session = app.session("sunrise").await.unwrap();
    let responses = vec![
        app.http.get(format!("{}/login", app.base)).send().await.unwrap(),
        app.http.get(format!("{}/static/app.css", app.base)).send().await.unwrap(),
        app.http.get(format!("{}/healthz", app.base)).send().await.unwrap(),
        app.http.get(format!("{}/no/such/page", app.base)).send().await.unwrap(),
        app.get(&session, "/sites").await.unwrap(),
        app.get(&session, &format!("/sites/{}/day/{DAY}/csv", sunrise.gateway)).await.unwrap(),
        app.api(&sunrise.api_token, "/sites").await.unwrap(),
        app.api("hgp_sunrise_bad", "/sites").await.unwrap(),
    ];
    for response in responses {
        let h = response.headers();
        let url = response.url().path().to_owned();
        assert_eq!(h["content-security-policy"], heliograph_web::CONTENT_SECURITY_POLICY, "{url}");
        assert!(h["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"));
        assert_eq!(h["x-content-type-options"], "nosniff", "{url}");
        assert_eq!(h["referrer-policy"], "same-origin", "{url}");
        assert_eq!(h["x-frame-options"], "DENY", "{url}");
    }
}

#[tokio::test]
async fn the_day_month_and_year_views_render_with_charts_and_navigation() {
    let (app, sunrise, _) = TestApp::spawn().await.unwrap();
    let session = app.session("sunrise").await.unwrap();
    let site = format!("/sites/{}", sunrise.gateway);
    let day = app.get(&session, &format!("{site}/day/{DAY}")).await.unwrap().text().await.unwrap();
    assert!(day.contains("Mon 1 June 2026"));
    assert!(day.contains("<svg class=\"chart\""), "a power chart");
    assert!(
        day.contains(&format!("{site}/day/2026-05-31")) && day.contains(&format!("{site}/day/2026-06-02"))
    );
    assert!(day.contains("kWh/kWp") && day.contains("Availability") && day.contains("Self-consumption"));
    let month = app.get(&session, &format!("{site}/month/2026-06")).await.unwrap().text().await.unwrap();
    assert!(month.contains("June 2026") && month.contains("class=\"bar s0\""));
    assert!(
        month.contains(&format!("{site}/month/2026-05")) && month.contains(&format!("{site}/month/2026-07"))
    );
    let year = app.get(&session, &format!("{site}/year/2026")).await.unwrap().text().await.unwrap();
    assert!(year.contains(">Jun<") && year.contains(&format!("{site}/year/2025")));
    let today = app.get(&session, &site).await.unwrap();
    assert_eq!(today.status(), 303, "the site's address opens today");
    assert_eq!(app.get(&session, &format!("{site}/day/2026-02-30")).await.unwrap().status(), 400);
    assert_eq!(app.get(&session, &format!("{site}/week/2026-01")).await.unwrap().status(), 404);
}

#[tokio::test]
async fn the_day_csv_has_one_row_per_local_hour_adding_up_to_the_counters_rise() {
    let (app, sunrise, _) = TestApp::spawn().await.unwrap();
    let session = app.session("sunrise").await.unwrap();
    let response = app.get(&session, &format!("/sites/{}/day/{DAY}/csv", sunrise.gateway)).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/csv; charset=utf-8");
    assert_eq!(
        response.headers()["content-disposition"],
        format!("attachment; filename=\"{}-day-{DAY}.csv\"", sunrise.gateway)
    );
    let csv = response.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "start,end,production_kwh,peak_power_w,peak_at,grid_import_kwh,grid_export_kwh,consumption_kwh,self_consumption_kwh,data"
    );
    assert_eq!(lines.len(), 1 + 24);
    assert!(lines[1].starts_with("2026-06-01T00:00:00+02:00,2026-06-01T01:00:00+02:00,"));
    let production: f64 =
        lines[1..].iter().map(|l| l.split(',').nth(2).unwrap().parse::<f64>().unwrap()).sum();
    assert!((production - sunrise.day_production_wh / 1000.0).abs() < 0.02, "{production} kWh");
}

#[tokio::test]
async fn the_readings_page_paginates_and_the_readings_csv_streams_every_row() {
    let (app, sunrise, _) = TestApp::spawn().await.unwrap();
    let session = app.session("sunrise").await.unwrap();
    let range = "device=inv-1&from=2026-06-01T00%3A00&to=2026-06-02T00%3A00";
    let first = app.get(&session, &format!("/sites/{}/readings?{range}", sunrise.gateway)).await.unwrap();
    let html = first.text().await.unwrap();
    assert_eq!(html.matches(r#"<tr><td class="time">2026-06-01 "#).count(), 100, "a page holds 100 rows");
    assert!(html.contains("Older →"));
    let csv = app.get(&session, &format!("/sites/{}/readings/csv?{range}", sunrise.gateway)).await.unwrap();
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let text = csv.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("ts_utc,ts_local,device,status,ac_power_w,"));
    assert_eq!(lines.len(), 1 + 288, "a day of five-minute readings");
    assert!(lines[1].starts_with("2026-05-31T22:00:00Z,2026-06-01T00:00:00+02:00,\"inv-1\",\"standby\",0,"));
}

#[tokio::test]
async fn creating_a_gateway_shows_its_token_once_and_rotation_keeps_the_old_one_for_a_day() {
    let (app, sunrise, _) = TestApp::spawn().await.unwrap();
    let session = app.session("sunrise").await.unwrap();
    let customer = sunrise.customer.to_string();
    let created = app
        .post(
            &session,
            "/gateways",
            &[("id", "SUN-NEW"), ("site_name", "Barn"), ("capacity_kwp", "12.5"), ("customer", &customer)],
        )
        .await
        .unwrap();
    assert_eq!(created.status(), 200);
    let html = created.text().await.unwrap();
    let token = secret(&html);
    let tenant = app.store.tenant(&sunrise.slug).await.unwrap();
    let id = GatewayId::parse("SUN-NEW").unwrap();
    let gateway = tenant.gateway(&id).await.unwrap().unwrap();
    assert!(gateway.accepts(&GatewayToken::from_presented(&token), chrono::Utc::now()));
    assert_eq!((gateway.capacity_kwp, gateway.customer), (12.5, Some(sunrise.customer)));
    assert!(
        !app.get(&session, "/gateways/SUN-NEW").await.unwrap().text().await.unwrap().contains(&token),
        "shown once"
    );

    let rotated =
        app.post(&session, "/gateways/SUN-NEW/rotate-token", &[("confirmed", "yes")]).await.unwrap();
    let new_token = secret(&rotated.text().await.unwrap());
    let gateway = tenant.gateway(&id).await.unwrap().unwrap();
    let now = chrono::Utc::now();
    assert!(gateway.accepts(&GatewayToken::from_presented(&new_token), now));
    assert!(gateway.accepts(&GatewayToken::from_presented(&token), now + chrono::TimeDelta::hours(23)));
    assert!(!gateway.accepts(&GatewayToken::from_presented(&token), now + chrono::TimeDelta::hours(25)));

    let deactivated = app
        .post(&session, "/gateways/SUN-NEW/active", &[("active", "false"), ("confirmed", "yes")])
        .await
        .unwrap();
    assert_eq!(deactivated.status(), 303);
    assert!(!tenant.gateway(&id).await.unwrap().unwrap().active);
    let edited = app
        .post(
            &session,
            "/gateways/SUN-NEW",
            &[("site_name", "Big barn"), ("capacity_kwp", "15"), ("customer", "")],
        )
        .await
        .unwrap();
    assert_eq!(edited.status(), 303);
    let gateway = tenant.gateway(&id).await.unwrap().unwrap();
    assert_eq!(
        (gateway.site_name.as_str(), gateway.capacity_kwp, gateway.customer),
        ("Big barn", 15.0, None)
    );
    let duplicate = app
        .post(&session, "/gateways", &[("id", "SUN-NEW"), ("site_name", "x"), ("capacity_kwp", "1")])
        .await
        .unwrap();
    assert_eq!(duplicate.status(), 422, "said at the id field of the form");
    let taken = app
        .post(&session, "/gateways", &[("id", "VOLT-1"), ("site_name", "x"), ("capacity_kwp", "1")])
        .await
        .unwrap();
    assert_eq!(taken.status(), 422, "another provider's gateway id cannot be claimed");
    assert!(taken.text().await.unwrap().contains("registered by another provider"));
}

#[tokio::test]
async fn an_unknown_gateway_is_commissioned_from_the_quarantine_page_in_one_click() {
    let (app, sunrise, _) = TestApp::spawn().await.unwrap();
    let tenant = app.store.tenant(&sunrise.slug).await.unwrap();
    let now = chrono::Utc::now();
    tenant
        .record_refused_gateway(&RefusedGateway {
            gateway: GatewayId::parse("SUN-STRANGER").unwrap(),
            reason: RefusalReason::UnknownGateway,
            first_seen: now,
            last_seen: now,
            attempts: 3,
            last_address: "192.0.2.7:40000".into(),
        })
        .await
        .unwrap();
    let session = app.session("sunrise").await.unwrap();
    let page = app.get(&session, "/quarantine").await.unwrap().text().await.unwrap();
    assert!(page.contains("SUN-STRANGER") && page.contains("unknown gateway") && page.contains("Commission"));
    let customer = sunrise.customer.to_string();
    let commissioned = app
        .post(
            &session,
            "/quarantine/commission",
            &[
                ("gateway", "SUN-STRANGER"),
                ("customer", &customer),
                ("site_name", "Stranger's roof"),
                ("capacity_kwp", "6"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(commissioned.status(), 200);
    let token = secret(&commissioned.text().await.unwrap());
    let gateway = tenant.gateway(&GatewayId::parse("SUN-STRANGER").unwrap()).await.unwrap().unwrap();
    assert!(gateway.accepts(&GatewayToken::from_presented(&token), now));
    assert_eq!(gateway.customer, Some(sunrise.customer));
}

#[tokio::test]
async fn customers_are_created_edited_and_deactivated() {
    let (app, sunrise, _) = TestApp::spawn().await.unwrap();
    let session = app.session("sunrise").await.unwrap();
    let created = app
        .post(
            &session,
            "/customers",
            &[("name", "Carla Weber"), ("emails", "carla@example.com, c@example.org"), ("timezone", "")],
        )
        .await
        .unwrap();
    assert_eq!(created.status(), 303);
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    let location = location.trim_end_matches("?done=created").to_owned();
    let id: heliograph_shared::CustomerId = location.trim_start_matches("/customers/").parse().unwrap();
    let tenant = app.store.tenant(&sunrise.slug).await.unwrap();
    let customer = tenant.customer(id).await.unwrap().unwrap();
    assert_eq!(customer.emails.len(), 2);
    assert_eq!(customer.timezone, sunrise.timezone, "the provider's timezone by default");
    let edited = app
        .post(&session, &location, &[("name", "Carla W."), ("emails", ""), ("timezone", "Europe/Lisbon")])
        .await
        .unwrap();
    assert_eq!(edited.status(), 303);
    let bad = app
        .post(&session, &location, &[("name", "Carla"), ("emails", "not-an-address"), ("timezone", "")])
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);
    app.post(&session, &format!("{location}/active"), &[("active", "false"), ("confirmed", "yes")])
        .await
        .unwrap();
    let customer = tenant.customer(id).await.unwrap().unwrap();
    assert_eq!(
        (customer.name.as_str(), customer.timezone.name(), customer.active),
        ("Carla W.", "Europe/Lisbon", false)
    );
    let page = app.get(&session, &location).await.unwrap().text().await.unwrap();
    assert!(page.contains("Carla W.") && page.contains("deactivated"));
}

#[tokio::test]
async fn the_api_answers_a_providers_token_and_refuses_others() {
    let (app, sunrise, _) = TestApp::spawn().await.unwrap();
    let missing = app.http.get(format!("{}/api/v1/sites", app.base)).send().await.unwrap();
    assert_eq!(missing.status(), 401);
    assert_eq!(missing.headers()["www-authenticate"], "Bearer");
    let guessed = app.api(&format!("hgp_sunrise_{}", "a".repeat(64)), "/sites").await.unwrap();
    assert_eq!(guessed.status(), 401);
    let sites: serde_json::Value = app.api(&sunrise.api_token, "/sites").await.unwrap().json().await.unwrap();
    assert_eq!(sites.as_array().unwrap().len(), 1);
    assert_eq!(sites[0]["id"], sunrise.gateway.as_str());
    let report: serde_json::Value = app
        .api(&sunrise.api_token, &format!("/sites/{}/day/{DAY}", sunrise.gateway))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let production = report["total"]["production_wh"].as_f64().unwrap();
    assert!((production - sunrise.day_production_wh).abs() < 1.0, "{production}");
    assert_eq!(report["buckets"].as_array().unwrap().len(), 24);
    let month =
        app.api(&sunrise.api_token, &format!("/sites/{}/month/2026-06", sunrise.gateway)).await.unwrap();
    assert_eq!(month.status(), 200);
    let readings: serde_json::Value = app
        .api(
            &sunrise.api_token,
            &format!(
                "/sites/{}/readings?device=inv-1&from=2026-05-31T22:00:00Z&to=2026-06-01T22:00:00Z&limit=10",
                sunrise.gateway
            ),
        )
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(readings["readings"].as_array().unwrap().len(), 10);
    assert_eq!(readings["readings"][0]["metrics"]["ac_voltage"], 230.0);
    assert_eq!(readings["next_from"], "2026-05-31T22:45:00.001Z");

    // A revoked token stops working at once.
    let session = app.session("sunrise").await.unwrap();
    let settings = app.get(&session, "/settings").await.unwrap().text().await.unwrap();
    let at = settings.find(r#"name="hash" value=""#).unwrap() + r#"name="hash" value=""#.len();
    let hash = settings[at..].split('"').next().unwrap().to_owned();
    assert_eq!(
        app.post(&session, "/settings/api-tokens/revoke", &[("hash", &hash), ("confirmed", "yes")])
            .await
            .unwrap()
            .status(),
        303
    );
    assert_eq!(app.api(&sunrise.api_token, "/sites").await.unwrap().status(), 401);
    // And a new one is issued from the settings page, shown once.
    let issued = app.post(&session, "/settings/api-tokens", &[("name", "ERP")]).await.unwrap();
    let token = secret(&issued.text().await.unwrap());
    assert!(token.starts_with("hgp_sunrise_"));
    assert_eq!(app.api(&token, "/sites").await.unwrap().status(), 200);
}

#[tokio::test]
async fn health_and_readiness_answer_without_a_session() {
    let (app, _, _) = TestApp::spawn().await.unwrap();
    for path in ["/healthz", "/readyz"] {
        assert_eq!(app.http.get(format!("{}{path}", app.base)).send().await.unwrap().status(), 200);
    }
    let html = app.http.get(format!("{}/login", app.base)).send().await.unwrap().text().await.unwrap();
    assert!(csrf_field(&html).is_some());
}

/// The secret a "shown once" page displays.
fn secret(html: &str) -> String {
    let at = html.find("<code>").expect("a secret on the page") + "<code>".len();
    html[at..].split("</code>").next().unwrap().to_owned()
}

#[tokio::test]
async fn a_session_cookie_planted_before_login_is_replaced_and_never_becomes_valid() {
    let (app, _, _) = TestApp::spawn().await.unwrap();
    let planted = "hg_session=attacker-chosen.value";
    let (token, login_cookie) = app.login_form().await.unwrap();
    let response = app
        .http
        .post(format!("{}/login", app.base))
        .header(reqwest::header::COOKIE, format!("{login_cookie}; {planted}"))
        .form(&[
            ("csrf", token.as_str()),
            ("provider", "sunrise"),
            ("username", USER),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let issued = set_cookie(&response, "hg_session").unwrap();
    let issued = issued.split(';').next().unwrap();
    assert_ne!(issued, planted, "login issues its own session");
    let with_planted = app
        .http
        .get(format!("{}/sites", app.base))
        .header(reqwest::header::COOKIE, planted)
        .send()
        .await
        .unwrap();
    assert_eq!(with_planted.status(), 303, "the planted value opens nothing");
    // Two logins of the same user get different sessions (fresh CSRF token each).
    let again = app.login("sunrise", USER, PASSWORD).await.unwrap();
    assert_ne!(set_cookie(&again, "hg_session").unwrap().split(';').next().unwrap(), issued);
}
