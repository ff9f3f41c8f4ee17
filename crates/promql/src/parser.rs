//! A hand-written recursive-descent parser (precedence climbing for binary operators) for the
//! Prometheus 2.42 dialect of PromQL, including its type checks. See docs/adr/0001-promql-parser.md.

use neocortex_core::{ErrorCode, MatchOp, Matcher, METRIC_NAME};

use crate::ast::{
    AggregateOp, AtModifier, BinaryOp, Expr, MatchCardinality, ValueType, VectorMatching, VectorSelector,
};
use crate::functions::{self, FunctionDef};
use crate::lexer::{self, Spanned, Token};

/// A query that does not parse or type-check, with the position of the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{column}: parse error: {message}")]
pub struct ParseError {
    /// 1-based line of the problem.
    pub line: usize,
    /// 1-based column (in bytes) of the problem.
    pub column: usize,
    /// Byte offset of the problem in the query.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
}

impl ParseError {
    pub(crate) fn new(input: &str, offset: usize, message: impl Into<String>) -> Self {
        let offset = offset.min(input.len());
        let before = &input.as_bytes()[..offset];
        let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
        let line_start = before.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        Self { line, column: offset - line_start + 1, offset, message: message.into() }
    }

    /// Parse errors are always the client's fault.
    pub fn code(&self) -> ErrorCode {
        ErrorCode::BadData
    }
}

/// Deepest bracket nesting a query may use; keeps parsing and evaluation recursion bounded.
pub const MAX_NESTING: usize = 128;
/// Most operators a query may contain; a long operator chain is a deep syntax tree.
pub const MAX_OPERATORS: usize = 1000;

/// Parses and type-checks a PromQL expression.
pub fn parse(input: &str) -> Result<Expr, ParseError> {
    let tokens = lexer::tokenize(input)?;
    check_complexity(input, &tokens)?;
    let mut parser = Parser { input, tokens, index: 0 };
    let expr = parser.parse_expr(0)?;
    let end = parser.current();
    if end.token != Token::Eof {
        let message = format!("unexpected {}", end.token.describe());
        return Err(parser.error_at(end.pos, message));
    }
    Ok(expr)
}

/// Rejects queries whose syntax tree would be deep enough to exhaust a thread's stack.
fn check_complexity(input: &str, tokens: &[Spanned]) -> Result<(), ParseError> {
    let mut depth = 0usize;
    let mut operators = 0usize;
    for spanned in tokens {
        match &spanned.token {
            Token::LParen | Token::LBrace | Token::LBracket => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(ParseError::new(
                        input,
                        spanned.pos,
                        format!("expression nesting too deep (more than {MAX_NESTING} levels)"),
                    ));
                }
            }
            Token::RParen | Token::RBrace | Token::RBracket => depth = depth.saturating_sub(1),
            Token::Add
            | Token::Sub
            | Token::Mul
            | Token::Div
            | Token::Mod
            | Token::Pow
            | Token::Eql
            | Token::Neq
            | Token::Gtr
            | Token::Lss
            | Token::Gte
            | Token::Lte => operators += 1,
            Token::Ident(word)
                if ["and", "or", "unless", "atan2"].iter().any(|op| word.eq_ignore_ascii_case(op)) =>
            {
                operators += 1
            }
            _ => {}
        }
        if operators > MAX_OPERATORS {
            return Err(ParseError::new(
                input,
                spanned.pos,
                format!("too many operators in expression (more than {MAX_OPERATORS})"),
            ));
        }
    }
    Ok(())
}

const UNARY_OPERAND_PRECEDENCE: u8 = 6;

struct Parser<'a> {
    input: &'a str,
    tokens: Vec<Spanned>,
    index: usize,
}

struct BinaryModifiers {
    return_bool: bool,
    matching_labels: Option<(bool, Vec<String>)>,
    group: Option<(MatchCardinality, Vec<String>)>,
}

