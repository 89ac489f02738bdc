//! The right side of a time join: rows grouped by key, each group sorted by time.

use quecto_engine::types::Value;

use super::key::{joinable, Groups, Members, RowKey};
use super::time_of;
use crate::QueryError;

/// Right rows with a joinable key and a non-NULL time, grouped by key; within a group sorted
/// by time, ties in input order.
pub(crate) struct TimeGroups<'a> {
    groups: Groups<'a>,
    members: Members,
    /// The time of each member, parallel to `members.all()`.
    times: Vec<i64>,
}

impl<'a> TimeGroups<'a> {
    /// Groups `rows` by `keys` and sorts each group by the time in column `time`.
    pub(crate) fn build(
        rows: &'a [Vec<Value>],
        keys: &'a [usize],
        time: usize,
    ) -> Result<TimeGroups<'a>, QueryError> {
        let row_times = rows
            .iter()
            .map(|row| time_of(row, time))
            .collect::<Result<Vec<_>, _>>()?;
        let groups = Groups::build(rows, keys, |i| {
            row_times[i].is_some() && joinable(&rows[i], keys)
        });
        let mut members = groups.members();
        for group in 0..members.groups() {
            // Stable: equal times keep input order.
            members
                .of_mut(group)
                .sort_by_key(|&row| row_times[row].unwrap_or(i64::MIN));
        }
        let times = members
            .all()
            .iter()
            .map(|&row| row_times[row].unwrap_or(i64::MIN))
            .collect();
        Ok(TimeGroups {
            groups,
            members,
            times,
        })
    }

    /// The group whose key equals `key` (which must be joinable).
    pub(crate) fn find(&self, key: RowKey<'_>) -> Option<usize> {
        self.groups.find(key)
    }

    /// The number of groups.
    pub(crate) fn len(&self) -> usize {
        self.groups.len()
    }

    /// The rows of `group` in time order and their times.
    pub(crate) fn group(&self, group: usize) -> (&[usize], &[i64]) {
        (
            self.members.of(group),
            &self.times[self.members.range(group)],
        )
    }
}
