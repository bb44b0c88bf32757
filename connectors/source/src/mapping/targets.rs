//! The list of target fields and the expression that fills each, like the attribute-mapping
//! list of an Entra provisioning app.

use std::collections::BTreeSet;

use super::value::AttributeSource;
use super::{EvalError, Expression, ParseError};

/// One target field. Target names are plain strings: which ones are valid is for the caller
/// (the store's schema) to decide, not for the expression language.
#[derive(Debug, Clone)]
pub struct MappingEntry {
    pub target: String,
    pub expression: Expression,
    /// Entra's "Apply this mapping: Only during object creation". Set for values that the
    /// application may change afterwards, or that must not move once issued (a generated
    /// username), so later runs do not overwrite them.
    pub only_on_create: bool,
}

/// Whether the object is being created or updated, which decides whether
/// [`MappingEntry::only_on_create`] entries apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Create,
    Update,
}

#[derive(Debug, Clone, Default)]
pub struct Mapping {
    entries: Vec<MappingEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    #[error("mapping for {target:?}: {error}")]
    Parse { target: String, error: ParseError },
    /// Two expressions for one field would make the result depend on their order.
    #[error("{target:?} is mapped more than once")]
    DuplicateTarget { target: String },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("mapping for {target:?}: {error}")]
pub struct MappingEvalError {
    pub target: String,
    pub error: EvalError,
}

impl Mapping {
    /// Builds the mapping from `(target, expression text, only_on_create)` rows as they appear
    /// in configuration; the first bad row is reported with its target name and the position
    /// inside its expression.
    pub fn new<I, T, E>(rows: I) -> Result<Self, MappingError>
    where
        I: IntoIterator<Item = (T, E, bool)>,
        T: Into<String>,
        E: AsRef<str>,
    {
        let mut entries: Vec<MappingEntry> = Vec::new();
        for (target, source, only_on_create) in rows {
            let target = target.into();
            if entries.iter().any(|e| e.target == target) {
                return Err(MappingError::DuplicateTarget { target });
            }
            let expression = match Expression::parse(source.as_ref()) {
                Ok(expression) => expression,
                Err(error) => return Err(MappingError::Parse { target, error }),
            };
            entries.push(MappingEntry {
                target,
                expression,
                only_on_create,
            });
        }
        Ok(Self { entries })
    }

    pub fn entries(&self) -> &[MappingEntry] {
        &self.entries
    }

    pub fn get(&self, target: &str) -> Option<&MappingEntry> {
        self.entries.iter().find(|e| e.target == target)
    }

    /// Every source attribute any entry reads.
    pub fn attributes(&self) -> BTreeSet<String> {
        self.entries
            .iter()
            .flat_map(|e| e.expression.attributes())
            .collect()
    }

    /// The value of every entry that applies for `purpose`, in configuration order. The first
    /// failing entry stops the object, because writing the other fields alone would store a
    /// half-mapped record.
    pub fn evaluate<A: AttributeSource + ?Sized>(
        &self,
        attrs: &A,
        purpose: Purpose,
    ) -> Result<Vec<(&str, Option<String>)>, MappingEvalError> {
        self.entries
            .iter()
            .filter(|e| purpose == Purpose::Create || !e.only_on_create)
            .map(|e| match e.expression.evaluate(attrs) {
                Ok(value) => Ok((e.target.as_str(), value)),
                Err(error) => Err(MappingEvalError {
                    target: e.target.clone(),
                    error,
                }),
            })
            .collect()
    }
}
