//! Finds (building when needed) the workspace's daemon binaries for the tests.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Once;

static BUILD: Once = Once::new();

/// Path to a workspace binary, built once per test process with the same profile as the tests
/// (`POSTERN_PROFILE=release` builds and uses release binaries).
pub fn path(name: &str) -> PathBuf {
    let release = std::env::var("POSTERN_PROFILE").as_deref() == Ok("release");
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    BUILD.call_once(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
        let mut build = Command::new(cargo);
        build.current_dir(&workspace).args([
            "build",
            "--bins",
            "-p",
            "postern-dkim",
            "-p",
            "postern-mda",
            "-p",
            "postern-mta",
        ]);
        if release {
            build.arg("--release");
        }
        let status = build.status().expect("run cargo build");
        assert!(status.success(), "cargo build of the daemons failed");
    });
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target"));
    target
        .join(if release { "release" } else { "debug" })
        .join(name)
}
