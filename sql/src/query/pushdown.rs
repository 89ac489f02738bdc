//! WHERE pushdown into a join's base-table scans: a conjunct that names the columns of one
//! table only is applied in that table's scan on the shards (symbol routing and zone maps
//! included), and `t.key = constant` also restricts every table joined to `t` on that key.
//!
//! Where it is safe: the leftmost table and the right side of an INNER/LEFT hash join get their
//! own conjuncts (the WHERE is applied again over the joined rows, so a right-side conjunct of a
//! LEFT join still removes the NULL-extended rows it would have removed). The right side of an
//! ASOF or window join gets only key restrictions: filtering it by anything else would change
//! which row is "the latest".

use sqlparser::ast::{BinaryOperator, Expr, JoinConstraint, JoinOperator, Select, TableFactor};

use super::ast::object_name;
use super::joins::{column_list, conjuncts};

/// Conjuncts to apply in each base table's scan, by the table's qualifier (alias or name).
pub(super) type Pushed = Vec<(String, Vec<Expr>)>;

/// A qualified column: (table qualifier, column name).
type ColumnRef = (String, String);

/// Two columns a join condition makes equal.
type KeyPair = (ColumnRef, ColumnRef);

/// The conjuncts of `select`'s WHERE that its join inputs can apply themselves.
pub(super) fn pushable(select: &Select) -> Pushed {
    let (Some(selection), [from]) = (&select.selection, select.from.as_slice()) else {
        return Vec::new();
    };
    if from.joins.is_empty() {
        return Vec::new();
    }
    // (qualifier, may take its own conjuncts, key equalities with earlier tables)
    let mut tables: Vec<(String, bool)> = Vec::new();
    let mut keys: Vec<KeyPair> = Vec::new();
    if let Some(q) = qualifier(&from.relation) {
        tables.push((q, true));
    }
    for join in &from.joins {
        let Some(q) = qualifier(&join.relation) else {
            continue;
        };
        let (own, constraint) = match &join.join_operator {
            JoinOperator::Join(c)
            | JoinOperator::Inner(c)
            | JoinOperator::Left(c)
            | JoinOperator::LeftOuter(c) => (true, c),
            JoinOperator::AsOf { constraint, .. } => (false, constraint),
            _ => return Vec::new(),
        };
        key_pairs(constraint, &q, &tables, &mut keys);
        tables.push((q, own));
    }
    let mut pushed: Pushed = tables
        .iter()
        .map(|(q, _)| (q.clone(), Vec::new()))
        .collect();
    for conjunct in conjuncts(selection) {
        let Some(owner) = single_qualifier(conjunct) else {
            continue;
        };
        let own = tables
            .iter()
            .any(|(q, own)| *own && q.eq_ignore_ascii_case(&owner));
        if own {
            push(&mut pushed, &owner, conjunct.clone());
        }
        // t.key = constant restricts the tables joined on that key.
        if let Some((column, constant)) = column_equals_constant(conjunct) {
            for ((qa, ca), (qb, cb)) in &keys {
                for (from_q, from_c, to_q, to_c) in [(qa, ca, qb, cb), (qb, cb, qa, ca)] {
                    if from_q.eq_ignore_ascii_case(&owner) && from_c.eq_ignore_ascii_case(&column) {
                        let restriction = Expr::BinaryOp {
                            left: Box::new(Expr::CompoundIdentifier(vec![
                                to_q.as_str().into(),
                                to_c.as_str().into(),
                            ])),
                            op: BinaryOperator::Eq,
                            right: Box::new(constant.clone()),
                        };
                        push(&mut pushed, to_q, restriction);
                    }
                }
            }
        }
    }
    pushed.retain(|(_, conjuncts)| !conjuncts.is_empty());
    pushed
}

fn push(pushed: &mut Pushed, qualifier: &str, conjunct: Expr) {
    if let Some((_, list)) = pushed
        .iter_mut()
        .find(|(q, _)| q.eq_ignore_ascii_case(qualifier))
    {
        if !list.contains(&conjunct) {
            list.push(conjunct);
        }
    }
}

