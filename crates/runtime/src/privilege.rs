//! Dropping root: after sockets are bound and keys read, become the daemon's user for good.

use std::ffi::CString;

use nix::unistd::{Gid, Uid, User, getuid, initgroups, setgid, setgroups, setuid};

/// Why the process could not switch to its unprivileged user.
#[derive(Debug, thiserror::Error)]
pub enum PrivilegeError {
    #[error("{0}")]
    Lookup(String),
    #[error("cannot {step}: {source}")]
    Call { step: String, source: nix::Error },
    #[error("still able to regain root after switching to {user:?}")]
    NotDropped { user: String },
}

/// Switches to `user` and its groups (`group` replaces the user's primary group) with
/// `initgroups`, `setgid` and `setuid`, then checks that `setuid(0)` fails.
///
/// Call it before starting the tokio runtime or any other thread, after binding sockets and
/// reading root-only files. When not running as root it changes nothing and logs why; an
/// unknown user or group is an error either way, so a typo shows up in unprivileged tests too.
pub fn drop_privileges(user: &str, group: Option<&str>) -> Result<(), PrivilegeError> {
    let account = match User::from_name(user) {
        Ok(Some(account)) => account,
        Ok(None) => return Err(PrivilegeError::Lookup(format!("unknown user {user:?}"))),
        Err(e) => {
            return Err(PrivilegeError::Lookup(format!(
                "cannot look up user {user:?}: {e}"
            )));
        }
    };
    let gid = match group {
        Some(group) => crate::config::lookup_group(group).map_err(PrivilegeError::Lookup)?,
        None => account.gid,
    };
    if !getuid().is_root() {
        tracing::info!(
            user,
            uid = getuid().as_raw(),
            "not running as root, keeping the current user"
        );
        return Ok(());
    }
    let call = |step: &str| {
        let step = step.to_string();
        move |source| PrivilegeError::Call { step, source }
    };
    set_groups(user, gid).map_err(call("set supplementary groups"))?;
    setgid(gid).map_err(call("setgid"))?;
    setuid(account.uid).map_err(call("setuid"))?;
    if account.uid != Uid::from_raw(0) && setuid(Uid::from_raw(0)).is_ok() {
        return Err(PrivilegeError::NotDropped {
            user: user.to_string(),
        });
    }
    tracing::info!(
        user,
        uid = account.uid.as_raw(),
        gid = gid.as_raw(),
        "dropped privileges"
    );
    Ok(())
}

/// The user's supplementary groups from /etc/group plus `gid`; only `gid` when the name
/// cannot be a C string.
fn set_groups(user: &str, gid: Gid) -> nix::Result<()> {
    match CString::new(user) {
        Ok(name) => initgroups(&name, gid),
        Err(_) => setgroups(&[gid]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_user_is_an_error() {
        let e = drop_privileges("no-such-user-postern", None).unwrap_err();
        assert_eq!(e.to_string(), "unknown user \"no-such-user-postern\"");
    }

    #[test]
    fn unknown_group_is_an_error() {
        let e = drop_privileges("root", Some("no-such-group-postern")).unwrap_err();
        assert_eq!(e.to_string(), "unknown group \"no-such-group-postern\"");
    }
}
