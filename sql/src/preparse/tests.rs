//! Tests of the pre-parse rewrite: exact output text, that the output parses with the
//! ClickHouse dialect, and the AST shape the planner relies on.

use sqlparser::ast::{
    DateTimeField, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr,
    JoinConstraint, JoinOperator, SetExpr, Statement, TableFactor,
};
use sqlparser::dialect::ClickHouseDialect;
use sqlparser::parser::Parser;

use super::rewrite;
use crate::QueryError;

/// Rewrites `sql`, checks the output parses, and returns the output.
fn rewritten(sql: &str) -> String {
    let out = rewrite(sql).unwrap();
    if let Err(e) = Parser::parse_sql(&ClickHouseDialect {}, &out) {
        panic!("rewrite of {sql:?} gave {out:?}, which does not parse: {e}");
    }
    out
}

/// The single SELECT of `sql` after rewriting.
fn select(sql: &str) -> sqlparser::ast::Select {
    let out = rewritten(sql);
    let mut statements = Parser::parse_sql(&ClickHouseDialect {}, &out).unwrap();
    let Statement::Query(query) = statements.remove(0) else {
        panic!("not a query: {out}");
    };
    let SetExpr::Select(select) = *query.body else {
        panic!("not a plain SELECT: {out}");
    };
    *select
}

/// The name and argument texts of a function call expression.
fn call(expr: &Expr) -> (String, Vec<String>) {
    let Expr::Function(f) = expr else {
        panic!("not a function call: {expr}");
    };
    let FunctionArguments::List(list) = &f.args else {
        panic!("no argument list: {expr}");
    };
    let args = list
        .args
        .iter()
        .map(|a| match a {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => e.to_string(),
            other => panic!("unexpected argument {other}"),
        })
        .collect();
    (f.name.to_string(), args)
}

/// The single GROUP BY expression of `sql` after rewriting, as a call.
fn group_by_call(sql: &str) -> (String, Vec<String>) {
    let GroupByExpr::Expressions(exprs, _) = select(sql).group_by else {
        panic!("GROUP BY ALL");
    };
    assert_eq!(exprs.len(), 1, "{sql}");
    call(&exprs[0])
}

/// One parsed ASOF join: relation name, alias, marker call (name, argument texts), constraint.
type AsofJoin = (String, String, (String, Vec<String>), JoinConstraint);

/// The marker call and constraint of each ASOF join of `sql` after rewriting.
fn asof_joins(sql: &str) -> Vec<AsofJoin> {
    let select = select(sql);
    select
        .from
        .iter()
        .flat_map(|t| t.joins.iter())
        .map(|j| {
            let JoinOperator::AsOf {
                match_condition,
                constraint,
            } = &j.join_operator
            else {
                panic!("not an ASOF join: {}", j.relation);
            };
            let (name, alias) = match &j.relation {
                TableFactor::Table { name, alias, .. } => (
                    name.to_string(),
                    alias
                        .as_ref()
                        .map(|a| a.name.value.clone())
                        .unwrap_or_default(),
                ),
                TableFactor::Derived { alias, .. } => (
                    "(subquery)".to_string(),
                    alias
                        .as_ref()
                        .map(|a| a.name.value.clone())
                        .unwrap_or_default(),
                ),
                other => panic!("unexpected relation {other}"),
            };
            (name, alias, call(match_condition), constraint.clone())
        })
        .collect()
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn syntax_message(sql: &str) -> String {
    match rewrite(sql) {
        Err(QueryError::Syntax { message }) => message,
        other => panic!("expected a syntax error for {sql:?}, got {other:?}"),
    }
}

// ---- pass-through ------------------------------------------------------------------------

#[test]
fn plain_sql_is_byte_identical() {
    let cases = [
        "",
        "SELECT 1",
        "select a, b from t where x = 'SAMPLE BY 5m' and y = 'it''s' -- SAMPLE BY 1h\n",
        "SELECT \"5m\", `1h`, 'a\\'b', /* LATEST ON ts PARTITION BY s */ c FROM t",
        "SELECT 5 m FROM t LIMIT 5",
        "SELECT x AS lt FROM a AS lt JOIN b ON lt.x = b.x",
        "SELECT sym, max(px) FROM t WHERE ts >= '2024-01-01T00:00:00Z' GROUP BY sym ORDER BY 2 DESC LIMIT 10",
        "SELECT count() FROM t WINDOW w AS (PARTITION BY sym ORDER BY ts)",
        "SELECT a FROM t ASOF JOIN q MATCH_CONDITION (t.ts >= q.ts) ON t.s = q.s",
        "SELECT left(s, 2), right(s, 1) FROM t LEFT JOIN u ON t.a = u.a",
        "SELECT ts + INTERVAL 5 MINUTE, INTERVAL '1' HOUR FROM t\r\n\tWHERE  x  IN (1,2 , 3);",
        "SELECT 1e5, 0x1F, 1.5, x5m, m5 FROM t",
        "SELECT /* nested /* comment */ 5m */ 1",
    ];
    for sql in cases {
        assert_eq!(rewrite(sql).unwrap(), sql);
    }
}

#[test]
fn random_plain_token_soup_is_byte_identical() {
    // Fragments without any extension (no number directly followed by a unit word, no
    // SAMPLE/LATEST/ASOF/LT/WINDOW keywords outside strings and comments).
    let pieces = [
        "SELECT",
        " ",
        "a",
        ",",
        "'5m'",
        "\"SAMPLE BY\"",
        "-- LATEST ON x\n",
        "/* ASOF JOIN */",
        "(",
        ")",
        "1",
        "5 m",
        "\n",
        "\t",
        "é",
        "'it''s'",
        "ts",
        ">=",
        "JOIN",
        "LEFT",
        "ON",
        "1.5",
        "`1h`",
        "\r\n",
        "'\\''",
        "x_1d",
        "INTERVAL 1 DAY",
        ";",
        "+",
        "WHERE",
    ];
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..500 {
        let mut sql = String::new();
        for _ in 0..(state % 40) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            sql.push_str(pieces[(state % pieces.len() as u64) as usize]);
        }
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        assert_eq!(rewrite(&sql).unwrap(), sql);
    }
}

