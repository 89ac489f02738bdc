//! Per-shard string dictionary for a table's SYMBOL columns (other than the partition key).

use ahash::AHashMap;

/// Interns strings to dense `u32` ids. Ids are local to one shard and never leave it: results
/// carry the strings.
#[derive(Clone, Debug, Default)]
pub struct SymbolDictionary {
    names: Vec<Box<str>>,
    ids: AHashMap<Box<str>, u32>,
}

impl SymbolDictionary {
    /// The id of `name`, assigning the next one when new.
    pub fn intern(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.names.len() as u32;
        self.names.push(name.into());
        self.ids.insert(name.into(), id);
        id
    }

    /// The id of `name`, if it was ever interned.
    pub fn lookup(&self, name: &str) -> Option<u32> {
        self.ids.get(name).copied()
    }

    /// The string of `id`.
    pub fn name(&self, id: u32) -> &str {
        self.names.get(id as usize).map_or("", |n| n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interning_is_idempotent_and_dense() {
        let mut d = SymbolDictionary::default();
        assert_eq!(d.intern("NYSE"), 0);
        assert_eq!(d.intern("ARCA"), 1);
        assert_eq!(d.intern("NYSE"), 0);
        assert_eq!(d.lookup("ARCA"), Some(1));
        assert_eq!(d.lookup("BATS"), None);
        assert_eq!(d.name(1), "ARCA");
    }
}
