//! The `Mutation` payload: a DELETE or UPDATE as bound by the SQL layer, so replay runs exactly
//! what the shard ran (the filter and SET expressions, not SQL text, which the engine cannot
//! parse). Expressions are written prefix-first, one tag byte per node; decoding bounds their
//! depth (recursion) and checks every count against the bytes left before allocating.
//!
//! ```text
//! Mutation    version u8 | table str16 | has_symbols u8 [count u32 | key*]
//!             | has_filter u8 [expr] | action u8 (1 DELETE | 2 UPDATE: count u16
//!             | (column u16 | expr)*)
//! key         1 | i64  (integer symbol)  or  2 | str32  (string symbol)
//! expr        1 column u16 | 2 value | 3 op u8 | expr | expr | 4 expr (NOT) | 5 expr (negate)
//!             | 6 negated u8 | expr (IS [NOT] NULL) | 7 negated u8 | count u32 | value* | expr
//!             ([NOT] IN) | 8 function u8 | count u32 | expr* | 9 has_operand u8 [expr]
//!             | count u32 | (expr expr)* | has_else u8 [expr] (CASE) | 10 type u8 | expr (CAST)
//! value       0 NULL | 1 i64 | 2 f64 | 3 bool u8 | 4 str32
//! str32       size u32 | UTF-8 bytes
//! ```

use super::function_codes::{function_code, function_of_code};
use super::{check_payload_size, put_str16, too_large, Reader, CODEC_VERSION};
use crate::batch::SymbolKey;
use crate::fragment::plan::{BinaryOp, ScalarExpr};
use crate::schema::TABLE_COLUMNS_MAX;
use crate::storage::mutate::{Assignment, Mutation, MutationAction};
use crate::types::{DataType, Value};
use crate::wal::error::CodecError;

/// Deepest expression a mutation record may hold (encoding refuses deeper ones, so anything
/// logged can be decoded).
pub const MUTATION_EXPR_DEPTH_MAX: usize = 256;

/// The byte of a binary operator on disk: never renumber, only add. Exhaustive, so a new
/// operator cannot be logged before it has a byte.
fn op_code(op: BinaryOp) -> u8 {
    match op {
        BinaryOp::Add => 0,
        BinaryOp::Subtract => 1,
        BinaryOp::Multiply => 2,
        BinaryOp::Divide => 3,
        BinaryOp::Modulo => 4,
        BinaryOp::Eq => 5,
        BinaryOp::NotEq => 6,
        BinaryOp::Lt => 7,
        BinaryOp::LtEq => 8,
        BinaryOp::Gt => 9,
        BinaryOp::GtEq => 10,
        BinaryOp::And => 11,
        BinaryOp::Or => 12,
    }
}

/// The operator of an on-disk byte, if it names one.
fn op_of_code(code: u8) -> Option<BinaryOp> {
    Some(match code {
        0 => BinaryOp::Add,
        1 => BinaryOp::Subtract,
        2 => BinaryOp::Multiply,
        3 => BinaryOp::Divide,
        4 => BinaryOp::Modulo,
        5 => BinaryOp::Eq,
        6 => BinaryOp::NotEq,
        7 => BinaryOp::Lt,
        8 => BinaryOp::LtEq,
        9 => BinaryOp::Gt,
        10 => BinaryOp::GtEq,
        11 => BinaryOp::And,
        12 => BinaryOp::Or,
        _ => return None,
    })
}

/// Appends the payload for `mutation`. On error `out` is left as it was.
pub fn encode_mutation(out: &mut Vec<u8>, mutation: &Mutation) -> Result<(), CodecError> {
    let start_size = out.len();
    let result = encode_unchecked(out, mutation);
    if result.is_err() {
        out.truncate(start_size);
        return result;
    }
    check_payload_size(out, start_size)
}