#[test]
fn tokenizer_errors_are_syntax_errors() {
    assert!(syntax_message("SELECT 'unterminated").contains("Unterminated"));
}

// ---- durations ---------------------------------------------------------------------------

#[test]
fn compact_durations_become_intervals_of_each_unit() {
    let units = [
        ("ns", DateTimeField::Nanosecond),
        ("n", DateTimeField::Nanosecond),
        ("us", DateTimeField::Microsecond),
        ("U", DateTimeField::Microsecond),
        ("ms", DateTimeField::Millisecond),
        ("T", DateTimeField::Millisecond),
        ("s", DateTimeField::Second),
        ("m", DateTimeField::Minute),
        ("h", DateTimeField::Hour),
        ("d", DateTimeField::Day),
        ("w", DateTimeField::Week(None)),
    ];
    for (suffix, field) in units {
        let sql = format!("SELECT ts + 250{suffix} FROM t");
        let projection = select(&sql).projection;
        let sqlparser::ast::SelectItem::UnnamedExpr(Expr::BinaryOp { right, .. }) = &projection[0]
        else {
            panic!("unexpected projection for {sql}");
        };
        let Expr::Interval(interval) = right.as_ref() else {
            panic!("{suffix}: not an interval: {right}");
        };
        assert_eq!(interval.value.to_string(), "250", "{suffix}");
        assert_eq!(interval.leading_field, Some(field), "{suffix}");
    }
}

#[test]
fn durations_in_expressions_strings_and_comments() {
    assert_eq!(
        rewritten("SELECT * FROM t WHERE ts > now() - 1h AND note <> '1h' -- 1h\n"),
        "SELECT * FROM t WHERE ts > now() - INTERVAL 1 HOUR AND note <> '1h' -- 1h\n"
    );
    assert_eq!(
        rewritten("SELECT xbar(ts, 1_000ms) FROM t"),
        "SELECT xbar(ts, INTERVAL 1000 MILLISECOND) FROM t"
    );
    // Units are case-sensitive (QuestDB's M is a month): an uppercase H stays an alias.
    assert_eq!(rewritten("SELECT 5H FROM t"), "SELECT 5H FROM t");
}

#[test]
fn interval_strings_get_a_unit_the_dialect_accepts() {
    assert_eq!(
        rewritten("SELECT ts - INTERVAL '5 minutes', INTERVAL '10s', interval 3h FROM t"),
        "SELECT ts - INTERVAL 5 MINUTE, INTERVAL 10 SECOND, INTERVAL 3 HOUR FROM t"
    );
    // Already qualified, or not a single count and unit: left as written.
    let kept = "SELECT INTERVAL '5' MINUTE, INTERVAL '1 day 2 hours' FROM t";
    assert_eq!(rewrite(kept).unwrap(), kept);
}

