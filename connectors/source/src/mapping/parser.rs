//! Builds the syntax tree from tokens and rejects, before any user is processed, everything
//! that can be known wrong from the text alone: unknown functions, argument counts, empty
//! required slots, invalid constant regular expressions.

use std::collections::BTreeSet;

use regex::Regex;

use super::functions::{Function, Unknown};
use super::lexer::{tokenize, CmpOp, Tok, Token};
use super::ParseError;

/// Deep enough for any hand-written mapping; the limit exists so that a pathological
/// expression gives an error instead of exhausting the stack.
const MAX_DEPTH: usize = 64;

#[derive(Debug, Clone)]
pub(crate) enum Node {
    Attribute {
        name: String,
        pos: usize,
    },
    Constant {
        value: String,
        pos: usize,
    },
    Call {
        function: Function,
        /// One entry per slot; `None` is a slot left empty, as in `Switch([x], , "a", "b")`.
        args: Vec<Option<Node>>,
        pos: usize,
    },
    Replace(Box<ReplaceCall>),
    Compare {
        op: CmpOp,
        lhs: Box<Node>,
        rhs: Box<Node>,
        pos: usize,
    },
}

impl Node {
    pub(crate) fn pos(&self) -> usize {
        match self {
            Node::Attribute { pos, .. }
            | Node::Constant { pos, .. }
            | Node::Call { pos, .. }
            | Node::Compare { pos, .. } => *pos,
            Node::Replace(call) => call.pos,
        }
    }

    pub(crate) fn collect_attributes(&self, into: &mut BTreeSet<String>) {
        match self {
            Node::Attribute { name, .. } => {
                into.insert(name.clone());
            }
            Node::Constant { .. } => {}
            Node::Call { args, .. } => args.iter().flatten().for_each(|arg| arg.collect_attributes(into)),
            Node::Compare { lhs, rhs, .. } => {
                lhs.collect_attributes(into);
                rhs.collect_attributes(into);
            }
            Node::Replace(call) => call.collect_attributes(into),
        }
    }
}

/// `Replace` does one of five different things depending on which of its seven slots are
/// filled; the form is settled at parse time so a mapping that fits none of them is rejected
/// when the configuration loads.
#[derive(Debug, Clone)]
pub(crate) struct ReplaceCall {
    pub(crate) pos: usize,
    pub(crate) source: Node,
    pub(crate) form: ReplaceForm,
}

impl ReplaceCall {
    fn collect_attributes(&self, into: &mut BTreeSet<String>) {
        self.source.collect_attributes(into);
        let nodes: Vec<&Node> = match &self.form {
            ReplaceForm::Literal { old, new } => vec![old, new],
            ReplaceForm::Template { old, template } => vec![old, template],
            ReplaceForm::Regex { pattern, replacement } => {
                vec![replacement].into_iter().chain(pattern.node()).collect()
            }
            ReplaceForm::RegexGroup {
                pattern,
                group,
                replacement,
            } => vec![group, replacement]
                .into_iter()
                .chain(pattern.node())
                .collect(),
            ReplaceForm::Fallback {
                pattern,
                group,
                attribute,
            } => vec![group, attribute].into_iter().chain(pattern.node()).collect(),
        };
        nodes.into_iter().for_each(|n| n.collect_attributes(into));
    }
}

#[derive(Debug, Clone)]
pub(crate) enum ReplaceForm {
    /// oldValue + replacementValue: every occurrence of oldValue in source.
    Literal { old: Node, new: Node },
    /// oldValue + template: every occurrence of oldValue in template becomes source.
    Template { old: Node, template: Node },
    /// regexPattern + replacementValue: regex replace, groups usable in the replacement.
    Regex { pattern: Pattern, replacement: Node },
    /// regexPattern + regexGroupName + replacementValue: only the named group's text changes.
    RegexGroup {
        pattern: Pattern,
        group: Node,
        replacement: Node,
    },
    /// regexPattern + regexGroupName + replacementAttributeName: source if it has a value,
    /// else the named group extracted from the other attribute.
    Fallback {
        pattern: Pattern,
        group: Node,
        attribute: Node,
    },
}

/// A pattern written as a string constant is compiled once, at parse time; one computed from
/// attributes can only be compiled per evaluation.
#[derive(Debug, Clone)]
pub(crate) enum Pattern {
    Compiled(Regex),
    Dynamic(Node),
}

impl Pattern {
    fn node(&self) -> Option<&Node> {
        match self {
            Pattern::Compiled(_) => None,
            Pattern::Dynamic(node) => Some(node),
        }
    }
}

pub(crate) fn parse(src: &str) -> Result<Node, ParseError> {
    let tokens = tokenize(src)?;
    let mut parser = Parser { tokens, next: 0 };
    let node = parser.expression(0)?;
    let after = parser.peek();
    if after.tok != Tok::End {
        let found = after.tok.describe();
        let hint = if matches!(after.tok, Tok::Cmp(_)) {
            " (comparisons cannot be chained; nest IIF calls instead)"
        } else {
            ""
        };
        return Err(ParseError::new(
            after.pos,
            format!("expected the end of the expression, found {found}{hint}"),
        ));
    }
    Ok(node)
}

