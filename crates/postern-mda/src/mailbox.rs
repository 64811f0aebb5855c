//! Where a user's mail lives and how much of it may: the Maildir store under the user's home
//! with the owner it is written as, and the quota from the passwd-file's `userdb_quota_rule`
//! fields over the configured default, as Dovecot applies them; and the start-up sweep of
//! what crashed deliveries left in `tmp/`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use maildir::{MailStore, Permissions, QuotaLimit};
use users::{Owner, User, UserDb};

use crate::config::MailSettings;

/// The user's Maildir, or why there is none.
pub fn store_for(user: &User<'_>, mail: &MailSettings) -> Result<MailStore, String> {
    let home = user
        .home
        .as_deref()
        .filter(|h| !h.is_empty())
        .ok_or("user has no home and there is no users.home template")?;
    let mut root = PathBuf::from(home);
    if !mail.maildir.is_empty() {
        root.push(&mail.maildir);
    }
    Ok(
        MailStore::new(root, mail.layout).with_permissions(Permissions {
            owner: owner_for(user, mail)?,
            ..Permissions::default()
        }),
    )
}

/// The passwd-file's uid/gid when both are set (as Dovecot delivers), else the vmail owner.
/// Root is refused: a typo in the users file must not make root-owned mail (Dovecot's
/// `first_valid_uid` serves the same purpose).
fn owner_for(user: &User<'_>, mail: &MailSettings) -> Result<Option<(u32, u32)>, String> {
    let (Some(uid), Some(gid)) = (&user.entry.uid, &user.entry.gid) else {
        return Ok(mail.owner);
    };
    let uid = match uid {
        Owner::Id(id) => *id,
        Owner::Name(name) => runtime::config::lookup_user(name)?.0.as_raw(),
    };
    let gid = match gid {
        Owner::Id(id) => *id,
        Owner::Name(name) => runtime::config::lookup_group(name)?.as_raw(),
    };
    if uid == 0 {
        return Err("the passwd-file gives uid 0; mail is never delivered as root".into());
    }
    Ok(Some((uid, gid)))
}

/// Removes `tmp/` files older than `mail.tmp_max_age` from every folder of every user in the
/// passwd-file: what crashed deliveries left (the link into `new/` is the commit point, so a
/// `tmp/` file is never part of a delivered message). Returns the number of files removed.
/// Blocking.
pub fn sweep_tmp(users: &UserDb, mail: &MailSettings) -> usize {
    let mut removed = 0;
    for entry in users.file().entries() {
        let Some(user) = users.lookup(&entry.username) else {
            continue;
        };
        let Ok(store) = store_for(&user, mail) else {
            continue;
        };
        if !store.root().exists() {
            continue;
        }
        match store.clean_all_tmp(mail.tmp_max_age) {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(user = %user.name, removed = n, "removed stale tmp/ files");
                removed += n;
            }
            Err(e) => tracing::warn!(user = %user.name, error = %e, "cannot clean tmp/"),
        }
    }
    removed
}

/// Compiled Sieve filters by path, recompiled when the file's mtime or size changes.
#[derive(Debug, Default)]
pub struct SieveCache {
    scripts: Mutex<HashMap<PathBuf, CachedScript>>,
}

#[derive(Debug, Clone)]
struct CachedScript {
    stamp: (SystemTime, u64),
    script: Option<Arc<sieve::Script>>,
}

