//! A minimal Chrome DevTools Protocol client, enough to drive Debian's headless Chromium through
//! the panel like a person: navigate, fill and submit forms, click, read the page, download,
//! take screenshots. One command at a time; events that arrive meanwhile are kept.
//!
//! Chromium is `$HELIOGRAPH_CHROMIUM`, else `/usr/bin/chromium` (`apt-get install chromium`).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, bail};
use base64::Engine as _;
use futures::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long any single wait may take.
const DEADLINE: Duration = Duration::from_secs(30);

/// A running headless Chromium and a DevTools connection to it.
pub struct Chromium {
    child: Child,
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    events: Vec<Value>,
    _profile: tempfile::TempDir,
}

/// A tab (a page target) attached to the connection.
#[derive(Debug, Clone)]
pub struct Tab {
    session: String,
    context: Option<String>,
}

/// Where screenshots go: `$CARGO_TARGET_DIR/screenshots`, else `target/screenshots`.
pub fn screenshots() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"), PathBuf::from)
        .join("screenshots")
}

/// Where Chromium is.
pub fn executable() -> PathBuf {
    std::env::var_os("HELIOGRAPH_CHROMIUM").map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from)
}

impl Chromium {
    /// Starts Chromium with a fresh profile and connects to it.
    pub async fn launch() -> anyhow::Result<Self> {
        let path = executable();
        anyhow::ensure!(
            path.exists(),
            "{} not found: install Chromium (apt-get install -y chromium) or set HELIOGRAPH_CHROMIUM",
            path.display()
        );
        let profile = tempfile::tempdir()?;
        let child = Command::new(&path)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                "--hide-scrollbars",
                "--remote-debugging-port=0",
                "--window-size=1280,900",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", path.display()))?;
        // Chromium writes its port and browser endpoint here once it listens.
        let port_file = profile.path().join("DevToolsActivePort");
        let started = Instant::now();
        let endpoint = loop {
            if let Ok(text) = tokio::fs::read_to_string(&port_file).await
                && let [port, path, ..] = text.lines().collect::<Vec<_>>()[..]
            {
                break format!("ws://127.0.0.1:{port}{path}");
            }
            anyhow::ensure!(started.elapsed() < DEADLINE, "Chromium did not open its DevTools port");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let (ws, _) =
            tokio_tungstenite::connect_async(endpoint.as_str()).await.context("cannot reach DevTools")?;
        Ok(Self { child, ws, next_id: 0, events: Vec::new(), _profile: profile })
    }

    /// Sends a command (to a tab's session, or to the browser) and waits for its answer.
    pub async fn call(&mut self, tab: Option<&Tab>, method: &str, params: Value) -> anyhow::Result<Value> {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({ "id": id, "method": method, "params": params });
        if let Some(tab) = tab {
            message["sessionId"] = tab.session.clone().into();
        }
        self.ws.send(Message::Text(message.to_string().into())).await?;
        let deadline = Instant::now() + DEADLINE;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .with_context(|| format!("{method} got no answer"))?
                .context("DevTools connection closed")??;
            let Message::Text(text) = frame else { continue };
            let value: Value = serde_json::from_str(&text)?;
            if value["id"] == id {
                if let Some(error) = value.get("error") {
                    bail!("{method} failed: {error}");
                }
                return Ok(value["result"].clone());
            }
            if value.get("method").is_some() {
                self.events.push(value);
            }
        }
    }

    /// A new tab; `isolated` gives it a browser context of its own (its own cookies).
    pub async fn new_tab(&mut self, isolated: bool) -> anyhow::Result<Tab> {
        let context = if isolated {
            let created = self.call(None, "Target.createBrowserContext", json!({})).await?;
            Some(created["browserContextId"].as_str().context("no context id")?.to_owned())
        } else {
            None
        };
        let mut params = json!({ "url": "about:blank" });
        if let Some(context) = &context {
            params["browserContextId"] = context.clone().into();
        }
        let target = self.call(None, "Target.createTarget", params).await?;
        let target = target["targetId"].as_str().context("no target id")?.to_owned();
        let attached =
            self.call(None, "Target.attachToTarget", json!({ "targetId": target, "flatten": true })).await?;
        let tab =
            Tab { session: attached["sessionId"].as_str().context("no session id")?.to_owned(), context };
        for domain in ["Page.enable", "Runtime.enable", "Log.enable"] {
            self.call(Some(&tab), domain, json!({})).await?;
        }
        self.viewport(&tab, 1280, 900, false).await?;
        Ok(tab)
    }

