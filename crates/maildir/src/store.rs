//! A user's mail store: where each IMAP folder lives on disk in the Maildir++ and `LAYOUT=fs`
//! layouts, and creating folders with the right modes and owner.
//!
//! Both layouts keep INBOX at the root (`<root>/{cur,new,tmp}`); Dovecot's documentation says so
//! for `LAYOUT=fs` ("Without DIRNAME, INBOX will be stored at ~/Maildir/{new,cur,tmp}/") and
//! the interop test checks it against a running Dovecot.

use std::fs::{self, DirBuilder, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::error::MaildirError;
use crate::mutf7;

/// Folders created by [`MailStore::ensure_special_folders`], as Dovecot's example config names
/// its special-use mailboxes.
pub const SPECIAL_FOLDERS: [&str; 5] = ["Sent", "Drafts", "Junk", "Trash", "Archive"];

/// Longest file name on Linux filesystems; a Maildir++ folder is one directory name.
const NAME_MAX: usize = 255;

/// The marker file Maildir++ puts in every folder other than INBOX.
pub const MAILDIRFOLDER_MARKER: &str = "maildirfolder";

/// On-disk layout of folders below the root.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layout {
    /// Dovecot's default: `.Sent/`, `.Lists.rust/`, each with a `maildirfolder` marker.
    #[default]
    MaildirPlusPlus,
    /// `maildir:~/Maildir:LAYOUT=fs`: `Sent/`, `Lists/rust/`.
    Fs,
}

impl Layout {
    /// The hierarchy separator Dovecot shows to IMAP clients by default for this layout.
    pub fn default_separator(self) -> char {
        match self {
            Layout::MaildirPlusPlus => '.',
            Layout::Fs => '/',
        }
    }
}

/// Modes and owner for what the store creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permissions {
    /// Mode of message files (before umask). Default 0600.
    pub file_mode: u32,
    /// Mode of directories (before umask). Default 0700.
    pub dir_mode: u32,
    /// `(uid, gid)` to chown created files and directories to; applied only when running as
    /// root (a non-root process can only create files it owns anyway).
    pub owner: Option<(u32, u32)>,
}

impl Default for Permissions {
    fn default() -> Self {
        Permissions {
            file_mode: 0o600,
            dir_mode: 0o700,
            owner: None,
        }
    }
}

impl Permissions {
    /// chowns an open file or a path if an owner is configured and we are root.
    pub(crate) fn chown_path(&self, path: &Path) -> Result<(), MaildirError> {
        if let Some((uid, gid)) = self.effective_owner() {
            std::os::unix::fs::lchown(path, Some(uid), Some(gid))
                .map_err(|e| MaildirError::io("chown", path, e))?;
        }
        Ok(())
    }

    pub(crate) fn chown_file(&self, file: &fs::File, path: &Path) -> Result<(), MaildirError> {
        if let Some((uid, gid)) = self.effective_owner() {
            std::os::unix::fs::fchown(file, Some(uid), Some(gid))
                .map_err(|e| MaildirError::io("chown", path, e))?;
        }
        Ok(())
    }

    fn effective_owner(&self) -> Option<(u32, u32)> {
        self.owner.filter(|_| nix::unistd::geteuid().is_root())
    }
}

/// One user's mail store: a root directory and its layout.
#[derive(Debug, Clone)]
pub struct MailStore {
    root: PathBuf,
    layout: Layout,
    separator: char,
    perms: Permissions,
}

/// One folder (mailbox) of a store, resolved to its directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folder {
    name: String,
    path: PathBuf,
    marker: bool,
    perms: Permissions,
}

impl MailStore {
    /// A store rooted at `root` (e.g. `~/Maildir`) with default permissions and the layout's
    /// default separator.
    pub fn new(root: impl Into<PathBuf>, layout: Layout) -> MailStore {
        MailStore {
            root: root.into(),
            layout,
            separator: layout.default_separator(),
            perms: Permissions::default(),
        }
    }

    /// Uses `sep` as the hierarchy separator in names given to [`folder`](Self::folder) (match
    /// Dovecot's namespace `separator` setting).
    pub fn with_separator(mut self, sep: char) -> MailStore {
        self.separator = sep;
        self
    }

    /// Sets modes and owner for everything created.
    pub fn with_permissions(mut self, perms: Permissions) -> MailStore {
        self.perms = perms;
        self
    }

    /// The root directory (INBOX).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The layout.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// The hierarchy separator used in folder names.
    pub fn separator(&self) -> char {
        self.separator
    }

