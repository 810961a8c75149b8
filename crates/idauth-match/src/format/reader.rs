//! A bounds-checked big-endian cursor that reports the byte offset of every failure.

use crate::error::{MatchError, Result};

pub(super) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// The declared end of the record; reads never pass it.
    end: usize,
}

impl<'a> Reader<'a> {
    pub(super) fn new(bytes: &'a [u8], start: usize, end: usize) -> Self {
        debug_assert!(start <= end && end <= bytes.len());
        Self {
            bytes,
            pos: start,
            end,
        }
    }

    pub(super) fn pos(&self) -> usize {
        self.pos
    }

    pub(super) fn remaining(&self) -> usize {
        self.end - self.pos
    }

    pub(super) fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8]> {
        if self.remaining() < n {
            return Err(MatchError::Truncated {
                offset: self.pos,
                what,
                needed: n,
                available: self.remaining(),
            });
        }
        let slice = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(slice)
    }

    /// Takes up to `n` bytes, fewer if the record ends first.
    pub(super) fn take_clipped(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.remaining());
        let slice = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        slice
    }

    pub(super) fn u8(&mut self, what: &'static str) -> Result<u8> {
        Ok(self.take(1, what)?[0])
    }

    pub(super) fn u16(&mut self, what: &'static str) -> Result<u16> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
}
