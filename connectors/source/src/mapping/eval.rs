//! Evaluates a parsed expression against one object's attributes, applying Entra's rules for
//! null values.
//!
//! Where Microsoft documents what a function does with null, that is what happens (`Left` and
//! `Word` give "", `Coalesce` skips nulls, `Switch` treats a null source as ""). Where it does
//! not, a function that transforms a string returns null for a null input (`Append`, `Mid`,
//! `Replace`, `ToLower`, ...): an expression over a missing attribute then leaves the target
//! field empty instead of writing a value made up from the other arguments.

use regex::Regex;

use super::error::{EvalError, EvalErrorKind};
use super::functions::{self, Function};
use super::lexer::CmpOp;
use super::parser::{one_line, Node, Pattern, ReplaceCall, ReplaceForm};
use super::value::{from_json, AttributeSource, Value};

pub(crate) struct Evaluator<'a, A: AttributeSource + ?Sized> {
    pub(crate) attrs: &'a A,
}

fn err(position: usize, kind: EvalErrorKind) -> EvalError {
    EvalError { position, kind }
}

/// Only plain decimal numbers count: `str::parse::<f64>` alone would also take "inf" and
/// "NaN", which would make `[x] > 5` true for a user whose attribute reads "inf".
fn number(text: &str) -> Option<f64> {
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if whole.is_empty() || !all_digits(whole) || !all_digits(fraction) {
        return None;
    }
    text.parse().ok()
}