struct Parser {
    tokens: Vec<Token>,
    next: usize,
}

impl Parser {
    fn peek(&self) -> Token {
        self.tokens
            .get(self.next)
            .or_else(|| self.tokens.last())
            .cloned()
            .unwrap_or(Token {
                tok: Tok::End,
                pos: 1,
            })
    }

    fn bump(&mut self) -> Token {
        let token = self.peek();
        if self.next < self.tokens.len() {
            self.next += 1;
        }
        token
    }

    /// A value, optionally compared with another: `[country]="USA"`. Comparisons are allowed
    /// wherever a value is, because Microsoft's examples use them inside `IIF` and `CBool`.
    fn expression(&mut self, depth: usize) -> Result<Node, ParseError> {
        let lhs = self.primary(depth)?;
        let Tok::Cmp(op) = self.peek().tok else {
            return Ok(lhs);
        };
        let op_pos = self.bump().pos;
        let rhs_token = self.peek();
        if matches!(rhs_token.tok, Tok::End | Tok::Comma | Tok::RParen) {
            return Err(ParseError::new(
                rhs_token.pos,
                format!(
                    "expected a value after '{}', found {}",
                    op.symbol(),
                    rhs_token.tok.describe()
                ),
            ));
        }
        let rhs = self.primary(depth)?;
        Ok(Node::Compare {
            op,
            lhs: Box::new(lhs),
            rhs: Box::new(rhs),
            pos: op_pos,
        })
    }

    fn primary(&mut self, depth: usize) -> Result<Node, ParseError> {
        let token = self.bump();
        match token.tok {
            Tok::Attribute(name) => Ok(Node::Attribute { name, pos: token.pos }),
            Tok::Str(value) | Tok::Number(value) => Ok(Node::Constant {
                value,
                pos: token.pos,
            }),
            Tok::Ident(word) => self.call(&word, token.pos, depth),
            other => Err(ParseError::new(
                token.pos,
                format!(
                    "expected an attribute, a string constant, a number or a function call, \
                     found {}",
                    other.describe()
                ),
            )),
        }
    }

    fn call(&mut self, word: &str, pos: usize, depth: usize) -> Result<Node, ParseError> {
        if self.peek().tok != Tok::LParen {
            return Err(ParseError::new(
                pos,
                format!(
                    "expected '(' after '{word}': a bare word can only be a function name; \
                     attributes go in [brackets] and strings in \"quotes\""
                ),
            ));
        }
        let function = match Function::lookup(word) {
            Ok(f) => f,
            Err(Unknown::EntraOnly(name)) => {
                return Err(ParseError::new(
                    pos,
                    format!("{name} is an Entra function that idsync does not support"),
                ))
            }
            Err(Unknown::NotAFunction) => {
                return Err(ParseError::new(
                    pos,
                    format!(
                        "unknown function '{word}'; the functions are {}",
                        Function::supported_names()
                    ),
                ))
            }
        };
        if depth >= MAX_DEPTH {
            return Err(ParseError::new(
                pos,
                format!("expression nests functions deeper than {MAX_DEPTH} levels"),
            ));
        }
        self.bump();
        let (args, slot_positions) = self.arguments(function, depth)?;
        check_arguments(function, pos, &args, &slot_positions)?;
        if function == Function::Replace {
            return replace(pos, args);
        }
        Ok(Node::Call { function, args, pos })
    }

    /// Reads the slots after '(' up to and including ')'. An empty slot is where a ',' or ')'
    /// comes straight after '(' or ','; `F()` has no slots at all.
    #[allow(clippy::type_complexity)]
    fn arguments(
        &mut self,
        function: Function,
        depth: usize,
    ) -> Result<(Vec<Option<Node>>, Vec<usize>), ParseError> {
        let mut args = Vec::new();
        let mut positions = Vec::new();
        if self.peek().tok == Tok::RParen {
            self.bump();
            return Ok((args, positions));
        }
        loop {
            let start = self.peek();
            positions.push(start.pos);
            if matches!(start.tok, Tok::Comma | Tok::RParen) {
                args.push(None);
            } else {
                args.push(Some(self.expression(depth + 1)?));
            }
            let after = self.bump();
            match after.tok {
                Tok::Comma => continue,
                Tok::RParen => return Ok((args, positions)),
                other => {
                    return Err(ParseError::new(
                        after.pos,
                        format!(
                            "expected ',' or ')' after argument {} of {}, found {}",
                            args.len(),
                            function.name(),
                            other.describe()
                        ),
                    ))
                }
            }
        }
    }
}

