//! TaskRouter expressions, the subset the sim routes with: a TaskQueue's `TargetWorkers`
//! (evaluated against a worker's attributes) and a Workflow filter's `expression` (against a
//! task's attributes). No crate parses these, so this is a small recursive-descent parser.
//!
//! Grammar (keywords and `true`/`false`/`null` in any case):
//!
//! ```text
//! expr     := and (("OR" | "||") and)*
//! and      := unary (("AND" | "&&") unary)*
//! unary    := ("NOT" | "!") unary | "(" expr ")" | compare
//! compare  := operand op operand
//! op       := "==" | "=" | "!=" | "<>" | "<" | "<=" | ">" | ">="
//!           | "HAS" | "CONTAINS" | "IN" | "NOT IN"
//! operand  := string | number | true | false | null | "[" literals "]" | path
//! path     := name ("." name)*        name := [A-Za-z_][A-Za-z0-9_]*
//! ```
//!
//! Strings take single or double quotes with `\` escapes. A path starting with `worker.` or
//! `task.` reads that side when both are known (workflow target expressions); any other path
//! reads the expression's own subject. A missing attribute is `null`: it equals only `null`,
//! and `!=` / `NOT IN` are the negations of `==` / `IN`.
//!
//! Input comes from REST requests, so the parser is total: length and nesting are bounded and
//! every failure is an [`ExprError`], never a panic.

use std::fmt;

use serde_json::Value;

/// Longest expression accepted, in bytes.
const MAX_LEN: usize = 4096;
/// Deepest nesting of parentheses / NOT / lists accepted.
const MAX_DEPTH: usize = 32;

/// A parse failure, with a human reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExprError(pub String);

impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ExprError {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Has,
    Contains,
    In,
    NotIn,
}

#[derive(Debug, Clone, PartialEq)]
enum Operand {
    Literal(Value),
    Path(Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Or(Box<Node>, Box<Node>),
    And(Box<Node>, Box<Node>),
    Not(Box<Node>),
    Compare(Operand, Op, Operand),
}

/// A parsed expression. Keeps its source text for JSON answers and event callbacks.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    source: String,
    root: Node,
}

/// What an expression is evaluated against.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// Unqualified paths read this.
    pub own: &'a Value,
    /// `worker.…` paths read this when set.
    pub worker: Option<&'a Value>,
    /// `task.…` paths read this when set.
    pub task: Option<&'a Value>,
}

impl<'a> Subject<'a> {
    /// Only `own` (a queue target on a worker, a workflow filter on a task).
    pub fn of(own: &'a Value) -> Self {
        Self {
            own,
            worker: None,
            task: None,
        }
    }
}

