//! A stand-in for a Dovecot auth socket (server side of the Dovecot auth protocol, PLAIN only),
//! so a private Postfix can offer AUTH before postern-mda's own auth socket exists.

use base64::Engine as _;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;

/// Serves `path` (mode 0666) in a background thread, accepting exactly `user`/`password`.
pub fn start(path: &Path, user: &'static str, password: &'static str) {
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666)).unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let _ = serve(stream, user, password);
            });
        }
    });
}

fn serve(stream: UnixStream, user: &str, password: &str) -> std::io::Result<()> {
    let mut out = stream.try_clone()?;
    out.write_all(
        b"VERSION\t1\t2\nMECH\tPLAIN\tplaintext\nSPID\t1\nCUID\t1\n\
          COOKIE\t0123456789abcdef0123456789abcdef\nDONE\n",
    )?;
    let reader = BufReader::new(stream);
    for line in reader.lines() {
        let line = line?;
        let fields: Vec<&str> = line.split('\t').collect();
        if fields.first() != Some(&"AUTH") {
            continue;
        }
        let id = fields.get(1).copied().unwrap_or("0");
        let Some(resp) = fields.iter().find_map(|f| f.strip_prefix("resp=")) else {
            writeln!(out, "CONT\t{id}\t")?;
            continue;
        };
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(resp)
            .unwrap_or_default();
        let parts: Vec<&[u8]> = decoded.split(|&b| b == 0).collect();
        if parts.len() == 3 && parts[1] == user.as_bytes() && parts[2] == password.as_bytes() {
            writeln!(out, "OK\t{id}\tuser={user}")?;
        } else {
            writeln!(out, "FAIL\t{id}\tuser={user}")?;
        }
    }
    Ok(())
}
