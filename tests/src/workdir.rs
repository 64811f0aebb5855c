//! Temporary directories that the peers' unprivileged users (postfix, opendkim) can traverse.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// A directory under the system temp dir, mode 0755, removed on drop unless `POSTERN_KEEP` is set.
#[derive(Debug)]
pub struct WorkDir {
    path: PathBuf,
}

impl WorkDir {
    pub fn new(label: &str) -> WorkDir {
        let base = std::env::temp_dir();
        let mut n = 0u32;
        loop {
            let path = base.join(format!("postern-{label}-{}-{n}", std::process::id()));
            match fs::create_dir(&path) {
                Ok(()) => {
                    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
                    return WorkDir { path };
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => n += 1,
                Err(e) => panic!("create {}: {e}", path.display()),
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A subdirectory with the given mode, created if missing.
    pub fn subdir(&self, name: &str, mode: u32) -> PathBuf {
        let path = self.path.join(name);
        fs::create_dir_all(&path).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        path
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if std::env::var_os("POSTERN_KEEP").is_none() {
            let _ = fs::remove_dir_all(&self.path);
        } else {
            eprintln!("kept {}", self.path.display());
        }
    }
}

/// Changes the owner of `path` to the named system user (the peers run as their own users).
pub fn chown_to(path: &Path, user: &str) {
    let status = std::process::Command::new("chown")
        .arg("-R")
        .arg(user)
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success(), "chown {user} {}", path.display());
}
