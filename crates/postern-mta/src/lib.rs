//! postern-mta's engine, as a library so its parts can be tested over real sockets: policy
//! (relay, senders, aliases), the SMTP session driver, the milter chain, the queue manager and
//! LMTP delivery. The binary (`main.rs`) is the wiring: command line, sockets, privileges.

// Parts are wired into the daemon step by step; until then some are only used by tests.
#![allow(dead_code)]

pub mod aliases;
pub mod config;
pub mod delivery;
pub mod milter;
pub mod policy;
pub mod received;
pub mod recipients;
pub mod sasl;
pub mod scheduler;
pub mod sender_login;
pub mod server;
pub mod session;
pub mod spool;
