//! A bounds-checked cursor over a binary request body (RowBinary, Native), and the ways
//! reading one value can fail.

use quecto_engine::EngineError;

use super::error::{FormatError, InputPosition};

/// Longest LEB128 encoding of a u64: ceil(64 / 7) bytes.
const VARINT_SIZE_MAX: usize = 10;
const _: () = assert!(VARINT_SIZE_MAX * 7 >= 64 && (VARINT_SIZE_MAX - 1) * 7 < 64);

/// Why a value could not be read; the parent adds the row and the value's offset.
pub(super) enum Fault {
    /// The body ends before the value does.
    Truncated,
    /// A Bool byte other than 0 or 1.
    BadBool(u8),
    /// A LEB128 length with more bytes than a u64 needs.
    VarintTooLong,
    /// String bytes that are not UTF-8, at this body offset.
    InvalidUtf8 { offset: usize },
    /// The batch builder refused the value.
    Value(EngineError),
}

impl Fault {
    /// The error for a value of 1-based `row` that starts at body offset `value_offset`.
    pub(super) fn into_format_error(self, row: usize, value_offset: usize) -> FormatError {
        let position = InputPosition::Offset(value_offset);
        match self {
            Fault::Truncated => FormatError::Truncated {
                row,
                offset: value_offset,
            },
            Fault::BadBool(byte) => FormatError::Syntax {
                row,
                position,
                detail: format!("a Bool byte must be 0 or 1, not {byte}"),
            },
            Fault::VarintTooLong => FormatError::Syntax {
                row,
                position,
                detail: format!("a string length varint is longer than {VARINT_SIZE_MAX} bytes"),
            },
            Fault::InvalidUtf8 { offset } => FormatError::InvalidUtf8 {
                row,
                position: InputPosition::Offset(offset),
            },
            Fault::Value(error) => FormatError::Value {
                row,
                position,
                error,
            },
        }
    }
}

/// A cursor over the body that never reads past its end.
pub(super) struct Reader<'a> {
    /// The whole body.
    pub(super) body: &'a [u8],
    /// Where the next read starts.
    pub(super) offset: usize,
}

impl<'a> Reader<'a> {
    /// The next `size` bytes.
    pub(super) fn take(&mut self, size: usize) -> Result<&'a [u8], Fault> {
        let end = self.offset.checked_add(size).ok_or(Fault::Truncated)?;
        let bytes = self.body.get(self.offset..end).ok_or(Fault::Truncated)?;
        self.offset = end;
        Ok(bytes)
    }

    /// The next `N` bytes as an array.
    pub(super) fn take_array<const N: usize>(&mut self) -> Result<[u8; N], Fault> {
        let bytes = self.take(N)?;
        <[u8; N]>::try_from(bytes).map_err(|_| Fault::Truncated)
    }

    /// An unsigned LEB128 number (ClickHouse's VarUInt).
    pub(super) fn read_varint(&mut self) -> Result<u64, Fault> {
        let mut value = 0u64;
        for index in 0..VARINT_SIZE_MAX {
            let [byte] = self.take_array::<1>()?;
            value |= u64::from(byte & 0x7f) << (7 * index);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(Fault::VarintTooLong)
    }

    /// A VarUInt length and that many UTF-8 bytes.
    pub(super) fn read_string(&mut self) -> Result<&'a str, Fault> {
        let size = usize::try_from(self.read_varint()?).map_err(|_| Fault::Truncated)?;
        let bytes_offset = self.offset;
        let bytes = self.take(size)?;
        std::str::from_utf8(bytes).map_err(|_| Fault::InvalidUtf8 {
            offset: bytes_offset,
        })
    }
}
