//! What every Heliograph test suite needs, written once: loopback ports for servers the test
//! starts ([`ports`]), waiting for a condition with a deadline instead of sleeping for a guessed
//! time ([`wait`]), reading `Set-Cookie` ([`cookies`]), filling the panel's login forms
//! ([`forms`]) and a synthetic sun for readings that
//! look like a plant's day ([`sun`]). A dev-dependency only; no product code uses it.

pub mod cookies;
pub mod forms;
pub mod ports;
pub mod sun;
pub mod wait;

pub use ports::{free_port, wait_for_port};
pub use wait::{try_wait_until, try_wait_until_async, wait_until, wait_until_async};
