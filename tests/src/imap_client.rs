//! A minimal blocking IMAP client for the benchmarks: one tagged command at a time, its reply
//! read up to the tagged status line, `{n}` literals at line ends read as data (so a message
//! body containing "a001 OK" cannot end a reply early).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// What the server answered to one command.
#[derive(Debug, Clone, Default)]
pub struct Reply {
    /// Untagged responses (`* ...`), each with its literals inlined, CRLF removed.
    pub untagged: Vec<Vec<u8>>,
    /// The tagged status line without the tag: `OK ...`, `NO ...` or `BAD ...`.
    pub status: String,
}

impl Reply {
    pub fn is_ok(&self) -> bool {
        self.status.starts_with("OK")
    }

    /// Untagged lines of the form `* <n> <name> ...` (e.g. `FETCH`, `EXPUNGE`).
    pub fn count_numbered(&self, name: &str) -> usize {
        self.untagged
            .iter()
            .filter(|line| {
                let mut words = line.split(|b| *b == b' ');
                words.next() == Some(b"*")
                    && words
                        .next()
                        .is_some_and(|n| !n.is_empty() && n.iter().all(u8::is_ascii_digit))
                    && words
                        .next()
                        .is_some_and(|w| w.eq_ignore_ascii_case(name.as_bytes()))
            })
            .count()
    }

    /// The numbers of the `* SEARCH` responses.
    pub fn search_hits(&self) -> Vec<u32> {
        self.untagged
            .iter()
            .filter_map(|line| {
                let text = std::str::from_utf8(line).ok()?;
                let rest = text
                    .strip_prefix("* SEARCH")
                    .or_else(|| text.strip_prefix("* search"))?;
                Some(
                    rest.split_whitespace()
                        .filter_map(|n| n.parse().ok())
                        .collect::<Vec<u32>>(),
                )
            })
            .flatten()
            .collect()
    }
}

/// One connection.
#[derive(Debug)]
pub struct ImapClient {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    next_tag: u32,
}

impl ImapClient {
    /// Connects and reads the greeting (returned, CRLF removed); reads and writes time out
    /// after `timeout`.
    pub fn connect(addr: SocketAddr, timeout: Duration) -> io::Result<(ImapClient, String)> {
        let stream = TcpStream::connect_timeout(&addr, timeout)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        stream.set_nodelay(true)?;
        let mut client = ImapClient {
            reader: BufReader::with_capacity(64 * 1024, stream.try_clone()?),
            writer: stream,
            next_tag: 1,
        };
        let greeting = String::from_utf8_lossy(&client.read_response()?).into_owned();
        if !greeting.starts_with("* OK") && !greeting.starts_with("* PREAUTH") {
            return Err(io::Error::other(format!("greeting: {greeting}")));
        }
        Ok((client, greeting))
    }

    /// Sends `command` (without tag and CRLF) and reads everything up to its tagged reply.
    pub fn command(&mut self, command: &str) -> io::Result<Reply> {
        let tag = self.send(command)?;
        self.read_until_tagged(&tag)
    }

    /// [`command`](Self::command), with a tagged NO or BAD turned into an error naming the
    /// command and the reply.
    pub fn command_ok(&mut self, command: &str) -> io::Result<Reply> {
        let reply = self.command(command)?;
        if reply.is_ok() {
            Ok(reply)
        } else {
            Err(io::Error::other(format!(
                "C: {command}\nS: {}",
                reply.status
            )))
        }
    }

    /// `LOGIN user password` (both sent as quoted strings).
    pub fn login(&mut self, user: &str, password: &str) -> io::Result<Reply> {
        self.command_ok(&format!("LOGIN {} {}", quote(user), quote(password)))
    }

    /// Sends `IDLE` and waits for the continuation request; returns the tag, for
    /// [`idle_done`](Self::idle_done).
    pub fn idle_start(&mut self) -> io::Result<String> {
        let tag = self.send("IDLE")?;
        loop {
            let line = self.read_response()?;
            if line.starts_with(b"+") {
                return Ok(tag);
            }
            if line.starts_with(tag.as_bytes()) {
                return Err(io::Error::other(format!(
                    "C: IDLE\nS: {}",
                    String::from_utf8_lossy(&line)
                )));
            }
        }
    }

