//! A role started while its store cannot be reached (a cluster without quorum, a node
//! restarting) waits for it instead of exiting: alive on its probes, not ready, and stopped
//! cleanly by SIGTERM. The nemesis run found ingest exiting at start without quorum.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has already failed

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::process::{BIN, free_port};

#[tokio::test]
async fn roles_started_without_their_store_wait_for_it_alive_and_not_ready() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on this port: every connection to the "cluster" is refused.
    let nowhere = free_port();
    for role in ["ingest", "web", "mailer"] {
        let ops = free_port();
        let config = dir.path().join(format!("{role}.toml"));
        std::fs::write(
            &config,
            format!(
                "[store]\nbackend = \"cassandra\"\nnodes = [\"127.0.0.1:{nowhere}\"]\nconsistency = \"one\"\n\
                 [ingest]\nlisten = \"127.0.0.1:{}\"\nhttp_listen = \"127.0.0.1:{}\"\nspool_dir = \"{}\"\n\
                 [web]\nlisten = \"127.0.0.1:{}\"\n\
                 [ops]\ningest = \"127.0.0.1:{ops}\"\nweb = \"127.0.0.1:{ops}\"\nmailer = \"127.0.0.1:{ops}\"\n\
                 [log]\nfilter = \"warn\"\n",
                free_port(),
                free_port(),
                dir.path().join("spool").display(),
                free_port(),
            ),
        )
        .unwrap();
        let mut child = Command::new(BIN)
            .arg("--config")
            .arg(&config)
            .arg(role)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        common::process::wait_for_port(ops, role);
        let address = std::net::SocketAddr::from(([127, 0, 0, 1], ops));
        let deadline = Instant::now() + Duration::from_secs(4);
        while Instant::now() < deadline {
            assert!(child.try_wait().unwrap().is_none(), "{role} exited while its store was unreachable");
            assert_eq!(common::http_get(address, "/healthz").await.0, 200, "{role} is alive");
            assert_eq!(common::http_get(address, "/readyz").await.0, 503, "{role} is not ready");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let terminated = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
        assert!(terminated.success());
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(0), "{role} stops cleanly while waiting for its store");
        println!("{role}: alive and not ready for 4 s without its store, then stopped by SIGTERM");
    }
}