fn encode_unchecked(out: &mut Vec<u8>, mutation: &Mutation) -> Result<(), CodecError> {
    out.push(CODEC_VERSION);
    put_str16(out, &mutation.table, "table name")?;
    match &mutation.symbols {
        None => out.push(0),
        Some(keys) => {
            out.push(1);
            put_count(out, keys.len(), "symbols count")?;
            for key in keys {
                match key {
                    SymbolKey::Int(id) => {
                        out.push(1);
                        out.extend_from_slice(&id.to_le_bytes());
                    }
                    SymbolKey::Str(name) => {
                        out.push(2);
                        put_str32(out, name)?;
                    }
                }
            }
        }
    }
    match &mutation.filter {
        None => out.push(0),
        Some(filter) => {
            out.push(1);
            put_expr(out, filter, 0)?;
        }
    }
    match &mutation.action {
        MutationAction::Delete => out.push(1),
        MutationAction::Update(assignments) => {
            out.push(2);
            if assignments.len() > TABLE_COLUMNS_MAX {
                return Err(too_large(
                    "assignments count",
                    assignments.len(),
                    TABLE_COLUMNS_MAX,
                ));
            }
            out.extend_from_slice(&(assignments.len() as u16).to_le_bytes());
            for assignment in assignments {
                put_column(out, assignment.column)?;
                put_expr(out, &assignment.value, 0)?;
            }
        }
    }
    Ok(())
}

fn put_count(out: &mut Vec<u8>, count: usize, what: &'static str) -> Result<(), CodecError> {
    let count = u32::try_from(count).map_err(|_| too_large(what, count, u32::MAX as usize))?;
    out.extend_from_slice(&count.to_le_bytes());
    Ok(())
}

fn put_str32(out: &mut Vec<u8>, text: &str) -> Result<(), CodecError> {
    put_count(out, text.len(), "string size")?;
    out.extend_from_slice(text.as_bytes());
    Ok(())
}

fn put_column(out: &mut Vec<u8>, column: usize) -> Result<(), CodecError> {
    if column >= TABLE_COLUMNS_MAX {
        return Err(too_large("column index", column, TABLE_COLUMNS_MAX - 1));
    }
    out.extend_from_slice(&(column as u16).to_le_bytes());
    Ok(())
}

fn put_value(out: &mut Vec<u8>, value: &Value) -> Result<(), CodecError> {
    match value {
        Value::Null => out.push(0),
        Value::Int(x) => {
            out.push(1);
            out.extend_from_slice(&x.to_le_bytes());
        }
        Value::Float(x) => {
            out.push(2);
            out.extend_from_slice(&x.to_le_bytes());
        }
        Value::Bool(x) => {
            out.push(3);
            out.push(u8::from(*x));
        }
        Value::Str(text) => {
            out.push(4);
            put_str32(out, text)?;
        }
    }
    Ok(())
}