impl Parser<'_> {
    fn current(&self) -> &Spanned {
        let last = self.tokens.len() - 1;
        &self.tokens[self.index.min(last)]
    }

    fn peek_token(&self, ahead: usize) -> &Token {
        let last = self.tokens.len() - 1;
        &self.tokens[(self.index + ahead).min(last)].token
    }

    fn advance(&mut self) -> Spanned {
        let token = self.current().clone();
        if self.index < self.tokens.len() - 1 {
            self.index += 1;
        }
        token
    }

    fn error_at(&self, pos: usize, message: impl Into<String>) -> ParseError {
        ParseError::new(self.input, pos, message)
    }

    fn unexpected(&self, context: &str) -> ParseError {
        let current = self.current();
        if current.token == Token::Eof {
            return self.error_at(current.pos, self.unclosed_message());
        }
        self.error_at(current.pos, format!("unexpected {} {context}", current.token.describe()))
    }

    /// What is left open at the end of the input, in Prometheus's words.
    fn unclosed_message(&self) -> &'static str {
        let (mut parens, mut braces, mut brackets) = (0i32, 0i32, 0i32);
        for spanned in &self.tokens[..self.index] {
            match spanned.token {
                Token::LParen => parens += 1,
                Token::RParen => parens -= 1,
                Token::LBrace => braces += 1,
                Token::RBrace => braces -= 1,
                Token::LBracket => brackets += 1,
                Token::RBracket => brackets -= 1,
                _ => {}
            }
        }
        if braces > 0 {
            "unexpected end of input inside braces"
        } else if brackets > 0 {
            "unclosed left bracket"
        } else if parens > 0 {
            "unclosed left parenthesis"
        } else {
            "unexpected end of input"
        }
    }

    fn expect(&mut self, token: Token, context: &str) -> Result<Spanned, ParseError> {
        if self.current().token == token {
            return Ok(self.advance());
        }
        Err(self.unexpected(&format!("{context}, expected {}", token.describe())))
    }

    fn current_keyword(&self) -> Option<String> {
        match &self.current().token {
            Token::Ident(word) => Some(word.to_ascii_lowercase()),
            _ => None,
        }
    }

    fn peek_binary_op(&self) -> Option<BinaryOp> {
        Some(match &self.current().token {
            Token::Add => BinaryOp::Add,
            Token::Sub => BinaryOp::Sub,
            Token::Mul => BinaryOp::Mul,
            Token::Div => BinaryOp::Div,
            Token::Mod => BinaryOp::Mod,
            Token::Pow => BinaryOp::Pow,
            Token::Eql => BinaryOp::Eql,
            Token::Neq => BinaryOp::Neq,
            Token::Gtr => BinaryOp::Gtr,
            Token::Lss => BinaryOp::Lss,
            Token::Gte => BinaryOp::Gte,
            Token::Lte => BinaryOp::Lte,
            Token::Ident(word) => match word.to_ascii_lowercase().as_str() {
                "and" => BinaryOp::And,
                "or" => BinaryOp::Or,
                "unless" => BinaryOp::Unless,
                "atan2" => BinaryOp::Atan2,
                _ => return None,
            },
            _ => return None,
        })
    }

    fn parse_expr(&mut self, min_precedence: u8) -> Result<Expr, ParseError> {
        let start = self.current().pos;
        let mut lhs = self.parse_unary()?;
        while let Some(op) = self.peek_binary_op() {
            let precedence = op.precedence();
            if precedence < min_precedence {
                break;
            }
            let op_pos = self.advance().pos;
            let modifiers = self.parse_binary_modifiers()?;
            let next_min = if op.is_right_associative() { precedence } else { precedence + 1 };
            let rhs = self.parse_expr(next_min)?;
            lhs = self.build_binary(op, (start, op_pos), lhs, rhs, modifiers)?;
        }
        Ok(lhs)
    }

    fn parse_binary_modifiers(&mut self) -> Result<BinaryModifiers, ParseError> {
        let mut modifiers = BinaryModifiers { return_bool: false, matching_labels: None, group: None };
        if self.current_keyword().as_deref() == Some("bool") {
            self.advance();
            modifiers.return_bool = true;
        }
        match self.current_keyword().as_deref() {
            Some(word @ ("on" | "ignoring")) => {
                let on = word == "on";
                self.advance();
                modifiers.matching_labels = Some((on, self.parse_label_list()?));
            }
            _ => return Ok(modifiers),
        }
        if let Some(word @ ("group_left" | "group_right")) = self.current_keyword().as_deref() {
            let card =
                if word == "group_left" { MatchCardinality::ManyToOne } else { MatchCardinality::OneToMany };
            self.advance();
            let include =
                if self.current().token == Token::LParen { self.parse_label_list()? } else { Vec::new() };
            modifiers.group = Some((card, include));
        }
        Ok(modifiers)
    }

    fn build_binary(
        &self,
        op: BinaryOp,
        (start, op_pos): (usize, usize),
        lhs: Expr,
        rhs: Expr,
        modifiers: BinaryModifiers,
    ) -> Result<Expr, ParseError> {
        let lhs_type = lhs.value_type();
        let rhs_type = rhs.value_type();
        let err = |message: String| Err(self.error_at(start, message));
        for ty in [lhs_type, rhs_type] {
            if ty != ValueType::Scalar && ty != ValueType::Vector {
                return err("binary expression must contain only scalar and instant vector types".into());
            }
        }
        if modifiers.return_bool && !op.is_comparison() {
            return Err(self.error_at(op_pos, "bool modifier can only be used on comparison operators"));
        }
        let both_scalar = lhs_type == ValueType::Scalar && rhs_type == ValueType::Scalar;
        if op.is_comparison() && both_scalar && !modifiers.return_bool {
            return Err(self.error_at(op_pos, "comparisons between scalars must use BOOL modifier"));
        }
        let both_vector = lhs_type == ValueType::Vector && rhs_type == ValueType::Vector;
        if op.is_set_operator() && !both_vector {
            return err(format!("set operator \"{op}\" not allowed in binary scalar expression"));
        }
        if (modifiers.matching_labels.is_some() || modifiers.group.is_some()) && !both_vector {
            return err("vector matching only allowed between instant vectors".into());
        }
        let matching = if both_vector {
            let (on, labels) = modifiers.matching_labels.unwrap_or((false, Vec::new()));
            let (card, include) = match modifiers.group {
                Some(_) if op.is_set_operator() => {
                    return Err(self.error_at(op_pos, format!("no grouping allowed for \"{op}\" operation")));
                }
                Some(group) => group,
                None if op.is_set_operator() => (MatchCardinality::ManyToMany, Vec::new()),
                None => (MatchCardinality::OneToOne, Vec::new()),
            };
            if on {
                if let Some(label) = include.iter().find(|l| labels.contains(l)) {
                    return Err(self.error_at(
                        op_pos,
                        format!("label \"{label}\" must not occur in ON and GROUP clause at once"),
                    ));
                }
            }
            Some(VectorMatching { card, labels, on, include })
        } else {
            None
        };
        Ok(Expr::Binary {
            op,
            lhs: Box::new(lhs),
            rhs: Box::new(rhs),
            return_bool: modifiers.return_bool,
            matching,
        })
    }

    fn parse_unary(&mut self) -> Result<Expr, ParseError> {
        let negate = match self.current().token {
            Token::Sub => true,
            Token::Add => false,
            _ => return self.parse_postfix(),
        };
        let pos = self.advance().pos;
        let operand = self.parse_expr(UNARY_OPERAND_PRECEDENCE)?;
        if let Expr::Number(value) = operand {
            return Ok(Expr::Number(if negate { -value } else { value }));
        }
        let ty = operand.value_type();
        if ty != ValueType::Scalar && ty != ValueType::Vector {
            return Err(self.error_at(
                pos,
                format!("unary expression only allowed on expressions of type scalar or instant vector, got \"{ty}\""),
            ));
        }
        Ok(Expr::Unary { negate, expr: Box::new(operand) })
    }

    fn parse_postfix(&mut self) -> Result<Expr, ParseError> {
        let pos = self.current().pos;
        let mut expr = self.parse_primary()?;
        loop {
            match &self.current().token {
                Token::LBracket => expr = self.parse_range_suffix(expr)?,
                Token::At => {
                    self.advance();
                    let at = self.parse_at_value()?;
                    expr = self.set_at(expr, at, pos)?;
                }
                Token::Ident(word) if word.eq_ignore_ascii_case("offset") => {
                    self.advance();
                    let negative = if self.current().token == Token::Sub {
                        self.advance();
                        true
                    } else {
                        false
                    };
                    let duration = self.parse_duration_token("offset")?;
                    expr = self.set_offset(expr, if negative { -duration } else { duration }, pos)?;
                }
                _ => return Ok(expr),
            }
        }
    }

    fn parse_duration_token(&mut self, context: &str) -> Result<i64, ParseError> {
        let token = self.current().clone();
        match token.token {
            Token::Duration(ms) => {
                self.advance();
                if ms == 0 {
                    return Err(self.error_at(token.pos, "duration must be greater than 0"));
                }
                Ok(ms)
            }
            _ => Err(self.unexpected(&format!("in {context}, expected duration"))),
        }
    }

    fn parse_range_suffix(&mut self, expr: Expr) -> Result<Expr, ParseError> {
        let open = self.advance().pos;
        let range_ms = self.parse_duration_token("range or subquery")?;
        if self.current().token == Token::Colon {
            self.advance();
            let step_ms = match self.current().token {
                Token::RBracket => None,
                _ => Some(self.parse_duration_token("subquery step")?),
            };
            self.expect(Token::RBracket, "in subquery")?;
            let ty = expr.value_type();
            if ty != ValueType::Vector {
                return Err(self.error_at(
                    open,
                    format!("subquery is only allowed on instant vector, got {ty} instead"),
                ));
            }
            return Ok(Expr::Subquery { expr: Box::new(expr), range_ms, step_ms, offset_ms: 0, at: None });
        }
        self.expect(Token::RBracket, "in range selector")?;
        let Expr::VectorSelector(selector) = expr else {
            return Err(self.error_at(open, "ranges only allowed for vector selectors"));
        };
        if selector.offset_ms != 0 {
            return Err(self.error_at(open, "no offset modifiers allowed before range"));
        }
        if selector.at.is_some() {
            return Err(self.error_at(open, "no @ modifiers allowed before range"));
        }
        Ok(Expr::MatrixSelector { selector, range_ms })
    }

    fn parse_at_value(&mut self) -> Result<AtModifier, ParseError> {
        let token = self.current().clone();
        let sign = match token.token {
            Token::Sub => {
                self.advance();
                -1.0
            }
            Token::Add => {
                self.advance();
                1.0
            }
            _ => 1.0,
        };
        let token = self.current().clone();
        match &token.token {
            Token::Number(seconds) => {
                self.advance();
                let seconds = sign * seconds;
                let ms = (seconds * 1000.0).round();
                if !ms.is_finite() || ms >= i64::MAX as f64 || ms <= i64::MIN as f64 {
                    return Err(self
                        .error_at(token.pos, format!("timestamp out of bounds for @ modifier: {seconds}")));
                }
                Ok(AtModifier::Timestamp(ms as i64))
            }
            Token::Ident(word) if (word == "start" || word == "end") && sign > 0.0 => {
                let at = if word == "start" { AtModifier::Start } else { AtModifier::End };
                self.advance();
                self.expect(Token::LParen, "in @ modifier")?;
                self.expect(Token::RParen, "in @ modifier")?;
                Ok(at)
            }
            _ => Err(self.unexpected("in @, expected timestamp")),
        }
    }

    fn set_at(&self, mut expr: Expr, value: AtModifier, pos: usize) -> Result<Expr, ParseError> {
        let slot = match &mut expr {
            Expr::VectorSelector(selector) | Expr::MatrixSelector { selector, .. } => &mut selector.at,
            Expr::Subquery { at, .. } => at,
            _ => {
                return Err(self.error_at(
                    pos,
                    "@ modifier must be preceded by an instant vector selector or range vector selector or a subquery",
                ))
            }
        };
        if slot.is_some() {
            return Err(self.error_at(pos, "@ <timestamp> may not be set multiple times"));
        }
        *slot = Some(value);
        Ok(expr)
    }

    fn set_offset(&self, mut expr: Expr, offset: i64, pos: usize) -> Result<Expr, ParseError> {
        let slot = match &mut expr {
            Expr::VectorSelector(selector) | Expr::MatrixSelector { selector, .. } => &mut selector.offset_ms,
            Expr::Subquery { offset_ms, .. } => offset_ms,
            _ => {
                return Err(self.error_at(
                    pos,
                    "offset modifier must be preceded by an instant vector selector or range vector selector or a subquery",
                ))
            }
        };
        if *slot != 0 {
            return Err(self.error_at(pos, "offset may not be set multiple times"));
        }
        *slot = offset;
        Ok(expr)
    }

    fn parse_primary(&mut self) -> Result<Expr, ParseError> {
        let token = self.current().clone();
        match token.token {
            Token::Number(value) => {
                self.advance();
                Ok(Expr::Number(value))
            }
            Token::Str(text) => {
                self.advance();
                Ok(Expr::String(text))
            }
            Token::LParen => {
                self.advance();
                let inner = self.parse_expr(0)?;
                self.expect(Token::RParen, "in parenthesized expression")?;
                Ok(Expr::Paren(Box::new(inner)))
            }
            Token::LBrace => {
                let matchers = self.parse_matchers()?;
                self.build_selector(None, matchers, token.pos)
            }
            Token::Ident(word) => self.parse_identifier_expr(word, token.pos),
            _ => Err(self.unexpected("in expression")),
        }
    }

    fn parse_identifier_expr(&mut self, word: String, pos: usize) -> Result<Expr, ParseError> {
        let lower = word.to_ascii_lowercase();
        if lower == "inf" || lower == "nan" {
            self.advance();
            return Ok(Expr::Number(if lower == "inf" { f64::INFINITY } else { f64::NAN }));
        }
        let next = self.peek_token(1).clone();
        if let Some(op) = AggregateOp::from_keyword(&word) {
            let modifier_follows = matches!(&next, Token::Ident(w) if w.eq_ignore_ascii_case("by") || w.eq_ignore_ascii_case("without"));
            if next == Token::LParen || modifier_follows {
                self.advance();
                return self.parse_aggregate(op, pos);
            }
        }
        if next == Token::LParen {
            let Some(func) = functions::lookup(&word) else {
                return Err(self.error_at(pos, format!("unknown function with name {word:?}")));
            };
            self.advance();
            return self.parse_call(func, pos);
        }
        if is_reserved_keyword(&lower) {
            return Err(self.unexpected("in expression"));
        }
        self.advance();
        let matchers =
            if self.current().token == Token::LBrace { self.parse_matchers()? } else { Vec::new() };
        self.build_selector(Some(word), matchers, pos)
    }

    fn build_selector(
        &self,
        name: Option<String>,
        mut matchers: Vec<Matcher>,
        pos: usize,
    ) -> Result<Expr, ParseError> {
        if let Some(name) = &name {
            if let Some(existing) = matchers.iter().find(|m| m.name == METRIC_NAME) {
                return Err(self.error_at(
                    pos,
                    format!("metric name must not be set twice: {name:?} or {:?}", existing.value),
                ));
            }
            matchers.push(Matcher::equal(METRIC_NAME, name.clone()));
        }
        if matchers.iter().all(|m| m.matches_empty()) {
            return Err(self.error_at(pos, "vector selector must contain at least one non-empty matcher"));
        }
        Ok(Expr::VectorSelector(VectorSelector { name, matchers, offset_ms: 0, at: None }))
    }

    fn parse_matchers(&mut self) -> Result<Vec<Matcher>, ParseError> {
        self.expect(Token::LBrace, "in label matching")?;
        let mut matchers = Vec::new();
        loop {
            if self.current().token == Token::RBrace {
                self.advance();
                return Ok(matchers);
            }
            let name_token = self.advance();
            let Token::Ident(name) = name_token.token else {
                self.index -= 1;
                return Err(self.unexpected("in label matching, expected label"));
            };
            if !neocortex_core::labels::is_valid_label_name(&name) {
                return Err(self.error_at(name_token.pos, format!("invalid label name {name:?}")));
            }
            let op = match self.current().token {
                Token::Assign => MatchOp::Equal,
                Token::Neq => MatchOp::NotEqual,
                Token::RegexMatch => MatchOp::RegexMatch,
                Token::RegexNoMatch => MatchOp::RegexNoMatch,
                _ => return Err(self.unexpected("in label matching, expected label matching operator")),
            };
            self.advance();
            let value_token = self.current().clone();
            let Token::Str(value) = value_token.token else {
                return Err(self.unexpected("in label matching, expected string"));
            };
            self.advance();
            let matcher = Matcher::new(op, name, value).map_err(|err| {
                let reason =
                    err.message.lines().last().unwrap_or("").trim_start_matches("error: ").to_string();
                self.error_at(
                    name_token.pos,
                    format!("error parsing regexp: {reason}: `^(?:{})$`", err.pattern),
                )
            })?;
            matchers.push(matcher);
            match self.current().token {
                Token::Comma => {
                    self.advance();
                }
                Token::RBrace => {}
                _ => return Err(self.unexpected("in label matching, expected \",\" or \"}\"")),
            }
        }
    }

    fn parse_label_list(&mut self) -> Result<Vec<String>, ParseError> {
        self.expect(Token::LParen, "in grouping opts")?;
        let mut labels = Vec::new();
        loop {
            let token = self.advance();
            match token.token {
                Token::RParen => return Ok(labels),
                Token::Ident(name) => {
                    if !neocortex_core::labels::is_valid_label_name(&name) {
                        return Err(self.error_at(token.pos, format!("invalid label name {name:?}")));
                    }
                    labels.push(name);
                    match self.current().token {
                        Token::Comma => {
                            self.advance();
                        }
                        Token::RParen => {}
                        _ => return Err(self.unexpected("in grouping opts, expected \",\" or \")\"")),
                    }
                }
                _ => {
                    self.index -= 1;
                    return Err(self.unexpected("in grouping opts, expected label"));
                }
            }
        }
    }

    fn parse_grouping_clause(&mut self) -> Result<Option<(bool, Vec<String>)>, ParseError> {
        match self.current_keyword().as_deref() {
            Some(word @ ("by" | "without")) => {
                let without = word == "without";
                self.advance();
                Ok(Some((without, self.parse_label_list()?)))
            }
            _ => Ok(None),
        }
    }

    fn parse_args(&mut self) -> Result<Vec<(Expr, usize)>, ParseError> {
        self.expect(Token::LParen, "in argument list")?;
        let mut args = Vec::new();
        loop {
            if self.current().token == Token::RParen {
                self.advance();
                return Ok(args);
            }
            let pos = self.current().pos;
            args.push((self.parse_expr(0)?, pos));
            match self.current().token {
                Token::Comma => {
                    self.advance();
                }
                Token::RParen => {}
                _ => return Err(self.unexpected("in argument list, expected \",\" or \")\"")),
            }
        }
    }

    fn parse_aggregate(&mut self, op: AggregateOp, pos: usize) -> Result<Expr, ParseError> {
        let before = self.parse_grouping_clause()?;
        let args = self.parse_args()?;
        let after = if before.is_some() {
            if let Some(word @ ("by" | "without")) = self.current_keyword().as_deref() {
                return Err(self.error_at(self.current().pos, format!("unexpected <{word}>")));
            }
            None
        } else {
            self.parse_grouping_clause()?
        };
        let (without, grouping) = before.or(after).unwrap_or((false, Vec::new()));
        let expected = if op.param_type().is_some() { 2 } else { 1 };
        if args.len() != expected {
            return Err(self.error_at(
                pos,
                format!(
                    "wrong number of arguments for aggregate expression provided, expected {expected}, got {}",
                    args.len()
                ),
            ));
        }
        let mut args = args.into_iter();
        let param = match (op.param_type(), args.next()) {
            (Some(param_type), Some((param, param_pos))) => {
                let ty = param.value_type();
                if ty != param_type {
                    return Err(self.error_at(
                        param_pos,
                        format!("expected type {param_type} in aggregation parameter, got {ty}"),
                    ));
                }
                Some(Box::new(param))
            }
            (None, Some(first)) => {
                args = vec![first].into_iter();
                None
            }
            _ => None,
        };
        let Some((expr, expr_pos)) = args.next() else {
            return Err(self.error_at(pos, "missing aggregation expression"));
        };
        let ty = expr.value_type();
        if ty != ValueType::Vector {
            return Err(self.error_at(
                expr_pos,
                format!("expected type instant vector in aggregation expression, got {ty}"),
            ));
        }
        Ok(Expr::Aggregate { op, expr: Box::new(expr), param, grouping, without })
    }

    fn parse_call(&mut self, func: &'static FunctionDef, pos: usize) -> Result<Expr, ParseError> {
        let args = self.parse_args()?;
        let declared = func.arg_types.len();
        if func.variadic == 0 {
            if declared != args.len() {
                return Err(self.error_at(
                    pos,
                    format!("expected {declared} argument(s) in call to {:?}, got {}", func.name, args.len()),
                ));
            }
        } else {
            let min = declared.saturating_sub(1);
            if args.len() < min {
                return Err(self.error_at(
                    pos,
                    format!(
                        "expected at least {min} argument(s) in call to {:?}, got {}",
                        func.name,
                        args.len()
                    ),
                ));
            }
            if func.variadic > 0 {
                let max = min + func.variadic as usize;
                if args.len() > max {
                    return Err(self.error_at(
                        pos,
                        format!(
                            "expected at most {max} argument(s) in call to {:?}, got {}",
                            func.name,
                            args.len()
                        ),
                    ));
                }
            }
        }
        let mut checked = Vec::with_capacity(args.len());
        for (i, (arg, arg_pos)) in args.into_iter().enumerate() {
            let expected = func.arg_types.get(i).or(func.arg_types.last()).copied();
            if let Some(expected) = expected {
                let ty = arg.value_type();
                if ty != expected {
                    return Err(self.error_at(
                        arg_pos,
                        format!("expected type {expected} in call to function {:?}, got {ty}", func.name),
                    ));
                }
            }
            checked.push(arg);
        }
        Ok(Expr::Call { func, args: checked })
    }
}

