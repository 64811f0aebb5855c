//! systemd readiness notification (`Type=notify` / `Type=notify-reload`). Without
//! `NOTIFY_SOCKET` every call does nothing; failures are logged, never fatal.

use sd_notify::NotifyState;

/// The daemon accepts connections.
pub fn ready() {
    send(&[NotifyState::Ready]);
}

/// A reload started; call [`ready`] when it finished (successfully or not). systemd ≥ 253
/// requires the monotonic timestamp for `Type=notify-reload`.
pub fn reloading() {
    if !enabled() {
        return;
    }
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[NotifyState::Reloading, now]),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read CLOCK_MONOTONIC for systemd");
            send(&[NotifyState::Reloading]);
        }
    }
}

/// Shutdown started.
pub fn stopping() {
    send(&[NotifyState::Stopping]);
}

/// Free-form status line shown by `systemctl status`.
pub fn status(text: &str) {
    send(&[NotifyState::Status(text)]);
}

fn enabled() -> bool {
    std::env::var_os("NOTIFY_SOCKET").is_some()
}

fn send(states: &[NotifyState<'_>]) {
    if !enabled() {
        return;
    }
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!(error = %e, "cannot notify systemd");
    }
}