fn put_expr(out: &mut Vec<u8>, expr: &ScalarExpr, depth: usize) -> Result<(), CodecError> {
    if depth >= MUTATION_EXPR_DEPTH_MAX {
        return Err(too_large(
            "expression depth",
            depth + 1,
            MUTATION_EXPR_DEPTH_MAX,
        ));
    }
    match expr {
        ScalarExpr::Column(index) => {
            out.push(1);
            put_column(out, *index)?;
        }
        ScalarExpr::Literal(value) => {
            out.push(2);
            put_value(out, value)?;
        }
        ScalarExpr::Binary { op, left, right } => {
            out.push(3);
            out.push(op_code(*op));
            put_expr(out, left, depth + 1)?;
            put_expr(out, right, depth + 1)?;
        }
        ScalarExpr::Not(inner) => {
            out.push(4);
            put_expr(out, inner, depth + 1)?;
        }
        ScalarExpr::Negate(inner) => {
            out.push(5);
            put_expr(out, inner, depth + 1)?;
        }
        ScalarExpr::IsNull { expr, negated } => {
            out.push(6);
            out.push(u8::from(*negated));
            put_expr(out, expr, depth + 1)?;
        }
        ScalarExpr::InList {
            expr,
            list,
            negated,
        } => {
            out.push(7);
            out.push(u8::from(*negated));
            put_count(out, list.len(), "IN list size")?;
            for value in list {
                put_value(out, value)?;
            }
            put_expr(out, expr, depth + 1)?;
        }
        ScalarExpr::Function { function, args } => {
            out.push(8);
            out.push(function_code(*function));
            put_count(out, args.len(), "function arguments")?;
            for arg in args {
                put_expr(out, arg, depth + 1)?;
            }
        }
        ScalarExpr::Case {
            operand,
            branches,
            otherwise,
        } => {
            out.push(9);
            put_optional(out, operand.as_deref(), depth)?;
            put_count(out, branches.len(), "CASE branches")?;
            for (when, then) in branches {
                put_expr(out, when, depth + 1)?;
                put_expr(out, then, depth + 1)?;
            }
            put_optional(out, otherwise.as_deref(), depth)?;
        }
        ScalarExpr::Cast { expr, to } => {
            out.push(10);
            out.push(to.disk_code());
            put_expr(out, expr, depth + 1)?;
        }
    }
    Ok(())
}

fn put_optional(
    out: &mut Vec<u8>,
    expr: Option<&ScalarExpr>,
    depth: usize,
) -> Result<(), CodecError> {
    out.push(u8::from(expr.is_some()));
    match expr {
        Some(expr) => put_expr(out, expr, depth + 1),
        None => Ok(()),
    }
}

/// Decodes a `Mutation` payload.
pub(super) fn decode_mutation(payload: &[u8]) -> Result<Mutation, CodecError> {
    let mut reader = Reader::new(payload);
    reader.version()?;
    let table = reader.str16("table name")?;
    let symbols = if reader.flag("symbols flag")? {
        let count = read_count(&mut reader, 9)?;
        let mut keys = Vec::with_capacity(count);
        for _ in 0..count {
            keys.push(read_key(&mut reader)?);
        }
        Some(keys)
    } else {
        None
    };
    let filter = if reader.flag("filter flag")? {
        Some(read_expr(&mut reader, 0)?)
    } else {
        None
    };
    let offset = reader.offset;
    let action = match reader.u8()? {
        1 => MutationAction::Delete,
        2 => {
            let count = usize::from(reader.u16()?);
            if count > TABLE_COLUMNS_MAX {
                return Err(too_large("assignments count", count, TABLE_COLUMNS_MAX));
            }
            let mut assignments = Vec::with_capacity(count);
            for _ in 0..count {
                let column = read_column(&mut reader)?;
                let value = read_expr(&mut reader, 0)?;
                assignments.push(Assignment { column, value });
            }
            MutationAction::Update(assignments)
        }
        tag => {
            return Err(CodecError::BadTag {
                what: "mutation action",
                tag,
                offset,
            })
        }
    };
    reader.finish()?;
    Ok(Mutation {
        table,
        symbols,
        filter,
        action,
    })
}

/// A u32 count of items that take at least `item_size_min` bytes each, checked against the
/// bytes left so a corrupt count cannot make us allocate.
fn read_count(reader: &mut Reader<'_>, item_size_min: usize) -> Result<usize, CodecError> {
    let offset = reader.offset;
    let count = reader.u32()? as usize;
    let available_size = reader.bytes.len() - reader.offset;
    if count.saturating_mul(item_size_min) > available_size {
        return Err(CodecError::Truncated {
            offset,
            needed_size: count.saturating_mul(item_size_min),
            available_size,
        });
    }
    Ok(count)
}

fn read_str32(reader: &mut Reader<'_>, what: &'static str) -> Result<String, CodecError> {
    let size = reader.u32()? as usize;
    let offset = reader.offset;
    let bytes = reader.take(size)?;
    std::str::from_utf8(bytes)
        .map(str::to_string)
        .map_err(|_| CodecError::BadUtf8 { what, offset })
}

