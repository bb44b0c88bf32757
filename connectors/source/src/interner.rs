//! Interned object ids: a connector's cursor state holds hundreds of thousands of
//! memberships, kept as small numbers rather than strings.

use std::collections::HashMap;

/// Ids by number and numbers by id; numbers are dense, in order of first sight.
#[derive(Debug, Default, Clone)]
pub struct Interner {
    names: Vec<String>,
    index: HashMap<String, u32>,
}

impl Interner {
    /// The number of `id`, assigned on first sight.
    pub fn intern(&mut self, id: &str) -> u32 {
        if let Some(&i) = self.index.get(id) {
            return i;
        }
        let i = self.names.len() as u32;
        self.names.push(id.to_owned());
        self.index.insert(id.to_owned(), i);
        i
    }

    /// The number of `id`, if it was seen.
    pub fn get(&self, id: &str) -> Option<u32> {
        self.index.get(id).copied()
    }

    /// The id numbered `i` (which must come from this interner).
    pub fn name(&self, i: u32) -> &str {
        &self.names[i as usize]
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The ids, by number.
    pub fn into_names(self) -> Vec<String> {
        self.names
    }
}
