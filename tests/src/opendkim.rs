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
    /// Starts OpenDKIM signing mail from 127.0.0.1 for `domain` with `key_file`, with its
    /// socket in `dir` (which is handed to user opendkim).
    pub fn start_signer(
        dir: &Path,
        domain: &str,
        selector: &str,
        key_file: &Path,
        canonicalization: &str,
    ) -> OpenDkim {
        Self::start(
            dir,
            &format!(
                "Mode s\nDomain {domain}\nSelector {selector}\nKeyFile {}\n\
                 Canonicalization {canonicalization}\nInternalHosts 127.0.0.1\n",
                key_file.display()
            ),
        )
    }

    /// Starts OpenDKIM as a verifier that reads public keys from `keys_file` ("name value"
    /// lines) instead of DNS and reports in an Authentication-Results header.
    pub fn start_verifier(dir: &Path, keys_file: &Path) -> OpenDkim {
        Self::start(
            dir,
            &format!(
                "Mode v\nTestPublicKeys {}\nAlwaysAddARHeader yes\nAuthservID verifier.postern.test\n\
                 InternalHosts -\n",
                keys_file.display()
            ),
        )
    }

    fn start(dir: &Path, mode_settings: &str) -> OpenDkim {
        crate::workdir::chown_to(dir, "opendkim");
        let socket = dir.join("opendkim.sock");
        let _ = fs::remove_file(&socket);
        let conf = dir.join("opendkim.conf");
        fs::write(
            &conf,
            format!(
                "Socket local:{}\nUMask 000\nRequireSafeKeys false\nUserID opendkim\n\
                 Background no\nSyslog no\n{mode_settings}",
                socket.display()
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
            .expect("run opendkim (tests/install-peers installs it)");
        let opendkim = OpenDkim { child, socket };
        assert!(
            crate::wait_until(Duration::from_secs(10), || {
                std::os::unix::net::UnixStream::connect(&opendkim.socket).is_ok()
            }),
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