impl Expr {
    pub fn parse(source: &str) -> Result<Self, ExprError> {
        if source.len() > MAX_LEN {
            return Err(ExprError(format!("expression longer than {MAX_LEN} bytes")));
        }
        let tokens = lex(source)?;
        let mut parser = Parser {
            tokens,
            pos: 0,
            depth: 0,
        };
        let root = parser.expr()?;
        if let Some(token) = parser.peek() {
            return Err(ExprError(format!(
                "unexpected {token} after the expression"
            )));
        }
        Ok(Self {
            source: source.to_owned(),
            root,
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// True when the expression holds for `subject`.
    pub fn matches(&self, subject: Subject<'_>) -> bool {
        eval(&self.root, subject)
    }
}

// ---------------------------------------------------------------------------------------------
// Lexer

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Str(String),
    Num(f64),
    /// A bare word: a path (`a.b`) or a keyword, as written.
    Word(String),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Sym(&'static str),
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Str(s) => write!(f, "string {s:?}"),
            Token::Num(n) => write!(f, "number {n}"),
            Token::Word(w) => write!(f, "{w:?}"),
            Token::LParen => f.write_str("'('"),
            Token::RParen => f.write_str("')'"),
            Token::LBracket => f.write_str("'['"),
            Token::RBracket => f.write_str("']'"),
            Token::Comma => f.write_str("','"),
            Token::Sym(s) => write!(f, "'{s}'"),
        }
    }
}

const SYMBOLS: [&str; 12] = [
    "==", "!=", "<>", ">=", "<=", "&&", "||", "=", ">", "<", "!", "-",
];

fn lex(source: &str) -> Result<Vec<Token>, ExprError> {
    let mut tokens = Vec::new();
    let mut chars = source.char_indices().peekable();
    while let Some(&(at, c)) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' | ')' | '[' | ']' | ',' => {
                chars.next();
                tokens.push(match c {
                    '(' => Token::LParen,
                    ')' => Token::RParen,
                    '[' => Token::LBracket,
                    ']' => Token::RBracket,
                    _ => Token::Comma,
                });
            }
            '"' | '\'' => {
                chars.next();
                let mut text = String::new();
                let mut closed = false;
                while let Some((_, ch)) = chars.next() {
                    match ch {
                        '\\' => match chars.next() {
                            Some((_, escaped)) => text.push(escaped),
                            None => break,
                        },
                        ch if ch == c => {
                            closed = true;
                            break;
                        }
                        ch => text.push(ch),
                    }
                }
                if !closed {
                    return Err(ExprError(format!("unterminated string at offset {at}")));
                }
                tokens.push(Token::Str(text));
            }
            c if c.is_ascii_digit() => {
                let mut end = at;
                while let Some(&(i, ch)) = chars.peek() {
                    if ch.is_ascii_digit() || ch == '.' {
                        end = i + ch.len_utf8();
                        chars.next();
                    } else {
                        break;
                    }
                }
                let text = &source[at..end];
                let number = text
                    .parse::<f64>()
                    .map_err(|_| ExprError(format!("bad number {text:?} at offset {at}")))?;
                tokens.push(Token::Num(number));
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let mut end = at;
                while let Some(&(i, ch)) = chars.peek() {
                    if ch.is_ascii_alphanumeric() || ch == '_' || ch == '.' {
                        end = i + ch.len_utf8();
                        chars.next();
                    } else {
                        break;
                    }
                }
                tokens.push(Token::Word(source[at..end].to_owned()));
            }
            _ => {
                let rest = &source[at..];
                let Some(symbol) = SYMBOLS.iter().find(|s| rest.starts_with(**s)) else {
                    return Err(ExprError(format!("unexpected {c:?} at offset {at}")));
                };
                for _ in 0..symbol.len() {
                    chars.next();
                }
                tokens.push(Token::Sym(symbol));
            }
        }
    }
    Ok(tokens)
}

// ---------------------------------------------------------------------------------------------
// Parser

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
}