#[test]
fn offsets_survive_multibyte_text_and_crlf() {
    assert_eq!(
        rewritten("SELECT 'héllo ✓', \"colé\" + 1s\r\nFROM t /* ü\r\n */ WHERE ts > now() - 2d"),
        "SELECT 'héllo ✓', \"colé\" + INTERVAL 1 SECOND\r\nFROM t /* ü\r\n */ WHERE ts > now() - INTERVAL 2 DAY"
    );
}

#[test]
fn bad_durations_are_errors() {
    assert!(syntax_message("SELECT 1.5h").contains("`1.5h`"));
    match rewrite("SELECT ts + 1M FROM t") {
        Err(QueryError::Unsupported { what }) => assert!(what.contains("`1M`"), "{what}"),
        other => panic!("{other:?}"),
    }
}

// ---- SAMPLE BY ---------------------------------------------------------------------------

#[test]
fn sample_by_defaults() {
    let sql =
        "SELECT ts, sym, avg(px) FROM trades WHERE sym = 'A' SAMPLE BY 1h ORDER BY ts LIMIT 5";
    assert_eq!(
        rewritten(sql),
        "SELECT ts, sym, avg(px) FROM trades WHERE sym = 'A' \
         GROUP BY __sample_by(INTERVAL 1 HOUR, 'NONE', 'CALENDAR') ORDER BY ts LIMIT 5"
    );
    assert_eq!(
        group_by_call(sql),
        (
            "__sample_by".to_string(),
            strings(&["INTERVAL 1 HOUR", "'NONE'", "'CALENDAR'"])
        )
    );
}

#[test]
fn sample_by_fill_and_alignment_forms() {
    let cases = [
        (
            "select avg(px) from t sample by 15m fill(prev)",
            strings(&["INTERVAL 15 MINUTE", "'PREV'", "'CALENDAR'"]),
        ),
        (
            "SELECT first(px), last(px), sum(qty) FROM t SAMPLE BY 5s FILL(NULL, linear, -1.5) ALIGN TO FIRST OBSERVATION",
            strings(&["INTERVAL 5 SECOND", "'NULL,LINEAR,-1.5'", "'FIRST OBSERVATION'"]),
        ),
        (
            "SELECT avg(px) FROM t SAMPLE BY INTERVAL 2 DAY ALIGN TO CALENDAR",
            strings(&["INTERVAL 2 DAY", "'NONE'", "'CALENDAR'"]),
        ),
        (
            "SELECT avg(px) FROM t SAMPLE BY INTERVAL '30 seconds' FILL ( 0 )",
            strings(&["INTERVAL 30 SECOND", "'0'", "'CALENDAR'"]),
        ),
        (
            "SELECT avg(px) FROM t SAMPLE BY 1d ALIGN TO CALENDAR TIME ZONE 'Europe/Berlin' WITH OFFSET '00:30'",
            strings(&[
                "INTERVAL 1 DAY",
                "'NONE'",
                "'CALENDAR'",
                "'Europe/Berlin'",
                "'00:30'",
            ]),
        ),
        (
            "SELECT avg(px) FROM t SAMPLE BY 1d ALIGN TO CALENDAR WITH OFFSET '01:00'",
            strings(&["INTERVAL 1 DAY", "'NONE'", "'CALENDAR'", "NULL", "'01:00'"]),
        ),
        (
            "SELECT avg(px) FROM t SAMPLE BY 1d /* daily */ FILL(NONE) -- done\n",
            strings(&["INTERVAL 1 DAY", "'NONE'", "'CALENDAR'"]),
        ),
    ];
    for (sql, args) in cases {
        assert_eq!(
            group_by_call(sql),
            ("__sample_by".to_string(), args),
            "{sql}"
        );
    }
}

#[test]
fn mixed_case_keywords() {
    assert_eq!(
        group_by_call("Select avg(px) From t Sample By 1h Fill(Prev) Align To First Observation"),
        (
            "__sample_by".to_string(),
            strings(&["INTERVAL 1 HOUR", "'PREV'", "'FIRST OBSERVATION'"])
        )
    );
    assert_eq!(
        group_by_call("Select * From t Latest On ts Partition By sym"),
        ("__latest_on".to_string(), strings(&["ts", "sym"]))
    );
    assert_eq!(
        asof_joins("Select * From t Asof Left Join q On t.s = q.s And t.ts >= q.ts")[0].2,
        ("__asof".to_string(), strings(&["1", "NULL"]))
    );
}

