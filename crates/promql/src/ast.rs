//! The PromQL syntax tree produced by the parser and walked by the engine.

use std::fmt;

use neocortex_core::Matcher;

/// The type a PromQL expression evaluates to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    /// A single float.
    Scalar,
    /// A string literal.
    String,
    /// An instant vector (one sample per series).
    Vector,
    /// A range vector (a window of samples per series).
    Matrix,
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ValueType::Scalar => "scalar",
            ValueType::String => "string",
            ValueType::Vector => "instant vector",
            ValueType::Matrix => "range vector",
        })
    }
}

/// Binary operators, in the order of the lexer's keywords.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Mod,
    /// `^`
    Pow,
    /// `atan2`
    Atan2,
    /// `==`
    Eql,
    /// `!=`
    Neq,
    /// `>`
    Gtr,
    /// `<`
    Lss,
    /// `>=`
    Gte,
    /// `<=`
    Lte,
    /// `and`
    And,
    /// `or`
    Or,
    /// `unless`
    Unless,
}

impl BinaryOp {
    /// Binding strength: higher binds tighter (Prometheus 2.42 precedence table).
    pub fn precedence(self) -> u8 {
        match self {
            BinaryOp::Or => 1,
            BinaryOp::And | BinaryOp::Unless => 2,
            BinaryOp::Eql | BinaryOp::Neq | BinaryOp::Gtr | BinaryOp::Lss | BinaryOp::Gte | BinaryOp::Lte => {
                3
            }
            BinaryOp::Add | BinaryOp::Sub => 4,
            BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod | BinaryOp::Atan2 => 5,
            BinaryOp::Pow => 6,
        }
    }

    /// Whether the operator groups from the right (`2^3^2 == 2^9`).
    pub fn is_right_associative(self) -> bool {
        self == BinaryOp::Pow
    }

    /// Whether this is one of the comparison operators (which filter unless `bool` is given).
    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinaryOp::Eql | BinaryOp::Neq | BinaryOp::Gtr | BinaryOp::Lss | BinaryOp::Gte | BinaryOp::Lte
        )
    }

    /// Whether this is a set operator (`and`, `or`, `unless`).
    pub fn is_set_operator(self) -> bool {
        matches!(self, BinaryOp::And | BinaryOp::Or | BinaryOp::Unless)
    }

    /// Whether the result no longer means the same as the input metric, so `__name__` goes.
    pub fn drops_metric_name(self) -> bool {
        matches!(
            self,
            BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod | BinaryOp::Pow
        )
    }
}

impl fmt::Display for BinaryOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Mod => "%",
            BinaryOp::Pow => "^",
            BinaryOp::Atan2 => "atan2",
            BinaryOp::Eql => "==",
            BinaryOp::Neq => "!=",
            BinaryOp::Gtr => ">",
            BinaryOp::Lss => "<",
            BinaryOp::Gte => ">=",
            BinaryOp::Lte => "<=",
            BinaryOp::And => "and",
            BinaryOp::Or => "or",
            BinaryOp::Unless => "unless",
        })
    }
}

/// Aggregation operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AggregateOp {
    /// `sum`
    Sum,
    /// `avg`
    Avg,
    /// `min`
    Min,
    /// `max`
    Max,
    /// `count`
    Count,
    /// `group`
    Group,
    /// `stddev`
    Stddev,
    /// `stdvar`
    Stdvar,
    /// `topk`
    Topk,
    /// `bottomk`
    Bottomk,
    /// `quantile`
    Quantile,
    /// `count_values`
    CountValues,
}

impl AggregateOp {
    /// Looks an aggregation up by its (case-insensitive) keyword.
    pub fn from_keyword(word: &str) -> Option<Self> {
        Some(match word.to_ascii_lowercase().as_str() {
            "sum" => AggregateOp::Sum,
            "avg" => AggregateOp::Avg,
            "min" => AggregateOp::Min,
            "max" => AggregateOp::Max,
            "count" => AggregateOp::Count,
            "group" => AggregateOp::Group,
            "stddev" => AggregateOp::Stddev,
            "stdvar" => AggregateOp::Stdvar,
            "topk" => AggregateOp::Topk,
            "bottomk" => AggregateOp::Bottomk,
            "quantile" => AggregateOp::Quantile,
            "count_values" => AggregateOp::CountValues,
            _ => return None,
        })
    }

    /// The type of the leading parameter, if the operator takes one.
    pub fn param_type(self) -> Option<ValueType> {
        match self {
            AggregateOp::Topk | AggregateOp::Bottomk | AggregateOp::Quantile => Some(ValueType::Scalar),
            AggregateOp::CountValues => Some(ValueType::String),
            _ => None,
        }
    }
}

impl fmt::Display for AggregateOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AggregateOp::Sum => "sum",
            AggregateOp::Avg => "avg",
            AggregateOp::Min => "min",
            AggregateOp::Max => "max",
            AggregateOp::Count => "count",
            AggregateOp::Group => "group",
            AggregateOp::Stddev => "stddev",
            AggregateOp::Stdvar => "stdvar",
            AggregateOp::Topk => "topk",
            AggregateOp::Bottomk => "bottomk",
            AggregateOp::Quantile => "quantile",
            AggregateOp::CountValues => "count_values",
        })
    }
}

