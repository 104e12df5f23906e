//! Response APDUs: data followed by SW1 SW2.

use crate::Status;

/// A response APDU split into its data field and status word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Response<'a> {
    /// The response data field.
    pub data: &'a [u8],
    /// The trailing status word.
    pub status: Status,
}

impl<'a> Response<'a> {
    /// Splits `data ‖ SW1 SW2`; `None` when fewer than two bytes are given.
    pub fn parse(bytes: &'a [u8]) -> Option<Self> {
        let split = bytes.len().checked_sub(2)?;
        let (data, sw) = bytes.split_at(split);
        let &[sw1, sw2] = sw else { return None };
        Some(Self {
            data,
            status: Status::from_bytes(sw1, sw2),
        })
    }

    /// The data when the status is `9000`, otherwise the status as an error.
    pub fn success(self) -> Result<&'a [u8], Status> {
        if self.status.is_success() {
            Ok(self.data)
        } else {
            Err(self.status)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_status() {
        assert_eq!(Response::parse(&[0x90]), None);
        let r = Response::parse(&[1, 2, 0x6A, 0x82]);
        assert_eq!(
            r,
            Some(Response {
                data: &[1, 2],
                status: Status::FileNotFound
            })
        );
        assert_eq!(r.map(Response::success), Some(Err(Status::FileNotFound)));
        assert_eq!(
            Response::parse(&[7, 0x90, 0x00]).map(Response::success),
            Some(Ok(&[7u8][..]))
        );
    }
}
