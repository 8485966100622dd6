//! What each command does; `main` only dispatches here.

pub mod admin;
pub mod mail;
pub mod monitor;
pub mod probes;
pub mod serve;
pub mod spool;