/// The `@` modifier: a fixed evaluation time or the query's start/end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AtModifier {
    /// `@ <seconds>`, stored in milliseconds.
    Timestamp(i64),
    /// `@ start()`
    Start,
    /// `@ end()`
    End,
}

/// An instant vector selector such as `http_requests{job="api"} offset 5m @ 100`.
#[derive(Debug, Clone)]
pub struct VectorSelector {
    /// The metric name, if written before the braces.
    pub name: Option<String>,
    /// All matchers, including the one for `__name__`.
    pub matchers: Vec<Matcher>,
    /// `offset` in milliseconds (may be negative).
    pub offset_ms: i64,
    /// `@` modifier.
    pub at: Option<AtModifier>,
}

/// Vector matching of a binary operation (`on`, `ignoring`, `group_left`, `group_right`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VectorMatching {
    /// Cardinality of the match.
    pub card: MatchCardinality,
    /// The labels of `on(...)` or `ignoring(...)`.
    pub labels: Vec<String>,
    /// Whether `labels` came from `on` (true) or `ignoring` (false).
    pub on: bool,
    /// Extra labels copied from the "one" side by `group_left(...)`/`group_right(...)`.
    pub include: Vec<String>,
}

/// Cardinality of a vector match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchCardinality {
    /// Plain one-to-one matching.
    OneToOne,
    /// `group_left`
    ManyToOne,
    /// `group_right`
    OneToMany,
    /// Set operators.
    ManyToMany,
}

/// A PromQL expression.
#[derive(Debug, Clone)]
pub enum Expr {
    /// A number literal.
    Number(f64),
    /// A string literal.
    String(String),
    /// `( expr )`
    Paren(Box<Expr>),
    /// `-expr` or `+expr` on a non-literal.
    Unary {
        /// True for `-`.
        negate: bool,
        /// The operand.
        expr: Box<Expr>,
    },
    /// `lhs op rhs`
    Binary {
        /// The operator.
        op: BinaryOp,
        /// Left operand.
        lhs: Box<Expr>,
        /// Right operand.
        rhs: Box<Expr>,
        /// `bool` modifier on comparisons.
        return_bool: bool,
        /// Vector matching; present when both sides are vectors.
        matching: Option<VectorMatching>,
    },
    /// `sum by (x) (expr)` and friends.
    Aggregate {
        /// The operator.
        op: AggregateOp,
        /// The aggregated expression.
        expr: Box<Expr>,
        /// Parameter of topk/bottomk/quantile/count_values.
        param: Option<Box<Expr>>,
        /// Grouping labels.
        grouping: Vec<String>,
        /// True for `without`, false for `by` (or no clause).
        without: bool,
    },
    /// A function call.
    Call {
        /// The function.
        func: &'static crate::functions::FunctionDef,
        /// Arguments.
        args: Vec<Expr>,
    },
    /// An instant vector selector.
    VectorSelector(VectorSelector),
    /// `selector[range]`
    MatrixSelector {
        /// The underlying selector (carries offset and `@`).
        selector: VectorSelector,
        /// Range in milliseconds.
        range_ms: i64,
    },
    /// `expr[range:step]`
    Subquery {
        /// The inner expression.
        expr: Box<Expr>,
        /// Range in milliseconds.
        range_ms: i64,
        /// Step in milliseconds; `None` uses the engine's default.
        step_ms: Option<i64>,
        /// `offset` in milliseconds.
        offset_ms: i64,
        /// `@` modifier.
        at: Option<AtModifier>,
    },
}

impl Expr {
    /// The type this expression evaluates to.
    pub fn value_type(&self) -> ValueType {
        match self {
            Expr::Number(_) => ValueType::Scalar,
            Expr::String(_) => ValueType::String,
            Expr::Paren(inner) => inner.value_type(),
            Expr::Unary { expr, .. } => expr.value_type(),
            Expr::Binary { lhs, rhs, .. } => {
                if lhs.value_type() == ValueType::Scalar && rhs.value_type() == ValueType::Scalar {
                    ValueType::Scalar
                } else {
                    ValueType::Vector
                }
            }
            Expr::Aggregate { .. } => ValueType::Vector,
            Expr::Call { func, .. } => func.return_type,
            Expr::VectorSelector(_) => ValueType::Vector,
            Expr::MatrixSelector { .. } | Expr::Subquery { .. } => ValueType::Matrix,
        }
    }

    /// The expression with any enclosing parentheses removed.
    pub fn unparen(&self) -> &Expr {
        let mut expr = self;
        while let Expr::Paren(inner) = expr {
            expr = inner;
        }
        expr
    }
}

/// Formats a millisecond duration the way Prometheus prints it (`1h30m`, `500ms`).
pub fn format_duration(ms: i64) -> String {
    neocortex_core::duration::format_prometheus_duration_ms(ms)
}

fn write_label_list(f: &mut fmt::Formatter<'_>, labels: &[String]) -> fmt::Result {
    write!(f, "({})", labels.join(", "))
}

