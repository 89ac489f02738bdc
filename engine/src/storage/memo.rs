//! `AggregateMemo`: partial aggregate states a full chunk keeps of itself.
//!
//! A chunk that is full changes only through an out-of-order merge, and every mutation clears
//! its memo, so a memoized state is exactly what scanning the chunk would give. Queries whose
//! filter accepts a whole chunk (zone maps or the partition's symbol decide it) merge the memo
//! instead of reading the chunk's rows: a day-long VWAP of a hot symbol costs one state merge
//! per 16K rows. Entries are few and bounded; the oldest is replaced first. Only the owning
//! shard's executor touches a chunk, so a `RefCell` suffices.

use std::cell::RefCell;

use crate::fragment::aggregate::AggState;
use crate::fragment::plan::AggregateCall;

/// Most memoized aggregates per chunk.
pub const MEMO_ENTRIES_MAX: usize = 8;

/// Memoized (aggregate call, partial state over the whole chunk) pairs.
#[derive(Debug, Default)]
pub struct AggregateMemo {
    entries: RefCell<Vec<(AggregateCall, AggState)>>,
}

impl AggregateMemo {
    /// The memoized state of `call`, if any.
    pub fn get(&self, call: &AggregateCall) -> Option<AggState> {
        self.entries
            .borrow()
            .iter()
            .find(|(c, _)| c == call)
            .map(|(_, s)| s.clone())
    }

    /// Remembers `state` as `call` over the whole chunk.
    pub fn put(&self, call: &AggregateCall, state: &AggState) {
        let mut entries = self.entries.borrow_mut();
        if entries.len() == MEMO_ENTRIES_MAX {
            entries.remove(0);
        }
        entries.push((call.clone(), state.clone()));
    }

    /// Forgets everything (the chunk changed).
    pub fn clear(&mut self) {
        self.entries.get_mut().clear();
    }
}

impl Clone for AggregateMemo {
    /// A copy of a chunk starts with an empty memo.
    fn clone(&self) -> Self {
        AggregateMemo::default()
    }
}

impl PartialEq for AggregateMemo {
    /// The memo is a cache: it never makes two chunks differ.
    fn eq(&self, _other: &Self) -> bool {
        true
    }
}
