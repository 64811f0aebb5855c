//! Field-level reading and writing inside one packet payload: big-endian integers and
//! NUL-terminated strings, never panicking on short input.

use crate::ProtocolError;

/// Reads the fields of one payload front to back.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
    code: u8,
}

impl<'a> Reader<'a> {
    /// A reader over the payload of a packet with command or reply byte `code` (for errors).
    pub(crate) fn new(code: u8, payload: &'a [u8]) -> Self {
        Self {
            rest: payload,
            code,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    pub(crate) fn u8(&mut self) -> Result<u8, ProtocolError> {
        let (&byte, rest) = self
            .rest
            .split_first()
            .ok_or(ProtocolError::Truncated { code: self.code })?;
        self.rest = rest;
        Ok(byte)
    }

    pub(crate) fn u16(&mut self) -> Result<u16, ProtocolError> {
        let (bytes, rest) = self
            .rest
            .split_first_chunk::<2>()
            .ok_or(ProtocolError::Truncated { code: self.code })?;
        self.rest = rest;
        Ok(u16::from_be_bytes(*bytes))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, ProtocolError> {
        let (bytes, rest) = self
            .rest
            .split_first_chunk::<4>()
            .ok_or(ProtocolError::Truncated { code: self.code })?;
        self.rest = rest;
        Ok(u32::from_be_bytes(*bytes))
    }

    /// One NUL-terminated string, without its NUL.
    pub(crate) fn cstr(&mut self) -> Result<&'a [u8], ProtocolError> {
        let end = self
            .rest
            .iter()
            .position(|&b| b == 0)
            .ok_or(ProtocolError::MissingNul { code: self.code })?;
        let (text, rest) = self.rest.split_at(end);
        self.rest = rest.get(1..).unwrap_or_default();
        Ok(text)
    }

    /// Every remaining byte, unparsed.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.rest)
    }

    /// All remaining bytes as a sequence of NUL-terminated strings.
    pub(crate) fn cstrs(&mut self) -> Result<Vec<Vec<u8>>, ProtocolError> {
        let mut strings = Vec::new();
        while !self.is_empty() {
            strings.push(self.cstr()?.to_vec());
        }
        Ok(strings)
    }

    /// Succeeds only if every byte was consumed.
    pub(crate) fn finish(self) -> Result<(), ProtocolError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(ProtocolError::TrailingData { code: self.code })
        }
    }
}

pub(crate) fn put_u32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_be_bytes());
}

/// Appends `text` and its NUL terminator. A NUL inside `text` would end the string early on
/// the peer's side; that is the caller's business, as with libmilter.
pub(crate) fn put_cstr(out: &mut Vec<u8>, text: &[u8]) {
    out.extend_from_slice(text);
    out.push(0);
}
