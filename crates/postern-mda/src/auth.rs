//! One auth-client connection (Postfix's `smtpd_sasl_type = dovecot`): drive the Dovecot auth
//! protocol session, check credentials against the passwd-file, and delay every failure; a
//! client address with too many failures is locked out for a while.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use dovecot_auth::{Admission, AuthSession, Event, SessionOptions};
use runtime::accept::SessionId;
use runtime::listen::Stream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};
use users::AuthFailure;

use crate::server::Shared;

/// `CUID`: unique per connection within this process.
static NEXT_CUID: AtomicU32 = AtomicU32::new(1);

/// Serves one connection until the client closes it, breaks the protocol, or shutdown.
pub async fn serve(
    mut stream: Stream,
    id: SessionId,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
) {
    let config = shared.state.load();
    let idle_timeout = config.config.daemon.idle_timeout;
    let mut options = SessionOptions::new(
        std::process::id(),
        NEXT_CUID.fetch_add(1, Ordering::Relaxed),
        cookie(),
    );
    options.plaintext_requires_secured = config.config.auth.require_secured;
    drop(config);
    let mut session = AuthSession::new(options);
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let output = session.output();
        if !output.is_empty()
            && let Err(e) = stream.write_all(&output).await
        {
            warn!(session = %id, error = %e, "closing: write failed");
            return;
        }
        let read = tokio::select! {
            read = tokio::time::timeout(idle_timeout, stream.read(&mut buffer)) => read,
            () = shutdown.cancelled() => return,
        };
        let n = match read {
            Err(_) | Ok(Ok(0)) => return,
            Ok(Err(e)) => {
                warn!(session = %id, error = %e, "closing: read failed");
                return;
            }
            Ok(Ok(n)) => n,
        };
        session.receive(buffer.get(..n).unwrap_or_default());
        loop {
            match session.next_event() {
                Ok(None) => break,
                Ok(Some(event)) => handle(event, id, &shared, &mut session).await,
                Err(e) => {
                    warn!(session = %id, error = %e, "closing: auth protocol error");
                    let _ = stream.write_all(&session.output()).await;
                    return;
                }
            }
        }
    }
}

async fn handle(event: Event, id: SessionId, shared: &Shared, session: &mut AuthSession) {
    let Event::Verify {
        id: request,
        mechanism,
        username,
        password,
        service,
        remote_ip,
        ..
    } = event
    else {
        if let Event::Refused {
            reason, remote_ip, ..
        } = event
        {
            info!(session = %id, rip = ?remote_ip, reason = reason.reason(), "auth refused");
        }
        return;
    };
    let delay = shared.state.load().config.auth.throttle.failure_delay;
    let now = Instant::now();
    let admission = match (remote_ip, shared.throttle.lock()) {
        (Some(ip), Ok(throttle)) => throttle.check(ip, now),
        _ => Admission::Allow,
    };
    if let Admission::Locked { retry_after } = admission {
        let ip = remote_ip.map(|ip| ip.to_string()).unwrap_or_default();
        info!(session = %id, user = %username, rip = %ip, retry_after = ?retry_after, result = "FAIL", "auth locked out");
        tokio::time::sleep(delay).await;
        let _ = session.fail(request, None);
        return;
    }
    let state = shared.state.load();
    let verdict = tokio::task::block_in_place(|| {
        state
            .users
            .authenticate(&username, password.expose())
            .map(|ok| (ok.user.name, ok.weak_scheme))
    });
    let rip = remote_ip.map(|ip| ip.to_string()).unwrap_or_default();
    match verdict {
        Ok((user, weak)) => {
            if let (Some(ip), Ok(mut throttle)) = (remote_ip, shared.throttle.lock()) {
                throttle.record_success(ip, now);
                drop(throttle);
            }
            if weak {
                warn!(session = %id, user = %user, "password stored with a weak scheme; rehash it");
            }
            info!(session = %id, user = %user, mech = mechanism.name(), service = %service, rip = %rip, result = "OK", "authenticated");
            let _ = session.ok(request, &user);
        }
        Err(failure) => {
            if let AuthFailure::Hash(e) = &failure {
                error!(session = %id, user = %username, error = %e, "unusable password hash");
            }
            let wait = record_failure(shared, remote_ip, now).unwrap_or(delay);
            info!(session = %id, user = %username, mech = mechanism.name(), service = %service, rip = %rip, reason = %failure, result = "FAIL", "authentication failed");
            tokio::time::sleep(wait).await;
            let _ = session.fail(request, None);
        }
    }
}

/// Counts a failure of `ip`; the delay to wait, `None` without an address.
fn record_failure(shared: &Shared, ip: Option<std::net::IpAddr>, now: Instant) -> Option<Duration> {
    let mut throttle = shared.throttle.lock().ok()?;
    throttle.prune(now);
    Some(throttle.record_failure(ip?, now))
}

/// `COOKIE`: 16 random bytes. Only a Dovecot master process would use it; it still comes
/// from the kernel's CSPRNG, and falls back to the time if that cannot be read.
fn cookie() -> [u8; 16] {
    let mut bytes = [0u8; 16];
    let read = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes));
    if read.is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        bytes = nanos.to_le_bytes();
    }
    bytes
}
