//! Command APDUs: a zero-copy [`CommandView`] parser and an allocation-free
//! [`CommandBuilder`] (ISO/IEC 7816-4 §5.1, cases 1–4, short and extended).

use core::fmt;

/// Largest short command APDU: header, Lc, 255 data bytes and Le.
pub const SHORT_COMMAND_MAX: usize = 4 + 1 + 255 + 1;
/// Largest extended command APDU: header, 3-byte Lc, 65535 data bytes and 2-byte Le.
pub const EXTENDED_COMMAND_MAX: usize = 4 + 3 + 65535 + 2;
/// Largest short response: 256 data bytes and SW1 SW2.
pub const SHORT_RESPONSE_MAX: usize = 256 + 2;
/// Largest extended response: 65536 data bytes and SW1 SW2.
pub const EXTENDED_RESPONSE_MAX: usize = 65536 + 2;

/// Why a byte string is not a command APDU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseError {
    /// Fewer than the four header bytes.
    TooShort,
    /// CLA `FF` is reserved for PPS and never starts an APDU.
    InvalidClass,
    /// The body length does not match any of the cases 1–4 (short or extended).
    InconsistentLength,
    /// An extended body with Lc = 0.
    ZeroExtendedLc,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::TooShort => "command APDU shorter than the 4-byte header",
            Self::InvalidClass => "class byte FF is invalid",
            Self::InconsistentLength => "command APDU length matches none of the cases 1-4",
            Self::ZeroExtendedLc => "extended command APDU with Lc = 0",
        })
    }
}

impl core::error::Error for ParseError {}

/// A parsed command APDU borrowing its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommandView<'a> {
    cla: u8,
    ins: u8,
    p1: u8,
    p2: u8,
    data: &'a [u8],
    /// Ne, the maximum number of response bytes expected (`None`: no Le field).
    le: Option<usize>,
    extended: bool,
}

impl<'a> CommandView<'a> {
    /// Parses a command APDU.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, ParseError> {
        let (header, body) = bytes.split_at_checked(4).ok_or(ParseError::TooShort)?;
        let &[cla, ins, p1, p2] = header else {
            return Err(ParseError::TooShort);
        };
        if cla == 0xFF {
            return Err(ParseError::InvalidClass);
        }
        let (data, le, extended) = parse_body(body)?;
        Ok(Self {
            cla,
            ins,
            p1,
            p2,
            data,
            le,
            extended,
        })
    }

    /// CLA.
    pub const fn cla(&self) -> u8 {
        self.cla
    }
    /// INS.
    pub const fn ins(&self) -> u8 {
        self.ins
    }
    /// P1.
    pub const fn p1(&self) -> u8 {
        self.p1
    }
    /// P2.
    pub const fn p2(&self) -> u8 {
        self.p2
    }
    /// The command data field (empty when there is no Lc).
    pub const fn data(&self) -> &'a [u8] {
        self.data
    }
    /// Ne: the number of response bytes expected, `None` when the command has no Le field.
    /// Le `00` decodes to 256 (short) or 65536 (extended).
    pub const fn le(&self) -> Option<usize> {
        self.le
    }
    /// Whether the command used the extended length encoding.
    pub const fn is_extended(&self) -> bool {
        self.extended
    }
    /// The ISO 7816-4 case: 1 (no data, no Le), 2 (Le), 3 (data) or 4 (data and Le).
    pub const fn case(&self) -> u8 {
        match (self.data.is_empty(), self.le.is_some()) {
            (true, false) => 1,
            (true, true) => 2,
            (false, false) => 3,
            (false, true) => 4,
        }
    }
    /// A builder producing the same command (same data, Le and length encoding).
    pub const fn to_builder(&self) -> CommandBuilder<'a> {
        CommandBuilder {
            cla: self.cla,
            ins: self.ins,
            p1: self.p1,
            p2: self.p2,
            data: self.data,
            le: self.le,
            force_extended: self.extended,
        }
    }
}

type Body<'a> = (&'a [u8], Option<usize>, bool);

fn parse_body(body: &[u8]) -> Result<Body<'_>, ParseError> {
    match *body {
        // Case 1.
        [] => Ok((&[], None, false)),
        // Case 2 short.
        [le] => Ok((&[], Some(short_ne(le)), false)),
        // Extended forms start with a zero byte and are at least three bytes long.
        [0, hi, lo, ref rest @ ..] => {
            let n = usize::from(u16::from_be_bytes([hi, lo]));
            if rest.is_empty() {
                // Case 2 extended: Le only.
                return Ok((&[], Some(extended_ne(n)), true));
            }
            if n == 0 {
                return Err(ParseError::ZeroExtendedLc);
            }
            if rest.len() == n {
                Ok((rest, None, true))
            } else if rest.len() == n + 2 {
                let (data, le) = rest.split_at(n);
                let &[le_hi, le_lo] = le else {
                    return Err(ParseError::InconsistentLength);
                };
                let ne = extended_ne(usize::from(u16::from_be_bytes([le_hi, le_lo])));
                Ok((data, Some(ne), true))
            } else {
                Err(ParseError::InconsistentLength)
            }
        }
        [0, ..] => Err(ParseError::InconsistentLength),
        [lc, ref rest @ ..] => {
            let n = usize::from(lc);
            if rest.len() == n {
                Ok((rest, None, false))
            } else if rest.len() == n + 1 {
                let (data, le) = rest.split_at(n);
                let ne = le.first().copied().map(short_ne);
                Ok((data, ne, false))
            } else {
                Err(ParseError::InconsistentLength)
            }
        }
    }
}

