//! Zone-map pruning: decides from a chunk's min/max (and the partition's symbol) whether a
//! filter rejects every row, accepts every row, or must be evaluated.

use super::plan::{BinaryOp, ScalarExpr};
use crate::batch::SymbolKey;
use crate::storage::chunk::{Chunk, Zone};
use crate::types::Value;

/// The outcome of pruning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// No row can pass.
    Skip,
    /// Every row passes.
    All,
    /// Evaluate the filter.
    Check,
}

/// What pruning may look at.
pub struct PruneContext<'a> {
    /// The chunk (its zones and NULL masks).
    pub chunk: &'a Chunk,
    /// The partition's symbol.
    pub key: &'a SymbolKey,
    /// Index of the symbol column.
    pub symbol_index: usize,
}

/// Prunes `filter` against one chunk.
pub fn verdict(filter: &ScalarExpr, ctx: &PruneContext<'_>) -> Verdict {
    match filter {
        ScalarExpr::Binary {
            op: op @ (BinaryOp::And | BinaryOp::Or),
            left,
            right,
        } => combine(*op, verdict(left, ctx), verdict(right, ctx)),
        ScalarExpr::Binary { op, left, right } if op.is_comparison() => match (&**left, &**right) {
            (ScalarExpr::Column(c), ScalarExpr::Literal(v)) => column_verdict(*op, *c, v, ctx),
            (ScalarExpr::Literal(v), ScalarExpr::Column(c)) => {
                column_verdict(op.flipped(), *c, v, ctx)
            }
            _ => Verdict::Check,
        },
        ScalarExpr::InList {
            expr,
            list,
            negated: false,
        } => match &**expr {
            ScalarExpr::Column(c) if *c == ctx.symbol_index => {
                let key = ctx.key.to_value();
                if list.iter().any(|v| v.total_cmp(&key).is_eq()) {
                    Verdict::All
                } else {
                    Verdict::Skip
                }
            }
            _ => Verdict::Check,
        },
        _ => Verdict::Check,
    }
}

/// The verdict of `a op b` for `op` AND or OR, from the verdicts of `a` and `b`.
pub(super) fn combine(op: BinaryOp, a: Verdict, b: Verdict) -> Verdict {
    match (op, a, b) {
        (BinaryOp::And, Verdict::Skip, _) | (BinaryOp::And, _, Verdict::Skip) => Verdict::Skip,
        (BinaryOp::And, Verdict::All, Verdict::All) => Verdict::All,
        (BinaryOp::Or, Verdict::All, _) | (BinaryOp::Or, _, Verdict::All) => Verdict::All,
        (BinaryOp::Or, Verdict::Skip, Verdict::Skip) => Verdict::Skip,
        _ => Verdict::Check,
    }
}

fn column_verdict(op: BinaryOp, column: usize, literal: &Value, ctx: &PruneContext<'_>) -> Verdict {
    if column == ctx.symbol_index {
        let ordering = ctx.key.to_value().total_cmp(literal);
        let comparable = matches!(
            (ctx.key, literal),
            (SymbolKey::Int(_), Value::Int(_)) | (SymbolKey::Str(_), Value::Str(_))
        );
        return match comparable {
            true if op.holds(ordering) => Verdict::All,
            true => Verdict::Skip,
            false => Verdict::Check,
        };
    }
    let stored = &ctx.chunk.columns[column];
    zone_verdict(op, stored.zone, stored.nulls.is_some(), literal)
}

/// Whether `column op literal` holds for no row, every row or some rows of values bounded by
/// `zone` (`has_nulls`: some may be NULL, which no comparison keeps).
pub(super) fn zone_verdict(op: BinaryOp, zone: Zone, has_nulls: bool, literal: &Value) -> Verdict {
    ZoneJudge::new(op, literal).verdict(zone, has_nulls)
}

/// `column op literal` judged zone after zone, the literal read once: a chunk's blocks are
/// judged in one loop of comparisons (`block_parts`).
#[derive(Clone, Copy, Debug)]
pub(super) struct ZoneJudge {
    op: BinaryOp,
    /// The literal when it is an integer, compared with integer zones as integers.
    int: Option<i64>,
    /// The literal as a float, when it is a number.
    float: Option<f64>,
}

impl ZoneJudge {
    /// The judge of `column op literal`.
    pub(super) fn new(op: BinaryOp, literal: &Value) -> ZoneJudge {
        let int = match literal {
            Value::Int(x) => Some(*x),
            _ => None,
        };
        ZoneJudge {
            op,
            int,
            float: literal.as_f64(),
        }
    }

    /// The verdict on values bounded by `zone` (`has_nulls`: some may be NULL).
    #[inline(always)]
    pub(super) fn verdict(self, zone: Zone, has_nulls: bool) -> Verdict {
        let Some(x) = self.float else {
            return Verdict::Check;
        };
        let (min, max) = match (zone, self.int) {
            (Zone::Int { min, max }, Some(x)) => {
                return int_verdict(self.op, min, max, x, has_nulls);
            }
            (Zone::Int { min, max }, None) => (min as f64, max as f64),
            (Zone::Float { min, max }, _) => (min, max),
            (Zone::Unknown, _) => return Verdict::Check,
        };
        range_verdict(self.op, min, max, x, has_nulls)
    }
}

#[inline(always)]
fn int_verdict(op: BinaryOp, min: i64, max: i64, x: i64, has_nulls: bool) -> Verdict {
    let (none, all) = match op {
        BinaryOp::Gt => (max <= x, min > x),
        BinaryOp::GtEq => (max < x, min >= x),
        BinaryOp::Lt => (min >= x, max < x),
        BinaryOp::LtEq => (min > x, max <= x),
        BinaryOp::Eq => (x < min || x > max, min == x && max == x),
        BinaryOp::NotEq => (min == x && max == x, x < min || x > max),
        _ => (false, false),
    };
    decide(none, all, has_nulls)
}

#[inline(always)]
fn range_verdict(op: BinaryOp, min: f64, max: f64, x: f64, has_nulls: bool) -> Verdict {
    let (none, all) = match op {
        BinaryOp::Gt => (max <= x, min > x),
        BinaryOp::GtEq => (max < x, min >= x),
        BinaryOp::Lt => (min >= x, max < x),
        BinaryOp::LtEq => (min > x, max <= x),
        BinaryOp::Eq => (x < min || x > max, false),
        _ => (false, false),
    };
    decide(none, all, has_nulls)
}

/// NULL rows never pass, so "every row passes" needs a NULL-free column.
fn decide(none: bool, all: bool, has_nulls: bool) -> Verdict {
    if none {
        Verdict::Skip
    } else if all && !has_nulls {
        Verdict::All
    } else {
        Verdict::Check
    }
}