fn write_modifiers(f: &mut fmt::Formatter<'_>, offset_ms: i64, at: Option<AtModifier>) -> fmt::Result {
    match at {
        Some(AtModifier::Timestamp(ms)) => {
            write!(f, " @ {}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))?
        }
        Some(AtModifier::Start) => f.write_str(" @ start()")?,
        Some(AtModifier::End) => f.write_str(" @ end()")?,
        None => {}
    }
    if offset_ms > 0 {
        write!(f, " offset {}", format_duration(offset_ms))?;
    } else if offset_ms < 0 {
        write!(f, " offset -{}", format_duration(-offset_ms))?;
    }
    Ok(())
}

impl fmt::Display for VectorSelector {
    /// Prints the selector as PromQL: `name{a="b"}` (without its modifiers).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let others: Vec<String> = self
            .matchers
            .iter()
            .filter(|m| self.name.is_none() || m.name != neocortex_core::METRIC_NAME)
            .map(|m| m.to_string())
            .collect();
        if let Some(name) = &self.name {
            f.write_str(name)?;
            if others.is_empty() {
                return Ok(());
            }
        }
        write!(f, "{{{}}}", others.join(", "))
    }
}

fn format_number(value: f64) -> String {
    if value.is_nan() {
        return "NaN".to_string();
    }
    if value.is_infinite() {
        return if value > 0.0 { "+Inf".to_string() } else { "-Inf".to_string() };
    }
    crate::value::go_format_float(value)
}

impl fmt::Display for Expr {
    /// Prints the expression as PromQL that parses back to the same tree (Prometheus's style).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Number(value) => f.write_str(&format_number(*value)),
            Expr::String(text) => write!(f, "{text:?}"),
            Expr::Paren(inner) => write!(f, "({inner})"),
            Expr::Unary { negate, expr } => write!(f, "{}{expr}", if *negate { "-" } else { "+" }),
            Expr::Binary { op, lhs, rhs, return_bool, matching } => {
                write!(f, "{lhs} {op}")?;
                if *return_bool {
                    f.write_str(" bool")?;
                }
                if let Some(matching) = matching {
                    if matching.on || !matching.labels.is_empty() {
                        f.write_str(if matching.on { " on" } else { " ignoring" })?;
                        write_label_list(f, &matching.labels)?;
                    }
                    match matching.card {
                        MatchCardinality::ManyToOne => {
                            f.write_str(" group_left")?;
                            write_label_list(f, &matching.include)?;
                        }
                        MatchCardinality::OneToMany => {
                            f.write_str(" group_right")?;
                            write_label_list(f, &matching.include)?;
                        }
                        MatchCardinality::OneToOne | MatchCardinality::ManyToMany => {}
                    }
                }
                write!(f, " {rhs}")
            }
            Expr::Aggregate { op, expr, param, grouping, without } => {
                write!(f, "{op}")?;
                if *without || !grouping.is_empty() {
                    f.write_str(if *without { " without " } else { " by " })?;
                    write_label_list(f, grouping)?;
                    f.write_str(" ")?;
                }
                match param {
                    Some(param) => write!(f, "({param}, {expr})"),
                    None => write!(f, "({expr})"),
                }
            }
            Expr::Call { func, args } => {
                let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
                write!(f, "{}({})", func.name, args.join(", "))
            }
            Expr::VectorSelector(selector) => {
                write!(f, "{selector}")?;
                write_modifiers(f, selector.offset_ms, selector.at)
            }
            Expr::MatrixSelector { selector, range_ms } => {
                write!(f, "{selector}[{}]", format_duration(*range_ms))?;
                write_modifiers(f, selector.offset_ms, selector.at)
            }
            Expr::Subquery { expr, range_ms, step_ms, offset_ms, at } => {
                let step = step_ms.map(format_duration).unwrap_or_default();
                write!(f, "{expr}[{}:{step}]", format_duration(*range_ms))?;
                write_modifiers(f, *offset_ms, *at)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::parser::parse;

    #[test]
    fn printing_round_trips() {
        for query in [
            "sum by (job) (rate(http_requests_total{code=~\"5..\"}[5m] offset 1m))",
            "topk(3, x) / ignoring(a) group_left(b) y == bool 1",
            "max_over_time((a - b)[1h:5m] @ 100.500) and on() vector(1)",
            "-x ^ 2 * -1.5e-7 + {__name__=\"y\", a!=\"b\"} @ start() offset -5m",
            "label_replace(x, \"dst\", \"$1\", \"src\", \"(.*)\") unless sum without (i) (z)",
            "count_values(\"v\", x) or absent(nonexistent{job=\"a\"})",
        ] {
            let printed = parse(query).unwrap().to_string();
            let reparsed = parse(&printed).unwrap_or_else(|e| panic!("{printed}: {e}")).to_string();
            assert_eq!(printed, reparsed, "{query}");
        }
        assert_eq!(
            parse("sum(rate(x{a=\"b\"}[5m])) by (c)").unwrap().to_string(),
            "sum by (c) (rate(x{a=\"b\"}[5m]))"
        );
    }
}