fn read_i64(reader: &mut Reader<'_>) -> Result<i64, CodecError> {
    reader.array().map(i64::from_le_bytes)
}

fn read_key(reader: &mut Reader<'_>) -> Result<SymbolKey, CodecError> {
    let offset = reader.offset;
    match reader.u8()? {
        1 => Ok(SymbolKey::Int(read_i64(reader)?)),
        2 => Ok(SymbolKey::Str(read_str32(reader, "symbol")?.into())),
        tag => Err(CodecError::BadTag {
            what: "symbol key",
            tag,
            offset,
        }),
    }
}

fn read_column(reader: &mut Reader<'_>) -> Result<usize, CodecError> {
    let column = usize::from(reader.u16()?);
    if column >= TABLE_COLUMNS_MAX {
        return Err(too_large("column index", column, TABLE_COLUMNS_MAX - 1));
    }
    Ok(column)
}

fn read_value(reader: &mut Reader<'_>) -> Result<Value, CodecError> {
    let offset = reader.offset;
    Ok(match reader.u8()? {
        0 => Value::Null,
        1 => Value::Int(read_i64(reader)?),
        2 => Value::Float(reader.array().map(f64::from_le_bytes)?),
        3 => Value::Bool(reader.flag("boolean value")?),
        4 => Value::Str(read_str32(reader, "string value")?),
        tag => {
            return Err(CodecError::BadTag {
                what: "value",
                tag,
                offset,
            })
        }
    })
}

fn read_expr(reader: &mut Reader<'_>, depth: usize) -> Result<ScalarExpr, CodecError> {
    if depth >= MUTATION_EXPR_DEPTH_MAX {
        return Err(too_large(
            "expression depth",
            depth + 1,
            MUTATION_EXPR_DEPTH_MAX,
        ));
    }
    let offset = reader.offset;
    let inner = |reader: &mut Reader<'_>| read_expr(reader, depth + 1).map(Box::new);
    Ok(match reader.u8()? {
        1 => ScalarExpr::Column(read_column(reader)?),
        2 => ScalarExpr::Literal(read_value(reader)?),
        3 => {
            let op_offset = reader.offset;
            let code = reader.u8()?;
            let op = op_of_code(code).ok_or(CodecError::BadTag {
                what: "binary operator",
                tag: code,
                offset: op_offset,
            })?;
            let left = inner(reader)?;
            let right = inner(reader)?;
            ScalarExpr::Binary { op, left, right }
        }
        4 => ScalarExpr::Not(inner(reader)?),
        5 => ScalarExpr::Negate(inner(reader)?),
        6 => {
            let negated = reader.flag("IS NULL negation")?;
            ScalarExpr::IsNull {
                expr: inner(reader)?,
                negated,
            }
        }
        7 => {
            let negated = reader.flag("IN negation")?;
            let count = read_count(reader, 1)?;
            let mut list = Vec::with_capacity(count);
            for _ in 0..count {
                list.push(read_value(reader)?);
            }
            ScalarExpr::InList {
                expr: inner(reader)?,
                list,
                negated,
            }
        }
        8 => {
            let code_offset = reader.offset;
            let code = reader.u8()?;
            let function = function_of_code(code).ok_or(CodecError::BadTag {
                what: "scalar function",
                tag: code,
                offset: code_offset,
            })?;
            let count = read_count(reader, 1)?;
            let mut args = Vec::with_capacity(count);
            for _ in 0..count {
                args.push(read_expr(reader, depth + 1)?);
            }
            ScalarExpr::Function { function, args }
        }
        9 => {
            let operand = read_optional(reader, depth)?;
            let count = read_count(reader, 2)?;
            let mut branches = Vec::with_capacity(count);
            for _ in 0..count {
                let when = read_expr(reader, depth + 1)?;
                let then = read_expr(reader, depth + 1)?;
                branches.push((when, then));
            }
            let otherwise = read_optional(reader, depth)?;
            ScalarExpr::Case {
                operand,
                branches,
                otherwise,
            }
        }
        10 => {
            let type_offset = reader.offset;
            let code = reader.u8()?;
            let to = DataType::from_disk_code(code).ok_or(CodecError::BadTag {
                what: "cast type",
                tag: code,
                offset: type_offset,
            })?;
            ScalarExpr::Cast {
                expr: inner(reader)?,
                to,
            }
        }
        tag => {
            return Err(CodecError::BadTag {
                what: "expression",
                tag,
                offset,
            })
        }
    })
}