const fn short_ne(le: u8) -> usize {
    if le == 0 {
        256
    } else {
        le as usize
    }
}

const fn extended_ne(le: usize) -> usize {
    if le == 0 {
        65536
    } else {
        le
    }
}

/// Why a command could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuildError {
    /// More than 65535 data bytes.
    DataTooLong,
    /// Ne of 0 or more than 65536.
    InvalidLe,
    /// The output buffer is too small; `needed` bytes are required.
    BufferTooSmall {
        /// Bytes needed for the whole command.
        needed: usize,
    },
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::DataTooLong => f.write_str("command data longer than 65535 bytes"),
            Self::InvalidLe => f.write_str("expected length must be 1 to 65536"),
            Self::BufferTooSmall { needed } => {
                write!(f, "command buffer too small: {needed} bytes needed")
            }
        }
    }
}

impl core::error::Error for BuildError {}

/// Builds a command APDU into a caller buffer, choosing the short encoding when it fits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommandBuilder<'a> {
    cla: u8,
    ins: u8,
    p1: u8,
    p2: u8,
    data: &'a [u8],
    le: Option<usize>,
    force_extended: bool,
}

impl<'a> CommandBuilder<'a> {
    /// A case-1 command `CLA INS P1 P2`.
    pub const fn new(cla: u8, ins: u8, p1: u8, p2: u8) -> Self {
        Self {
            cla,
            ins,
            p1,
            p2,
            data: &[],
            le: None,
            force_extended: false,
        }
    }

    /// Sets the command data field.
    pub const fn data(mut self, data: &'a [u8]) -> Self {
        self.data = data;
        self
    }

    /// Sets Ne, the number of response bytes expected (1..=65536; 256 encodes as a short `00`).
    pub const fn le(mut self, ne: usize) -> Self {
        self.le = Some(ne);
        self
    }

    /// Removes the Le field.
    pub const fn no_le(mut self) -> Self {
        self.le = None;
        self
    }

    /// Forces the extended length encoding even where the short one fits.
    pub const fn extended(mut self, extended: bool) -> Self {
        self.force_extended = extended;
        self
    }

    /// Whether the command will be encoded with extended lengths (a case-1 command has
    /// no length fields and is never extended).
    pub const fn is_extended(&self) -> bool {
        if self.data.is_empty() && self.le.is_none() {
            return false;
        }
        let le_long = match self.le {
            Some(ne) => ne > 256,
            None => false,
        };
        self.force_extended || self.data.len() > 255 || le_long
    }

    fn check(&self) -> Result<(), BuildError> {
        if self.data.len() > 65535 {
            return Err(BuildError::DataTooLong);
        }
        match self.le {
            Some(0) => Err(BuildError::InvalidLe),
            Some(ne) if ne > 65536 => Err(BuildError::InvalidLe),
            _ => Ok(()),
        }
    }

    /// The encoded length in bytes.
    pub fn encoded_len(&self) -> Result<usize, BuildError> {
        self.check()?;
        let data = self.data.len();
        Ok(if self.is_extended() {
            let lc = if data > 0 { 3 + data } else { 0 };
            let le = match (self.le, data > 0) {
                (None, _) => 0,
                (Some(_), true) => 2,
                (Some(_), false) => 3,
            };
            4 + lc + le
        } else {
            let lc = if data > 0 { 1 + data } else { 0 };
            4 + lc + usize::from(self.le.is_some())
        })
    }

    /// Writes the command into `out` and returns the number of bytes written.
    pub fn write_into(&self, out: &mut [u8]) -> Result<usize, BuildError> {
        let needed = self.encoded_len()?;
        let out = out
            .get_mut(..needed)
            .ok_or(BuildError::BufferTooSmall { needed })?;
        let mut w = Writer { out, pos: 0 };
        w.put(&[self.cla, self.ins, self.p1, self.p2]);
        let data = self.data;
        if self.is_extended() {
            let lc = u16::try_from(data.len()).map_err(|_| BuildError::DataTooLong)?;
            if !data.is_empty() {
                w.put(&[0]);
                w.put(&lc.to_be_bytes());
                w.put(data);
            }
            if let Some(ne) = self.le {
                // 65536 encodes as 0000; everything else fits in two bytes after check().
                let le = u16::try_from(ne).unwrap_or(0);
                if data.is_empty() {
                    w.put(&[0]);
                }
                w.put(&le.to_be_bytes());
            }
        } else {
            if !data.is_empty() {
                let lc = u8::try_from(data.len()).map_err(|_| BuildError::DataTooLong)?;
                w.put(&[lc]);
                w.put(data);
            }
            if let Some(ne) = self.le {
                // 256 encodes as 00.
                w.put(&[u8::try_from(ne).unwrap_or(0)]);
            }
        }
        Ok(w.pos)
    }
}

