//! Reading a message body field by field: big-endian integers and byte runs,
//! each read naming the field, so that a short body is reported as the field
//! that was missing rather than as a bare length error. Every codec of the
//! agent and multicast protocols reads through it; each turns [`Truncated`]
//! into its own error type.

/// A body ended before `field` of message `msg`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Truncated {
    /// The message being read.
    pub(super) msg: &'static str,
    /// The field that did not fit.
    pub(super) field: &'static str,
}

/// The unread rest of a body.
#[derive(Debug)]
pub(super) struct FieldReader<'a> {
    /// What has not been read yet.
    pub(super) rest: &'a [u8],
    /// The message's name, for errors.
    pub(super) msg: &'static str,
}

impl<'a> FieldReader<'a> {
    /// Reads `body`, the body of message `msg`.
    pub(super) fn new(body: &'a [u8], msg: &'static str) -> Self {
        FieldReader { rest: body, msg }
    }

    /// The next `n` bytes.
    pub(super) fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], Truncated> {
        if n > self.rest.len() {
            return Err(Truncated {
                msg: self.msg,
                field,
            });
        }
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(head)
    }

    /// The next `N` bytes as an array.
    pub(super) fn array<const N: usize>(
        &mut self,
        field: &'static str,
    ) -> Result<[u8; N], Truncated> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N, field)?);
        Ok(out)
    }

    pub(super) fn u8(&mut self, field: &'static str) -> Result<u8, Truncated> {
        Ok(self.array::<1>(field)?[0])
    }

    pub(super) fn u16(&mut self, field: &'static str) -> Result<u16, Truncated> {
        self.array(field).map(u16::from_be_bytes)
    }

    pub(super) fn u32(&mut self, field: &'static str) -> Result<u32, Truncated> {
        self.array(field).map(u32::from_be_bytes)
    }

    pub(super) fn u64(&mut self, field: &'static str) -> Result<u64, Truncated> {
        self.array(field).map(u64::from_be_bytes)
    }
}
