//! A tiny authoritative DNS server on loopback UDP that answers TXT queries from a map, for
//! testing `postern-dkim testkey` without the real DNS.

use std::collections::HashMap;
use std::net::UdpSocket;

/// Starts the server in a background thread; returns its port. Names are lowercase FQDNs
/// without the final dot; unknown names get NXDOMAIN.
pub fn start(records: HashMap<String, String>) -> u16 {
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

fn answer(query: &[u8], records: &HashMap<String, String>) -> Option<Vec<u8>> {
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
    let value = records.get(&labels.join("."));
    let found = value.is_some() && qtype == 16;
    let mut reply = Vec::with_capacity(512);
    reply.extend_from_slice(query.get(0..2)?); // id
    let rcode = if value.is_some() { 0 } else { 3 };
    reply.extend_from_slice(&[0x84, rcode]); // response, authoritative; rcode 0 or NXDOMAIN
    reply.extend_from_slice(&[0, 1, 0, u8::from(found), 0, 0, 0, 0]);
    reply.extend_from_slice(question);
    if let (true, Some(value)) = (found, value) {
        let mut rdata = Vec::new();
        for chunk in value.as_bytes().chunks(255) {
            rdata.push(chunk.len() as u8);
            rdata.extend_from_slice(chunk);
        }
        reply.extend_from_slice(&[0xc0, 0x0c, 0, 16, 0, 1, 0, 0, 0, 60]);
        reply.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        reply.extend_from_slice(&rdata);
    }
    Some(reply)
}
