//! A minimal SMTP sink that keeps every message byte for byte (after dot-unstuffing), so
//! signatures can be verified on exactly what the MTA sent.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// One received message.
#[derive(Debug, Clone)]
pub struct Received {
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    pub data: Vec<u8>,
}

#[derive(Debug, Default)]
struct Inbox {
    messages: Mutex<Vec<Received>>,
    arrived: Condvar,
    /// Also write each message to `NNNN.eml` here (the demo's "outside world").
    save_to: Option<std::path::PathBuf>,
}

/// A sink on 127.0.0.1 announcing 8BITMIME, accepting everything.
#[derive(Debug, Clone)]
pub struct Sink {
    port: u16,
    inbox: Arc<Inbox>,
}

impl Sink {
    pub fn start() -> Sink {
        Self::start_on(0, None)
    }

    /// A sink on `port` (0 = any) that also saves messages as files in `save_to`.
    pub fn start_on(port: u16, save_to: Option<std::path::PathBuf>) -> Sink {
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let inbox = Arc::new(Inbox {
            save_to,
            ..Inbox::default()
        });
        let accept_inbox = inbox.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let inbox = accept_inbox.clone();
                std::thread::spawn(move || {
                    let _ = serve(stream, &inbox);
                });
            }
        });
        Sink { port, inbox }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Waits until at least `count` messages arrived; returns them all.
    pub fn wait_for(&self, count: usize, timeout: Duration) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        let mut messages = self.inbox.messages.lock().unwrap();
        while messages.len() < count {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            messages = self.inbox.arrived.wait_timeout(messages, left).unwrap().0;
        }
        messages.clone()
    }

    /// Removes and returns what has arrived so far.
    pub fn take(&self) -> Vec<Received> {
        std::mem::take(&mut *self.inbox.messages.lock().unwrap())
    }
}

fn serve(stream: TcpStream, inbox: &Inbox) -> std::io::Result<()> {
    let mut out = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    out.write_all(b"220 sink.postern.test ESMTP\r\n")?;
    let mut mail_from = String::new();
    let mut rcpt_to = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&line).trim_end().to_string();
        let verb = text.split(' ').next().unwrap_or("").to_ascii_uppercase();
        match verb.as_str() {
            "EHLO" => out.write_all(b"250-sink.postern.test\r\n250-8BITMIME\r\n250 SIZE 0\r\n")?,
            "HELO" => out.write_all(b"250 sink.postern.test\r\n")?,
            "MAIL" => {
                mail_from = text.get(10..).unwrap_or("").to_string();
                rcpt_to.clear();
                out.write_all(b"250 2.1.0 Ok\r\n")?;
            }
            "RCPT" => {
                rcpt_to.push(text.get(8..).unwrap_or("").to_string());
                out.write_all(b"250 2.1.5 Ok\r\n")?;
            }
            "DATA" => {
                out.write_all(b"354 go ahead\r\n")?;
                let mut data = Vec::new();
                loop {
                    line.clear();
                    if reader.read_until(b'\n', &mut line)? == 0 {
                        return Ok(());
                    }
                    if line == b".\r\n" {
                        break;
                    }
                    let unstuffed = if line.starts_with(b"..") {
                        &line[1..]
                    } else {
                        &line[..]
                    };
                    data.extend_from_slice(unstuffed);
                }
                let mut messages = inbox.messages.lock().unwrap();
                if let Some(dir) = &inbox.save_to {
                    let _ =
                        std::fs::write(dir.join(format!("{:04}.eml", messages.len() + 1)), &data);
                }
                messages.push(Received {
                    mail_from: mail_from.clone(),
                    rcpt_to: rcpt_to.clone(),
                    data,
                });
                drop(messages);
                inbox.arrived.notify_all();
                out.write_all(b"250 2.0.0 Ok: kept\r\n")?;
            }
            "RSET" | "NOOP" => out.write_all(b"250 2.0.0 Ok\r\n")?,
            "QUIT" => {
                out.write_all(b"221 2.0.0 Bye\r\n")?;
                return Ok(());
            }
            _ => out.write_all(b"502 5.5.2 Error: command not recognized\r\n")?,
        }
    }
}
