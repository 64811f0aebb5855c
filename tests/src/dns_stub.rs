//! A tiny authoritative DNS server on loopback UDP that answers from a map, for testing
//! `postern-dkim testkey` and postern-mta's client name checks without the real DNS.

use std::collections::HashMap;
use std::net::{Ipv4Addr, UdpSocket};

/// One record's data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rr {
    Txt(String),
    Ptr(String),
    A(Ipv4Addr),
    /// No answer at all for this name: the client times out (a broken server).
    Silent,
}

impl Rr {
    fn qtype(&self) -> u16 {
        match self {
            Rr::A(_) => 1,
            Rr::Ptr(_) => 12,
            Rr::Txt(_) => 16,
            Rr::Silent => 0,
        }
    }

    fn rdata(&self) -> Vec<u8> {
        match self {
            Rr::Txt(value) => {
                let mut rdata = Vec::new();
                for chunk in value.as_bytes().chunks(255) {
                    rdata.push(chunk.len() as u8);
                    rdata.extend_from_slice(chunk);
                }
                rdata
            }
            Rr::Ptr(name) => {
                let mut rdata = Vec::new();
                for label in name.trim_end_matches('.').split('.') {
                    rdata.push(label.len() as u8);
                    rdata.extend_from_slice(label.as_bytes());
                }
                rdata.push(0);
                rdata
            }
            Rr::A(ip) => ip.octets().to_vec(),
            Rr::Silent => Vec::new(),
        }
    }
}

/// Starts a TXT-only server (names: lowercase FQDNs without the final dot; unknown names
/// get NXDOMAIN) in a background thread; returns its port.
pub fn start(records: HashMap<String, String>) -> u16 {
    start_zone(
        records
            .into_iter()
            .map(|(name, value)| (name, Rr::Txt(value)))
            .collect(),
    )
}

/// Starts a server for `records` (a name may have several); returns its port.
pub fn start_zone(records: Vec<(String, Rr)>) -> u16 {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = socket.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        while let Ok((n, peer)) = socket.recv_from(&mut buf) {
            if let Some(reply) = answer(&buf[..n], &records) {
                let _ = socket.send_to(&reply, peer);
            }
        }
    });
    port
}

fn answer(query: &[u8], records: &[(String, Rr)]) -> Option<Vec<u8>> {
    let mut labels = Vec::new();
    let mut i = 12;
    loop {
        let len = usize::from(*query.get(i)?);
        i += 1;
        if len == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(query.get(i..i + len)?).to_ascii_lowercase());
        i += len;
    }
    let question_end = i + 4;
    let question = query.get(12..question_end)?;
    let qtype = u16::from_be_bytes([*query.get(i)?, *query.get(i + 1)?]);
    let name = labels.join(".");
    let same_name: Vec<&Rr> = records
        .iter()
        .filter(|(n, _)| *n == name)
        .map(|(_, rr)| rr)
        .collect();
    if same_name.contains(&&Rr::Silent) {
        return None;
    }
    let found: Vec<&Rr> = same_name
        .iter()
        .copied()
        .filter(|rr| rr.qtype() == qtype)
        .collect();
    let mut reply = Vec::with_capacity(512);
    reply.extend_from_slice(query.get(0..2)?); // id
    let rcode = if same_name.is_empty() { 3 } else { 0 };
    reply.extend_from_slice(&[0x84, rcode]); // response, authoritative; rcode 0 or NXDOMAIN
    reply.extend_from_slice(&[0, 1, 0, found.len() as u8, 0, 0, 0, 0]);
    reply.extend_from_slice(question);
    for rr in found {
        let rdata = rr.rdata();
        reply.extend_from_slice(&[0xc0, 0x0c]);
        reply.extend_from_slice(&qtype.to_be_bytes());
        reply.extend_from_slice(&[0, 1, 0, 0, 0, 60]);
        reply.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        reply.extend_from_slice(&rdata);
    }
    Some(reply)
}
