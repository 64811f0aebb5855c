//! A private stock Postfix instance: its own config, queue and log under a work directory,
//! listening on loopback high ports, relaying everything to one next hop.

use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// What the instance should look like.
#[derive(Debug, Clone)]
pub struct PostfixSettings {
    /// Port of the plain smtpd (no AUTH), the "outside" port.
    pub smtp_port: u16,
    /// Port of the submission-like smtpd (AUTH via a Dovecot-protocol socket), if any.
    pub submission: Option<(u16, PathBuf)>,
    /// Next hop for all mail, a loopback port.
    pub relay_port: u16,
    /// `smtpd_milters` value, e.g. `unix:/tmp/x/milter.sock`.
    pub smtpd_milters: String,
    /// `non_smtpd_milters` value.
    pub non_smtpd_milters: String,
    /// Networks Postfix itself lets relay without AUTH.
    pub mynetworks: String,
    /// Extra `main.cf` lines.
    pub extra_main: Vec<String>,
    /// Extra `-o name=value` overrides for the submission service.
    pub submission_options: Vec<String>,
}

/// A running private Postfix; stopped on drop.
#[derive(Debug)]
pub struct Postfix {
    dir: PathBuf,
}

impl Postfix {
    /// Writes `main.cf`/`master.cf` into `dir` and starts the instance (needs root).
    pub fn start(dir: &Path, settings: &PostfixSettings) -> Postfix {
        fs::create_dir_all(dir.join("queue")).unwrap();
        fs::create_dir_all(dir.join("data")).unwrap();
        crate::workdir::chown_to(&dir.join("data"), "postfix");
        let d = dir.display();
        let mut main = format!(
            "compatibility_level = 3.6\n\
             queue_directory = {d}/queue\n\
             data_directory = {d}/data\n\
             maillog_file = {d}/maillog\n\
             maillog_file_prefixes = {d}\n\
             myhostname = mx.postern.test\n\
             mydomain = postern.test\n\
             myorigin = postern.test\n\
             mydestination =\n\
             inet_interfaces = loopback-only\n\
             inet_protocols = ipv4\n\
             mynetworks = {mynetworks}\n\
             relay_domains = example.net\n\
             relayhost = [127.0.0.1]:{relay}\n\
             smtp_tls_security_level = none\n\
             smtpd_tls_security_level = none\n\
             disable_mime_output_conversion = yes\n\
             smtp_line_length_limit = 0\n\
             smtputf8_enable = no\n\
             message_size_limit = 104857600\n\
             alias_maps =\n\
             alias_database =\n\
             smtpd_milters = {smtpd_milters}\n\
             non_smtpd_milters = {non_smtpd_milters}\n\
             milter_default_action = tempfail\n\
             milter_protocol = 6\n\
             smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination\n\
             smtp_destination_concurrency_limit = 50\n\
             default_process_limit = 200\n",
            mynetworks = settings.mynetworks,
            relay = settings.relay_port,
            smtpd_milters = settings.smtpd_milters,
            non_smtpd_milters = settings.non_smtpd_milters,
        );
        for line in &settings.extra_main {
            writeln!(main, "{line}").unwrap();
        }
        fs::write(dir.join("main.cf"), main).unwrap();

        // chroot off everywhere: milter and SASL sockets are absolute paths outside the queue.
        let mut master = format!("127.0.0.1:{} inet n - n - - smtpd\n", settings.smtp_port);
        if let Some((port, auth_socket)) = &settings.submission {
            writeln!(
                master,
                "127.0.0.1:{port} inet n - n - - smtpd\n  \
                 -o smtpd_sasl_auth_enable=yes\n  \
                 -o smtpd_sasl_type=dovecot\n  \
                 -o smtpd_sasl_path={}\n  \
                 -o milter_macro_daemon_name=ORIGINATING",
                auth_socket.display()
            )
            .unwrap();
            for option in &settings.submission_options {
                writeln!(master, "  -o {option}").unwrap();
            }
        }
        master.push_str(
            "pickup unix n - n 60 1 pickup\n\
             cleanup unix n - n - 0 cleanup\n\
             qmgr unix n - n 300 1 qmgr\n\
             tlsmgr unix - - n 1000? 1 tlsmgr\n\
             rewrite unix - - n - - trivial-rewrite\n\
             bounce unix - - n - 0 bounce\n\
             defer unix - - n - 0 bounce\n\
             trace unix - - n - 0 bounce\n\
             verify unix - - n - 1 verify\n\
             flush unix n - n 1000? 0 flush\n\
             proxymap unix - - n - - proxymap\n\
             smtp unix - - n - - smtp\n\
             relay unix - - n - - smtp\n\
             lmtp unix - - n - - lmtp\n\
             showq unix n - n - - showq\n\
             error unix - - n - - error\n\
             retry unix - - n - - error\n\
             discard unix - - n - - discard\n\
             anvil unix - - n - 1 anvil\n\
             scache unix - - n - 1 scache\n\
             postlog unix-dgram n - n - 1 postlogd\n",
        );
        fs::write(dir.join("master.cf"), master).unwrap();

        let out = Command::new("postfix")
            .arg("-c")
            .arg(dir)
            .arg("start")
            .output()
            .expect("run postfix (is it installed? tests/run installs it)");
        assert!(
            out.status.success(),
            "postfix start failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let postfix = Postfix {
            dir: dir.to_path_buf(),
        };
        let port = settings.smtp_port;
        assert!(
            crate::wait_until(Duration::from_secs(10), || {
                std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            }),
            "postfix did not listen on {port}; maillog:\n{}",
            postfix.maillog()
        );
        postfix
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn maillog(&self) -> String {
        fs::read_to_string(self.dir.join("maillog")).unwrap_or_default()
    }

    /// Injects a message with Postfix's own `sendmail -t -i` (the non_smtpd_milters path).
    pub fn sendmail(&self, message: &[u8]) {
        let mut child = Command::new("sendmail")
            .arg("-C")
            .arg(&self.dir)
            .args(["-t", "-i", "-f", "alice@example.com"])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(message).unwrap();
        let status = child.wait().unwrap();
        assert!(status.success(), "sendmail failed");
    }

    /// Applies new `main.cf` settings and reloads.
    pub fn reconfigure(&self, settings: &[&str]) {
        let out = Command::new("postconf")
            .arg("-c")
            .arg(&self.dir)
            .arg("-e")
            .args(settings)
            .output()
            .unwrap();
        assert!(out.status.success());
        let out = Command::new("postfix")
            .arg("-c")
            .arg(&self.dir)
            .arg("reload")
            .output()
            .unwrap();
        assert!(out.status.success());
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        let _ = Command::new("postfix")
            .arg("-c")
            .arg(&self.dir)
            .arg("stop")
            .output();
        if std::env::var_os("POSTERN_KEEP").is_some() {
            eprintln!("postfix maillog: {}/maillog", self.dir.display());
        }
    }
}