#[test]
fn each_select_of_a_union_has_its_own_grouping() {
    let sql =
        "SELECT a, count() FROM t GROUP BY a UNION ALL SELECT sym, avg(px) FROM u SAMPLE BY 1h";
    assert!(rewritten(sql)
        .ends_with("FROM u GROUP BY __sample_by(INTERVAL 1 HOUR, 'NONE', 'CALENDAR')"));
}

#[test]
fn sample_by_belongs_to_the_innermost_select() {
    let sql = "SELECT sym, max(p) FROM (SELECT sym, avg(px) AS p FROM t SAMPLE BY 1m) \
               GROUP BY sym";
    let out = rewritten(sql);
    assert_eq!(
        out,
        "SELECT sym, max(p) FROM (SELECT sym, avg(px) AS p FROM t \
         GROUP BY __sample_by(INTERVAL 1 MINUTE, 'NONE', 'CALENDAR')) GROUP BY sym"
    );
    let cte = "WITH b AS (SELECT avg(px) FROM t SAMPLE BY 1m) SELECT * FROM b \
               UNION ALL SELECT avg(px) FROM u SAMPLE BY 1h";
    let out = rewritten(cte);
    assert_eq!(out.matches("__sample_by").count(), 2, "{out}");
}

#[test]
fn sample_by_errors_name_the_clause() {
    for sql in [
        "SELECT avg(px) FROM t SAMPLE BY",
        "SELECT avg(px) FROM t SAMPLE BY ORDER BY ts",
        "SELECT avg(px) FROM t SAMPLE BY 5",
        "SELECT avg(px) FROM t SAMPLE BY sym",
    ] {
        assert!(syntax_message(sql).starts_with("SAMPLE BY:"), "{sql}");
    }
    for sql in [
        "SELECT avg(px) FROM t SAMPLE BY 1h FILL(BACKWARD)",
        "SELECT avg(px) FROM t SAMPLE BY 1h FILL()",
        "SELECT avg(px) FROM t SAMPLE BY 1h FILL(PREV,)",
        "SELECT avg(px) FROM t SAMPLE BY 1h FILL(PREV LINEAR)",
        "SELECT avg(px) FROM t SAMPLE BY 1h FILL PREV",
        "SELECT avg(px) FROM t SAMPLE BY 1h FILL(PREV",
    ] {
        assert!(syntax_message(sql).starts_with("FILL:"), "{sql}");
    }
    assert!(syntax_message("SELECT avg(px) FROM t SAMPLE BY 1h FILL(bogus)").contains("`bogus`"));
    for sql in [
        "SELECT avg(px) FROM t SAMPLE BY 1h ALIGN TO NOWHERE",
        "SELECT avg(px) FROM t SAMPLE BY 1h ALIGN CALENDAR",
        "SELECT avg(px) FROM t SAMPLE BY 1h ALIGN TO FIRST",
    ] {
        assert!(syntax_message(sql).starts_with("ALIGN TO:"), "{sql}");
    }
    assert!(syntax_message(
        "SELECT avg(px) FROM t SAMPLE BY 1h ALIGN TO CALENDAR TIME ZONE Berlin"
    )
    .starts_with("TIME ZONE:"));
    assert!(
        syntax_message("SELECT sym, avg(px) FROM t GROUP BY sym SAMPLE BY 1h")
            .contains("cannot be combined with GROUP BY")
    );
}

// ---- LATEST ON ---------------------------------------------------------------------------

#[test]
fn latest_on_forms() {
    let sql = "SELECT * FROM trades WHERE px > 0 LATEST ON ts PARTITION BY sym, venue ORDER BY sym";
    assert_eq!(
        rewritten(sql),
        "SELECT * FROM trades WHERE px > 0 GROUP BY __latest_on(ts, sym, venue) ORDER BY sym"
    );
    assert_eq!(
        group_by_call(sql),
        ("__latest_on".to_string(), strings(&["ts", "sym", "venue"]))
    );
    assert_eq!(
        group_by_call("select * from trades t latest on t.ts partition by t.sym"),
        ("__latest_on".to_string(), strings(&["t.ts", "t.sym"]))
    );
    assert_eq!(
        group_by_call("SELECT * FROM trades LATEST BY sym"),
        ("__latest_on".to_string(), strings(&["NULL", "sym"]))
    );
}

