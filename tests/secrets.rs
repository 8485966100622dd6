//! Signing secrets as an operator sets them: a placeholder copied from a manifest, a typed phrase
//! or a repeated pattern stops the process at start with exit code 78 (EX_CONFIG) and a message
//! that says how to make a good one, whether it comes from the file or the environment.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has already failed

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::process::{BIN, free_port, wait_for_port};
use heliograph_testkit::{try_wait_until, wait_until};

fn config(dir: &Path, name: &str, web_section: &str, mailer_section: &str) -> std::path::PathBuf {
    let path = dir.join(format!("{name}.toml"));
    let text = format!(
        "[store]\nbackend = \"embedded\"\ndata_dir = \"{}\"\n[web]\nlisten = \"127.0.0.1:{}\"\n{web_section}\n\
         [mailer]\n{mailer_section}\n[log]\nfilter = \"warn\"\n",
        dir.join("data").display(),
        free_port()
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs `heliograph web` until it exits (a process still running after 30 s has accepted the
/// secret: it is stopped and the test fails); (exit code, stderr).
fn run_web(config: &Path, env: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(config)
        .arg("web")
        .env_remove("HELIOGRAPH_WEB__SESSION_SECRET")
        .env_remove("HELIOGRAPH_MAILER__UNSUBSCRIBE_SECRET")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if !try_wait_until(Duration::from_secs(30), || child.try_wait().unwrap().is_some()) {
        child.kill().unwrap();
        child.wait().unwrap();
        panic!("heliograph web started with {config:?} and {env:?}");
    }
    let output = child.wait_with_output().unwrap();
    (output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned())
}

#[test]
fn placeholder_and_weak_secrets_stop_the_process_with_exit_code_78() {
    let weak = [
        "change-me-to-64-random-hex-digits",
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "correct horse battery staple is long enough",
        "00112233445566778899aabbccddeeff",
    ];
    for value in weak {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            (
                "session_secret in the file",
                config(dir.path(), "session", &format!("session_secret = \"{value}\""), ""),
                vec![],
            ),
            (
                "unsubscribe_secret in the file",
                config(dir.path(), "unsubscribe", "", &format!("unsubscribe_secret = \"{value}\"")),
                vec![],
            ),
            (
                "session_secret from the environment",
                config(dir.path(), "plain", "", ""),
                vec![("HELIOGRAPH_WEB__SESSION_SECRET", value)],
            ),
        ];
        for (what, path, env) in cases {
            let (code, stderr) = run_web(&path, &env);
            println!("{what} {value:?}: exit {code:?}: {}", stderr.trim());
            assert_eq!(code, Some(78), "{what} {value:?}: {stderr}");
            assert!(stderr.contains("openssl rand -hex 32"), "{what}: says how to make one: {stderr}");
            assert!(stderr.contains("secret"), "{what}: names the setting: {stderr}");
            assert!(!stderr.contains(value), "{what}: the refused value is not echoed: {stderr}");
        }
    }
}

#[test]
fn a_random_secret_from_the_environment_starts_the_panel() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let path = dir.path().join("heliograph.toml");
    let text = format!(
        "[store]\nbackend = \"embedded\"\ndata_dir = \"{}\"\n[web]\nlisten = \"127.0.0.1:{port}\"\n[log]\nfilter = \"warn\"\n",
        dir.path().join("data").display()
    );
    std::fs::write(&path, text).unwrap();
    let secret = heliograph_shared::SigningSecret::generate_hex();
    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(&path)
        .arg("web")
        .env("HELIOGRAPH_WEB__SESSION_SECRET", &secret)
        .env("HELIOGRAPH_MAILER__UNSUBSCRIBE_SECRET", "")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_port(port, "web with a random secret");
    // The process makes the unsubscribe key as it starts (no secret configured).
    let key = dir.path().join("data").join("unsubscribe.key");
    wait_until(Duration::from_secs(30), "the web process to make the unsubscribe key", || key.exists());
    assert!(child.try_wait().unwrap().is_none(), "still running");
    child.kill().unwrap();
    child.wait().unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the unsubscribe key the web process made is the owner's only");
    }
}
