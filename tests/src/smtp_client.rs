//! A small blocking SMTP client for submitting test messages, with AUTH PLAIN and a chosen
//! source address (127.0.0.2 plays "the outside").

use base64::Engine as _;
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddrV4, TcpStream};
use std::os::fd::AsRawFd;

/// A message to submit.
#[derive(Debug, Clone)]
pub struct Submission<'a> {
    pub from: &'a str,
    pub to: &'a [&'a str],
    /// The message with CRLF line ends; dot-stuffing is done here.
    pub data: &'a [u8],
    pub auth: Option<(&'a str, &'a str)>,
    pub source: Option<IpAddr>,
}

/// Submits one message; returns the final reply line to DATA (e.g. "250 2.0.0 Ok: queued as X").
pub fn submit(port: u16, submission: &Submission<'_>) -> Result<String, String> {
    let stream = connect(port, submission.source).map_err(|e| e.to_string())?;
    let mut out = stream.try_clone().map_err(|e| e.to_string())?;
    let mut reader = BufReader::new(stream);
    expect(&mut reader, "220")?;
    command(&mut out, &mut reader, "EHLO client.postern.test", "250")?;
    if let Some((user, pass)) = submission.auth {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{pass}"));
        command(&mut out, &mut reader, &format!("AUTH PLAIN {token}"), "235")?;
    }
    command(
        &mut out,
        &mut reader,
        &format!("MAIL FROM:<{}>", submission.from),
        "250",
    )?;
    for rcpt in submission.to {
        command(&mut out, &mut reader, &format!("RCPT TO:<{rcpt}>"), "250")?;
    }
    command(&mut out, &mut reader, "DATA", "354")?;
    let mut body = Vec::with_capacity(submission.data.len() + 1024);
    for line in submission.data.split_inclusive(|&b| b == b'\n') {
        if line.first() == Some(&b'.') {
            body.push(b'.');
        }
        body.extend_from_slice(line);
    }
    if !body.ends_with(b"\r\n") {
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b".\r\n");
    out.write_all(&body).map_err(|e| e.to_string())?;
    let reply = expect(&mut reader, "250")?;
    let _ = out.write_all(b"QUIT\r\n");
    Ok(reply)
}

pub fn connect(port: u16, source: Option<IpAddr>) -> std::io::Result<TcpStream> {
    use nix::sys::socket::{
        AddressFamily, SockFlag, SockType, SockaddrIn, bind, connect as connect_socket, socket,
    };
    let Some(IpAddr::V4(source)) = source else {
        return TcpStream::connect(("127.0.0.1", port));
    };
    // std cannot bind a client socket before connecting; the loopback /8 lets us pick 127.0.0.x.
    let fd = socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    bind(
        fd.as_raw_fd(),
        &SockaddrIn::from(SocketAddrV4::new(source, 0)),
    )?;
    let target = SocketAddrV4::new(Ipv4Addr::LOCALHOST, port);
    connect_socket(fd.as_raw_fd(), &SockaddrIn::from(target))?;
    Ok(TcpStream::from(fd))
}

fn command(
    out: &mut TcpStream,
    reader: &mut BufReader<TcpStream>,
    line: &str,
    want: &str,
) -> Result<String, String> {
    out.write_all(format!("{line}\r\n").as_bytes())
        .map_err(|e| e.to_string())?;
    expect(reader, want).map_err(|e| format!("{line}: {e}"))
}

fn expect(reader: &mut BufReader<TcpStream>, want: &str) -> Result<String, String> {
    let mut last = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
            return Err(format!("connection closed, last reply {last:?}"));
        }
        let done = line.as_bytes().get(3) != Some(&b'-');
        last = line.trim_end().to_string();
        if done {
            break;
        }
    }
    if last.starts_with(want) {
        Ok(last)
    } else {
        Err(format!("expected {want}, got {last:?}"))
    }
}
