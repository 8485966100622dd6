//! The panel's forms in a real browser (headless Chromium over the DevTools protocol), at a
//! desktop's width and a phone's: the login form takes "Sunrise"; every form given a wrong value
//! comes back with the value kept and the message under its field; a destructive action asks
//! first and then says what it did. Screenshots land in `screenshots/forms-*.png`.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has already failed

mod cdp;
mod common;

use std::time::Duration;

use common::{PASSWORD, TestApp, USER};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forms_keep_their_input_show_errors_at_their_fields_and_ask_before_destroying_at_both_widths() {
    tokio::time::timeout(Duration::from_secs(600), journey())
        .await
        .expect("the journey finished in time")
        .unwrap();
}

async fn journey() -> anyhow::Result<()> {
    let (app, sunrise, _) = TestApp::spawn().await?;
    let mut chrome = cdp::Chromium::launch().await?;
    for (width, height, phone) in [(1280, 900, false), (390, 844, true)] {
        let tab = chrome.new_tab(true).await?;
        chrome.viewport(&tab, width, height, phone).await?;
        let mut page = Page { chrome: &mut chrome, tab, base: app.base.clone(), width };
        page.run(&sunrise.customer.to_string()).await?;
        // Chromium logs every 4xx document as a failed load; the forms' own 422s are the point.
        let errors: Vec<String> = page
            .chrome
            .console_errors(&page.tab)
            .into_iter()
            .filter(|e| !e.contains("status of 422"))
            .collect();
        anyhow::ensure!(errors.is_empty(), "console errors at {width} px: {errors:#?}");
    }
    chrome.close().await?;
    Ok(())
}

/// One browser tab at one width.
struct Page<'a> {
    chrome: &'a mut cdp::Chromium,
    tab: cdp::Tab,
    base: String,
    width: u32,
}

