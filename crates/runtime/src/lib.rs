//! What every Postern daemon needs around its protocol code: configuration loading, logging,
//! listening sockets, privilege drop, signals and staged shutdown, reload, systemd notification,
//! and server-side TLS with certificate hot reload ([`tls`]).
//!
//! The intended start-up order of a daemon is: [`config::load`] and validate, [`logging::init`],
//! [`listen::systemd_listeners`] or [`listen::bind`], [`privilege::drop_privileges`], then start
//! the tokio runtime and inside it [`listen::Listener::from_bound`] and [`lifecycle::Lifecycle::new`].
//!
//! Unsafe code is denied except in `listen::systemd`: adopting the fds systemd passes and
//! removing the `LISTEN_*` variables from the environment have no safe std API.

pub mod accept;
pub mod config;
pub mod daemon;
pub mod lifecycle;
pub mod listen;
pub mod logging;
pub mod notify;
pub mod privilege;
pub mod reload;
pub mod tls;
