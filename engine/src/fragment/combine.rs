//! Combining partial groups by key: the coordinator merging shards' answers, and a co-located
//! join merging its per-chunk answers, both fold a group into the one with the same key.

use std::collections::hash_map::Entry;

use ahash::AHashMap;

use super::aggregate::KeyPart;
use super::exec::Group;
use crate::error::EngineError;

/// Where each group of a list is, by key.
#[derive(Default)]
pub struct GroupIndex(AHashMap<Vec<KeyPart>, usize>);

impl GroupIndex {
    /// The index of `groups`, whose keys are distinct.
    pub fn of(groups: &[Group]) -> GroupIndex {
        GroupIndex(
            groups
                .iter()
                .enumerate()
                .map(|(slot, group)| (Self::key(group), slot))
                .collect(),
        )
    }

    fn key(group: &Group) -> Vec<KeyPart> {
        group.key.iter().map(KeyPart::from_value).collect()
    }

    /// Adds `groups` to `all` (which this index describes), merging the states of a group
    /// whose key is already there into that group.
    pub fn absorb(&mut self, all: &mut Vec<Group>, groups: Vec<Group>) -> Result<(), EngineError> {
        for group in groups {
            match self.0.entry(Self::key(&group)) {
                Entry::Occupied(slot) => {
                    let states = &mut all[*slot.get()].states;
                    for (mine, theirs) in states.iter_mut().zip(group.states) {
                        mine.merge(theirs)?;
                    }
                }
                Entry::Vacant(slot) => {
                    slot.insert(all.len());
                    all.push(group);
                }
            }
        }
        Ok(())
    }
}