fn read_optional(
    reader: &mut Reader<'_>,
    depth: usize,
) -> Result<Option<Box<ScalarExpr>>, CodecError> {
    if reader.flag("optional expression flag")? {
        Ok(Some(Box::new(read_expr(reader, depth + 1)?)))
    } else {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wal::codec::{decode_entry, WalEntry};
    use crate::wal::RecordKind;

    fn every_shape() -> Mutation {
        let column = |i| Box::new(ScalarExpr::Column(i));
        let filter = ScalarExpr::Binary {
            op: BinaryOp::Or,
            left: Box::new(ScalarExpr::InList {
                expr: column(0),
                list: vec![
                    Value::Null,
                    Value::Int(-7),
                    Value::Float(2.5),
                    Value::Bool(true),
                    Value::Str("é".into()),
                ],
                negated: true,
            }),
            right: Box::new(ScalarExpr::Not(Box::new(ScalarExpr::IsNull {
                expr: Box::new(ScalarExpr::Negate(column(3))),
                negated: false,
            }))),
        };
        Mutation {
            table: "trades".into(),
            symbols: Some(vec![SymbolKey::Str("AAPL".into()), SymbolKey::Int(-42)]),
            filter: Some(filter),
            action: MutationAction::Update(vec![
                Assignment {
                    column: 2,
                    value: ScalarExpr::Binary {
                        op: BinaryOp::Divide,
                        left: column(2),
                        right: Box::new(ScalarExpr::Literal(Value::Float(f64::NAN.copysign(1.0)))),
                    },
                },
                Assignment {
                    column: 1023,
                    value: ScalarExpr::Literal(Value::Str(String::new())),
                },
                Assignment {
                    column: 4,
                    value: ScalarExpr::Case {
                        operand: Some(column(1)),
                        branches: vec![(
                            ScalarExpr::Literal(Value::Int(1)),
                            ScalarExpr::Function {
                                function: crate::fragment::plan::ScalarFunction::TruncateTo(
                                    crate::time::CalendarUnit::Month,
                                ),
                                args: vec![ScalarExpr::Column(1)],
                            },
                        )],
                        otherwise: Some(Box::new(ScalarExpr::Cast {
                            expr: Box::new(ScalarExpr::Function {
                                function: crate::fragment::plan::ScalarFunction::Xbar,
                                args: vec![
                                    ScalarExpr::Column(1),
                                    ScalarExpr::Literal(Value::Int(60)),
                                ],
                            }),
                            to: DataType::Timestamp,
                        })),
                    },
                },
            ]),
        }
    }

    fn encoded(mutation: &Mutation) -> Vec<u8> {
        let mut out = Vec::new();
        encode_mutation(&mut out, mutation).expect("encodes");
        out
    }

    fn decoded(payload: &[u8]) -> Result<Mutation, CodecError> {
        match decode_entry(RecordKind::Mutation, payload)? {
            WalEntry::Mutation(mutation) => Ok(*mutation),
            other => panic!("decoded as {other:?}"),
        }
    }

    #[test]
    fn every_expression_shape_round_trips() {
        let mut mutation = every_shape();
        // NaN is not equal to itself: compare its bits separately, then a finite value.
        let payload = encoded(&mutation);
        let back = decoded(&payload).expect("decodes");
        let MutationAction::Update(assignments) = &back.action else {
            panic!("not an update");
        };
        let ScalarExpr::Binary { right, .. } = &assignments[0].value else {
            panic!("not a division");
        };
        assert!(matches!(**right, ScalarExpr::Literal(Value::Float(x)) if x.is_nan()));
        if let MutationAction::Update(assignments) = &mut mutation.action {
            assignments[0].value = ScalarExpr::Literal(Value::Float(-0.25));
        }
        assert_eq!(decoded(&encoded(&mutation)).expect("decodes"), mutation);
        for every_operator in [
            BinaryOp::Add,
            BinaryOp::Subtract,
            BinaryOp::Multiply,
            BinaryOp::Divide,
            BinaryOp::Modulo,
            BinaryOp::Eq,
            BinaryOp::NotEq,
            BinaryOp::Lt,
            BinaryOp::LtEq,
            BinaryOp::Gt,
            BinaryOp::GtEq,
            BinaryOp::And,
            BinaryOp::Or,
        ] {
            assert_eq!(op_of_code(op_code(every_operator)), Some(every_operator));
        }
        let plain = Mutation {
            table: "t".into(),
            symbols: None,
            filter: None,
            action: MutationAction::Delete,
        };
        assert_eq!(decoded(&encoded(&plain)).expect("decodes"), plain);
    }

    #[test]
    fn every_truncation_and_trailing_byte_is_refused() {
        let payload = encoded(&every_shape());
        for size in 0..payload.len() {
            assert!(
                decoded(&payload[..size]).is_err(),
                "prefix of {size} accepted"
            );
        }
        let mut longer = payload.clone();
        longer.push(0);
        assert!(matches!(
            decoded(&longer),
            Err(CodecError::TrailingBytes { .. })
        ));
    }

    #[test]
    fn bad_tags_and_huge_counts_are_refused_without_allocating() {
        let plain = encoded(&Mutation {
            table: "t".into(),
            symbols: None,
            filter: None,
            action: MutationAction::Delete,
        });
        let mut bad_action = plain.clone();
        *bad_action.last_mut().expect("non-empty") = 9;
        assert!(matches!(
            decoded(&bad_action),
            Err(CodecError::BadTag {
                what: "mutation action",
                ..
            })
        ));
        // symbols flag, then a count of u32::MAX keys with nothing behind it.
        let mut huge = plain[..plain.len() - 3].to_vec();
        huge.push(1);
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(decoded(&huge), Err(CodecError::Truncated { .. })));
    }

    #[test]
    fn depth_is_bounded_when_encoding_and_decoding() {
        let mut deep = ScalarExpr::Column(0);
        for _ in 0..MUTATION_EXPR_DEPTH_MAX {
            deep = ScalarExpr::Not(Box::new(deep));
        }
        let mutation = Mutation {
            table: "t".into(),
            symbols: None,
            filter: Some(deep),
            action: MutationAction::Delete,
        };
        let mut out = vec![7u8];
        assert!(matches!(
            encode_mutation(&mut out, &mutation),
            Err(CodecError::TooLarge {
                what: "expression depth",
                ..
            })
        ));
        assert_eq!(
            out,
            vec![7u8],
            "a failed encode leaves the buffer as it was"
        );
        // A hand-made payload nesting NOT past the limit.
        let mut payload = encoded(&Mutation {
            table: "t".into(),
            symbols: None,
            filter: None,
            action: MutationAction::Delete,
        });
        payload.truncate(payload.len() - 2);
        payload.push(1);
        payload.extend(std::iter::repeat_n(4u8, MUTATION_EXPR_DEPTH_MAX + 1));
        assert!(matches!(
            decoded(&payload),
            Err(CodecError::TooLarge {
                what: "expression depth",
                ..
            })
        ));
    }
}