/// Copies into a buffer whose length was checked up front; never panics.
struct Writer<'o> {
    out: &'o mut [u8],
    pos: usize,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) {
        let end = self.pos.saturating_add(bytes.len());
        if let Some(dst) = self.out.get_mut(self.pos..end) {
            dst.copy_from_slice(bytes);
            self.pos = end;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn round_trip(bytes: &[u8]) -> CommandView<'_> {
        let view = CommandView::parse(bytes).unwrap();
        let mut out = [0u8; 300];
        let n = view.to_builder().write_into(&mut out).unwrap();
        assert_eq!(&out[..n], bytes);
        view
    }

    #[test]
    fn four_cases_short() {
        let c1 = round_trip(&[0x00, 0x84, 0x00, 0x00]);
        assert_eq!((c1.case(), c1.le()), (1, None));
        let c2 = round_trip(&[0x00, 0xB2, 0x07, 0x04, 0x0B]);
        assert_eq!((c2.case(), c2.le()), (2, Some(11)));
        let c2z = round_trip(&[0x00, 0xB2, 0x07, 0x04, 0x00]);
        assert_eq!(c2z.le(), Some(256));
        let c3 = round_trip(&[0x00, 0xA4, 0x02, 0x00, 0x02, 0xEF, 0x05]);
        assert_eq!((c3.case(), c3.data()), (3, &[0xEF, 0x05][..]));
        let c4 = round_trip(&[0x00, 0xA4, 0x04, 0x00, 0x02, 0xEF, 0x05, 0x00]);
        assert_eq!((c4.case(), c4.le()), (4, Some(256)));
    }

    #[test]
    fn extended_cases() {
        let c2 = round_trip(&[0x00, 0xB0, 0x00, 0x00, 0x00, 0x01, 0x00]);
        assert_eq!((c2.case(), c2.le(), c2.is_extended()), (2, Some(256), true));
        let c2z = round_trip(&[0x00, 0xB0, 0x00, 0x00, 0x00, 0x00, 0x00]);
        assert_eq!(c2z.le(), Some(65536));
        let c3 = round_trip(&[0x00, 0xD6, 0x00, 0x00, 0x00, 0x00, 0x01, 0xAA]);
        assert_eq!(c3.case(), 3);
        let c4 = round_trip(&[0x00, 0xD6, 0x00, 0x00, 0x00, 0x00, 0x01, 0xAA, 0x00, 0x00]);
        assert_eq!((c4.case(), c4.le()), (4, Some(65536)));
    }

    #[test]
    fn malformed() {
        assert_eq!(CommandView::parse(&[0, 0xA4, 0]), Err(ParseError::TooShort));
        assert_eq!(
            CommandView::parse(&[0xFF, 0x10, 0, 0]),
            Err(ParseError::InvalidClass)
        );
        assert_eq!(
            CommandView::parse(&[0, 0xA4, 0, 0, 2, 0xEF]),
            Err(ParseError::InconsistentLength)
        );
        assert_eq!(
            CommandView::parse(&[0, 0xA4, 0, 0, 0, 0]),
            Err(ParseError::InconsistentLength)
        );
        assert_eq!(
            CommandView::parse(&[0, 0xA4, 0, 0, 0, 0, 0, 1]),
            Err(ParseError::ZeroExtendedLc)
        );
    }

    #[test]
    fn builder_picks_encoding_and_checks_buffer() {
        let data = [0x55u8; 300];
        let b = CommandBuilder::new(0, 0xD6, 0, 0).data(&data);
        assert!(b.is_extended());
        assert_eq!(b.encoded_len(), Ok(4 + 3 + 300));
        let mut small = [0u8; 10];
        assert_eq!(
            b.write_into(&mut small),
            Err(BuildError::BufferTooSmall { needed: 307 })
        );
        assert_eq!(
            CommandBuilder::new(0, 0xB0, 0, 0).le(0).encoded_len(),
            Err(BuildError::InvalidLe)
        );
        let mut out = [0u8; 8];
        let n = CommandBuilder::new(0, 0xB0, 0, 0)
            .le(257)
            .write_into(&mut out)
            .unwrap();
        assert_eq!(&out[..n], &[0, 0xB0, 0, 0, 0, 0x01, 0x01]);
    }
}
