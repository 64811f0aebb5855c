//! [`UserDb`]: a passwd-file plus lookup rules; authentication, recipient resolution, and
//! safe edits.

use std::io;
use std::path::{Path, PathBuf};

use crate::address::Address;
use crate::passwd_file::EntryError;
use crate::{Entry, ParseErrors, PasswdFile, PasswordHash, SchemeError, UserDbOptions, atomic};

/// Verified in place of a missing user or password, so that "no such user" takes as long
/// as "wrong password". Its password is unknown.
const DUMMY_HASH: &str = "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$E0Wtkqzu9u6MePIkBxgt0A$NohLxdHuOIra7PI528M9TkrGdB2pwb9FGHCm69TtHrM";

/// The file could not be read or parsed.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Reading failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Lines are malformed.
    #[error("{}: {errors}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// Every bad line.
        errors: ParseErrors,
    },
}

/// An edit was not made; the file is unchanged.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EditError {
    /// The change itself is invalid (user exists, user missing, bad field).
    #[error(transparent)]
    Entry(#[from] EntryError),
    /// Re-reading the file under the lock failed.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// Locking or writing failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

/// A user found by a lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User<'a> {
    /// The passwd-file entry.
    pub entry: &'a Entry,
    /// The canonical name, `user@domain` (just the local part if no domain is known):
    /// what to report as the authenticated user or the mailbox owner.
    pub name: String,
    /// The entry's home, or the expanded home template.
    pub home: Option<String>,
    /// The address extension (`lists` in `alice+lists@example.org`), for delivery.
    pub detail: Option<String>,
    /// Found through the domain's catch-all.
    pub catch_all: bool,
}

/// A successful password check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated<'a> {
    /// Who.
    pub user: User<'a>,
    /// The stored hash uses a weak scheme (`{PLAIN}`): worth a log line and a rehash.
    pub weak_scheme: bool,
}

/// Why authentication failed. Tell the client only "authentication failed".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthFailure {
    /// No such user (or the name cannot be a user).
    #[error("unknown user")]
    UnknownUser,
    /// The entry has an empty password field.
    #[error("user has no password")]
    NoPassword,
    /// The password did not match.
    #[error("password mismatch")]
    Mismatch,
    /// The password matched, but the entry has the `nologin` extra field.
    #[error("login disabled")]
    Disabled,
    /// The stored hash is unusable: a configuration problem, worth an error log.
    #[error("unusable password hash: {0}")]
    Hash(SchemeError),
}

/// A passwd-file with its lookup rules.
#[derive(Debug, Clone)]
pub struct UserDb {
    path: PathBuf,
    options: UserDbOptions,
    file: PasswdFile,
}

impl UserDb {
    /// Loads `path`.
    pub fn open(path: impl Into<PathBuf>, options: UserDbOptions) -> Result<Self, LoadError> {
        let path = path.into();
        let file = read(&path)?;
        Ok(Self {
            path,
            options,
            file,
        })
    }

    /// Reads the file again; on error the loaded contents stay.
    pub fn reload(&mut self) -> Result<(), LoadError> {
        self.file = read(&self.path)?;
        Ok(())
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The lookup rules.
    pub fn options(&self) -> &UserDbOptions {
        &self.options
    }

    /// The loaded file.
    pub fn file(&self) -> &PasswdFile {
        &self.file
    }

    /// The user a login name refers to (no address extensions, no catch-all).
    pub fn lookup(&self, login: &str) -> Option<User<'_>> {
        let address = self.options.address(login)?;
        self.find(&address, None)
    }