    /// Sets the viewport (`mobile` for a phone).
    pub async fn viewport(&mut self, tab: &Tab, width: u32, height: u32, mobile: bool) -> anyhow::Result<()> {
        let params = json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile });
        self.call(Some(tab), "Emulation.setDeviceMetricsOverride", params).await?;
        Ok(())
    }

    /// Opens a URL and waits until the page has loaded.
    pub async fn goto(&mut self, tab: &Tab, url: &str) -> anyhow::Result<()> {
        let answer = self.call(Some(tab), "Page.navigate", json!({ "url": url })).await?;
        if let Some(error) = answer.get("errorText").and_then(Value::as_str) {
            bail!("cannot open {url}: {error}");
        }
        self.wait_for(tab, "document.readyState === 'complete'", "the page to load").await
    }

    /// Evaluates JavaScript in the page (awaiting promises) and returns its value.
    pub async fn eval(&mut self, tab: &Tab, expression: &str) -> anyhow::Result<Value> {
        let params = json!({ "expression": expression, "returnByValue": true, "awaitPromise": true });
        let answer = self.call(Some(tab), "Runtime.evaluate", params).await?;
        if let Some(exception) = answer.get("exceptionDetails") {
            bail!("{expression} threw: {exception}");
        }
        Ok(answer["result"]["value"].clone())
    }

    /// Polls a JavaScript condition until it holds.
    pub async fn wait_for(&mut self, tab: &Tab, condition: &str, what: &str) -> anyhow::Result<()> {
        let deadline = Instant::now() + DEADLINE;
        loop {
            // A navigation may replace the document between polls; that is not a failure.
            if let Ok(Value::Bool(true)) = self.eval(tab, &format!("Boolean({condition})")).await {
                return Ok(());
            }
            anyhow::ensure!(Instant::now() < deadline, "timed out waiting for {what} ({condition})");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Fills the panel's login form open in `tab` for `user` of `provider`, submits it and waits
    /// until the fleet is shown.
    pub async fn log_in(
        &mut self,
        tab: &Tab,
        provider: &str,
        user: &str,
        password: &str,
    ) -> anyhow::Result<()> {
        let script = format!(
            "(() => {{ const f = document.querySelector('form[action=\"/login\"]'); \
             f.provider.value = {provider:?}; f.username.value = {user:?}; f.password.value = {password:?}; \
             f.querySelector('button[type=submit]').click(); return true; }})()"
        );
        self.eval(tab, &script).await?;
        self.wait_for(tab, "location.pathname === '/sites'", &format!("{provider}'s fleet after login")).await
    }

    /// Clicks the first element matching `selector`, then waits for `condition`.
    pub async fn click(&mut self, tab: &Tab, selector: &str, condition: &str) -> anyhow::Result<()> {
        let found = self.eval(tab, &format!("(() => {{ const e = document.querySelector({selector:?}); if (!e) return false; e.click(); return true; }})()")).await?;
        anyhow::ensure!(found == Value::Bool(true), "nothing matches {selector}");
        self.wait_for(tab, &format!("({condition}) && document.readyState === 'complete'"), selector).await
    }

    /// The page's visible text.
    pub async fn text(&mut self, tab: &Tab) -> anyhow::Result<String> {
        Ok(self.eval(tab, "document.body.innerText").await?.as_str().unwrap_or_default().to_owned())
    }

    /// A PNG of the whole page (not only the viewport).
    pub async fn screenshot(&mut self, tab: &Tab, path: &Path) -> anyhow::Result<()> {
        let metrics = self.call(Some(tab), "Page.getLayoutMetrics", json!({})).await?;
        let width = metrics["cssContentSize"]["width"].as_f64().unwrap_or(1280.0);
        let height = metrics["cssContentSize"]["height"].as_f64().unwrap_or(900.0).min(8000.0);
        let params = json!({
            "format": "png",
            "captureBeyondViewport": true,
            "clip": { "x": 0, "y": 0, "width": width, "height": height, "scale": 1 },
        });
        let shot = self.call(Some(tab), "Page.captureScreenshot", params).await?;
        let data =
            base64::engine::general_purpose::STANDARD.decode(shot["data"].as_str().context("no image")?)?;
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        tokio::fs::write(path, data).await?;
        Ok(())
    }

    /// Lets the tab's browser context save downloads into `dir`.
    pub async fn allow_downloads(&mut self, tab: &Tab, dir: &Path) -> anyhow::Result<()> {
        let mut params = json!({ "behavior": "allow", "downloadPath": dir.display().to_string() });
        if let Some(context) = &tab.context {
            params["browserContextId"] = context.clone().into();
        }
        self.call(None, "Browser.setDownloadBehavior", params).await?;
        Ok(())
    }

    /// Console errors and uncaught exceptions seen so far (CSP violations among them).
    pub fn console_errors(&self, tab: &Tab) -> Vec<String> {
        self.events
            .iter()
            .filter(|e| e["sessionId"] == tab.session.as_str())
            .filter_map(|e| match e["method"].as_str() {
                Some("Log.entryAdded") if e["params"]["entry"]["level"] == "error" => {
                    Some(format!("{} {}", e["params"]["entry"]["text"], e["params"]["entry"]["url"]))
                }
                Some("Runtime.exceptionThrown") => Some(e["params"]["exceptionDetails"].to_string()),
                _ => None,
            })
            .collect()
    }

    /// Closes the browser.
    pub async fn close(mut self) -> anyhow::Result<()> {
        let _ = self.call(None, "Browser.close", json!({})).await;
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
        Ok(())
    }
}

/// Waits for a completed download (a file that is not a partial `.crdownload`) in `dir`.
pub async fn downloaded(dir: &Path) -> anyhow::Result<PathBuf> {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let mut entries = tokio::fs::read_dir(dir).await?;
        while let Some(entry) = entries.next_entry().await? {
            let path = entry.path();
            let partial = path.extension().is_some_and(|e| e == "crdownload");
            if !partial && entry.metadata().await?.len() > 0 {
                return Ok(path);
            }
        }
        anyhow::ensure!(Instant::now() < deadline, "no download arrived in {}", dir.display());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