impl Page<'_> {
    async fn run(&mut self, customer: &str) -> anyhow::Result<()> {
        // The provider as people type it.
        self.open("/login").await?;
        self.fill(
            "form[action='/login']",
            &[("provider", "Sunrise"), ("username", USER), ("password", PASSWORD)],
        )
        .await?;
        self.shot("login-sunrise").await?;
        self.submit("form[action='/login']", "location.pathname === '/sites'").await?;

        // Each form with a wrong value: back with the value kept and the message at its field.
        self.open("/customers").await?;
        self.wrong(
            "form[action='/customers'][method='post']",
            &[("name", "Dora Berger"), ("emails", "dora-at-example.org"), ("timezone", "Atlantis")],
            &["emails", "timezone"],
            "customer-new",
        )
        .await?;
        let edit = format!("/customers/{customer}");
        self.open(&edit).await?;
        self.wrong(
            &format!("form[action='{edit}']"),
            &[("timezone", "Indianapolis")],
            &["timezone"],
            "customer-edit",
        )
        .await?;
        self.expect_text("“Indianapolis” could be America/").await?;
        self.open("/gateways").await?;
        self.wrong(
            "form[action='/gateways']",
            &[("id", "SUN-9"), ("site_name", "Barn"), ("capacity_kwp", "0")],
            &["capacity_kwp"],
            "gateway-new",
        )
        .await?;
        self.open("/gateways/SUN-1").await?;
        self.wrong(
            "form[action='/gateways/SUN-1']",
            &[("site_name", "Huber roof"), ("capacity_kwp", "ten")],
            &["capacity_kwp"],
            "gateway-edit",
        )
        .await?;
        self.open("/settings").await?;
        self.wrong(
            "form[action='/settings']",
            &[("timezone", "Berlin"), ("offline_after_minutes", "3")],
            &["offline_after_minutes"],
            "settings",
        )
        .await?;
        self.wrong("form[action='/settings/api-tokens']", &[("name", " ")], &["name"], "api-token").await?;
        self.open("/quarantine").await?;
        self.chrome.eval(&self.tab, "document.querySelector('details#commission').open = true").await?;
        self.wrong(
            "details#commission form",
            &[("gateway", "bad id!"), ("site_name", "Roof"), ("capacity_kwp", "4,2")],
            &["gateway"],
            "commission",
        )
        .await?;
        self.open("/sites/SUN-1/readings").await?;
        self.wrong(
            "form.filters",
            &[("from", "2026-06-01T12:00"), ("to", "2026-06-01T12:00")],
            &["to"],
            "readings",
        )
        .await?;

        // Sensible input is read: a decimal comma and a city; a customer without an address is
        // saved and warned about.
        self.open("/gateways/SUN-1").await?;
        self.fill("form[action='/gateways/SUN-1']", &[("capacity_kwp", "8,5")]).await?;
        self.submit("form[action='/gateways/SUN-1']", "location.search === '?done=saved'").await?;
        self.expect_text("Gateway SUN-1 saved.").await?;
        self.open("/customers").await?;
        let name = format!("Erik Novak {}", self.width);
        self.fill(
            "form[action='/customers'][method='post']",
            &[("name", &name), ("emails", ""), ("timezone", "lisbon")],
        )
        .await?;
        self.submit("form[action='/customers'][method='post']", "location.search === '?done=created'")
            .await?;
        self.expect_text("has no email address: their reports and alerts go nowhere").await?;
        self.expect_text("Europe/Lisbon").await?;
        self.shot("customer-no-email").await?;

        // A destructive action asks first, then says what it did.
        self.open("/gateways/SUN-1").await?;
        self.submit(
            "form[action='/gateways/SUN-1/active']",
            "document.title.startsWith('Deactivate gateway SUN-1?')",
        )
        .await?;
        self.expect_text("will stop being accepted").await?;
        self.fits("section.confirm").await?;
        self.shot("confirm-deactivate").await?;
        self.submit("section.confirm form", "location.search === '?done=deactivated'").await?;
        self.expect_text(
            "Gateway SUN-1 deactivated: its connections are refused from now on; its data stays.",
        )
        .await?;
        self.shot("feedback-deactivated").await?;
        self.submit("form[action='/gateways/SUN-1/active']", "location.search === '?done=reactivated'")
            .await?;

        self.submit(
            "form[action='/gateways/SUN-1/rotate-token']:not(:has(input[name=revoke]))",
            "document.title.startsWith('Rotate the token of SUN-1?')",
        )
        .await?;
        self.shot("confirm-rotate").await?;
        self.submit("section.confirm form", "document.title.startsWith('New token for SUN-1')").await?;
        self.expect_text("New token for SUN-1 — shown once").await?;
        self.shot("feedback-new-token").await?;

        // An API token is issued, shown once; revoking one names it first.
        self.open("/settings").await?;
        let token = format!("ERP export {}", self.width);
        self.fill("form[action='/settings/api-tokens']", &[("name", &token)]).await?;
        self.submit("form[action='/settings/api-tokens']", "document.title.startsWith('API token')").await?;
        self.expect_text(&format!("API token “{token}” — shown once")).await?;
        self.open("/settings").await?;
        self.submit(
            "form[action='/settings/api-tokens/revoke']",
            "document.title.startsWith('Revoke the API token “')",
        )
        .await?;
        self.expect_text("This cannot be undone.").await?;
        self.fits("section.confirm").await?;
        self.shot("confirm-revoke-api-token").await?;
        self.submit("section.confirm form", "location.search === '?done=revoked'").await?;
        self.expect_text("API token revoked: requests that use it are refused from now on.").await?;

        // The provider is remembered for the next login.
        self.submit("form.logout", "location.pathname === '/login'").await?;
        let remembered =
            self.chrome.eval(&self.tab, "document.querySelector('input[name=provider]').value").await?;
        anyhow::ensure!(remembered == "sunrise", "the login form holds {remembered}");
        self.shot("login-remembered").await?;
        Ok(())
    }

    async fn open(&mut self, path: &str) -> anyhow::Result<()> {
        self.chrome.goto(&self.tab, &format!("{}{path}", self.base)).await
    }

    /// Sets fields of the form `form` by name.
    async fn fill(&mut self, form: &str, fields: &[(&str, &str)]) -> anyhow::Result<()> {
        let fields: Vec<Value> =
            fields.iter().map(|(name, value)| serde_json::json!([name, value])).collect();
        let script = format!(
            "(() => {{ const f = document.querySelector({form:?}); if (!f) return false; \
             for (const [name, value] of {}) f.elements[name].value = value; return true; }})()",
            Value::Array(fields)
        );
        anyhow::ensure!(self.chrome.eval(&self.tab, &script).await? == true, "no form {form}");
        Ok(())
    }

    /// Presses the submit button of `form`, then waits for `condition`.
    async fn submit(&mut self, form: &str, condition: &str) -> anyhow::Result<()> {
        let marker = "window.__left = true";
        self.chrome.eval(&self.tab, marker).await?;
        self.chrome
            .click(
                &self.tab,
                &format!("{form} button[type=submit]"),
                &format!("!window.__left && ({condition})"),
            )
            .await
    }

    /// Submits wrong `fields` and checks that the same form came back holding them, each of
    /// `wrong` marked and described by its message, and that it fits the width.
    async fn wrong(
        &mut self,
        form: &str,
        fields: &[(&str, &str)],
        wrong: &[&str],
        name: &str,
    ) -> anyhow::Result<()> {
        self.fill(form, fields).await?;
        self.submit(form, "document.querySelector('.field-error') !== null").await?;
        anyhow::ensure!(
            !self.chrome.text(&self.tab).await?.contains("Back to the fleet"),
            "{name}: the error card"
        );
        for (field, value) in fields {
            let kept = self
                .chrome
                .eval(&self.tab, &format!("document.querySelector({form:?}).elements[{field:?}].value"))
                .await?;
            anyhow::ensure!(kept == *value, "{name}: {field} holds {kept}, not {value:?}");
        }
        for field in wrong {
            let script = format!(
                "(() => {{ const i = document.querySelector({form:?}).elements[{field:?}]; \
                 const id = i.getAttribute('aria-describedby'); const m = id && document.getElementById(id); \
                 return i.getAttribute('aria-invalid') === 'true' && !!m && m.textContent.length > 5; }})()"
            );
            anyhow::ensure!(
                self.chrome.eval(&self.tab, &script).await? == true,
                "{name}: {field} is not marked"
            );
        }
        self.fits(form).await?;
        self.chrome
            .eval(&self.tab, &format!("document.querySelector({form:?}).scrollIntoView({{block: 'center'}})"))
            .await?;
        self.shot(&format!("{name}-error")).await
    }

    /// Fails when `selector` reaches past the right edge of the viewport.
    async fn fits(&mut self, selector: &str) -> anyhow::Result<()> {
        let right = self
            .chrome
            .eval(&self.tab, &format!("document.querySelector({selector:?}).getBoundingClientRect().right"))
            .await?;
        let right = right.as_f64().unwrap_or(f64::MAX);
        anyhow::ensure!(
            right <= f64::from(self.width) + 0.5,
            "{selector} reaches {right} px at {} px",
            self.width
        );
        Ok(())
    }

    async fn expect_text(&mut self, expected: &str) -> anyhow::Result<()> {
        let text = self.chrome.text(&self.tab).await?;
        anyhow::ensure!(text.contains(expected), "{expected:?} is not on the page:\n{text}");
        Ok(())
    }

    async fn shot(&mut self, name: &str) -> anyhow::Result<()> {
        let path = cdp::screenshots().join(format!("forms-{}-{name}.png", self.width));
        self.chrome.screenshot(&self.tab, &path).await
    }
}
