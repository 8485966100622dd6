//! A login flood against a real `heliograph web` process: 200 clients at once, each posting
//! wrong passwords (for a real user and for unknown ones, which cost the same argon2 work) as
//! fast as they are answered. The process's peak resident memory must rise by at most 128 MiB,
//! and `/healthz` and a logged-in user's page must keep answering throughout.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has already failed

mod common;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::process::{BIN, free_port, heliograph_fed, wait_for_port};
use heliograph_testkit::cookies::cookie_pair;
use heliograph_testkit::forms::submit_login;

const CLIENTS: usize = 200;
const ATTEMPTS_EACH: usize = 5;
const PASSWORD: &str = "a long enough secret";

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `VmHWM` (peak resident) and `VmRSS` of a process, KiB.
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| -> u64 {
        let line = status.lines().find(|l| l.starts_with(name)).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    (field("VmHWM:"), field("VmRSS:"))
}

async fn post_login(http: &reqwest::Client, base: &str, user: &str, password: &str) -> reqwest::Response {
    let fields = [("provider", "acme"), ("username", user), ("password", password)];
    submit_login(http, base, "/login", "hg_login", &fields).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_logins_raises_peak_memory_by_at_most_128_mib_and_the_panel_keeps_answering() {
    let dir = tempfile::tempdir().unwrap();
    let web = free_port();
    let config = dir.path().join("heliograph.toml");
    // The limiter is opened wide, so that every attempt gets as far as the password checks:
    // their bound is what is measured here.
    let text = format!(
        "[store]\nbackend = \"embedded\"\ndata_dir = \"{}\"\n\
         [web]\nlisten = \"127.0.0.1:{web}\"\ncookie_secure = false\nlogin_failures = 100000\n\
         login_address_failures = 100000\nlogin_failures_per_minute = 1000000\n[log]\nfilter = \"error\"\n",
        dir.path().join("data").display()
    );
    std::fs::write(&config, text).unwrap();
    heliograph_fed(&config, &["provider", "add", "acme", "--name", "Acme"], "");
    heliograph_fed(
        &config,
        &["user", "add", "--provider", "acme", "anna", "--display-name", "Anna", "--password-stdin"],
        &format!("{PASSWORD}\n"),
    );
    let child = Command::new(BIN)
        .arg("--config")
        .arg(&config)
        .arg("web")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let _web = Running(child);
    wait_for_port(web, "web");
    let base = format!("http://127.0.0.1:{web}");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();

    // Measured from before any password was checked: the password threads' working memory
    // counts in the rise.
    assert_eq!(http.get(format!("{base}/healthz")).send().await.unwrap().status(), 200);
    let (peak_before, rss_before) = memory_kib(pid);
    let login = post_login(&http, &base, "anna", PASSWORD).await;
    assert_eq!(login.status(), 303);
    let session = cookie_pair(login.headers(), "hg_session").unwrap();

    // The panel's own pages, asked again and again while the flood lasts.
    let flooding = Arc::new(AtomicBool::new(true));
    let probe = {
        let (http, base, session, flooding) =
            (http.clone(), base.clone(), session.clone(), Arc::clone(&flooding));
        tokio::spawn(async move {
            let (mut answered, mut slowest) = (0u32, Duration::ZERO);
            while flooding.load(Ordering::Relaxed) {
                for (path, cookie) in [("/healthz", ""), ("/sites", session.as_str())] {
                    let asked = Instant::now();
                    let response =
                        http.get(format!("{base}{path}")).header("cookie", cookie).send().await.unwrap();
                    assert_eq!(response.status(), 200, "{path} during the flood");
                    slowest = slowest.max(asked.elapsed());
                    answered += 1;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            (answered, slowest)
        })
    };

    let started = Instant::now();
    let clients = (0..CLIENTS).map(|n| {
        let (http, base) = (http.clone(), base.clone());
        tokio::spawn(async move {
            let mut statuses = Vec::new();
            for attempt in 0..ATTEMPTS_EACH {
                let user = if n % 2 == 0 { "anna".to_owned() } else { format!("nobody{n}") };
                let response = post_login(&http, &base, &user, &format!("guess {n} {attempt}")).await;
                statuses.push(response.status().as_u16());
            }
            statuses
        })
    });
    let statuses: Vec<u16> =
        futures::future::join_all(clients).await.into_iter().flat_map(Result::unwrap).collect();
    let took = started.elapsed();
    flooding.store(false, Ordering::Relaxed);
    let (answered, slowest) = probe.await.unwrap();
    let (peak_after, rss_after) = memory_kib(pid);

    let count = |status: u16| statuses.iter().filter(|&&s| s == status).count();
    let rise_mib = (peak_after.saturating_sub(peak_before)) as f64 / 1024.0;
    println!(
        "{CLIENTS} clients x {ATTEMPTS_EACH} logins in {took:.1?}: {} checked and wrong (401), {} refused busy (503), \
         {} other",
        count(401),
        count(503),
        statuses.len() - count(401) - count(503)
    );
    println!(
        "server peak resident memory {:.1} MiB -> {:.1} MiB: a rise of {rise_mib:.1} MiB (resident now {:.1} MiB, \
         before {:.1} MiB)",
        peak_before as f64 / 1024.0,
        peak_after as f64 / 1024.0,
        rss_after as f64 / 1024.0,
        rss_before as f64 / 1024.0
    );
    println!("meanwhile /healthz and /sites answered 200 {answered} times, the slowest in {slowest:.2?}");
    assert_eq!(count(401) + count(503), statuses.len(), "only wrong-password and busy answers: {statuses:?}");
    assert!(count(503) > 0, "the flood was larger than the password checks");
    assert!(rise_mib <= 128.0, "peak resident memory rose by {rise_mib:.1} MiB");
    assert!(answered >= 2, "the panel was asked during the flood");
    assert_eq!(
        post_login(&http, &base, "anna", PASSWORD).await.status(),
        303,
        "the user still logs in after it"
    );
}