#[test]
fn latest_by_before_where_moves_the_filter_first() {
    let sql = "SELECT * FROM trades LATEST BY sym WHERE px > 0 AND ts > now() - 1d LIMIT 3";
    let out = rewritten(sql);
    assert_eq!(
        out,
        "SELECT * FROM trades WHERE px > 0 AND ts > now() - INTERVAL 1 DAY \
         GROUP BY __latest_on(NULL, sym) LIMIT 3"
    );
    let select = select(sql);
    assert!(select.selection.is_some());
}

#[test]
fn latest_on_inside_a_subquery() {
    let sql =
        "SELECT sym, px FROM (SELECT * FROM trades LATEST ON ts PARTITION BY sym) WHERE px > 1";
    assert_eq!(
        rewritten(sql),
        "SELECT sym, px FROM (SELECT * FROM trades GROUP BY __latest_on(ts, sym)) WHERE px > 1"
    );
}

#[test]
fn latest_on_errors_name_the_clause() {
    for sql in [
        "SELECT * FROM t LATEST ON ts",
        "SELECT * FROM t LATEST ON PARTITION BY sym",
        "SELECT * FROM t LATEST ON ts PARTITION sym",
        "SELECT * FROM t LATEST ON ts PARTITION BY",
        "SELECT * FROM t LATEST BY",
        "SELECT * FROM t LATEST BY ORDER BY ts",
    ] {
        assert!(syntax_message(sql).starts_with("LATEST ON:"), "{sql}");
    }
    assert!(syntax_message("SELECT * FROM t LATEST BY sym WHERE").starts_with("WHERE:"));
    assert!(
        syntax_message("SELECT * FROM t LATEST ON ts PARTITION BY sym SAMPLE BY 1h")
            .contains("cannot be combined with LATEST ON")
    );
}

// ---- ASOF / LT joins ---------------------------------------------------------------------

#[test]
fn asof_join_on_condition() {
    let sql = "SELECT t.px, q.bid FROM trades t ASOF JOIN quotes q ON t.sym = q.sym AND t.ts >= q.ts WHERE t.px > 0";
    assert_eq!(
        rewritten(sql),
        "SELECT t.px, q.bid FROM trades t ASOF JOIN quotes q MATCH_CONDITION (__asof(0, NULL)) \
         ON t.sym = q.sym AND t.ts >= q.ts WHERE t.px > 0"
    );
    let joins = asof_joins(sql);
    assert_eq!(joins.len(), 1);
    let (name, alias, marker, constraint) = &joins[0];
    assert_eq!((name.as_str(), alias.as_str()), ("quotes", "q"));
    assert_eq!(marker, &("__asof".to_string(), strings(&["0", "NULL"])));
    let JoinConstraint::On(on) = constraint else {
        panic!("{constraint:?}");
    };
    assert_eq!(on.to_string(), "t.sym = q.sym AND t.ts >= q.ts");
}

#[test]
fn asof_left_join_spellings_and_tolerance() {
    for sql in [
        "SELECT * FROM t ASOF LEFT JOIN q ON t.s = q.s AND t.ts >= q.ts TOLERANCE 5s",
        "SELECT * FROM t asof left outer join q ON t.s = q.s AND t.ts >= q.ts tolerance INTERVAL 5 SECOND",
        "SELECT * FROM t LEFT ASOF JOIN q ON t.s = q.s AND t.ts >= q.ts TOLERANCE 5000ms",
    ] {
        let joins = asof_joins(sql);
        let (_, _, (marker, args), _) = &joins[0];
        assert_eq!(marker, "__asof", "{sql}");
        assert_eq!(args[0], "1", "{sql}");
        assert!(args[1].starts_with("INTERVAL 5"), "{sql}: {args:?}");
    }
}

