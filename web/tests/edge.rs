//! The panel's HTTP edge over raw TCP, the way a slow or hostile client meets it: request heads
//! that stall, idle connections, bodies that stall or are too large, more requests or
//! connections than allowed. Every refusal comes quickly and carries the security headers.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has already failed

mod common;

use std::time::{Duration, Instant};

use common::TestApp;
use heliograph_testkit::wait_until_async;
use heliograph_web::WebSettings;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The app with no data, these settings, and its `host:port`.
async fn app(settings: WebSettings) -> (TestApp, String) {
    let (dir, store) = common::empty_store().await.unwrap();
    let app = TestApp::start(dir, store, settings).await.unwrap();
    let addr = app.base.trim_start_matches("http://").to_owned();
    (app, addr)
}

/// Reads until the server closes the connection (or resets it); what it sent. Panics after
/// `within`.
async fn read_to_close(stream: &mut TcpStream, within: Duration) -> String {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    let read = async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
    };
    tokio::time::timeout(within, read).await.expect("the server closes the connection in time");
    String::from_utf8_lossy(&received).into_owned()
}

/// The status line and headers of a raw answer, lower-cased.
fn head(answer: &str) -> String {
    answer.split("\r\n\r\n").next().unwrap_or_default().to_ascii_lowercase()
}