    /// INBOX, at the root in both layouts.
    pub fn inbox(&self) -> Folder {
        Folder {
            name: "INBOX".into(),
            path: self.root.clone(),
            marker: false,
            perms: self.perms,
        }
    }

    /// Resolves an IMAP folder name (UTF-8, hierarchy by [`separator`](Self::separator)) to its
    /// directory. Does not touch the disk. `INBOX` is matched case-insensitively.
    pub fn folder(&self, name: &str) -> Result<Folder, MaildirError> {
        if name.eq_ignore_ascii_case("INBOX") {
            return Ok(self.inbox());
        }
        let invalid = |reason| MaildirError::InvalidName {
            name: name.to_owned(),
            reason,
        };
        if name.is_empty() {
            return Err(invalid("empty name"));
        }
        if name.chars().any(char::is_control) {
            return Err(invalid("control characters are not allowed"));
        }
        let mut encoded = Vec::new();
        for part in name.split(self.separator) {
            if part.is_empty() {
                return Err(invalid("empty hierarchy level"));
            }
            if part.contains('/') {
                return Err(invalid("'/' is not allowed in a level"));
            }
            match self.layout {
                Layout::MaildirPlusPlus if part.contains('.') => {
                    return Err(invalid("'.' is the Maildir++ separator on disk"));
                }
                Layout::Fs if part == "." || part == ".." => {
                    return Err(invalid("'.' and '..' are not folder names"));
                }
                Layout::Fs if part.starts_with('.') => {
                    return Err(invalid("levels starting with '.' are hidden in LAYOUT=fs"));
                }
                Layout::Fs if matches!(part, "cur" | "new" | "tmp") => {
                    return Err(invalid("collides with a Maildir subdirectory"));
                }
                _ => {}
            }
            let enc = mutf7::encode(part);
            if enc.len() > NAME_MAX {
                return Err(invalid("level longer than a file name can be"));
            }
            encoded.push(enc);
        }
        let path = match self.layout {
            Layout::MaildirPlusPlus => {
                let dir = format!(".{}", encoded.join("."));
                if dir.len() > NAME_MAX {
                    return Err(invalid(
                        "name longer than a Maildir++ directory name can be",
                    ));
                }
                self.root.join(dir)
            }
            Layout::Fs => encoded.iter().fold(self.root.clone(), |p, e| p.join(e)),
        };
        Ok(Folder {
            name: name.to_owned(),
            path,
            marker: self.layout == Layout::MaildirPlusPlus,
            perms: self.perms,
        })
    }

    /// Creates the folder's directories if missing (see [`Folder::ensure`]).
    pub fn ensure(&self, folder: &Folder) -> Result<(), MaildirError> {
        folder.ensure()
    }

    /// Creates INBOX and the [`SPECIAL_FOLDERS`]; returns them, INBOX first.
    pub fn ensure_special_folders(&self) -> Result<Vec<Folder>, MaildirError> {
        let mut out = vec![self.inbox()];
        for name in SPECIAL_FOLDERS {
            out.push(self.folder(name)?);
        }
        for folder in &out {
            folder.ensure()?;
        }
        Ok(out)
    }

    /// Whether the named folder exists as a Maildir (has `cur/`).
    pub fn folder_exists(&self, name: &str) -> Result<bool, MaildirError> {
        Ok(self.folder(name)?.exists())
    }

    /// Every folder present on disk, INBOX first. Names are decoded from modified UTF-7 (a
    /// level that does not decode is kept as stored).
    pub fn folders(&self) -> Result<Vec<Folder>, MaildirError> {
        let mut out = Vec::new();
        let inbox = self.inbox();
        if inbox.exists() {
            out.push(inbox);
        }
        match self.layout {
            Layout::MaildirPlusPlus => {
                for (file_name, path) in subdirs(&self.root)? {
                    let Some(stored) = file_name.strip_prefix('.') else {
                        continue;
                    };
                    if stored.is_empty() || stored == "." || !path.join("cur").is_dir() {
                        continue;
                    }
                    let sep = self.separator.to_string();
                    let name = stored
                        .split('.')
                        .map(decode_level)
                        .collect::<Vec<_>>()
                        .join(&sep);
                    out.push(Folder {
                        name,
                        path,
                        marker: true,
                        perms: self.perms,
                    });
                }
            }
            Layout::Fs => self.walk_fs(&self.root, "", &mut out)?,
        }
        Ok(out)
    }