impl<A: AttributeSource + ?Sized> Evaluator<'_, A> {
    pub(crate) fn eval(&self, node: &Node) -> Result<Value, EvalError> {
        match node {
            Node::Attribute { name, pos } => from_json(name, *pos, self.attrs.attribute(name)),
            Node::Constant { value, .. } => Ok(Value::One(value.clone())),
            Node::Compare { op, lhs, rhs, pos } => self.compare(*op, lhs, rhs, *pos).map(Value::boolean),
            Node::Call { function, args, pos } => self.call(*function, args, *pos),
            Node::Replace(call) => self.replace(call),
        }
    }

    fn eval_slot(&self, slot: Option<&Option<Node>>) -> Result<Value, EvalError> {
        match slot {
            Some(Some(node)) => self.eval(node),
            _ => Ok(Value::Null),
        }
    }

    /// One string or null; several values are an error, since silently taking the first
    /// would depend on the order the upstream happened to return.
    fn single(&self, node: &Node, function: Function, argument: &str) -> Result<Option<String>, EvalError> {
        match self.eval(node)? {
            Value::Null => Ok(None),
            Value::One(s) => Ok(Some(s)),
            Value::Many(values) => Err(err(
                node.pos(),
                EvalErrorKind::MultiValued {
                    function: function.name(),
                    argument: argument.to_owned(),
                    count: values.len(),
                },
            )),
        }
    }

    fn single_slot(
        &self,
        args: &[Option<Node>],
        index: usize,
        function: Function,
    ) -> Result<Option<String>, EvalError> {
        match args.get(index) {
            Some(Some(node)) => self.single(node, function, &function.param_name(index)),
            _ => Ok(None),
        }
    }

    fn integer(
        &self,
        args: &[Option<Node>],
        index: usize,
        function: Function,
        argument: &'static str,
    ) -> Result<i64, EvalError> {
        let value = self.single_slot(args, index, function)?;
        let pos = match args.get(index) {
            Some(Some(node)) => node.pos(),
            // Numeric slots are required, so the parser never lets this happen.
            _ => 1,
        };
        value
            .as_deref()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .ok_or_else(|| {
                err(
                    pos,
                    EvalErrorKind::NotAWholeNumber {
                        function: function.name(),
                        argument,
                        shown: value.map_or_else(|| "null".to_owned(), |s| format!("{s:?}")),
                    },
                )
            })
    }

    /// A comparison with a null or empty operand is false, whatever the operator, `<>`
    /// included: Microsoft documents that "if the source attribute used within the IIF
    /// function is empty or null, the condition check fails", and scoping filters treat null
    /// the same way.
    fn compare(&self, op: CmpOp, lhs: &Node, rhs: &Node, pos: usize) -> Result<bool, EvalError> {
        let operand = |node: &Node| -> Result<Option<String>, EvalError> {
            match self.eval(node)? {
                Value::Null => Ok(None),
                Value::One(s) if s.is_empty() => Ok(None),
                Value::One(s) => Ok(Some(s)),
                Value::Many(values) => Err(err(
                    node.pos(),
                    EvalErrorKind::MultiValued {
                        function: op.symbol(),
                        argument: "operand".to_owned(),
                        count: values.len(),
                    },
                )),
            }
        };
        let (Some(left), Some(right)) = (operand(lhs)?, operand(rhs)?) else {
            return Ok(false);
        };
        match op {
            CmpOp::Eq => return Ok(left == right),
            CmpOp::Ne => return Ok(left != right),
            CmpOp::Gt | CmpOp::Ge | CmpOp::Lt | CmpOp::Le => {}
        }
        let numeric = |text: &str| {
            number(text).ok_or_else(|| {
                err(
                    pos,
                    EvalErrorKind::NotANumber {
                        operator: op.symbol(),
                        value: text.to_owned(),
                    },
                )
            })
        };
        let (l, r) = (numeric(&left)?, numeric(&right)?);
        Ok(match op {
            CmpOp::Gt => l > r,
            CmpOp::Ge => l >= r,
            CmpOp::Lt => l < r,
            _ => l <= r,
        })
    }

    /// Conditions are strings, as in Entra: "True" or "False" (any casing, as .NET's
    /// `Boolean.Parse` reads them). Null or empty counts as a failed check.
    fn condition(&self, node: &Node) -> Result<bool, EvalError> {
        let value = self.single(node, Function::Iif, "condition")?;
        match value.as_deref().map(str::trim) {
            None | Some("") => Ok(false),
            Some(s) if s.eq_ignore_ascii_case("true") => Ok(true),
            Some(s) if s.eq_ignore_ascii_case("false") => Ok(false),
            Some(s) => Err(err(
                node.pos(),
                EvalErrorKind::NotABoolean { value: s.to_owned() },
            )),
        }
    }

    fn call(&self, function: Function, args: &[Option<Node>], pos: usize) -> Result<Value, EvalError> {
        let text = |index: usize| self.single_slot(args, index, function);
        // Applies a transform to the first argument, passing null through.
        let map = |f: &dyn Fn(&str) -> String| -> Result<Value, EvalError> {
            Ok(text(0)?.map_or(Value::Null, |s| Value::One(f(&s))))
        };
        match function {
            Function::Append => {
                let suffix = text(1)?.unwrap_or_default();
                map(&|s| format!("{s}{suffix}"))
            }
            Function::Coalesce => {
                for slot in args {
                    let value = self.eval_slot(Some(slot))?;
                    if value != Value::Null {
                        return Ok(value);
                    }
                }
                Ok(Value::Null)
            }
            Function::Iif => {
                let chosen = match args.first() {
                    Some(Some(condition)) if self.condition(condition)? => 1,
                    _ => 2,
                };
                self.eval_slot(args.get(chosen))
            }
            Function::IsNull => Ok(Value::boolean(self.eval_slot(args.first())? == Value::Null)),
            Function::IsNullOrEmpty => Ok(Value::boolean(self.eval_slot(args.first())?.is_null_or_empty())),
            Function::IsPresent => Ok(Value::boolean(!self.eval_slot(args.first())?.is_null_or_empty())),
            Function::Item => self.item(args, pos),
            Function::Join => self.join(args),
            Function::Left => {
                let count = self.integer(args, 1, function, "NumChars")?;
                let source = text(0)?.unwrap_or_default();
                Ok(Value::One(functions::left(&source, count)))
            }
            Function::Mid => self.mid(args, pos),
            Function::NormalizeDiacritics => map(&functions::normalize_diacritics),
            // Microsoft: "If source value is True, returns False. Otherwise, returns True." So
            // null and any other text give "True".
            Function::Not => {
                let source = text(0)?;
                let is_true = source
                    .as_deref()
                    .is_some_and(|s| s.trim().eq_ignore_ascii_case("true"));
                Ok(Value::boolean(!is_true))
            }
            // The parser turns every Replace call into `Node::Replace`.
            Function::Replace => Ok(Value::Null),
            Function::StripSpaces => map(&functions::strip_spaces),
            Function::Switch => self.switch(args),
            Function::ToLower => {
                let culture = text(1)?;
                map(&|s| functions::to_lower(s, culture.as_deref()))
            }
            Function::ToUpper => {
                let culture = text(1)?;
                map(&|s| functions::to_upper(s, culture.as_deref()))
            }
            Function::Trim => map(&|s| s.trim().to_owned()),
            Function::Word => {
                let number = self.integer(args, 1, function, "WordNumber")?;
                let delimiters = text(2)?.unwrap_or_default();
                let source = text(0)?.unwrap_or_default();
                Ok(Value::One(functions::word(&source, number, &delimiters)))
            }
        }
    }

    /// `Item(attribute, index)`: the value at a 1-based index of a multi-valued attribute.
    fn item(&self, args: &[Option<Node>], pos: usize) -> Result<Value, EvalError> {
        let function = Function::Item;
        let index = self.integer(args, 1, function, "index")?;
        if index < 1 {
            return Err(too_small(pos, function, "index", 1, index));
        }
        let values = match self.eval_slot(args.first())? {
            Value::Null => Vec::new(),
            Value::One(s) => vec![s],
            Value::Many(values) => values,
        };
        let picked = usize::try_from(index - 1)
            .ok()
            .and_then(|i| values.into_iter().nth(i));
        Ok(picked.map_or(Value::Null, Value::One))
    }

    /// `Join(separator, source1, ...)`. Null and empty values are skipped, not joined as empty
    /// strings: Microsoft's example `Join(", ", "", [surname], [givenName])` gives "Doe, John".
    fn join(&self, args: &[Option<Node>]) -> Result<Value, EvalError> {
        let separator = self.single_slot(args, 0, Function::Join)?.unwrap_or_default();
        let mut parts = Vec::new();
        for slot in args.iter().skip(1) {
            match self.eval_slot(Some(slot))? {
                Value::Null => {}
                Value::One(s) => parts.push(s),
                Value::Many(values) => parts.extend(values),
            }
        }
        parts.retain(|p| !p.is_empty());
        if parts.is_empty() {
            Ok(Value::Null)
        } else {
            Ok(Value::One(parts.join(&separator)))
        }
    }

    /// `Mid(source, start, length)`, `start` 1-based; a null source stays null.
    fn mid(&self, args: &[Option<Node>], pos: usize) -> Result<Value, EvalError> {
        let function = Function::Mid;
        let start = self.integer(args, 1, function, "start")?;
        let length = self.integer(args, 2, function, "length")?;
        let start = usize::try_from(start)
            .ok()
            .filter(|s| *s >= 1)
            .ok_or_else(|| too_small(pos, function, "start", 1, start))?;
        let length = usize::try_from(length).map_err(|_| too_small(pos, function, "length", 0, length))?;
        let source = self.single_slot(args, 0, function)?;
        Ok(source.map_or(Value::Null, |s| Value::One(functions::mid(&s, start, length))))
    }

    /// `Switch(source, default, key1, value1, ...)`. Microsoft: use "" as a key to catch an
    /// empty source; a null source is treated the same so that a missing attribute reaches
    /// that key too.
    fn switch(&self, args: &[Option<Node>]) -> Result<Value, EvalError> {
        let text = |index: usize| self.single_slot(args, index, Function::Switch);
        let source = text(0)?.unwrap_or_default();
        let mut index = 2;
        while index + 1 < args.len() {
            let key = text(index)?.unwrap_or_default();
            if key == source {
                return self.eval_slot(args.get(index + 1));
            }
            index += 2;
        }
        self.eval_slot(args.get(1))
    }

    fn regex(&self, pattern: &Pattern, pos: usize) -> Result<Regex, EvalError> {
        match pattern {
            Pattern::Compiled(regex) => Ok(regex.clone()),
            Pattern::Dynamic(node) => {
                let text = self
                    .single(node, Function::Replace, "regexPattern")?
                    .ok_or_else(|| err(pos, EvalErrorKind::NullPattern))?;
                Regex::new(&text).map_err(|e| {
                    err(
                        node.pos(),
                        EvalErrorKind::InvalidRegex {
                            pattern: text.clone(),
                            message: one_line(&e.to_string()),
                        },
                    )
                })
            }
        }
    }

    fn group_name(&self, regex: &Regex, group: &Node) -> Result<String, EvalError> {
        let name = self
            .single(group, Function::Replace, "regexGroupName")?
            .unwrap_or_default();
        if regex.capture_names().flatten().any(|n| n == name) {
            Ok(name)
        } else {
            Err(err(
                group.pos(),
                EvalErrorKind::UnknownGroup {
                    pattern: regex.as_str().to_owned(),
                    group: name,
                },
            ))
        }
    }

    /// The five forms of Microsoft's Replace; which one applies was settled by the parser.
    /// Matching is case-sensitive, as documented.
    fn replace(&self, call: &ReplaceCall) -> Result<Value, EvalError> {
        let f = Function::Replace;
        let source = self.single(&call.source, f, "source")?;
        let text = |node: &Node, argument: &str| -> Result<String, EvalError> {
            Ok(self.single(node, f, argument)?.unwrap_or_default())
        };
        match &call.form {
            ReplaceForm::Fallback {
                pattern,
                group,
                attribute,
            } => {
                if let Some(s) = source.filter(|s| !s.is_empty()) {
                    return Ok(Value::One(s));
                }
                let regex = self.regex(pattern, call.pos)?;
                let name = self.group_name(&regex, group)?;
                let Some(other) = self.single(attribute, f, "replacementAttributeName")? else {
                    return Ok(Value::Null);
                };
                let extracted = regex
                    .captures(&other)
                    .and_then(|caps| caps.name(&name).map(|m| m.as_str().to_owned()));
                Ok(extracted.map_or(Value::Null, Value::One))
            }
            _ if source.is_none() => Ok(Value::Null),
            ReplaceForm::Literal { old, new } => {
                let old_value = text(old, "oldValue")?;
                if old_value.is_empty() {
                    return Err(err(old.pos(), EvalErrorKind::EmptyOldValue));
                }
                let new_value = text(new, "replacementValue")?;
                let s = source.unwrap_or_default();
                Ok(Value::One(s.replace(&old_value, &new_value)))
            }
            ReplaceForm::Template { old, template } => {
                let old_value = text(old, "oldValue")?;
                if old_value.is_empty() {
                    return Err(err(old.pos(), EvalErrorKind::EmptyOldValue));
                }
                let Some(template) = self.single(template, f, "template")? else {
                    return Ok(Value::Null);
                };
                let s = source.unwrap_or_default();
                Ok(Value::One(template.replace(&old_value, &s)))
            }
            ReplaceForm::Regex { pattern, replacement } => {
                let regex = self.regex(pattern, call.pos)?;
                let replacement = functions::dotnet_replacement(&text(replacement, "replacementValue")?);
                let s = source.unwrap_or_default();
                Ok(Value::One(
                    regex.replace_all(&s, replacement.as_str()).into_owned(),
                ))
            }
            ReplaceForm::RegexGroup {
                pattern,
                group,
                replacement,
            } => {
                let regex = self.regex(pattern, call.pos)?;
                let name = self.group_name(&regex, group)?;
                let replacement = text(replacement, "replacementValue")?;
                let s = source.unwrap_or_default();
                let mut out = String::with_capacity(s.len());
                let mut copied = 0;
                for caps in regex.captures_iter(&s) {
                    if let Some(m) = caps.name(&name) {
                        out.push_str(&s[copied..m.start()]);
                        out.push_str(&replacement);
                        copied = m.end();
                    }
                }
                out.push_str(&s[copied..]);
                Ok(Value::One(out))
            }
        }
    }
}

fn too_small(pos: usize, function: Function, argument: &'static str, minimum: i64, value: i64) -> EvalError {
    err(
        pos,
        EvalErrorKind::TooSmall {
            function: function.name(),
            argument,
            minimum,
            value,
        },
    )
}

/// Used by `Expression::evaluate` to turn the final value into what a single-valued target
/// field takes.
pub(crate) fn into_single(value: Value, pos: usize) -> Result<Option<String>, EvalError> {
    match value {
        Value::Null => Ok(None),
        Value::One(s) => Ok(Some(s)),
        Value::Many(values) => Err(err(pos, EvalErrorKind::MultiValuedResult { count: values.len() })),
    }
}

pub(crate) fn into_list(value: Value) -> Vec<String> {
    match value {
        Value::Null => Vec::new(),
        Value::One(s) => vec![s],
        Value::Many(values) => values,
    }
}