#[test]
fn asof_join_using_and_questdb_forms() {
    let using = asof_joins("SELECT * FROM t ASOF JOIN q USING (sym, ts)");
    assert_eq!(using[0].2, ("__asof".to_string(), strings(&["0", "NULL"])));
    assert!(matches!(&using[0].3, JoinConstraint::Using(cols) if cols.len() == 2));

    // QuestDB: a column list after ON is USING; QuestDB keeps unmatched rows (left outer).
    let sql = "SELECT * FROM trades ASOF JOIN quotes ON (sym, venue) TOLERANCE 50T";
    assert_eq!(
        rewritten(sql),
        "SELECT * FROM trades ASOF JOIN quotes MATCH_CONDITION \
         (__asof(1, INTERVAL 50 MILLISECOND)) USING (sym, venue)"
    );
    let plain = asof_joins("SELECT * FROM trades ASOF JOIN quotes");
    assert_eq!(plain[0].2, ("__asof".to_string(), strings(&["1", "NULL"])));
    assert!(matches!(plain[0].3, JoinConstraint::None));
    let equality_only = asof_joins("SELECT * FROM trades t ASOF JOIN quotes q ON (t.sym = q.sym)");
    assert_eq!(equality_only[0].2 .1[0], "1");
}

#[test]
fn lt_join() {
    let sql = "SELECT * FROM trades t LT JOIN quotes q ON (sym) TOLERANCE 1m";
    assert_eq!(
        rewritten(sql),
        "SELECT * FROM trades t ASOF JOIN quotes q MATCH_CONDITION \
         (__lt_join(1, INTERVAL 1 MINUTE)) USING (sym)"
    );
    let joins = asof_joins("SELECT * FROM trades lt join quotes");
    assert_eq!(
        joins[0].2,
        ("__lt_join".to_string(), strings(&["1", "NULL"]))
    );
}

#[test]
fn joined_subqueries_and_several_joins() {
    let sql = "SELECT * FROM trades t \
               ASOF JOIN (SELECT * FROM quotes WHERE venue = 'X' SAMPLE BY 1s FILL(PREV)) AS q ON t.sym = q.sym AND t.ts >= q.ts \
               LT JOIN db.books b ON (sym) \
               JOIN refdata r ON r.sym = t.sym";
    let out = rewritten(sql);
    assert!(out.contains(
        "GROUP BY __sample_by(INTERVAL 1 SECOND, 'PREV', 'CALENDAR')) AS q MATCH_CONDITION (__asof(0, NULL)) ON t.sym = q.sym AND t.ts >= q.ts"
    ), "{out}");
    assert!(
        out.contains("ASOF JOIN db.books b MATCH_CONDITION (__lt_join(1, NULL)) USING (sym)"),
        "{out}"
    );
    let select = select(sql);
    let joins = &select.from[0].joins;
    assert_eq!(joins.len(), 3);
    assert!(matches!(joins[0].relation, TableFactor::Derived { .. }));
    assert!(matches!(joins[1].join_operator, JoinOperator::AsOf { .. }));
    assert!(matches!(
        joins[2].join_operator,
        JoinOperator::Join(_) | JoinOperator::Inner(_)
    ));
}

#[test]
fn snowflake_match_condition_is_left_alone() {
    let sql = "SELECT * FROM t ASOF JOIN q MATCH_CONDITION (t.ts >= q.ts) ON t.s = q.s";
    assert_eq!(rewritten(sql), sql);
}

#[test]
fn join_errors_name_the_clause() {
    assert!(syntax_message("SELECT * FROM t ASOF JOIN").starts_with("ASOF JOIN:"));
    assert!(syntax_message("SELECT * FROM t ASOF JOIN q ON").starts_with("ASOF JOIN:"));
    assert!(syntax_message("SELECT * FROM t ASOF JOIN (SELECT 1").starts_with("ASOF JOIN:"));
    assert!(syntax_message("SELECT * FROM t ASOF JOIN q USING sym").starts_with("ASOF JOIN:"));
    assert!(
        syntax_message("SELECT * FROM t ASOF JOIN q ON (s) TOLERANCE").starts_with("TOLERANCE:")
    );
    assert!(
        syntax_message("SELECT * FROM t ASOF JOIN q ON (s) TOLERANCE 5").starts_with("TOLERANCE:")
    );
    assert!(
        syntax_message("SELECT * FROM t LT JOIN q MATCH_CONDITION (t.ts > q.ts)")
            .starts_with("LT JOIN:")
    );
}

// ---- WINDOW JOIN -------------------------------------------------------------------------