/// Whether `word` is a PromQL keyword (operators, modifiers, aggregations).
pub(crate) fn is_keyword(word: &str) -> bool {
    let lower = word.to_ascii_lowercase();
    is_reserved_keyword(&lower) || AggregateOp::from_keyword(&lower).is_some()
}

fn is_reserved_keyword(word: &str) -> bool {
    matches!(
        word,
        "by" | "without"
            | "on"
            | "ignoring"
            | "group_left"
            | "group_right"
            | "bool"
            | "offset"
            | "and"
            | "or"
            | "unless"
            | "atan2"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval_const(expr: &Expr) -> f64 {
        match expr.unparen() {
            Expr::Number(v) => *v,
            Expr::Unary { negate, expr } => {
                let v = eval_const(expr);
                if *negate {
                    -v
                } else {
                    v
                }
            }
            Expr::Binary { op, lhs, rhs, .. } => {
                let (a, b) = (eval_const(lhs), eval_const(rhs));
                match op {
                    BinaryOp::Add => a + b,
                    BinaryOp::Sub => a - b,
                    BinaryOp::Mul => a * b,
                    BinaryOp::Div => a / b,
                    BinaryOp::Pow => a.powf(b),
                    _ => unreachable!(),
                }
            }
            other => panic!("not constant: {other:?}"),
        }
    }

    #[test]
    fn precedence_and_right_associative_pow() {
        assert_eq!(eval_const(&parse("-2^---1*3").unwrap()), -1.5);
        assert_eq!(eval_const(&parse("2/-2^---1*3+2").unwrap()), -10.0);
        assert_eq!(eval_const(&parse("2^3^2").unwrap()), 512.0);
        assert_eq!(eval_const(&parse("1 - 2 - 3").unwrap()), -4.0);
    }

    #[test]
    fn selectors_with_modifiers() {
        let expr = parse("rate(http_requests{job=\"api\"}[5m] offset -1m @ 100)").unwrap();
        let Expr::Call { func, args } = expr else { panic!() };
        assert_eq!(func.name, "rate");
        let Expr::MatrixSelector { selector, range_ms } = &args[0] else { panic!() };
        assert_eq!(*range_ms, 300_000);
        assert_eq!(selector.offset_ms, -60_000);
        assert_eq!(selector.at, Some(AtModifier::Timestamp(100_000)));
        assert_eq!(selector.matchers.len(), 2);
    }

    #[test]
    fn subqueries_and_aggregations() {
        assert!(matches!(parse("max_over_time(rate(x[1m])[5m:])").unwrap(), Expr::Call { .. }));
        assert!(matches!(parse("sum by (a) (x)").unwrap(), Expr::Aggregate { .. }));
        assert!(matches!(parse("SUM(x) BY (a,)").unwrap(), Expr::Aggregate { .. }));
        assert!(matches!(parse("topk(3, x)").unwrap(), Expr::Aggregate { param: Some(_), .. }));
        assert!(parse("holt_winters(x[5m], 0.5, 0.5)").is_ok());
        assert!(parse("x @ start()").is_ok());
    }

    #[test]
    fn errors_point_at_the_problem() {
        let err = parse("sum(x) +").unwrap_err();
        assert_eq!((err.line, err.column), (1, 9));
        let err = parse("rate(x)").unwrap_err();
        assert!(err.message.contains("expected type range vector"), "{err}");
        assert_eq!(err.column, 6);
        assert!(parse("1 == 1").unwrap_err().message.contains("BOOL"));
        assert!(parse("{}").is_err());
        assert!(parse("foo{__name__=\"bar\"}").is_err());
        assert!(parse("x[5m] offset 1m offset 2m").is_err());
        assert!(parse("(x)[5m]").is_err());
        assert!(parse("x and 1").is_err());
        assert!(parse("foo(x)").unwrap_err().message.contains("unknown function"));
        assert_eq!(parse("a\n  + ").unwrap_err().line, 2);
    }
}
