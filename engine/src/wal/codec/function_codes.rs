//! The on-disk bytes of scalar functions and types in logged expressions: never renumber, only
//! add. Both tables are exhaustive matches, so a new function cannot be logged before it has a
//! byte.

use crate::fragment::plan::ScalarFunction;
use crate::time::CalendarUnit;

/// The byte of a scalar function.
pub(super) fn function_code(function: ScalarFunction) -> u8 {
    match function {
        ScalarFunction::IntDiv => 1,
        ScalarFunction::FloorDiv => 2,
        ScalarFunction::Abs => 3,
        ScalarFunction::Round => 4,
        ScalarFunction::Floor => 5,
        ScalarFunction::Ceil => 6,
        ScalarFunction::Sqrt => 7,
        ScalarFunction::Ln => 8,
        ScalarFunction::Log10 => 9,
        ScalarFunction::Log2 => 10,
        ScalarFunction::Exp => 11,
        ScalarFunction::Pow => 12,
        ScalarFunction::Greatest => 13,
        ScalarFunction::Least => 14,
        ScalarFunction::Coalesce => 15,
        ScalarFunction::Xbar => 16,
        ScalarFunction::TruncateTo(CalendarUnit::Week) => 17,
        ScalarFunction::TruncateTo(CalendarUnit::Month) => 18,
        ScalarFunction::TruncateTo(CalendarUnit::Year) => 19,
    }
}

/// The scalar function of an on-disk byte, if it names one.
pub(super) fn function_of_code(code: u8) -> Option<ScalarFunction> {
    Some(match code {
        1 => ScalarFunction::IntDiv,
        2 => ScalarFunction::FloorDiv,
        3 => ScalarFunction::Abs,
        4 => ScalarFunction::Round,
        5 => ScalarFunction::Floor,
        6 => ScalarFunction::Ceil,
        7 => ScalarFunction::Sqrt,
        8 => ScalarFunction::Ln,
        9 => ScalarFunction::Log10,
        10 => ScalarFunction::Log2,
        11 => ScalarFunction::Exp,
        12 => ScalarFunction::Pow,
        13 => ScalarFunction::Greatest,
        14 => ScalarFunction::Least,
        15 => ScalarFunction::Coalesce,
        16 => ScalarFunction::Xbar,
        17 => ScalarFunction::TruncateTo(CalendarUnit::Week),
        18 => ScalarFunction::TruncateTo(CalendarUnit::Month),
        19 => ScalarFunction::TruncateTo(CalendarUnit::Year),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_names_its_function_back() {
        for code in 0..=u8::MAX {
            if let Some(function) = function_of_code(code) {
                assert_eq!(function_code(function), code);
            }
        }
        assert_eq!(function_of_code(0), None);
        assert_eq!(function_of_code(20), None);
    }
}
