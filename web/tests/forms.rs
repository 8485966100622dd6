//! The panel's forms over real HTTP as an installer fills them in: a wrong field comes back on
//! the same form with the input kept and the message next to the field; sensible input (a
//! decimal comma, a city for a timezone, a range typed backwards) is read; destructive actions
//! ask first and then say what they did; the login form takes the provider as people type it.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has already failed

mod common;

use common::{PASSWORD, Session, TestApp, USER, empty_store, provider, set_cookie};
use heliograph_shared::{GatewayId, GatewayToken, ProviderSlug};
use heliograph_web::WebSettings;

/// The page of a form that came back: never the generic error card.
async fn came_back(response: reqwest::Response) -> String {
    assert_eq!(response.status(), 422, "a wrong field answers 422");
    let html = response.text().await.unwrap();
    assert!(!html.contains("Back to the fleet"), "the form itself, not the error card");
    assert!(html.contains(r#"<header class="top">"#), "within the panel's frame");
    html
}

/// True when `field`'s input is marked wrong and tied to its message, which is on the page.
fn marked(html: &str, field: &str, message: &str) -> bool {
    let input = format!(r#"name="{field}""#);
    let Some(at) = html.find(&input) else { return false };
    let tag_end = html[at..].find('>').map_or(html.len(), |end| at + end);
    let tag = &html[at..tag_end];
    tag.contains(r#"aria-invalid="true""#)
        && tag.contains(&format!(r#"aria-describedby="{field}-error""#))
        && html.contains(&format!(r#"<p class="field-error" id="{field}-error">"#))
        && html.contains(message)
}

async fn post(app: &TestApp, session: &Session, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
    app.post(session, path, form).await.unwrap()
}

#[tokio::test]
async fn a_customer_form_with_wrong_fields_comes_back_with_the_input_kept_and_each_message_at_its_field() {
    let (app, sunrise, _) = TestApp::spawn().await.unwrap();
    let session = app.session("sunrise").await.unwrap();
    let before = app.store.tenant(&sunrise.slug).await.unwrap().customers().await.unwrap().len();
    let response = post(
        &app,
        &session,
        "/customers",
        &[("name", "Dora Berger"), ("emails", "dora-at-example.org"), ("timezone", "Atlantis")],
    )
    .await;
    let html = came_back(response).await;
    assert!(html.contains(r#"value="Dora Berger""#) && html.contains(r#"value="dora-at-example.org""#));
    assert!(html.contains(r#"value="Atlantis""#));
    assert!(marked(&html, "emails", "dora-at-example.org"), "{html}");
    assert!(marked(&html, "timezone", "No timezone is called “Atlantis”"));
    assert!(!html.contains(r#"name="name" value="Dora Berger" required maxlength="120" aria-invalid"#));
    assert_eq!(app.store.tenant(&sunrise.slug).await.unwrap().customers().await.unwrap().len(), before);

    // The edit form too, showing the stored name in the heading and the typed one in the field.
    let edit = format!("/customers/{}", sunrise.customer);
    let html =
        came_back(post(&app, &session, &edit, &[("name", " "), ("emails", ""), ("timezone", "")]).await)
            .await;
    assert!(marked(&html, "name", "Required."));
    assert!(html.contains("<h1>Alice Huber</h1>"));
}

#[tokio::test]
async fn a_timezone_is_taken_in_any_case_or_by_its_city_and_an_ambiguous_city_says_which_zones_it_could_be() {
    let (app, sunrise, _) = TestApp::spawn().await.unwrap();
    let session = app.session("sunrise").await.unwrap();
    let tenant = app.store.tenant(&sunrise.slug).await.unwrap();
    let edit = format!("/customers/{}", sunrise.customer);
    for (typed, zone) in
        [("europe/berlin", "Europe/Berlin"), ("Lisbon", "Europe/Lisbon"), ("new york", "America/New_York")]
    {
        let response = post(
            &app,
            &session,
            &edit,
            &[("name", "Alice Huber"), ("emails", "alice@example.org"), ("timezone", typed)],
        )
        .await;
        assert_eq!(response.status(), 303, "{typed}");
        assert_eq!(tenant.customer(sunrise.customer).await.unwrap().unwrap().timezone.name(), zone);
    }
    let html = came_back(
        post(&app, &session, &edit, &[("name", "Alice Huber"), ("emails", ""), ("timezone", "Indianapolis")])
            .await,
    )
    .await;
    assert!(marked(&html, "timezone", "America/Indianapolis"), "{html}");
    assert!(
        html.contains(r#"<datalist id="timezones">"#) && html.contains(r#"<option value="Europe/Berlin">"#)
    );
    assert!(html.contains(r#"list="timezones""#), "the field offers the list");
}

#[tokio::test]
async fn a_customer_without_an_email_address_is_saved_with_a_clear_warning_and_marked_in_the_list() {
    let (app, _, _) = TestApp::spawn().await.unwrap();
    let session = app.session("sunrise").await.unwrap();
    let created =
        post(&app, &session, "/customers", &[("name", "Erik Novak"), ("emails", ""), ("timezone", "")]).await;
    assert_eq!(created.status(), 303);
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.ends_with("?done=created"), "{location}");
    let page = app.get(&session, &location).await.unwrap().text().await.unwrap();
    assert!(page.contains("Customer Erik Novak created."));
    assert!(
        page.contains(
            "Erik Novak has no email address: their reports and alerts go nowhere until one is set"
        )
    );
    let list = app.get(&session, "/customers").await.unwrap().text().await.unwrap();
    let row = list.split("<tr>").find(|row| row.contains("Erik Novak")).unwrap();
    assert!(row.contains("no email address"), "{row}");
    let alice = list.split("<tr>").find(|row| row.contains("Alice Huber")).unwrap();
    assert!(!alice.contains("no email address"), "a customer with an address is not marked");
}

#[tokio::test]
async fn a_capacity_with_a_decimal_comma_is_read_and_zero_is_refused_by_a_message_that_says_so() {
    let (app, sunrise, _) = TestApp::spawn().await.unwrap();
    let session = app.session("sunrise").await.unwrap();
    let tenant = app.store.tenant(&sunrise.slug).await.unwrap();
    let created = post(
        &app,
        &session,
        "/gateways",
        &[("id", "SUN-7"), ("site_name", "Barn"), ("capacity_kwp", "10,5")],
    )
    .await;
    assert_eq!(created.status(), 200);
    let id = GatewayId::parse("SUN-7").unwrap();
    assert_eq!(tenant.gateway(&id).await.unwrap().unwrap().capacity_kwp, 10.5);

    let html = came_back(
        post(&app, &session, "/gateways", &[("id", "SUN-8"), ("site_name", "Shed"), ("capacity_kwp", "0")])
            .await,
    )
    .await;
    assert!(marked(&html, "capacity_kwp", "more than 0 and at most 100000"));
    assert!(!html.contains("between 0 and"), "the message and the rule agree");
    assert!(
        html.contains(r#"value="SUN-8""#)
            && html.contains(r#"value="Shed""#)
            && html.contains(r#"value="0""#)
    );
    assert!(tenant.gateway(&GatewayId::parse("SUN-8").unwrap()).await.unwrap().is_none());

    // A taken id is said at the id.
    let html = came_back(
        post(&app, &session, "/gateways", &[("id", "SUN-1"), ("site_name", "Again"), ("capacity_kwp", "5")])
            .await,
    )
    .await;
    assert!(marked(&html, "id", "Gateway SUN-1 already exists"));
}

#[tokio::test]
async fn the_gateway_and_commissioning_forms_keep_their_input_when_a_field_is_wrong() {
    let (app, sunrise, _) = TestApp::spawn().await.unwrap();
    let session = app.session("sunrise").await.unwrap();
    let tenant = app.store.tenant(&sunrise.slug).await.unwrap();
    let before = tenant.gateway(&sunrise.gateway).await.unwrap().unwrap();
    let customer = sunrise.customer.to_string();
    let edit = format!("/gateways/{}", sunrise.gateway);
    let html = came_back(
        post(&app, &session, &edit, &[("site_name", "Big barn"), ("capacity_kwp", "lots"), ("customer", "")])
            .await,
    )
    .await;
    assert!(marked(&html, "capacity_kwp", "such as 10.5 or 10,5"));
    assert!(html.contains(r#"value="Big barn""#) && html.contains(r#"value="lots""#));
    assert!(!html.contains(" selected>"), "no customer, as chosen");
    assert_eq!(tenant.gateway(&sunrise.gateway).await.unwrap().unwrap(), before, "nothing saved");
    let saved = post(
        &app,
        &session,
        &edit,
        &[("site_name", "Big barn"), ("capacity_kwp", "9,9"), ("customer", &customer)],
    )
    .await;
    assert_eq!(saved.headers()["location"], format!("{edit}?done=saved"));
    assert_eq!(tenant.gateway(&sunrise.gateway).await.unwrap().unwrap().capacity_kwp, 9.9);

    let html = came_back(
        post(
            &app,
            &session,
            "/quarantine/commission",
            &[("gateway", "bad id!"), ("site_name", "Roof"), ("capacity_kwp", "4"), ("customer", &customer)],
        )
        .await,
    )
    .await;
    assert!(html.contains(r#"value="bad id!" required"#) && html.contains(r#"aria-describedby="id-error""#));
    assert!(html.contains(r#"<p class="field-error" id="id-error">"#));
    assert!(html.contains(r#"<details class="box" id="commission" open>"#), "the form is opened");
    assert!(html.contains(r#"value="bad id!""#) && html.contains(r#"value="Roof""#));
    assert!(html.contains(&format!(r#"<option value="{customer}" selected>"#)), "the customer stays chosen");
}

#[tokio::test]
async fn settings_with_a_wrong_field_come_back_with_every_field_kept_and_a_city_is_a_timezone() {
    let (app, sunrise, _) = TestApp::spawn().await.unwrap();
    let session = app.session("sunrise").await.unwrap();
    let fields = |offline: &'static str, timezone: &'static str| {
        vec![
            ("branding_name", "Sunrise Service"),
            ("report_schedule", "weekly"),
            ("timezone", timezone),
            ("offline_after_minutes", offline),
            ("underperformance_percent", "55"),
            ("reference_pr_percent", "85"),
            ("retention_days", "400"),
        ]
    };
    let html = came_back(post(&app, &session, "/settings", &fields("3", "Vienna")).await).await;
    assert!(marked(&html, "offline_after_minutes", "Give a whole number from 5 to 10080."));
    for kept in [
        r#"value="Sunrise Service""#,
        r#"value="Vienna""#,
        r#"value="3""#,
        r#"value="55""#,
        r#"value="85""#,
        r#"value="400""#,
    ] {
        assert!(html.contains(kept), "{kept} kept");
    }
    assert!(html.contains(r#"<option value="weekly" selected>"#));
    let saved = post(&app, &session, "/settings", &fields("30", "vienna")).await;
    assert_eq!(saved.headers()["location"], "/settings?done=saved");
    let provider = app.store.provider(&sunrise.slug).await.unwrap().unwrap();
    assert_eq!((provider.timezone.name(), provider.preferences.offline_after_minutes), ("Europe/Vienna", 30));
    assert_eq!(provider.preferences.reference_pr_percent, 85);
    let page = app.get(&session, "/settings?done=saved").await.unwrap().text().await.unwrap();
    assert!(page.contains("Settings saved."));

    let html = came_back(post(&app, &session, "/settings/api-tokens", &[("name", "  ")]).await).await;
    assert!(marked(&html, "name", "Name the token, so that you know later what uses it"));
}

#[tokio::test]
async fn a_readings_range_typed_backwards_is_turned_around_and_said_so_and_an_empty_one_is_an_error_at_to() {
    let (app, sunrise, _) = TestApp::spawn().await.unwrap();
    let session = app.session("sunrise").await.unwrap();
    let base = format!("/sites/{}/readings", sunrise.gateway);
    let backwards =
        app.get(&session, &format!("{base}?from=2026-06-01T12:00&to=2026-06-01T10:00")).await.unwrap();
    assert_eq!(backwards.status(), 200);
    let html = backwards.text().await.unwrap();
    assert!(html.contains("From was after To: showing the range between them."));
    assert!(html.contains(r#"value="2026-06-01T10:00""#) && html.contains(r#"value="2026-06-01T12:00""#));
    assert!(html.contains("2026-06-01 10:00:00"), "the readings of the turned range are shown");

    let empty =
        app.get(&session, &format!("{base}?from=2026-06-01T12:00&to=2026-06-01T12:00")).await.unwrap();
    let html = came_back(empty).await;
    assert!(marked(&html, "to", "To must be after From."));
    assert!(html.contains("Correct the range above to see readings."));
    let garbled = app.get(&session, &format!("{base}?from=yesterday")).await.unwrap();
    let html = came_back(garbled).await;
    assert!(
        marked(&html, "from", "Write a time as 2026-06-01T14:00.") && html.contains(r#"value="yesterday""#)
    );
}

/// A range is what bounds a readings request's work (the newest are looked for from its end),
/// so a typed range is kept between 2000 and next year, and to a year at most.
#[tokio::test]
async fn a_readings_range_is_kept_to_a_year_between_2000_and_next_year() {
    let (app, sunrise, _) = TestApp::spawn().await.unwrap();
    let session = app.session("sunrise").await.unwrap();
    let base = format!("/sites/{}/readings", sunrise.gateway);
    let far = app.get(&session, &format!("{base}?from=2026-06-01T00:00&to=9999-12-31T23:59")).await.unwrap();
    let html = came_back(far).await;
    assert!(marked(&html, "to", "Pick a time between the year 2000 and next year."));
    let ancient = app.get(&session, &format!("{base}?from=1970-01-01T00:00")).await.unwrap();
    assert!(marked(&came_back(ancient).await, "from", "Pick a time between the year 2000 and next year."));
    let long = format!("{base}?from=2020-01-01T00:00&to=2026-06-01T00:00");
    let html = came_back(app.get(&session, &long).await.unwrap()).await;
    assert!(marked(&html, "to", "Show at most a year at a time: pick a To within a year of From."));
    let csv = app.get(&session, &long.replace("/readings?", "/readings/csv?")).await.unwrap();
    assert_eq!(csv.status(), 400, "the CSV of the same range is refused too");
}

#[tokio::test]
async fn deactivating_a_gateway_asks_first_and_then_says_what_happened() {
    let (app, sunrise, _) = TestApp::spawn().await.unwrap();
    let session = app.session("sunrise").await.unwrap();
    let tenant = app.store.tenant(&sunrise.slug).await.unwrap();
    let path = format!("/gateways/{}/active", sunrise.gateway);
    let question = post(&app, &session, &path, &[("active", "false")]).await;
    assert_eq!(question.status(), 200);
    let html = question.text().await.unwrap();
    assert!(html.contains("Deactivate gateway SUN-1?"));
    assert!(html.contains("Gateway SUN-1 (Alice Huber site) will stop being accepted"));
    assert!(html.contains("Its data stays."));
    assert!(
        html.contains(&format!(r#"name="csrf" value="{}""#, session.csrf)),
        "the confirmation is a CSRF form"
    );
    assert!(
        html.contains(r#"name="confirmed" value="yes""#) && html.contains(r#"name="active" value="false""#)
    );
    assert!(html.contains(r#"href="/gateways/SUN-1">Cancel</a>"#));
    assert!(tenant.gateway(&sunrise.gateway).await.unwrap().unwrap().active, "nothing happened yet");

    let done = post(&app, &session, &path, &[("active", "false"), ("confirmed", "yes")]).await;
    assert_eq!(done.status(), 303);
    let location = done.headers()["location"].to_str().unwrap().to_owned();
    assert!(!tenant.gateway(&sunrise.gateway).await.unwrap().unwrap().active);
    let page = app.get(&session, &location).await.unwrap().text().await.unwrap();
    assert!(
        page.contains("Gateway SUN-1 deactivated: its connections are refused from now on; its data stays.")
    );
    assert!(!page.contains(">Saved.<"));

    // Reactivating destroys nothing: no question.
    let back = post(&app, &session, &path, &[("active", "true")]).await;
    assert_eq!(back.status(), 303);
    let page =
        app.get(&session, back.headers()["location"].to_str().unwrap()).await.unwrap().text().await.unwrap();
    assert!(page.contains("Gateway SUN-1 reactivated"));
}

#[tokio::test]
async fn a_confirmation_without_the_sessions_csrf_token_is_refused_and_changes_nothing() {
    let (app, sunrise, _) = TestApp::spawn().await.unwrap();
    let session = app.session("sunrise").await.unwrap();
    let forged = Session { cookie: session.cookie.clone(), csrf: "0".repeat(64) };
    let path = format!("/gateways/{}/active", sunrise.gateway);
    let response = post(&app, &forged, &path, &[("active", "false"), ("confirmed", "yes")]).await;
    assert_eq!(response.status(), 403);
    let tenant = app.store.tenant(&sunrise.slug).await.unwrap();
    assert!(tenant.gateway(&sunrise.gateway).await.unwrap().unwrap().active);
}

#[tokio::test]
async fn deactivating_a_customer_asks_first_and_then_says_what_happened() {
    let (app, sunrise, _) = TestApp::spawn().await.unwrap();
    let session = app.session("sunrise").await.unwrap();
    let tenant = app.store.tenant(&sunrise.slug).await.unwrap();
    let path = format!("/customers/{}/active", sunrise.customer);
    let html = post(&app, &session, &path, &[("active", "false")]).await.text().await.unwrap();
    assert!(
        html.contains("Deactivate customer Alice Huber?")
            && html.contains("will get no more reports or alerts")
    );
    assert!(tenant.customer(sunrise.customer).await.unwrap().unwrap().active);
    let done = post(&app, &session, &path, &[("active", "false"), ("confirmed", "yes")]).await;
    let page =
        app.get(&session, done.headers()["location"].to_str().unwrap()).await.unwrap().text().await.unwrap();
    assert!(page.contains("Customer Alice Huber deactivated: no reports or alerts are sent to them"));
    assert!(!tenant.customer(sunrise.customer).await.unwrap().unwrap().active);
}

#[tokio::test]
async fn rotating_or_revoking_a_gateway_token_asks_first_and_the_token_is_kept_until_confirmed() {
    let (app, sunrise, _) = TestApp::spawn().await.unwrap();
    let session = app.session("sunrise").await.unwrap();
    let tenant = app.store.tenant(&sunrise.slug).await.unwrap();
    let before = tenant.gateway(&sunrise.gateway).await.unwrap().unwrap();
    let path = format!("/gateways/{}/rotate-token", sunrise.gateway);
    let rotate = post(&app, &session, &path, &[]).await.text().await.unwrap();
    assert!(rotate.contains("Rotate the token of SUN-1?") && rotate.contains("keeps working for 24 hours"));
    assert!(!rotate.contains(r#"name="revoke""#));
    let revoke = post(&app, &session, &path, &[("revoke", "true")]).await.text().await.unwrap();
    assert!(revoke.contains("Rotate and revoke the token of SUN-1?") && revoke.contains("refused at once"));
    assert!(revoke.contains(r#"name="revoke" value="true""#), "the confirmation revokes too");
    assert_eq!(tenant.gateway(&sunrise.gateway).await.unwrap().unwrap(), before, "no token changed yet");

    let done = post(&app, &session, &path, &[("revoke", "true"), ("confirmed", "yes")]).await;
    assert_eq!(done.status(), 200);
    let html = done.text().await.unwrap();
    assert!(html.contains("New token for SUN-1 — shown once"));
    let at = html.find("<code>").unwrap() + "<code>".len();
    let token = html[at..].split("</code>").next().unwrap();
    let after = tenant.gateway(&sunrise.gateway).await.unwrap().unwrap();
    assert!(after.accepts(&GatewayToken::from_presented(token), chrono::Utc::now()));
    assert!(after.previous_token.is_none(), "revoked: no grace for the old token");
}

#[tokio::test]
async fn revoking_an_api_token_asks_first_naming_it_and_then_says_it_is_refused() {
    let (app, sunrise, _) = TestApp::spawn().await.unwrap();
    let session = app.session("sunrise").await.unwrap();
    let settings = app.get(&session, "/settings").await.unwrap().text().await.unwrap();
    let at = settings.find(r#"name="hash" value=""#).unwrap() + r#"name="hash" value=""#.len();
    let hash = settings[at..].split('"').next().unwrap().to_owned();
    let question = post(&app, &session, "/settings/api-tokens/revoke", &[("hash", &hash)]).await;
    assert_eq!(question.status(), 200);
    let html = question.text().await.unwrap();
    assert!(html.contains("Revoke the API token “test”?") && html.contains("cannot be undone"));
    assert_eq!(app.api(&sunrise.api_token, "/sites").await.unwrap().status(), 200, "still valid");
    let done =
        post(&app, &session, "/settings/api-tokens/revoke", &[("hash", &hash), ("confirmed", "yes")]).await;
    assert_eq!(done.headers()["location"], "/settings?done=revoked");
    assert_eq!(app.api(&sunrise.api_token, "/sites").await.unwrap().status(), 401);
    let page = app.get(&session, "/settings?done=revoked").await.unwrap().text().await.unwrap();
    assert!(page.contains("API token revoked: requests that use it are refused from now on."));
}

#[tokio::test]
async fn the_provider_is_taken_in_any_case_with_stray_spaces_or_by_its_displayed_name() {
    let (app, _, _) = TestApp::spawn().await.unwrap();
    for typed in ["Sunrise", " sunrise ", "SUNRISE", "Sunrise Solar", "  sunrise   solar "] {
        let response = app.login(typed, USER, PASSWORD).await.unwrap();
        assert_eq!(response.status(), 303, "{typed:?}");
        assert!(set_cookie(&response, "hg_session").is_some());
    }
    let wrong = app.login("Sunrise", USER, "wrong password").await.unwrap();
    assert_eq!(wrong.status(), 401);
    let html = wrong.text().await.unwrap();
    assert!(html.contains("Provider, user name or password is wrong."));
    assert!(html.contains(r#"name="provider" value="Sunrise""#), "the typed provider is kept");
}

#[tokio::test]
async fn a_displayed_name_that_two_providers_share_names_neither() {
    let (dir, store) = empty_store().await.unwrap();
    for slug in ["north", "south"] {
        provider(store.as_ref(), &ProviderSlug::parse(slug).unwrap(), "Solar Service", chrono_tz::UTC)
            .await
            .unwrap();
    }
    let app = TestApp::start(dir, store, WebSettings::default()).await.unwrap();
    let shared = app.login("Solar Service", USER, PASSWORD).await.unwrap();
    assert_eq!(shared.status(), 401);
    assert!(shared.text().await.unwrap().contains("Provider, user name or password is wrong."));
    assert_eq!(app.login("North", USER, PASSWORD).await.unwrap().status(), 303);
}

#[tokio::test]
async fn the_last_provider_is_remembered_to_fill_the_login_form() {
    let (app, _, _) = TestApp::spawn().await.unwrap();
    let response = app.login("Sunrise Solar", USER, PASSWORD).await.unwrap();
    let remembered = set_cookie(&response, "hg_provider").unwrap();
    assert!(remembered.starts_with("hg_provider=sunrise;"), "{remembered}");
    assert!(remembered.contains("SameSite=Lax") && remembered.contains("Max-Age="));
    let form = app
        .http
        .get(format!("{}/login", app.base))
        .header("cookie", "hg_provider=sunrise")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(form.contains(r#"name="provider" value="sunrise""#));
    assert!(
        form.contains(r#"autocomplete="username" required autofocus"#),
        "the cursor waits in the user name"
    );
    let hostile = app
        .http
        .get(format!("{}/login", app.base))
        .header("cookie", "hg_provider=\"><script>")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(hostile.contains(r#"name="provider" value="""#), "only a slug is filled in");
}

#[tokio::test]
async fn spellings_of_one_provider_count_as_one_account_for_the_limiter() {
    let settings = WebSettings { login_delay_secs: 60, ..WebSettings::default() };
    let (app, _, _) = TestApp::spawn_with(settings).await.unwrap();
    for typed in ["sunrise", "Sunrise", " SUNRISE", "Sunrise Solar", "sunrise solar "] {
        assert_eq!(app.login(typed, USER, "nope").await.unwrap().status(), 401, "{typed:?}");
    }
    assert_eq!(app.login("SunRise", USER, PASSWORD).await.unwrap().status(), 429);
}
