//! Loading TOML files: the exact messages a daemon prints for a bad file.

use std::collections::BTreeMap;
use std::io::Write;

use serde::Deserialize;

use super::*;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Raw {
    daemon: RawDaemon,
    #[serde(default)]
    keys: BTreeMap<String, RawKey>,
    #[serde(default)]
    signing_table: Vec<RawEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct RawDaemon {
    listen: Vec<String>,
    max_connections: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct RawKey {
    selector: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct RawEntry {
    from: String,
}

fn write_config(text: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(text.as_bytes()).unwrap();
    file
}

fn load_error(text: &str) -> (String, String) {
    let file = write_config(text);
    let errors = load::<Raw>(file.path()).unwrap_err();
    let shown = errors.to_string();
    let prefix = format!("{}: ", file.path().display());
    assert!(shown.starts_with(&prefix), "{shown}");
    assert_eq!(errors.errors().len(), 1);
    assert_eq!(errors.file(), file.path());
    (
        errors.errors()[0].key.clone(),
        shown[prefix.len()..].to_string(),
    )
}

#[test]
fn loads_a_good_file() {
    let file = write_config(
        "[daemon]\nlisten = [\"unix:/run/x.sock\"]\n\n[keys.main]\nselector = \"s1\"\n",
    );
    let raw: Raw = load(file.path()).unwrap();
    assert_eq!(raw.daemon.listen, ["unix:/run/x.sock"]);
    assert_eq!(raw.keys["main"].selector, "s1");
}

#[test]
fn unknown_field_names_its_key_and_line() {
    let (key, shown) = load_error("[daemon]\nlisten = []\nlisten_backlog = 5\n");
    assert_eq!(key, "daemon.listen_backlog");
    assert_eq!(
        shown,
        "daemon.listen_backlog: unknown field `listen_backlog`, expected `listen` or `max_connections` (line 3, column 1)"
    );
}

#[test]
fn wrong_type_names_the_dotted_key() {
    let (key, shown) = load_error("[daemon]\nlisten = []\n\n[keys.main]\nselector = 5\n");
    assert_eq!(key, "keys.main.selector");
    assert_eq!(
        shown,
        "keys.main.selector: invalid type: integer `5`, expected a string (line 5, column 12)"
    );
}

#[test]
fn array_index_in_the_key() {
    let (key, shown) = load_error(
        "[daemon]\nlisten = []\n\n[[signing_table]]\nfrom = \"a\"\n\n[[signing_table]]\nfrom = true\n",
    );
    assert_eq!(key, "signing_table[1].from");
    assert_eq!(
        shown,
        "signing_table[1].from: invalid type: boolean `true`, expected a string (line 8, column 8)"
    );
}

#[test]
fn syntax_error_has_a_position() {
    let (key, shown) = load_error("[daemon]\nlisten = [\n");
    assert_eq!(key, "");
    assert!(shown.contains("(line 2, column"), "{shown}");
}

#[test]
fn missing_field() {
    let (key, shown) = load_error("[daemon]\nmax_connections = 5\n");
    assert_eq!(key, "daemon");
    assert!(
        shown.starts_with("daemon: missing field `listen`"),
        "{shown}"
    );
}

#[test]
fn unreadable_file_is_one_error_without_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent.toml");
    let errors = load::<Raw>(&path).unwrap_err();
    assert_eq!(
        errors.to_string(),
        format!("{}: No such file or directory (os error 2)", path.display())
    );
    assert_eq!(errors.errors()[0].key, "");
}

#[test]
fn display_is_one_line_per_error() {
    let mut errors = ConfigErrors::new(std::path::Path::new("/etc/postern/dkim.toml"));
    assert!(errors.is_empty());
    errors.push(
        "keys.main.file",
        "cannot read /x/y.key: No such file or directory",
    );
    errors.push("", "no signing key configured");
    assert!(!errors.is_empty());
    assert_eq!(
        errors.to_string(),
        "/etc/postern/dkim.toml: keys.main.file: cannot read /x/y.key: No such file or directory\n\
         /etc/postern/dkim.toml: no signing key configured"
    );
    assert!(errors.into_result(()).is_err());
    assert_eq!(
        ConfigErrors::new(std::path::Path::new("/x")).into_result(7),
        Ok(7)
    );
}