    /// Ends IDLE with `DONE` and reads the tagged reply.
    pub fn idle_done(&mut self, tag: &str) -> io::Result<Reply> {
        self.writer.write_all(b"DONE\r\n")?;
        self.read_until_tagged(tag)
    }

    /// `LOGOUT`; the server's BYE and the closed connection are both fine.
    pub fn logout(mut self) -> io::Result<()> {
        self.command("LOGOUT").map(|_| ())
    }

    fn send(&mut self, command: &str) -> io::Result<String> {
        let tag = format!("a{:04}", self.next_tag);
        self.next_tag += 1;
        let mut line = Vec::with_capacity(tag.len() + command.len() + 3);
        line.extend_from_slice(tag.as_bytes());
        line.push(b' ');
        line.extend_from_slice(command.as_bytes());
        line.extend_from_slice(b"\r\n");
        self.writer.write_all(&line)?;
        Ok(tag)
    }

    fn read_until_tagged(&mut self, tag: &str) -> io::Result<Reply> {
        let mut reply = Reply::default();
        loop {
            let line = self.read_response()?;
            if let Some(rest) = line
                .strip_prefix(tag.as_bytes())
                .and_then(|r| r.strip_prefix(b" "))
            {
                reply.status = String::from_utf8_lossy(rest).into_owned();
                return Ok(reply);
            }
            reply.untagged.push(line);
        }
    }

    /// One response: a line plus, for every `{n}` that ends a line, the n bytes of the literal
    /// and the rest of the line after it. CRLF at the end removed.
    pub fn read_response(&mut self) -> io::Result<Vec<u8>> {
        let mut response = Vec::new();
        loop {
            let start = response.len();
            let read = self.reader.read_until(b'\n', &mut response)?;
            if read == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "connection closed after {:?}",
                        String::from_utf8_lossy(&response)
                    ),
                ));
            }
            if !response.ends_with(b"\n") {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed mid-line",
                ));
            }
            response.pop();
            if response.ends_with(b"\r") {
                response.pop();
            }
            match literal_length(&response[start..]) {
                Some(n) => {
                    let len = response.len();
                    response.resize(len + n, 0);
                    self.reader.read_exact(&mut response[len..])?;
                }
                None => return Ok(response),
            }
        }
    }
}

/// `n` when `line` ends with `{n}` (a server literal follows).
fn literal_length(line: &[u8]) -> Option<usize> {
    let inner = line.strip_suffix(b"}")?;
    let open = inner.iter().rposition(|b| *b == b'{')?;
    let digits = &inner[open + 1..];
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// An IMAP quoted string.
pub fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn literal_lengths_only_at_line_end() {
        assert_eq!(literal_length(b"* 1 FETCH (BODY[] {12}"), Some(12));
        assert_eq!(literal_length(b"* 1 FETCH (BODY[] {}"), None);
        assert_eq!(literal_length(b"* OK {x}"), None);
        assert_eq!(literal_length(b"* OK done"), None);
    }

    #[test]
    fn a_literal_containing_the_tag_does_not_end_the_reply() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            s.write_all(b"* OK ready\r\n").unwrap();
            let mut buf = [0u8; 64];
            let _ = s.read(&mut buf).unwrap();
            let body = b"a0001 OK fake\r\n";
            s.write_all(format!("* 1 FETCH (BODY[] {{{}}}\r\n", body.len()).as_bytes())
                .unwrap();
            s.write_all(body).unwrap();
            s.write_all(b" FLAGS (\\Seen))\r\n* SEARCH 2 3\r\na0001 OK done\r\n")
                .unwrap();
        });
        let (mut client, greeting) = ImapClient::connect(addr, Duration::from_secs(5)).unwrap();
        assert_eq!(greeting, "* OK ready");
        let reply = client.command("FETCH 1 BODY[]").unwrap();
        assert_eq!(reply.status, "OK done");
        assert_eq!(reply.count_numbered("FETCH"), 1);
        assert_eq!(reply.search_hits(), [2, 3]);
        assert!(reply.untagged[0].ends_with(b" FLAGS (\\Seen))"));
        server.join().unwrap();
    }
}