    fn walk_fs(&self, dir: &Path, prefix: &str, out: &mut Vec<Folder>) -> Result<(), MaildirError> {
        for (file_name, path) in subdirs(dir)? {
            if file_name.starts_with('.') || matches!(file_name.as_str(), "cur" | "new" | "tmp") {
                continue;
            }
            let name = format!("{prefix}{}", decode_level(&file_name));
            if path.join("cur").is_dir() {
                out.push(Folder {
                    name: name.clone(),
                    path: path.clone(),
                    marker: false,
                    perms: self.perms,
                });
            }
            self.walk_fs(&path, &format!("{name}{}", self.separator), out)?;
        }
        Ok(())
    }
}

fn decode_level(stored: &str) -> String {
    mutf7::decode(stored).unwrap_or_else(|_| stored.to_owned())
}

/// Subdirectories of `dir` (following no symlinks), sorted by name; empty if `dir` is missing.
fn subdirs(dir: &Path) -> Result<Vec<(String, PathBuf)>, MaildirError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(MaildirError::io("read directory", dir, e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| MaildirError::io("read directory", dir, e))?;
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if let (true, Ok(name)) = (is_dir, entry.file_name().into_string()) {
            out.push((name, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

impl Folder {
    /// The IMAP name (UTF-8).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The folder's directory (holding `cur/ new/ tmp/`).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `tmp/`, where deliveries are written.
    pub fn tmp_dir(&self) -> PathBuf {
        self.path.join("tmp")
    }

    /// `new/`, where deliveries appear.
    pub fn new_dir(&self) -> PathBuf {
        self.path.join("new")
    }

    /// `cur/`, where messages go once a client has seen them.
    pub fn cur_dir(&self) -> PathBuf {
        self.path.join("cur")
    }

    /// Modes and owner for files created in this folder.
    pub fn permissions(&self) -> &Permissions {
        &self.perms
    }

    /// Whether the folder exists as a Maildir (its `cur/` is a directory).
    pub fn exists(&self) -> bool {
        self.cur_dir().is_dir()
    }

    /// Creates missing directories down to the folder, then `tmp/ new/`, the Maildir++ marker,
    /// and `cur/` last (so a folder with `cur/` is complete). Each creation is fsynced in its
    /// parent, because a 250 for a message in a folder that vanishes in a crash is a lost mail.
    pub fn ensure(&self) -> Result<(), MaildirError> {
        let mut missing = Vec::new();
        for dir in self.path.ancestors() {
            if dir.as_os_str().is_empty() || dir.is_dir() {
                break;
            }
            missing.push(dir.to_path_buf());
        }
        for dir in missing.iter().rev() {
            self.make_dir(dir)?;
        }
        if self.exists() {
            return Ok(());
        }
        self.make_dir(&self.tmp_dir())?;
        self.make_dir(&self.new_dir())?;
        if self.marker {
            self.make_marker()?;
        }
        self.make_dir(&self.cur_dir())?;
        sync_dir(&self.path)
    }

    fn make_dir(&self, dir: &Path) -> Result<(), MaildirError> {
        match DirBuilder::new().mode(self.perms.dir_mode).create(dir) {
            Ok(()) => {
                self.perms.chown_path(dir)?;
                if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                    sync_dir(parent)?;
                }
                Ok(())
            }
            // Another delivery created it at the same time.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
            Err(e) => Err(MaildirError::io("create directory", dir, e)),
        }
    }

    fn make_marker(&self) -> Result<(), MaildirError> {
        let path = self.path.join(MAILDIRFOLDER_MARKER);
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(self.perms.file_mode)
            .open(&path)
        {
            Ok(file) => self.perms.chown_file(&file, &path),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(MaildirError::io("create", &path, e)),
        }
    }
}

/// fsyncs a directory so that entries created or renamed in it survive a crash.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), MaildirError> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| MaildirError::io("fsync directory", dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(store: &MailStore) -> Vec<String> {
        store
            .folders()
            .unwrap_or_default()
            .iter()
            .map(|f| f.name().to_owned())
            .collect()
    }

    #[test]
    fn maildirplusplus_paths() -> Result<(), MaildirError> {
        let store = MailStore::new("/m", Layout::MaildirPlusPlus);
        assert_eq!(store.folder("INBOX")?.path(), Path::new("/m"));
        assert_eq!(store.folder("inbox")?.path(), Path::new("/m"));
        assert_eq!(store.folder("Sent")?.path(), Path::new("/m/.Sent"));
        assert_eq!(
            store.folder("Lists.rust")?.path(),
            Path::new("/m/.Lists.rust")
        );
        assert_eq!(store.folder("Café")?.path(), Path::new("/m/.Caf&AOk-"));
        let slash = MailStore::new("/m", Layout::MaildirPlusPlus).with_separator('/');
        assert_eq!(
            slash.folder("Lists/rust")?.path(),
            Path::new("/m/.Lists.rust")
        );
        assert!(slash.folder("a.b").is_err());
        assert!(store.folder("a..b").is_err());
        assert!(store.folder("a/b").is_err());
        assert!(store.folder("").is_err());
        assert!(store.folder("x\ny").is_err());
        assert!(
            store.folder(&["a"; 128].join(".")).is_err(),
            "too long as one directory"
        );
        assert!(
            MailStore::new("/m", Layout::Fs)
                .folder(&["a"; 128].join("/"))
                .is_ok()
        );
        Ok(())
    }

    #[test]
    fn fs_layout_paths() -> Result<(), MaildirError> {
        let store = MailStore::new("/m", Layout::Fs);
        assert_eq!(store.folder("INBOX")?.path(), Path::new("/m"));
        assert_eq!(store.folder("Sent")?.path(), Path::new("/m/Sent"));
        assert_eq!(
            store.folder("Lists/rust")?.path(),
            Path::new("/m/Lists/rust")
        );
        assert_eq!(store.folder("a.b")?.path(), Path::new("/m/a.b"));
        assert_eq!(
            store.folder("台北/日本語")?.path(),
            Path::new("/m/&U,BTFw-/&ZeVnLIqe-")
        );
        for bad in ["..", "a/../b", "Lists/new", ".hidden", "a//b"] {
            assert!(store.folder(bad).is_err(), "{bad}");
        }
        Ok(())
    }

    #[test]
    fn ensure_creates_the_right_tree_in_both_layouts() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let pp = MailStore::new(dir.path().join("pp/Maildir"), Layout::MaildirPlusPlus);
        pp.ensure_special_folders()?;
        pp.ensure(&pp.folder("Lists.rust")?)?;
        for d in [
            "cur",
            "new",
            "tmp",
            ".Sent/cur",
            ".Trash/new",
            ".Lists.rust/tmp",
        ] {
            assert!(pp.root().join(d).is_dir(), "{d}");
        }
        assert!(pp.root().join(".Sent/maildirfolder").is_file());
        assert!(
            !pp.root().join("maildirfolder").exists(),
            "INBOX has no marker"
        );
        assert!(pp.folder_exists("Archive")? && !pp.folder_exists("Nope")?);
        assert_eq!(
            names(&pp),
            [
                "INBOX",
                "Archive",
                "Drafts",
                "Junk",
                "Lists.rust",
                "Sent",
                "Trash"
            ]
        );

        let fs_store = MailStore::new(dir.path().join("fs/Maildir"), Layout::Fs);
        fs_store.ensure_special_folders()?;
        fs_store.ensure(&fs_store.folder("Lists/rust")?)?;
        fs_store.ensure(&fs_store.folder("Entwürfe")?)?;
        for d in ["cur", "Sent/cur", "Lists/rust/new", "Entw&APw-rfe/tmp"] {
            assert!(fs_store.root().join(d).is_dir(), "{d}");
        }
        assert!(!fs_store.root().join("Lists/cur").exists());
        assert!(!fs_store.root().join("Sent/maildirfolder").exists());
        assert_eq!(
            names(&fs_store),
            [
                "INBOX",
                "Archive",
                "Drafts",
                "Entwürfe",
                "Junk",
                "Lists/rust",
                "Sent",
                "Trash"
            ]
        );
        // Idempotent.
        fs_store.ensure_special_folders()?;
        Ok(())
    }

    #[test]
    fn modes_are_applied() -> Result<(), Box<dyn std::error::Error>> {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir()?;
        let store = MailStore::new(dir.path().join("M"), Layout::MaildirPlusPlus).with_permissions(
            Permissions {
                file_mode: 0o640,
                dir_mode: 0o750,
                owner: None,
            },
        );
        store.ensure(&store.folder("Sent")?)?;
        let mode = |p: &Path| fs::metadata(p).map(|m| m.permissions().mode() & 0o777);
        assert_eq!(mode(&store.root().join(".Sent/cur"))?, 0o750);
        assert_eq!(mode(&store.root().join(".Sent/maildirfolder"))?, 0o640);
        Ok(())
    }
}