fn check_arguments(
    function: Function,
    pos: usize,
    args: &[Option<Node>],
    slot_positions: &[usize],
) -> Result<(), ParseError> {
    let (min, max) = function.arity();
    let count = args.len();
    let expected = match max {
        Some(max) if max == min => format!("{min}"),
        Some(max) => format!("{min} to {max}"),
        None => format!("at least {min}"),
    };
    if count < min || max.is_some_and(|max| count > max) {
        let plural = if expected == "1" { "" } else { "s" };
        return Err(ParseError::new(
            pos,
            format!(
                "{} takes {expected} argument{plural}, as in {}; found {count}",
                function.name(),
                function.usage()
            ),
        ));
    }
    if function == Function::Switch && count % 2 == 1 {
        return Err(ParseError::new(
            pos,
            format!(
                "Switch takes key/value pairs after source and defaultValue, so an even number \
                 of arguments; found {count}"
            ),
        ));
    }
    for (index, arg) in args.iter().enumerate() {
        if arg.is_none() && !function.slot_optional(index) {
            let at = slot_positions.get(index).copied().unwrap_or(pos);
            return Err(ParseError::new(
                at,
                format!(
                    "{}: argument {} ({}) is required but empty",
                    function.name(),
                    index + 1,
                    function.param_name(index)
                ),
            ));
        }
    }
    Ok(())
}

fn replace(pos: usize, args: Vec<Option<Node>>) -> Result<Node, ParseError> {
    let mut slots = args.into_iter();
    let mut next = || slots.next().flatten();
    let (source, old, pattern, group, new, attribute, template) =
        (next(), next(), next(), next(), next(), next(), next());
    let Some(source) = source else {
        return Err(ParseError::new(pos, "Replace: source is required but empty"));
    };
    let fail = |message: &str| Err(ParseError::new(pos, format!("Replace: {message}")));
    let form = match (old, pattern) {
        (Some(_), Some(_)) => return fail("give oldValue or regexPattern, not both"),
        (None, None) => return fail("needs oldValue or regexPattern"),
        (Some(old), None) => {
            if group.is_some() || attribute.is_some() {
                return fail("regexGroupName and replacementAttributeName work only with regexPattern");
            }
            match (new, template) {
                (Some(new), None) => ReplaceForm::Literal { old, new },
                (None, Some(template)) => ReplaceForm::Template { old, template },
                (Some(_), Some(_)) => {
                    return fail("give oldValue with replacementValue or with template, not both")
                }
                (None, None) => return fail("oldValue needs replacementValue or template"),
            }
        }
        (None, Some(pattern_node)) => {
            if template.is_some() {
                return fail("template works only with oldValue");
            }
            let pattern = compile_constant(pattern_node)?;
            match (group, new, attribute) {
                (Some(_), Some(_), Some(_)) => {
                    return fail(
                        "give regexGroupName with replacementValue or with \
                         replacementAttributeName, not both",
                    );
                }
                (Some(group), Some(replacement), None) => {
                    check_group(&pattern, &group)?;
                    ReplaceForm::RegexGroup {
                        pattern,
                        group,
                        replacement,
                    }
                }
                (Some(group), None, Some(attribute)) => {
                    check_group(&pattern, &group)?;
                    ReplaceForm::Fallback {
                        pattern,
                        group,
                        attribute,
                    }
                }
                (Some(_), None, None) => {
                    return fail("regexGroupName needs replacementValue or replacementAttributeName")
                }
                (None, _, Some(_)) => return fail("replacementAttributeName needs regexGroupName"),
                (None, Some(replacement), None) => ReplaceForm::Regex { pattern, replacement },
                (None, None, None) => return fail("regexPattern needs replacementValue"),
            }
        }
    };
    Ok(Node::Replace(Box::new(ReplaceCall { pos, source, form })))
}

fn compile_constant(node: Node) -> Result<Pattern, ParseError> {
    match node {
        Node::Constant { value, pos } => Regex::new(&value).map(Pattern::Compiled).map_err(|e| {
            ParseError::new(
                pos,
                format!(
                    "Replace: regexPattern is not a valid regular expression: {}",
                    one_line(&e.to_string())
                ),
            )
        }),
        other => Ok(Pattern::Dynamic(other)),
    }
}

/// A group name that the constant pattern does not define would never match, so the mapping
/// would silently do nothing; catching it here points at the typo.
fn check_group(pattern: &Pattern, group: &Node) -> Result<(), ParseError> {
    if let (Pattern::Compiled(regex), Node::Constant { value, pos }) = (pattern, group) {
        if !regex.capture_names().flatten().any(|n| n == value) {
            return Err(ParseError::new(
                *pos,
                format!("Replace: regexPattern has no group named \"{value}\""),
            ));
        }
    }
    Ok(())
}

/// The regex crate's parse errors span several lines (the pattern, a caret line, then
/// "error: ..."); a configuration error should be one line, and the pattern is quoted
/// elsewhere in the message already.
pub(crate) fn one_line(message: &str) -> String {
    if let Some(reason) = message.lines().find_map(|l| l.trim().strip_prefix("error: ")) {
        return reason.to_owned();
    }
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}
