//! postern-mta's engine, as a library so its parts can be tested over real sockets: policy
//! (relay, senders, aliases), the SMTP session driver, the milter chain, the queue manager and
//! LMTP delivery. The binary (`main.rs`) is the wiring: command line, sockets, privileges.

pub mod aliases;
pub mod client_dns;
pub mod config;
pub mod control;
pub mod delivery;
pub mod filter;
pub mod milter;
pub mod policy;
pub mod queue_view;
pub mod received;
pub mod recipients;
pub mod sasl;
pub mod scheduler;
pub mod sender_login;
pub mod sendmail;
pub mod server;
pub mod session;
pub mod spool;