fn assert_security_headers(answer: &str) {
    let head = head(answer);
    for header in [
        "content-security-policy: default-src 'self'",
        "x-content-type-options: nosniff",
        "x-frame-options: deny",
    ] {
        assert!(head.contains(header), "{header} missing from {head}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_stalled_request_heads_are_all_closed_within_the_header_timeout() {
    let timeout = Duration::from_secs(2);
    let settings = WebSettings { header_read_timeout_secs: timeout.as_secs(), ..WebSettings::default() };
    let (app, addr) = app(settings).await;
    let started = Instant::now();
    let mut stalled = Vec::new();
    for _ in 0..200 {
        let mut stream = TcpStream::connect(&addr).await.unwrap();
        stream.write_all(b"GET /healthz HT").await.unwrap();
        stalled.push(stream);
    }
    // The panel answers others meanwhile.
    let health = app.http.get(format!("{}/healthz", app.base)).send().await.unwrap();
    assert_eq!(health.status(), 200, "healthz answers beside 200 stalled heads");
    let closes = futures::future::join_all(stalled.iter_mut().map(|stream| async {
        let answer = read_to_close(stream, timeout + Duration::from_secs(10)).await;
        (started.elapsed(), answer)
    }))
    .await;
    let first = closes.iter().map(|(at, _)| *at).min().unwrap();
    let last = closes.iter().map(|(at, _)| *at).max().unwrap();
    println!(
        "200 stalled request heads, header timeout {timeout:?}: closed between {first:.2?} and {last:.2?} after the first was opened"
    );
    assert!(first >= timeout - Duration::from_millis(200), "none is closed before its deadline: {first:?}");
    assert!(last <= timeout + Duration::from_secs(8), "all are closed soon after it: {last:?}");
    for (_, answer) in &closes {
        assert!(!answer.contains("200 OK"), "a stalled head is never answered as a request: {answer}");
    }
}

#[tokio::test]
async fn an_idle_connection_is_closed_after_the_header_timeout() {
    let settings = WebSettings { header_read_timeout_secs: 1, ..WebSettings::default() };
    let (_app, addr) = app(settings).await;
    let started = Instant::now();
    let mut idle = TcpStream::connect(&addr).await.unwrap();
    read_to_close(&mut idle, Duration::from_secs(10)).await;
    println!("an idle connection was closed after {:.2?}", started.elapsed());
    // After a complete request the same deadline holds for the next head.
    let mut kept = TcpStream::connect(&addr).await.unwrap();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
    let answer = read_to_close(&mut kept, Duration::from_secs(10)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn a_request_whose_body_stalls_is_answered_408_after_the_request_timeout() {
    let settings = WebSettings { request_timeout_secs: 1, ..WebSettings::default() };
    let (_app, addr) = app(settings).await;
    let started = Instant::now();
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    stream
        .write_all(
            b"POST /login HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-www-form-urlencoded\r\n\
              content-length: 1000\r\n\r\nprovider=a",
        )
        .await
        .unwrap();
    let answer = read_to_close(&mut stream, Duration::from_secs(15)).await;
    println!(
        "a stalled body was answered after {:.2?}: {}",
        started.elapsed(),
        answer.lines().next().unwrap_or("")
    );
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert_security_headers(&answer);
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_with_413_on_every_route() {
    let settings = WebSettings { max_body_bytes: 1024, ..WebSettings::default() };
    let (app, addr) = app(settings).await;
    let body = "x=".to_owned() + &"a".repeat(4096);
    for path in
        ["/login", "/operator/login", "/customers", "/unsubscribe/token", "/healthz", "/no/such/route"]
    {
        let response = app
            .http
            .post(format!("{}{path}", app.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 413, "{path}");
        assert_eq!(response.headers()["x-frame-options"], "DENY", "{path}");
    }
    // Without a length up front (chunked), a form that grows past the limit is refused too.
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    let mut request =
        b"POST /login HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-www-form-urlencoded\r\n\
                        transfer-encoding: chunked\r\nconnection: close\r\n\r\n"
            .to_vec();
    for _ in 0..8 {
        request.extend_from_slice(format!("200\r\n{}\r\n", "a".repeat(512)).as_bytes());
    }
    request.extend_from_slice(b"0\r\n\r\n");
    stream.write_all(&request).await.unwrap();
    let answer = read_to_close(&mut stream, Duration::from_secs(15)).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "chunked: {answer}");
}

#[tokio::test]
async fn requests_beyond_max_requests_are_answered_503_at_once() {
    let settings = WebSettings { max_requests: 2, request_timeout_secs: 30, ..WebSettings::default() };
    let (app, addr) = app(settings).await;
    // Two requests in flight, each waiting for a body that does not come.
    let mut holders = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(&addr).await.unwrap();
        stream
            .write_all(
                b"POST /login HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-www-form-urlencoded\r\n\
                  content-length: 100\r\n\r\nx",
            )
            .await
            .unwrap();
        holders.push(stream);
    }
    // Poll until both hold their slot: then a third request is refused without waiting.
    let app = &app;
    let refused = wait_until_async(Duration::from_secs(10), "a third request to be refused", || async move {
        let asked = Instant::now();
        let response = app.http.get(format!("{}/healthz", app.base)).send().await.unwrap();
        (response.status() == 503).then(|| (response, asked.elapsed()))
    })
    .await;
    let (response, took) = refused;
    println!("with 2 requests in flight a third was answered 503 in {took:.2?}");
    assert_eq!(response.headers()["retry-after"], "1");
    assert_eq!(response.headers()["x-frame-options"], "DENY");
    assert!(took < Duration::from_secs(5), "refused at once, not queued: {took:?}");
    drop(holders);
    wait_until_healthy(app, "the slots to be given back").await;
}

/// Waits until the app answers `/healthz` with 200 again; `what` names what that shows.
async fn wait_until_healthy(app: &TestApp, what: &str) {
    wait_until_async(Duration::from_secs(10), what, || async {
        let answer = app.http.get(format!("{}/healthz", app.base)).send().await;
        answer.is_ok_and(|r| r.status() == 200).then_some(())
    })
    .await;
}

#[tokio::test]
async fn connections_beyond_max_connections_are_answered_503_and_closed() {
    let settings = WebSettings { max_connections: 5, ..WebSettings::default() };
    let (app, addr) = app(settings).await;
    let mut open = Vec::new();
    for _ in 0..5 {
        open.push(TcpStream::connect(&addr).await.unwrap());
    }
    // The five are accepted in turn; poll until a sixth is refused.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut extra = TcpStream::connect(&addr).await.unwrap();
        let answer = read_to_close(&mut extra, Duration::from_secs(15)).await;
        if answer.starts_with("HTTP/1.1 503") {
            assert!(head(&answer).contains("retry-after: 1"), "{answer}");
            break;
        }
        assert!(Instant::now() < deadline, "a sixth connection was never refused: {answer:?}");
    }
    drop(open);
    wait_until_healthy(&app, "the connection slots to be given back").await;
}
