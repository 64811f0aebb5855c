//! Packet framing: a 4-byte big-endian length (command byte plus payload), the command byte,
//! the payload. Decoding buffers partial input and enforces a size limit.

use crate::ProtocolError;

/// Default limit on a packet's declared length: 1 MiB, enough for the largest body chunk a
/// `SMFIP_MDS_1M` peer may send.
pub const DEFAULT_MAX_FRAME: usize = 1 << 20;

/// One packet: its command (or reply) byte and payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// Command byte (`SMFIC_*`) or reply byte (`SMFIR_*`).
    pub code: u8,
    /// Everything after the command byte.
    pub payload: Vec<u8>,
}

/// Appends one framed packet to `out`.
///
/// Payloads of 4 GiB or more cannot be framed; they are truncated to fit, which never happens
/// with the packets this crate builds (body chunks are at most 64 KiB).
pub fn encode(code: u8, payload: &[u8], out: &mut Vec<u8>) {
    let payload = payload.get(..(u32::MAX as usize - 1)).unwrap_or(payload);
    let length = u32::try_from(payload.len() + 1).unwrap_or(u32::MAX);
    out.reserve(payload.len() + 5);
    out.extend_from_slice(&length.to_be_bytes());
    out.push(code);
    out.extend_from_slice(payload);
}

/// Appends a packet whose payload `fill` writes directly into `out`, then patches the length.
pub(crate) fn encode_with(code: u8, out: &mut Vec<u8>, fill: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    out.push(code);
    fill(out);
    let length = u32::try_from(out.len() - start - 4).unwrap_or(u32::MAX);
    if let Some(slot) = out.get_mut(start..start + 4) {
        slot.copy_from_slice(&length.to_be_bytes());
    }
}

/// Reassembles packets from a byte stream.
#[derive(Debug, Clone)]
pub struct FrameReader {
    buffer: Vec<u8>,
    /// Start of the unconsumed bytes in `buffer`.
    start: usize,
    max_frame: usize,
}

impl FrameReader {
    /// A reader refusing packets whose declared length exceeds `max_frame`.
    pub fn new(max_frame: usize) -> Self {
        Self {
            buffer: Vec::new(),
            start: 0,
            max_frame,
        }
    }

    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start >= self.buffer.len() / 2 {
            self.buffer.drain(..self.start);
            self.start = 0;
        }
        self.buffer.extend_from_slice(bytes);
    }

    /// Bytes received but not yet returned as packets.
    pub fn buffered(&self) -> usize {
        self.buffer.len() - self.start
    }

    /// The next complete packet, `Ok(None)` if more bytes are needed. An oversize or
    /// zero-length declaration is an error as soon as its 4 length bytes are in, so a peer
    /// cannot make us buffer more than the limit.
    pub fn next_packet(&mut self) -> Result<Option<Packet>, ProtocolError> {
        let pending = self.buffer.get(self.start..).unwrap_or_default();
        let Some((length, rest)) = pending.split_first_chunk::<4>() else {
            return Ok(None);
        };
        let length = u32::from_be_bytes(*length) as usize;
        if length == 0 {
            return Err(ProtocolError::ZeroLength);
        }
        if length > self.max_frame {
            return Err(ProtocolError::TooLarge {
                length,
                limit: self.max_frame,
            });
        }
        let Some((&code, payload)) = rest.get(..length).and_then(<[u8]>::split_first) else {
            return Ok(None);
        };
        let packet = Packet {
            code,
            payload: payload.to_vec(),
        };
        self.start += 4 + length;
        if self.start == self.buffer.len() {
            self.buffer.clear();
            self.start = 0;
        }
        Ok(Some(packet))
    }
}

impl Default for FrameReader {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_FRAME)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_length_counting_command_byte() {
        let mut out = Vec::new();
        encode(b'H', b"mx\0", &mut out);
        assert_eq!(out, b"\0\0\0\x04Hmx\0");
        let mut patched = Vec::new();
        encode_with(b'H', &mut patched, |o| o.extend_from_slice(b"mx\0"));
        assert_eq!(patched, out);
    }

    #[test]
    fn reassembles_byte_by_byte() {
        let mut wire = Vec::new();
        encode(b'T', b"", &mut wire);
        encode(b'B', b"hello\r\n", &mut wire);
        let mut reader = FrameReader::default();
        let mut packets = Vec::new();
        for byte in &wire {
            reader.push(std::slice::from_ref(byte));
            while let Some(packet) = reader.next_packet().unwrap() {
                packets.push(packet);
            }
        }
        assert_eq!(
            packets,
            vec![
                Packet {
                    code: b'T',
                    payload: vec![]
                },
                Packet {
                    code: b'B',
                    payload: b"hello\r\n".to_vec()
                }
            ]
        );
        assert_eq!(reader.buffered(), 0);
    }

    #[test]
    fn zero_length_is_an_error() {
        let mut reader = FrameReader::default();
        reader.push(&[0, 0, 0, 0, b'T']);
        assert_eq!(reader.next_packet(), Err(ProtocolError::ZeroLength));
    }

    #[test]
    fn oversize_is_an_error_before_the_payload_arrives() {
        let mut reader = FrameReader::new(16);
        reader.push(&[0, 0, 0, 17]);
        assert_eq!(
            reader.next_packet(),
            Err(ProtocolError::TooLarge {
                length: 17,
                limit: 16
            })
        );
        let mut reader = FrameReader::default();
        reader.push(&[0xff, 0xff, 0xff, 0xff]);
        assert!(matches!(
            reader.next_packet(),
            Err(ProtocolError::TooLarge { .. })
        ));
    }

    #[test]
    fn truncated_frame_waits_for_more() {
        let mut reader = FrameReader::default();
        reader.push(&[0, 0, 0, 5, b'B', b'a']);
        assert_eq!(reader.next_packet(), Ok(None));
        reader.push(b"bc");
        assert_eq!(reader.next_packet(), Ok(None));
        reader.push(b"d");
        assert_eq!(
            reader.next_packet(),
            Ok(Some(Packet {
                code: b'B',
                payload: b"abcd".to_vec()
            }))
        );
    }

    #[test]
    fn limit_is_inclusive() {
        let mut reader = FrameReader::new(3);
        reader.push(&[0, 0, 0, 3, b'B', 1, 2]);
        assert_eq!(
            reader.next_packet(),
            Ok(Some(Packet {
                code: b'B',
                payload: vec![1, 2]
            }))
        );
    }
}
