//! Looking up users and groups named in configuration (socket owners, the user to run as).

use nix::unistd::{Gid, Group, Uid, User};

/// The uid and primary gid of user `name`.
pub fn lookup_user(name: &str) -> Result<(Uid, Gid), String> {
    match User::from_name(name) {
        Ok(Some(user)) => Ok((user.uid, user.gid)),
        Ok(None) => Err(format!("unknown user {name:?}")),
        Err(e) => Err(format!("cannot look up user {name:?}: {e}")),
    }
}

/// The gid of group `name`.
pub fn lookup_group(name: &str) -> Result<Gid, String> {
    match Group::from_name(name) {
        Ok(Some(group)) => Ok(group.gid),
        Ok(None) => Err(format!("unknown group {name:?}")),
        Err(e) => Err(format!("cannot look up group {name:?}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_exists_and_nonsense_does_not() {
        assert_eq!(
            lookup_user("root"),
            Ok((Uid::from_raw(0), Gid::from_raw(0)))
        );
        assert_eq!(lookup_group("root"), Ok(Gid::from_raw(0)));
        assert_eq!(
            lookup_user("no-such-user-postern"),
            Err("unknown user \"no-such-user-postern\"".into())
        );
        assert!(lookup_group("no-such-group-postern").is_err());
    }
}