fn is_keyword(token: Option<&Token>, keyword: &str) -> bool {
    matches!(token, Some(Token::Word(w)) if w.eq_ignore_ascii_case(keyword))
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn peek_at(&self, offset: usize) -> Option<&Token> {
        self.tokens.get(self.pos + offset)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.pos).cloned();
        if token.is_some() {
            self.pos += 1;
        }
        token
    }

    fn enter(&mut self) -> Result<(), ExprError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ExprError(format!(
                "expression nested deeper than {MAX_DEPTH}"
            )));
        }
        Ok(())
    }

    fn expr(&mut self) -> Result<Node, ExprError> {
        let mut left = self.and()?;
        while is_keyword(self.peek(), "OR") || self.peek() == Some(&Token::Sym("||")) {
            self.next();
            let right = self.and()?;
            left = Node::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Node, ExprError> {
        let mut left = self.unary()?;
        while is_keyword(self.peek(), "AND") || self.peek() == Some(&Token::Sym("&&")) {
            self.next();
            let right = self.unary()?;
            left = Node::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Node, ExprError> {
        if is_keyword(self.peek(), "NOT") || self.peek() == Some(&Token::Sym("!")) {
            self.next();
            self.enter()?;
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Node::Not(Box::new(inner)));
        }
        if self.peek() == Some(&Token::LParen) {
            self.next();
            self.enter()?;
            let inner = self.expr()?;
            self.depth -= 1;
            return match self.next() {
                Some(Token::RParen) => Ok(inner),
                Some(other) => Err(ExprError(format!("expected ')' but found {other}"))),
                None => Err(ExprError("missing ')'".into())),
            };
        }
        self.compare()
    }

    fn compare(&mut self) -> Result<Node, ExprError> {
        let left = self.operand()?;
        let op = self.op()?;
        let right = self.operand()?;
        Ok(Node::Compare(left, op, right))
    }

    fn op(&mut self) -> Result<Op, ExprError> {
        let op = match self.next() {
            Some(Token::Sym("==" | "=")) => Op::Eq,
            Some(Token::Sym("!=" | "<>")) => Op::Ne,
            Some(Token::Sym("<")) => Op::Lt,
            Some(Token::Sym("<=")) => Op::Le,
            Some(Token::Sym(">")) => Op::Gt,
            Some(Token::Sym(">=")) => Op::Ge,
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("HAS") => Op::Has,
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("CONTAINS") => Op::Contains,
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("IN") => Op::In,
            Some(Token::Word(w))
                if w.eq_ignore_ascii_case("NOT") && is_keyword(self.peek(), "IN") =>
            {
                self.next();
                Op::NotIn
            }
            Some(other) => {
                return Err(ExprError(format!(
                    "expected an operator (==, !=, <, >, HAS, IN, NOT IN, CONTAINS) but found {other}"
                )));
            }
            None => {
                return Err(ExprError(
                    "expression ends where an operator was expected".into(),
                ));
            }
        };
        Ok(op)
    }

    fn operand(&mut self) -> Result<Operand, ExprError> {
        if self.peek() == Some(&Token::Sym("-"))
            && let Some(Token::Num(n)) = self.peek_at(1).cloned()
        {
            self.pos += 2;
            return Ok(Operand::Literal(number(-n)));
        }
        match self.next() {
            Some(Token::LBracket) => {
                self.enter()?;
                let list = self.list()?;
                self.depth -= 1;
                Ok(Operand::Literal(Value::Array(list)))
            }
            Some(Token::Word(word)) => Ok(match word.to_ascii_lowercase().as_str() {
                "true" => Operand::Literal(Value::Bool(true)),
                "false" => Operand::Literal(Value::Bool(false)),
                "null" => Operand::Literal(Value::Null),
                _ => {
                    let segments: Vec<String> = word.split('.').map(str::to_owned).collect();
                    if segments.iter().any(String::is_empty) {
                        return Err(ExprError(format!("bad attribute name {word:?}")));
                    }
                    Operand::Path(segments)
                }
            }),
            Some(token) => literal(token).map(Operand::Literal),
            None => Err(ExprError(
                "expression ends where a value was expected".into(),
            )),
        }
    }

    /// The items of a `[...]` list after its `[`.
    fn list(&mut self) -> Result<Vec<Value>, ExprError> {
        let mut items = Vec::new();
        if self.peek() == Some(&Token::RBracket) {
            self.next();
            return Ok(items);
        }
        loop {
            let item = match self.operand()? {
                Operand::Literal(value) => value,
                Operand::Path(path) => {
                    return Err(ExprError(format!(
                        "lists hold literals; {:?} is an attribute name (quote it)",
                        path.join(".")
                    )));
                }
            };
            items.push(item);
            match self.next() {
                Some(Token::Comma) => continue,
                Some(Token::RBracket) => return Ok(items),
                Some(other) => {
                    return Err(ExprError(format!("expected ',' or ']' but found {other}")));
                }
                None => return Err(ExprError("missing ']'".into())),
            }
        }
    }
}

fn number(n: f64) -> Value {
    serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number)
}

fn literal(token: Token) -> Result<Value, ExprError> {
    match token {
        Token::Str(s) => Ok(Value::String(s)),
        Token::Num(n) => Ok(number(n)),
        other => Err(ExprError(format!("expected a value but found {other}"))),
    }
}

// ---------------------------------------------------------------------------------------------
// Evaluation

fn eval(node: &Node, subject: Subject<'_>) -> bool {
    match node {
        Node::Or(a, b) => eval(a, subject) || eval(b, subject),
        Node::And(a, b) => eval(a, subject) && eval(b, subject),
        Node::Not(inner) => !eval(inner, subject),
        Node::Compare(left, op, right) => {
            let left = resolve(left, subject);
            let right = resolve(right, subject);
            compare(&left, *op, &right)
        }
    }
}

fn resolve(operand: &Operand, subject: Subject<'_>) -> Value {
    match operand {
        Operand::Literal(value) => value.clone(),
        Operand::Path(segments) => {
            let (root, rest) = match segments.split_first() {
                Some((first, rest)) if first == "worker" && subject.worker.is_some() => {
                    (subject.worker.unwrap_or(subject.own), rest)
                }
                Some((first, rest)) if first == "task" && subject.task.is_some() => {
                    (subject.task.unwrap_or(subject.own), rest)
                }
                _ => (subject.own, segments.as_slice()),
            };
            rest.iter()
                .try_fold(root, |value, key| value.get(key.as_str()))
                .cloned()
                .unwrap_or(Value::Null)
        }
    }
}

fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn order(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

/// The items of a value seen as a list: an array's items, or the value itself.
fn items(value: &Value) -> &[Value] {
    match value {
        Value::Array(items) => items,
        Value::Null => &[],
        other => std::slice::from_ref(other),
    }
}

fn compare(left: &Value, op: Op, right: &Value) -> bool {
    use std::cmp::Ordering::{Equal, Greater, Less};
    match op {
        Op::Eq => equal(left, right),
        Op::Ne => !equal(left, right),
        Op::Lt => order(left, right) == Some(Less),
        Op::Le => matches!(order(left, right), Some(Less | Equal)),
        Op::Gt => order(left, right) == Some(Greater),
        Op::Ge => matches!(order(left, right), Some(Greater | Equal)),
        Op::Has => items(left).iter().any(|item| equal(item, right)),
        Op::In => in_list(left, right),
        Op::NotIn => !in_list(left, right),
        Op::Contains => {
            let Value::String(needle) = right else {
                return false;
            };
            items(left)
                .iter()
                .any(|item| item.as_str().is_some_and(|s| s.contains(needle.as_str())))
        }
    }
}

/// `left IN right`: a scalar is one of the list's items; a list shares at least one item.
fn in_list(left: &Value, right: &Value) -> bool {
    let list = items(right);
    items(left)
        .iter()
        .any(|item| list.iter().any(|candidate| equal(item, candidate)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn holds(expression: &str, attributes: Value) -> bool {
        Expr::parse(expression)
            .unwrap_or_else(|e| panic!("{expression}: {e}"))
            .matches(Subject::of(&attributes))
    }

    #[test]
    fn quickstart_expressions() {
        let alice = json!({"languages": ["en", "es"]});
        let bob = json!({"languages": ["en"]});
        assert!(holds(r#"languages HAS "es""#, alice.clone()));
        assert!(!holds(r#"languages HAS "es""#, bob.clone()));
        assert!(holds(r#"languages has 'en'"#, bob));
        assert!(holds(
            r#"selected_language == "es""#,
            json!({"selected_language": "es"})
        ));
        assert!(holds(
            r#"selected_language=='es'"#,
            json!({"selected_language": "es"})
        ));
        assert!(!holds(r#"selected_language == "es""#, json!({})));
        assert!(holds("1==1", json!({})));
        assert!(holds("1 == 1.0", json!({})));
        assert!(!holds("1==2", json!({})));
    }

    #[test]
    fn equality_in_and_combinations() {
        let task = json!({"type": "support", "level": 2, "vip": true, "tags": ["a", "b"], "customer": {"tier": "gold"}});
        assert!(holds("level == 2", task.clone()));
        assert!(
            !holds(r#"level == "2""#, task.clone()),
            "no string/number coercion"
        );
        assert!(holds("vip == true", task.clone()));
        assert!(holds(r#"type IN ["sales", "support"]"#, task.clone()));
        assert!(holds(r#"type NOT IN ["sales"]"#, task.clone()));
        assert!(holds(r#"tags IN ["b", "z"]"#, task.clone()));
        assert!(holds(r#"customer.tier == "gold""#, task.clone()));
        assert!(holds(r#"type == "support" AND level >= 2"#, task.clone()));
        assert!(holds(r#"type == "sales" OR level < 3"#, task.clone()));
        assert!(holds(
            r#"(type == "sales" || level > 5) OR NOT (vip == false)"#,
            task.clone()
        ));
        assert!(!holds(
            r#"type == "sales" AND 1==1 OR level == 9"#,
            task.clone()
        ));
        assert!(holds(r#"type CONTAINS "upp""#, task.clone()));
        assert!(holds(r#"missing != "x""#, task.clone()));
        assert!(holds("missing == null", task.clone()));
        assert!(holds("level > -1", task));
    }

    #[test]
    fn worker_and_task_prefixes_read_their_side() {
        let worker = json!({"languages": ["en", "es"]});
        let task = json!({"selected_language": "es"});
        let expr = Expr::parse("worker.languages HAS task.selected_language").unwrap();
        assert!(expr.matches(Subject {
            own: &worker,
            worker: Some(&worker),
            task: Some(&task),
        }));
        assert!(
            !expr.matches(Subject::of(&worker)),
            "no task side: task.* is missing"
        );
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        for bad in [
            "",
            "languages",
            "languages HAS",
            r#"languages HAS "es"#,
            "a == 1 AND",
            "(a == 1",
            "a == 1)",
            "a IN [b]",
            "a IN [1,",
            "a ~ 1",
            "a..b == 1",
            "a == 1.2.3",
            "é == 1",
            "a == 1 b == 2",
        ] {
            assert!(Expr::parse(bad).is_err(), "{bad:?} should not parse");
        }
        let deep = format!("{}1==1{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(Expr::parse(&deep).is_err());
        let nots = format!("{}1==1", "NOT ".repeat(1000));
        assert!(Expr::parse(&nots).is_err());
        assert!(Expr::parse(&"a == 1 OR ".repeat(1000)).is_err());
    }
}
