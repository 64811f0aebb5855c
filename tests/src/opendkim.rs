//! A private OpenDKIM signing milter, the peer postern-dkim replaces (used by the benchmark
//! and as a reference signer).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running `opendkim -f`; killed on drop.
#[derive(Debug)]
pub struct OpenDkim {
    child: Child,
    socket: PathBuf,
}

impl OpenDkim {
    /// Starts OpenDKIM signing mail from `internal_hosts` for `domain` with `key_file`, with
    /// its socket in `dir` (which must be writable by user opendkim).
    pub fn start_signer(
        dir: &Path,
        domain: &str,
        selector: &str,
        key_file: &Path,
        canonicalization: &str,
    ) -> OpenDkim {
        crate::workdir::chown_to(dir, "opendkim");
        let socket = dir.join("opendkim.sock");
        let conf = dir.join("opendkim.conf");
        fs::write(
            &conf,
            format!(
                "Socket local:{}\nUMask 000\nMode s\nDomain {domain}\nSelector {selector}\n\
                 KeyFile {}\nCanonicalization {canonicalization}\nRequireSafeKeys false\n\
                 UserID opendkim\nBackground no\nSyslog no\nInternalHosts 127.0.0.1\n",
                socket.display(),
                key_file.display()
            ),
        )
        .unwrap();
        let child = Command::new("opendkim")
            .arg("-f")
            .arg("-x")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("run opendkim (tests/run installs it)");
        let opendkim = OpenDkim { child, socket };
        assert!(
            crate::wait_until(Duration::from_secs(10), || opendkim.socket.exists()),
            "opendkim did not create its socket"
        );
        opendkim
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for OpenDkim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
