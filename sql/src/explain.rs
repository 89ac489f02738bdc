//! EXPLAIN: a planned SELECT as text: the fragment every target shard runs (scan, symbol
//! routing, filter and the zone-map pruning it allows, partial aggregate or rows) and the
//! coordinator's merge. One line per step, indented under the step that consumes it.

use quecto_engine::fragment::plan::{
    AggregateCall, AsofJoin, BinaryOp, FragmentOutput, ScalarExpr, SortKey,
};
use quecto_engine::fragment::runs::groups_by_runs;
use quecto_engine::fragment::window::TimeWindow;
use quecto_engine::schema::TableSchema;

use crate::select::{Merge, SelectPlan};

/// The plan's lines, given the table's schema and the shards the fragment goes to.
pub fn explain_lines(
    plan: &SelectPlan,
    schema: &TableSchema,
    target_shards: &[usize],
    shards_count: usize,
) -> Vec<String> {
    let column = |index: usize| {
        schema
            .columns
            .get(index)
            .map_or_else(|| format!("#{index}"), |c| c.name.clone())
    };
    let mut lines = vec![merge_line(&plan.merge)];
    let routing = match &plan.fragment.symbols {
        Some(keys) => {
            let keys: Vec<String> = keys.iter().map(|k| k.to_value().to_string()).collect();
            format!(
                "routed by {} = {}",
                schema.columns[schema.symbol_index].name,
                keys.join(", ")
            )
        }
        None => "every shard".to_string(),
    };
    lines.push(format!(
        "  Fragment on shards {target_shards:?} of {shards_count} ({routing})"
    ));
    match &plan.fragment.output {
        FragmentOutput::Aggregate {
            group_by,
            aggregates,
            reaggregate,
        } => {
            let symbol = ScalarExpr::Column(schema.symbol_index);
            let one_partition = plan.fragment.symbols.as_ref().is_some_and(|k| k.len() == 1);
            let runs = groups_by_runs(
                group_by,
                aggregates,
                schema.timestamp_index,
                schema.symbol_index,
            ) && (group_by.contains(&symbol) || one_partition);
            let first = aggregate_text(group_by, aggregates, runs, &column);
            match reaggregate {
                None => lines.push(format!("    PartialAggregate: {first}")),
                Some(second) => {
                    let finished = |index: usize| match group_by.get(index) {
                        Some(key) => expr_text(key, &column),
                        None => aggregates
                            .get(index - group_by.len())
                            .map_or_else(|| format!("#{index}"), |c| call_text(c, &column)),
                    };
                    lines.push(format!(
                        "    PartialAggregate: {} of each partition's finished groups \
                         (nested aggregate on the shards)",
                        aggregate_text(&second.group_by, &second.aggregates, false, &finished)
                    ));
                    if let Some(filter) = &second.filter {
                        lines.push(format!(
                            "      Finished groups kept: {}",
                            expr_text(filter, &finished)
                        ));
                    }
                    lines.push(format!("      Groups finished per partition: {first}"));
                }
            }
        }
        FragmentOutput::Rows {
            columns,
            order_by,
            limit,
        } => {
            let projected: Vec<String> = columns.iter().map(|e| expr_text(e, &column)).collect();
            let limit = limit.map_or_else(|| "none".to_string(), |l| l.to_string());
            lines.push(format!(
                "    Rows: [{}], top by [{}], limit {limit} per shard",
                projected.join(", "),
                sort_text(order_by, &column)
            ));
        }
    }
    if let Some(join) = &plan.fragment.asof {
        lines.push(format!(
            "      co-located ASOF join on shards: {} (columns past #{} are {}'s)",
            asof_text(join, &plan.fragment.table),
            schema.columns.len(),
            join.right_table
        ));
    }
    if let Some(filter) = &plan.fragment.filter {
        let zoned = zone_prunable_columns(filter, &column);
        let pruning = if zoned.is_empty() {
            "none".to_string()
        } else {
            zoned.join(", ")
        };
        lines.push(format!(
            "      Filter: {} (chunk pruning by zone maps on: {pruning})",
            expr_text(filter, &column)
        ));
        if let Some(window) = TimeWindow::of(filter, schema.timestamp_index) {
            lines.push(format!(
                "      Time window: {} in [{}, {}], found by binary search in each chunk",
                column(schema.timestamp_index),
                window.from,
                window.to
            ));
        }
    }
    let partitions = if plan.fragment.symbols.is_some() {
        "the routed symbols' partitions"
    } else {
        "every partition"
    };
    lines.push(format!(
        "        Scan {}: {partitions}",
        plan.fragment.table
    ));
    lines
}

