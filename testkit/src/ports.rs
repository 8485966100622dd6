//! Loopback ports for servers a test starts.

use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// The first port handed out.
const FIRST: u32 = 20_000;
/// How many ports are handed out in turn: up to 31,999, clear of the Cassandra ports the tests
/// use (7xxx, 9xxx) and below the kernel's ephemeral range.
const COUNT: u32 = 12_000;

/// A loopback port free at the time of asking, for a server started afterwards.
///
/// It is taken below Linux's ephemeral range (32768 and up), where the kernel's own choice for
/// port 0 and for every outgoing connection (a Cassandra driver's, another test's) lies: a port
/// from that range could be handed to one of those between this call and the server's bind.
/// Ports are handed out in turn from a start that differs between test processes, each checked
/// free when handed out, so two tests of one process never get the same port either.
pub fn free_port() -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let offset = std::process::id().wrapping_mul(7_919);
    for _ in 0..COUNT {
        let candidate = FIRST + offset.wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed)) % COUNT;
        let Ok(port) = u16::try_from(candidate) else { continue };
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port from {FIRST} to {}", FIRST + COUNT - 1)
}

/// Waits (up to 30 s) until something accepts connections on loopback `port`; `what` names it
/// in the failure.
pub fn wait_for_port(port: u16, what: &str) {
    crate::wait_until(Duration::from_secs(30), &format!("{what} to open port {port}"), || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_handed_out_are_distinct_free_and_below_the_ephemeral_range() {
        let ports: Vec<u16> = (0..50).map(|_| free_port()).collect();
        let mut distinct = ports.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), ports.len(), "{ports:?}");
        assert!(ports.iter().all(|p| (20_000..32_000).contains(p)), "{ports:?}");
        let port = free_port();
        let _listener = TcpListener::bind(("127.0.0.1", port)).expect("the port is free");
        wait_for_port(port, "the listener");
    }
}