    /// The user that receives mail for `address`: the exact address, else the address
    /// without its extension (`user+detail`), else the domain's catch-all.
    pub fn resolve_recipient(&self, address: &str) -> Option<User<'_>> {
        let address = self.options.address(address)?;
        if let Some(user) = self.find(&address, None) {
            return Some(user);
        }
        if let Some((base, detail)) = self.options.split_detail(&address.local) {
            let base = Address {
                local: base.to_owned(),
                domain: address.domain.clone(),
            };
            if let Some(user) = self.find(&base, Some(detail.to_owned())) {
                return Some(user);
            }
        }
        let domain = address.domain.as_deref()?;
        let target = self.options.catch_all.get(domain)?;
        let entry = self.file.get(target)?;
        let canonical = self.canonical(entry, &address);
        Some(User {
            entry,
            name: canonical.full(),
            home: self.home(entry, &canonical),
            detail: None,
            catch_all: true,
        })
    }

    /// Checks `password` for `login`. Takes about as long for unknown users as for known
    /// ones (a dummy hash is verified).
    pub fn authenticate(
        &self,
        login: &str,
        password: &[u8],
    ) -> Result<Authenticated<'_>, AuthFailure> {
        let Some(user) = self.lookup(login) else {
            burn_time(password);
            return Err(AuthFailure::UnknownUser);
        };
        let hash = match user.entry.password() {
            Ok(Some(hash)) => hash,
            Ok(None) => {
                burn_time(password);
                return Err(AuthFailure::NoPassword);
            }
            Err(error) => return Err(AuthFailure::Hash(error)),
        };
        // crypt(3) stops at NUL; refusing such passwords avoids "secret\0junk" matching.
        let matched = hash.verify(password).map_err(AuthFailure::Hash)? && !password.contains(&0);
        if !matched {
            return Err(AuthFailure::Mismatch);
        }
        if user.entry.extra("nologin").is_some() {
            return Err(AuthFailure::Disabled);
        }
        Ok(Authenticated {
            weak_scheme: hash.is_weak(),
            user,
        })
    }

    /// Adds a user (the file is re-read under the lock, changed, and replaced).
    pub fn add(&mut self, entry: Entry) -> Result<(), EditError> {
        self.edit(|file| file.insert(entry))
    }

    /// Removes a user (by passwd-file key); returns the removed entry.
    pub fn delete(&mut self, username: &str) -> Result<Entry, EditError> {
        self.edit(|file| {
            file.remove(username)
                .ok_or_else(|| EntryError::NotFound(username.to_owned()))
        })
    }

    /// Replaces a user's password (by passwd-file key).
    pub fn set_password(&mut self, username: &str, hash: &PasswordHash) -> Result<(), EditError> {
        self.edit(|file| {
            let mut entry = file
                .get(username)
                .cloned()
                .ok_or_else(|| EntryError::NotFound(username.to_owned()))?;
            entry.set_password(hash);
            file.replace(entry).map(drop)
        })
    }

    /// Lock, re-read, change, write atomically, then adopt the new contents.
    fn edit<T>(
        &mut self,
        change: impl FnOnce(&mut PasswdFile) -> Result<T, EntryError>,
    ) -> Result<T, EditError> {
        let io_error = |source| EditError::Io {
            path: self.path.clone(),
            source,
        };
        let _lock = atomic::lock(&self.path).map_err(io_error)?;
        let mut file = match read(&self.path) {
            Ok(file) => file,
            Err(LoadError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                PasswdFile::default()
            }
            Err(error) => return Err(error.into()),
        };
        let value = change(&mut file)?;
        atomic::replace(&self.path, &file.to_bytes()).map_err(io_error)?;
        self.file = file;
        Ok(value)
    }

    fn find(&self, address: &Address, detail: Option<String>) -> Option<User<'_>> {
        let entry = self.file.get(&self.options.key(address))?;
        let canonical = self.canonical(entry, address);
        Some(User {
            entry,
            name: canonical.full(),
            home: self.home(entry, &canonical),
            detail,
            catch_all: false,
        })
    }

    /// The entry's own address: its key when keys are full addresses, else its local part
    /// in the looked-up domain.
    fn canonical(&self, entry: &Entry, looked_up: &Address) -> Address {
        match self.options.username_format {
            crate::UsernameFormat::Full => match entry.username.rsplit_once('@') {
                Some((local, domain)) => Address {
                    local: local.to_owned(),
                    domain: Some(domain.to_owned()),
                },
                None => Address {
                    local: entry.username.clone(),
                    domain: None,
                },
            },
            crate::UsernameFormat::LocalPart => Address {
                local: entry.username.clone(),
                domain: looked_up.domain.clone(),
            },
        }
    }

    fn home(&self, entry: &Entry, canonical: &Address) -> Option<String> {
        if entry.home.is_empty() {
            self.options.home(canonical)
        } else {
            Some(entry.home.clone())
        }
    }
}

fn read(path: &Path) -> Result<PasswdFile, LoadError> {
    let bytes = std::fs::read(path).map_err(|source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    PasswdFile::parse(&bytes).map_err(|errors| LoadError::Parse {
        path: path.to_path_buf(),
        errors,
    })
}

fn burn_time(password: &[u8]) {
    if let Ok(hash) = PasswordHash::parse(DUMMY_HASH) {
        let _ = hash.verify(password);
    }
}