/// What a co-located ASOF join does, in words.
fn asof_text(join: &AsofJoin, left_table: &str) -> String {
    let column = |index: usize| format!("#{index}");
    format!(
        "each {left_table} partition merge-walks the same symbol's {} partition, \
         latest right row with time {} left time{}{}{}{}",
        join.right_table,
        if join.inclusive { "<=" } else { "<" },
        join.tolerance_ns
            .map(|t| format!(", tolerance {t} ns"))
            .unwrap_or_default(),
        if join.left_outer { ", left outer" } else { "" },
        join.right_filter
            .as_ref()
            .map(|f| format!(", right filter {}", expr_text(f, &column)))
            .unwrap_or_default(),
        join.joined_filter
            .as_ref()
            .map(|f| format!(", joined filter {}", expr_text(f, &column)))
            .unwrap_or_default(),
    )
}

fn merge_line(merge: &Merge) -> String {
    match merge {
        Merge::Aggregate {
            groups_count,
            partition_complete,
            functions,
            having,
            order_by,
            limit,
            offset,
            ..
        } => {
            let names: Vec<&str> = functions.iter().map(|f| f.name()).collect();
            let how = if *partition_complete {
                "concatenate groups keyed by symbol (each lies on one shard) and finish"
            } else {
                "combine"
            };
            format!(
                "Merge: {how} {} partial state(s) over {groups_count} group key(s){}{}{}",
                names.len(),
                if having.is_some() { ", HAVING" } else { "" },
                if order_by.is_empty() {
                    String::new()
                } else {
                    format!(", ORDER BY {} key(s)", order_by.len())
                },
                page_text(*limit, *offset)
            )
        }
        Merge::Rows {
            order_by,
            limit,
            offset,
            ..
        } => format!(
            "Merge: concatenate rows{}{}",
            if order_by.is_empty() {
                String::new()
            } else {
                format!(", ORDER BY {} key(s)", order_by.len())
            },
            page_text(*limit, *offset)
        ),
    }
}

fn page_text(limit: Option<usize>, offset: usize) -> String {
    match (limit, offset) {
        (None, 0) => String::new(),
        (None, offset) => format!(", OFFSET {offset}"),
        (Some(limit), 0) => format!(", LIMIT {limit}"),
        (Some(limit), offset) => format!(", LIMIT {limit} OFFSET {offset}"),
    }
}

fn sort_text(keys: &[SortKey], column: &dyn Fn(usize) -> String) -> String {
    let keys: Vec<String> = keys
        .iter()
        .map(|k| {
            format!(
                "{}{}",
                expr_text(&k.expr, column),
                if k.descending { " DESC" } else { "" }
            )
        })
        .collect();
    keys.join(", ")
}

/// `group by [keys], states [calls]`, saying when groups are found as timestamp runs.
fn aggregate_text(
    group_by: &[ScalarExpr],
    aggregates: &[AggregateCall],
    runs: bool,
    column: &dyn Fn(usize) -> String,
) -> String {
    let keys: Vec<String> = group_by.iter().map(|e| expr_text(e, column)).collect();
    let calls: Vec<String> = aggregates.iter().map(|c| call_text(c, column)).collect();
    format!(
        "group by [{}]{}, states [{}]",
        keys.join(", "),
        if runs {
            " as timestamp runs per partition (no hashing)"
        } else {
            ""
        },
        calls.join(", ")
    )
}

fn call_text(call: &AggregateCall, column: &dyn Fn(usize) -> String) -> String {
    let args: Vec<String> = call.args.iter().map(|e| expr_text(e, column)).collect();
    let args = if args.is_empty() {
        "*".to_string()
    } else {
        args.join(", ")
    };
    format!("{}({args})", call.function.name())
}

fn op_text(op: BinaryOp) -> &'static str {
    match op {
        BinaryOp::Add => "+",
        BinaryOp::Subtract => "-",
        BinaryOp::Multiply => "*",
        BinaryOp::Divide => "/",
        BinaryOp::Modulo => "%",
        BinaryOp::Eq => "=",
        BinaryOp::NotEq => "!=",
        BinaryOp::Lt => "<",
        BinaryOp::LtEq => "<=",
        BinaryOp::Gt => ">",
        BinaryOp::GtEq => ">=",
        BinaryOp::And => "AND",
        BinaryOp::Or => "OR",
    }
}