impl SieveCache {
    /// The user's filter (`mail.sieve` under the home), or `None` when there is none or it
    /// does not compile (logged once per version of the file; Dovecot also falls back to
    /// keeping the mail). Blocking.
    pub fn script_for(&self, user: &User<'_>, mail: &MailSettings) -> Option<Arc<sieve::Script>> {
        let name = mail.sieve.as_deref()?;
        let home = user.home.as_deref().filter(|h| !h.is_empty())?;
        let path = Path::new(home).join(name);
        let meta = std::fs::metadata(&path).ok()?;
        let stamp = (meta.modified().unwrap_or(UNIX_EPOCH), meta.len());
        if let Ok(scripts) = self.scripts.lock()
            && let Some(cached) = scripts.get(&path)
            && cached.stamp == stamp
        {
            return cached.script.clone();
        }
        let script = match std::fs::read_to_string(&path) {
            Ok(text) => match sieve::Script::compile(&text) {
                Ok(script) => Some(Arc::new(script)),
                Err(e) => {
                    tracing::warn!(user = %user.name, file = %path.display(), line = e.line, column = e.column, "sieve script does not compile, mail is kept in INBOX: {}", e.message);
                    None
                }
            },
            Err(e) => {
                tracing::warn!(user = %user.name, file = %path.display(), error = %e, "cannot read sieve script");
                None
            }
        };
        if let Ok(mut scripts) = self.scripts.lock() {
            scripts.insert(
                path,
                CachedScript {
                    stamp,
                    script: script.clone(),
                },
            );
        }
        script
    }
}

/// The user's limit: `userdb_quota_rule` replaces the configured default (like Dovecot's
/// userdb overriding `plugin { quota_rule }`), `userdb_quota_rule2`... add to it.
pub fn quota_for(user: &User<'_>, default: QuotaLimit) -> Result<QuotaLimit, String> {
    let mut rules: Vec<(u32, &str)> = user
        .entry
        .userdb_fields()
        .filter_map(|(key, value)| {
            let index = match key.strip_prefix("quota_rule")? {
                "" => 1,
                n => n.parse().ok()?,
            };
            Some((index, value.unwrap_or_default()))
        })
        .collect();
    rules.sort_by_key(|(index, _)| *index);
    let mut limit = match rules.first() {
        Some((1, _)) => QuotaLimit::default(),
        _ => default,
    };
    for (_, rule) in rules {
        limit = limit.with_dovecot_rule(rule, default)?;
    }
    Ok(limit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use users::{ExtraField, PasswordHash};

    fn entry(fields: &[(&str, &str)]) -> users::Entry {
        let mut entry = users::Entry::new("a@b.test", &PasswordHash::parse("{PLAIN}x").unwrap());
        entry.extra_fields = fields
            .iter()
            .map(|(k, v)| ExtraField {
                key: (*k).into(),
                value: Some((*v).into()),
            })
            .collect();
        entry
    }

    fn user(entry: &users::Entry) -> User<'_> {
        User {
            entry,
            name: entry.username.clone(),
            home: Some("/home/a".into()),
            detail: None,
            catch_all: false,
        }
    }

    const DEFAULT: QuotaLimit = QuotaLimit {
        bytes: Some(1 << 30),
        messages: None,
    };

    #[test]
    fn userdb_quota_rules_over_the_default() {
        let plain = entry(&[]);
        assert_eq!(quota_for(&user(&plain), DEFAULT), Ok(DEFAULT));
        let own = entry(&[("userdb_quota_rule", "*:messages=10")]);
        assert_eq!(
            quota_for(&user(&own), DEFAULT),
            Ok(QuotaLimit {
                bytes: None,
                messages: Some(10)
            })
        );
        let more = entry(&[
            ("userdb_quota_rule2", "*:messages=10"),
            ("userdb_quota_rule", "*:storage=+1G"),
        ]);
        assert_eq!(
            quota_for(&user(&more), DEFAULT),
            Ok(QuotaLimit {
                bytes: Some(2 << 30),
                messages: Some(10)
            })
        );
        let extra = entry(&[("userdb_quota_rule2", "*:messages=5")]);
        assert_eq!(
            quota_for(&user(&extra), DEFAULT),
            Ok(QuotaLimit {
                bytes: Some(1 << 30),
                messages: Some(5)
            })
        );
        let bad = entry(&[("userdb_quota_rule", "*:storage=lots")]);
        assert!(quota_for(&user(&bad), DEFAULT).is_err());
    }
}
