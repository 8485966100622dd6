//! Tenant isolation, route by route: every id-bearing route answers the owning provider and
//! gives another provider's user (or API token) 404, never data, and changes nothing.
//! When a route is added to `web/src/routes.rs`, it is added to the tables here.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has already failed

mod common;

use common::{DAY, TestApp};
use heliograph_shared::{GatewayToken, TokenHash};

#[tokio::test]
async fn another_providers_user_gets_404_on_every_page_and_export_of_the_first_providers_ids() {
    let (app, sunrise, voltwerk) = TestApp::spawn().await.unwrap();
    let owner = app.session("sunrise").await.unwrap();
    let stranger = app.session("voltwerk").await.unwrap();
    let site = format!("/sites/{}", sunrise.gateway);
    let gets = [
        site.clone(),
        format!("{site}/day/{DAY}"),
        format!("{site}/month/2026-06"),
        format!("{site}/year/2026"),
        format!("{site}/range/2026-06-01..2026-06-07"),
        format!("{site}/day/{DAY}/csv"),
        format!("{site}/month/2026-06/csv"),
        format!("{site}/year/2026/csv"),
        format!("{site}/readings?device=inv-1"),
        format!("{site}/readings?device=inv-1&from=2026-06-01T00%3A00&to=2026-06-02T00%3A00"),
        format!("{site}/readings/csv?device=inv-1"),
        format!("/customers/{}", sunrise.customer),
        format!("/gateways/{}", sunrise.gateway),
    ];
    for path in &gets {
        let own = app.get(&owner, path).await.unwrap().status();
        assert!(own == 200 || own == 303, "{path}: the owner gets {own}");
        let response = app.get(&stranger, path).await.unwrap();
        assert_eq!(response.status(), 404, "{path}");
        let body = response.text().await.unwrap();
        assert!(
            !body.contains("Alice") && !body.contains("inv-1,") && !body.contains("production_kwh"),
            "{path}: {body}"
        );
    }
    // The stranger's own lists show nothing of the first provider.
    for path in ["/sites", "/customers", "/gateways", "/quarantine", "/settings", "/sites?q=SUN"] {
        let body = app.get(&stranger, path).await.unwrap().text().await.unwrap();
        assert!(!body.contains(sunrise.gateway.as_str()) && !body.contains("Alice"), "{path}");
        assert!(!body.contains(&sunrise.customer.to_string()), "{path}");
    }
    // The stranger's own site is fine.
    assert_eq!(
        app.get(&stranger, &format!("/sites/{}/day/{DAY}", voltwerk.gateway)).await.unwrap().status(),
        200
    );
}

#[tokio::test]
async fn another_providers_user_gets_404_on_every_form_that_names_the_first_providers_ids_and_changes_nothing()
 {
    let (app, sunrise, _) = TestApp::spawn().await.unwrap();
    let stranger = app.session("voltwerk").await.unwrap();
    let tenant = app.store.tenant(&sunrise.slug).await.unwrap();
    let gateway_before = tenant.gateway(&sunrise.gateway).await.unwrap().unwrap();
    let customer_before = tenant.customer(sunrise.customer).await.unwrap().unwrap();
    let customer = sunrise.customer.to_string();
    let gateway = sunrise.gateway.to_string();
    let posts: Vec<(String, Vec<(&str, &str)>)> = vec![
        (format!("/customers/{customer}"), vec![("name", "Stolen"), ("emails", ""), ("timezone", "")]),
        (format!("/customers/{customer}/active"), vec![("active", "false")]),
        (
            format!("/gateways/{gateway}"),
            vec![("site_name", "Stolen"), ("capacity_kwp", "1"), ("customer", "")],
        ),
        (format!("/gateways/{gateway}/active"), vec![("active", "false")]),
        (format!("/gateways/{gateway}/rotate-token"), vec![]),
        // A new gateway or a commissioning may not name the first provider's customer.
        (
            "/gateways".into(),
            vec![("id", "VOLT-9"), ("site_name", "x"), ("capacity_kwp", "1"), ("customer", &customer)],
        ),
        (
            "/quarantine/commission".into(),
            vec![("gateway", "VOLT-8"), ("site_name", "x"), ("capacity_kwp", "1"), ("customer", &customer)],
        ),
    ];
    for (path, form) in &posts {
        let response = app.post(&stranger, path, form).await.unwrap();
        assert_eq!(response.status(), 404, "{path}");
    }
    assert_eq!(tenant.gateway(&sunrise.gateway).await.unwrap().unwrap(), gateway_before);
    assert_eq!(tenant.customer(sunrise.customer).await.unwrap().unwrap(), customer_before);
    let voltwerk =
        app.store.tenant(&heliograph_shared::ProviderSlug::parse("voltwerk").unwrap()).await.unwrap();
    assert_eq!(voltwerk.gateways().await.unwrap().len(), 1, "no gateway was created for the stranger either");

    // Revoking the first provider's API token from the second provider's settings does nothing.
    let hash = String::from(GatewayToken::from_presented(&sunrise.api_token).hash());
    app.post(&stranger, "/settings/api-tokens/revoke", &[("hash", &hash)]).await.unwrap();
    assert!(TokenHash::try_from(hash).is_ok());
    assert_eq!(app.api(&sunrise.api_token, "/sites").await.unwrap().status(), 200);
}

#[tokio::test]
async fn another_providers_api_token_gets_404_for_the_first_providers_sites() {
    let (app, sunrise, voltwerk) = TestApp::spawn().await.unwrap();
    let site = format!("/sites/{}", sunrise.gateway);
    let paths = [
        format!("{site}/day/{DAY}"),
        format!("{site}/month/2026-06"),
        format!("{site}/year/2026"),
        format!("{site}/range/2026-06-01..2026-06-07"),
        format!("{site}/readings?device=inv-1&from=2026-05-31T22:00:00Z&to=2026-06-01T22:00:00Z"),
    ];
    for path in &paths {
        assert_eq!(app.api(&sunrise.api_token, path).await.unwrap().status(), 200, "{path}: the owner");
        let response = app.api(&voltwerk.api_token, path).await.unwrap();
        assert_eq!(response.status(), 404, "{path}");
        assert_eq!(response.text().await.unwrap(), r#"{"error":"not found"}"#);
    }
    let listed: serde_json::Value =
        app.api(&voltwerk.api_token, "/sites").await.unwrap().json().await.unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["id"], voltwerk.gateway.as_str());
    // A token whose provider part is edited to name the other provider is not found there.
    let forged = voltwerk.api_token.replacen("hgp_voltwerk_", "hgp_sunrise_", 1);
    assert_eq!(app.api(&forged, &format!("{site}/day/{DAY}")).await.unwrap().status(), 401);
}