/// An expression as SQL-like text, columns by name.
fn expr_text(expr: &ScalarExpr, column: &dyn Fn(usize) -> String) -> String {
    match expr {
        ScalarExpr::Column(index) => column(*index),
        ScalarExpr::Literal(value) => value.to_string(),
        ScalarExpr::Binary { op, left, right } => {
            format!(
                "({} {} {})",
                expr_text(left, column),
                op_text(*op),
                expr_text(right, column)
            )
        }
        ScalarExpr::Not(inner) => format!("NOT {}", expr_text(inner, column)),
        ScalarExpr::Negate(inner) => format!("-{}", expr_text(inner, column)),
        ScalarExpr::IsNull { expr, negated } => {
            format!(
                "{} IS {}NULL",
                expr_text(expr, column),
                if *negated { "NOT " } else { "" }
            )
        }
        ScalarExpr::InList {
            expr,
            list,
            negated,
        } => {
            let items: Vec<String> = list.iter().map(ToString::to_string).collect();
            format!(
                "{} {}IN ({})",
                expr_text(expr, column),
                if *negated { "NOT " } else { "" },
                items.join(", ")
            )
        }
        ScalarExpr::Function { function, args } => {
            let args: Vec<String> = args.iter().map(|a| expr_text(a, column)).collect();
            format!("{}({})", function.name(), args.join(", "))
        }
        ScalarExpr::Case {
            operand,
            branches,
            otherwise,
        } => {
            let mut text = String::from("CASE");
            if let Some(part) = operand {
                text += &format!(" {}", expr_text(part, column));
            }
            for (when, then) in branches {
                let (when, then) = (expr_text(when, column), expr_text(then, column));
                text += &format!(" WHEN {when} THEN {then}");
            }
            if let Some(part) = otherwise {
                text += &format!(" ELSE {}", expr_text(part, column));
            }
            text + " END"
        }
        ScalarExpr::Cast { expr, to } => format!("CAST({} AS {to})", expr_text(expr, column)),
    }
}

/// Columns whose comparisons with constants (in AND/OR trees) let zone maps skip or accept
/// whole chunks, as `fragment::prune` does.
fn zone_prunable_columns(filter: &ScalarExpr, column: &dyn Fn(usize) -> String) -> Vec<String> {
    let mut names = Vec::new();
    collect_prunable(filter, column, &mut names);
    names.sort();
    names.dedup();
    names
}

fn collect_prunable(expr: &ScalarExpr, column: &dyn Fn(usize) -> String, names: &mut Vec<String>) {
    match expr {
        ScalarExpr::Binary {
            op: BinaryOp::And | BinaryOp::Or,
            left,
            right,
        } => {
            collect_prunable(left, column, names);
            collect_prunable(right, column, names);
        }
        ScalarExpr::Binary { op, left, right } if op.is_comparison() => match (&**left, &**right) {
            (ScalarExpr::Column(c), ScalarExpr::Literal(_))
            | (ScalarExpr::Literal(_), ScalarExpr::Column(c)) => {
                names.push(column(*c));
            }
            _ => {}
        },
        ScalarExpr::InList {
            expr,
            negated: false,
            ..
        } => {
            if let ScalarExpr::Column(c) = &**expr {
                names.push(column(*c));
            }
        }
        _ => {}
    }
}

/// The lines of a composite query: its coordinator nodes, indented over their inputs, with each
/// pushed-down scan described by `scan` (the lines `explain_lines` gives for it).
pub fn explain_query_lines(
    plan: &crate::query::QueryPlan,
    scan: &mut dyn FnMut(&SelectPlan) -> Vec<String>,
) -> Vec<String> {
    let mut lines = Vec::new();
    node_lines(&plan.root, plan, scan, 0, &mut lines);
    lines
}

fn node_lines(
    planned: &crate::query::PlannedNode,
    plan: &crate::query::QueryPlan,
    scan: &mut dyn FnMut(&SelectPlan) -> Vec<String>,
    depth: usize,
    lines: &mut Vec<String>,
) {
    use crate::query::Node;
    let indent = "  ".repeat(depth);
    let mut push = |text: String| lines.push(format!("{indent}{text}"));
    match &planned.node {
        Node::Scan(index) => {
            push(format!("Scan #{index} (pushed down to the shards)"));
            if let Some(select) = plan.scans.get(*index) {
                for line in scan(select) {
                    lines.push(format!("{indent}  {line}"));
                }
            }
        }
        Node::Values(rows) => push(format!("Values: {} row(s)", rows.len())),
        Node::Select {
            input,
            plan: select,
        } => {
            push(format!("Coordinator {}", merge_line(&select.merge)));
            node_lines(input, plan, scan, depth + 1, lines);
        }
        Node::Join {
            left,
            right,
            strategy,
        } => {
            push(format!("Join: {}", strategy.describe()));
            node_lines(left, plan, scan, depth + 1, lines);
            node_lines(right, plan, scan, depth + 1, lines);
        }
        Node::Window { input, windows } => {
            let names: Vec<String> = windows
                .iter()
                .map(|w| format!("{:?}", w.spec.function))
                .collect();
            push(format!(
                "Window: [{}] per partition in order",
                names.join(", ")
            ));
            node_lines(input, plan, scan, depth + 1, lines);
        }
        Node::Fill { input, spec } => {
            push(format!("Fill: SAMPLE BY buckets of {} ns", spec.step));
            node_lines(input, plan, scan, depth + 1, lines);
        }
        Node::LimitBy {
            input,
            limit,
            offset,
            ..
        } => {
            push(format!("LimitBy: {limit} row(s) per key after {offset}"));
            node_lines(input, plan, scan, depth + 1, lines);
        }
        Node::UnionAll(parts) => {
            push(format!("UnionAll of {}", parts.len()));
            for part in parts {
                node_lines(part, plan, scan, depth + 1, lines);
            }
        }
    }
}