/// The qualifier a base table is known by in the query (not derived tables: their own WHERE
/// is theirs to write).
fn qualifier(factor: &TableFactor) -> Option<String> {
    match factor {
        TableFactor::Table {
            name,
            alias,
            args: None,
            ..
        } => Some(
            alias
                .as_ref()
                .map_or_else(|| object_name(name), |a| a.name.value.clone()),
        ),
        _ => None,
    }
}

/// Key equalities `a.x = b.y` between the new table `new` and earlier ones; USING and QuestDB's
/// `ON (x)` pair the same column name with the leftmost table.
fn key_pairs(
    constraint: &JoinConstraint,
    new: &str,
    earlier: &[(String, bool)],
    keys: &mut Vec<KeyPair>,
) {
    let first = earlier.first().map(|(q, _)| q.clone());
    let mut same_name = |column: String| {
        if let Some(first) = &first {
            keys.push(((first.clone(), column.clone()), (new.to_string(), column)));
        }
    };
    match constraint {
        JoinConstraint::Using(names) => names.iter().map(object_name).for_each(&mut same_name),
        JoinConstraint::On(expr) if column_list(expr).is_some() => {
            column_list(expr).into_iter().flatten().for_each(same_name)
        }
        JoinConstraint::On(expr) => {
            for conjunct in conjuncts(expr) {
                if let Expr::BinaryOp {
                    left,
                    op: BinaryOperator::Eq,
                    right,
                } = conjunct
                {
                    if let (Some(a), Some(b)) = (qualified_column(left), qualified_column(right)) {
                        keys.push((a, b));
                    }
                }
            }
        }
        _ => {}
    }
}

fn qualified_column(expr: &Expr) -> Option<ColumnRef> {
    match expr {
        Expr::CompoundIdentifier(parts) if parts.len() == 2 => {
            Some((parts[0].value.clone(), parts[1].value.clone()))
        }
        _ => None,
    }
}

/// `q.col = constant` (either way round): the column and the constant.
fn column_equals_constant(expr: &Expr) -> Option<(String, Expr)> {
    let Expr::BinaryOp {
        left,
        op: BinaryOperator::Eq,
        right,
    } = expr
    else {
        return None;
    };
    match (qualified_column(left), qualified_column(right)) {
        (Some((_, column)), None) if matches!(**right, Expr::Value(_)) => {
            Some((column, (**right).clone()))
        }
        (None, Some((_, column))) if matches!(**left, Expr::Value(_)) => {
            Some((column, (**left).clone()))
        }
        _ => None,
    }
}

/// The one qualifier every column of `expr` carries; `None` for unqualified columns, several
/// qualifiers, or subqueries.
fn single_qualifier(expr: &Expr) -> Option<String> {
    let mut found: Option<String> = None;
    let mut clean = true;
    visit_columns(expr, &mut |column| match column {
        Expr::CompoundIdentifier(parts) if parts.len() == 2 => match &found {
            Some(q) if !q.eq_ignore_ascii_case(&parts[0].value) => clean = false,
            Some(_) => {}
            None => found = Some(parts[0].value.clone()),
        },
        _ => clean = false,
    });
    found.filter(|_| clean)
}

/// Calls `visit` on every column reference; anything it cannot see into counts as an
/// unqualified column (so it is never pushed).
fn visit_columns(expr: &Expr, visit: &mut dyn FnMut(&Expr)) {
    match expr {
        Expr::Identifier(_) | Expr::CompoundIdentifier(_) => visit(expr),
        Expr::Value(_) | Expr::Interval(_) | Expr::TypedString { .. } => {}
        Expr::BinaryOp { left, right, .. } => {
            visit_columns(left, visit);
            visit_columns(right, visit);
        }
        Expr::UnaryOp { expr, .. }
        | Expr::Nested(expr)
        | Expr::IsNull(expr)
        | Expr::IsNotNull(expr) => visit_columns(expr, visit),
        Expr::Between {
            expr, low, high, ..
        } => {
            visit_columns(expr, visit);
            visit_columns(low, visit);
            visit_columns(high, visit);
        }
        Expr::InList { expr, list, .. } => {
            visit_columns(expr, visit);
            list.iter().for_each(|e| visit_columns(e, visit));
        }
        other => visit(other),
    }
}