#[test]
fn window_join_ranges() {
    let sql = "SELECT t.ts, avg(q.px) FROM trades t WINDOW JOIN quotes q ON t.sym = q.sym \
               RANGE BETWEEN 5m PRECEDING AND 1m FOLLOWING WHERE t.px > 0";
    assert_eq!(
        rewritten(sql),
        "SELECT t.ts, avg(q.px) FROM trades t ASOF JOIN quotes q MATCH_CONDITION \
         (__window_join(INTERVAL 5 MINUTE, INTERVAL 1 MINUTE)) ON t.sym = q.sym WHERE t.px > 0"
    );
    let cases = [
        (
            "SELECT * FROM t WINDOW JOIN q ON (sym) RANGE BETWEEN 1 minute PRECEDING AND CURRENT ROW EXCLUDE PREVAILING",
            strings(&["INTERVAL 1 MINUTE", "INTERVAL 0 SECOND"]),
        ),
        (
            "select * from t window join q range between current row and interval 10 second following",
            strings(&["INTERVAL 0 SECOND", "INTERVAL 10 SECOND"]),
        ),
        (
            "SELECT * FROM t WINDOW JOIN (SELECT * FROM q) qq USING (sym) RANGE BETWEEN 2 hours PRECEDING AND 30s FOLLOWING",
            strings(&["INTERVAL 2 HOUR", "INTERVAL 30 SECOND"]),
        ),
    ];
    for (sql, args) in cases {
        assert_eq!(
            asof_joins(sql)[0].2,
            ("__window_join".to_string(), args),
            "{sql}"
        );
    }
}

#[test]
fn window_join_errors() {
    for sql in [
        "SELECT * FROM t WINDOW JOIN q ON t.s = q.s",
        "SELECT * FROM t WINDOW JOIN q ON t.s = q.s RANGE 5m PRECEDING",
        "SELECT * FROM t WINDOW JOIN q ON t.s = q.s RANGE BETWEEN 5m AND 1m FOLLOWING",
        "SELECT * FROM t WINDOW JOIN q ON t.s = q.s RANGE BETWEEN 5m PRECEDING AND 1m",
        "SELECT * FROM t WINDOW JOIN q ON t.s = q.s RANGE BETWEEN 5 PRECEDING AND 1m FOLLOWING",
    ] {
        assert!(syntax_message(sql).starts_with("WINDOW JOIN:"), "{sql}");
    }
    assert!(matches!(
        rewrite("SELECT * FROM t WINDOW JOIN q RANGE BETWEEN 1m PRECEDING AND 1m FOLLOWING INCLUDE PREVAILING"),
        Err(QueryError::Unsupported { .. })
    ));
}

#[test]
fn limit_by_then_limit_becomes_a_derived_table_under_the_limit() {
    assert_eq!(
        rewritten("SELECT s, ts FROM t ORDER BY ts DESC LIMIT 1 BY s LIMIT 3"),
        "SELECT * FROM (SELECT s, ts FROM t ORDER BY ts DESC LIMIT 1 BY s) AS __limit_by \
         LIMIT 3"
    );
    assert_eq!(
        rewritten("EXPLAIN SELECT s FROM t LIMIT 2 BY s, u LIMIT 5 OFFSET 2"),
        "EXPLAIN SELECT * FROM (SELECT s FROM t LIMIT 2 BY s, u) AS __limit_by \
         LIMIT 5 OFFSET 2"
    );
    // Inside a derived table, and a duration in the outer query still rewritten.
    assert_eq!(
        rewritten("SELECT * FROM (SELECT s FROM t LIMIT 1 BY s LIMIT 2) WHERE ts > now() - 5m"),
        "SELECT * FROM (SELECT * FROM (SELECT s FROM t LIMIT 1 BY s) AS __limit_by LIMIT 2) \
         WHERE ts > now() - INTERVAL 5 MINUTE"
    );
}

#[test]
fn limit_by_alone_or_in_a_union_or_in_strings_is_left_as_written() {
    for sql in [
        "SELECT s FROM t LIMIT 1 BY s",
        "SELECT s FROM t ORDER BY s LIMIT 3",
        "SELECT 'LIMIT 1 BY s LIMIT 2' FROM t",
        "SELECT s FROM t GROUP BY s LIMIT 2",
    ] {
        assert_eq!(rewritten(sql), sql);
    }
    let union = "SELECT s FROM t UNION ALL SELECT s FROM u LIMIT 1 BY s LIMIT 2";
    assert_eq!(rewrite(union).unwrap(), union);
}
