//! The consistent-hash ring that places symbols on shards, and the per-executor route cache.
//!
//! A shard is one (node, core) pair. Each shard owns `VIRTUAL_NODES_PER_SHARD` (128) points on a
//! `u64` ring, and a symbol belongs to the owner of the first point strictly after its hash
//! (upper_bound), wrapping to the first point past the top. With 128 points per shard the key
//! share of every shard stays within a few tens of percent of the mean, and adding or removing a
//! shard moves only the ranges just below its own points: about 1/(n+1) of the keys move, all of
//! them to (or from) that shard, and nothing else moves. `hash64` is part of the on-disk and
//! on-wire contract: every router, in every process and every version, must place a symbol on
//! the same shard, so its definition is pinned by tests and may never change.
//!
//! Routing is a binary search over a few thousand points; `RouteCache` turns the common case
//! into a hash plus one load with a direct-mapped table tagged by the ring version, so a
//! membership change invalidates it without any coordination. Each executor owns its own
//! `RoutingTable` (ring plus cache): no locks, no atomics, no shared state. This module knows
//! nothing of networking or of how membership changes are agreed on; it only computes owners.

use crate::batch::SymbolKey;

/// Points each shard places on the ring. Changing it moves almost every key.
pub const VIRTUAL_NODES_PER_SHARD: usize = 128;

/// Most shards one ring holds: 64 nodes of 64 cores. The ring then holds 512 Ki points (8 MiB).
pub const RING_SHARDS_COUNT_MAX: usize = 4096;

/// Entries in the route cache of a `RoutingTable` (64 KiB: fits in L2 next to the executor).
pub const ROUTE_CACHE_ENTRIES_COUNT_DEFAULT: usize = 4096;

const _: () = {
    // Shard indexes are stored as u32 in ring points and cache entries.
    assert!(RING_SHARDS_COUNT_MAX < u32::MAX as usize);
    // vnode indexes are hashed as u32.
    assert!(VIRTUAL_NODES_PER_SHARD <= u32::MAX as usize);
    assert!(ROUTE_CACHE_ENTRIES_COUNT_DEFAULT.is_power_of_two());
};

/// A ring member: one core of one node, which owns the partitions of the symbols placed on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShardId {
    /// The node (process) id.
    pub node: u32,
    /// The core index on that node.
    pub core: u32,
}

/// The 64-bit hash that places symbols and virtual nodes on the ring. Stable forever.
///
/// Definition: FNV-1a 64 over the bytes, then the murmur3 `fmix64` finalizer.
///
/// ```text
/// h = 0xcbf2_9ce4_8422_2325                          // FNV-1a 64 offset basis
/// for b in bytes: h = (h ^ b) * 0x0000_0100_0000_01b3 (mod 2^64)   // FNV 64 prime
/// h ^= h >> 33; h *= 0xff51_afd7_ed55_8ccd (mod 2^64)
/// h ^= h >> 33; h *= 0xc4ce_b9fe_1a85_ec53 (mod 2^64)
/// h ^= h >> 33
/// ```
///
/// FNV-1a alone mixes the last bytes poorly into the high bits; the finalizer (a bijection)
/// spreads every input bit over the whole word, so ring positions and cache slots are uniform.
/// Symbols are 1 to 16 bytes, so the byte loop costs a few nanoseconds.
pub fn hash64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &byte in bytes {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash64_finalize(hash)
}

/// murmur3's `fmix64`: a bijection on u64 with full avalanche.
fn hash64_finalize(mut hash: u64) -> u64 {
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    hash ^= hash >> 33;
    hash
}

/// Ring position of virtual node `vnode_index` of `shard`:
/// `hash64(node as u32 LE ++ core as u32 LE ++ vnode_index as u32 LE)` (12 bytes).
fn vnode_position(shard: ShardId, vnode_index: u32) -> u64 {
    let mut bytes = [0u8; 12];
    bytes[0..4].copy_from_slice(&shard.node.to_le_bytes());
    bytes[4..8].copy_from_slice(&shard.core.to_le_bytes());
    bytes[8..12].copy_from_slice(&vnode_index.to_le_bytes());
    hash64(&bytes)
}

/// What a ring's placement depends on, in a form that is stable across processes and builds:
/// written into every WAL segment header, so data placed under one ring is never replayed
/// under another (a restart with another `--cores`, or a segment copied between shards).
///
/// `fingerprint` is `hash64` (pinned forever) over
/// `virtual_nodes_per_shard u32 LE ++ shards_count u32 LE ++ (node u32 LE ++ core u32 LE)` for
/// each member in id order: the points, and so every owner, are a function of exactly these
/// bytes. The membership version is left out: it counts changes within one process, and two
/// different rings can share it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingLayout {
    /// Members of the ring.
    pub shards_count: u32,
    /// Points each member places on the ring (`VIRTUAL_NODES_PER_SHARD`).
    pub virtual_nodes_per_shard: u32,
    /// `hash64` of the vnode count and the sorted member ids (see the type's doc).
    pub fingerprint: u64,
}

impl std::fmt::Display for RingLayout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} shards x {} virtual nodes, fingerprint {:#018x}",
            self.shards_count, self.virtual_nodes_per_shard, self.fingerprint
        )
    }
}

/// The consistent-hash ring: shards, their virtual nodes, and a membership version.
///
/// `shards` is kept sorted by `ShardId` and free of duplicates, so two rings with the same
/// members are identical (same indexes, same points) however they were built. Shard indexes
/// returned by routing refer to `shards()` of the same version; they shift when membership
/// changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HashRing {
    /// Members, sorted by id, never empty, at most `RING_SHARDS_COUNT_MAX`.
    shards: Vec<ShardId>,
    /// (position, shard index), sorted by position then shard index, which is shard id order.
    points: Vec<(u64, u32)>,
    /// Starts at 1; bumped by every membership change.
    version: u64,
}

impl HashRing {
    /// A ring over `shards` (duplicates ignored), at version 1.
    ///
    /// `None` when `shards` is empty or holds more than `RING_SHARDS_COUNT_MAX` distinct shards:
    /// an empty ring has no owner for any key, so it cannot exist.
    pub fn new(shards: &[ShardId]) -> Option<HashRing> {
        let mut shards = shards.to_vec();
        shards.sort_unstable();
        shards.dedup();
        if shards.is_empty() || shards.len() > RING_SHARDS_COUNT_MAX {
            return None;
        }
        let points = ring_points_build(&shards);
        Some(HashRing {
            shards,
            points,
            version: 1,
        })
    }

    /// The ring of one process's shards: node 0, cores `0..shards_count`. `None` when
    /// `shards_count` is 0 or over `RING_SHARDS_COUNT_MAX`.
    pub fn local(shards_count: usize) -> Option<HashRing> {
        let cores = u32::try_from(shards_count).ok()?;
        let members: Vec<ShardId> = (0..cores).map(|core| ShardId { node: 0, core }).collect();
        HashRing::new(&members)
    }

    /// The ring's placement identity (see `RingLayout`).
    pub fn layout(&self) -> RingLayout {
        let mut bytes = Vec::with_capacity(8 + 8 * self.shards.len());
        let vnodes = VIRTUAL_NODES_PER_SHARD as u32;
        let shards_count = self.shards.len() as u32;
        bytes.extend_from_slice(&vnodes.to_le_bytes());
        bytes.extend_from_slice(&shards_count.to_le_bytes());
        for shard in &self.shards {
            bytes.extend_from_slice(&shard.node.to_le_bytes());
            bytes.extend_from_slice(&shard.core.to_le_bytes());
        }
        RingLayout {
            shards_count,
            virtual_nodes_per_shard: vnodes,
            fingerprint: hash64(&bytes),
        }
    }

    /// The members, sorted by id. Routing returns indexes into this slice.
    pub fn shards(&self) -> &[ShardId] {
        &self.shards
    }

    /// The membership version: 1 at construction, plus one per successful add or remove.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Index into `shards()` of the owner of `key`.
    pub fn route(&self, key: &SymbolKey) -> usize {
        key.with_hash_bytes(|bytes| self.route_hash(hash64(bytes)))
    }

    /// Index into `shards()` of the owner of the first point with position > `hash`, wrapping
    /// to the first point.
    ///
    /// Worked example, points at positions [10 → A, 20 → B, 20 → C, 90 → A] with A < B < C:
    /// hash 5 → A (10); hash 10 → B (first point > 10 is the tie at 20, B sorts first);
    /// hash 20 → A (90); hash 90 or u64::MAX → past the last point, wraps to A (10).
    pub fn route_hash(&self, hash: u64) -> usize {
        debug_assert!(!self.points.is_empty());
        let index = self
            .points
            .partition_point(|&(position, _)| position <= hash);
        // Past the last point the ring wraps: the owner is the first point's.
        let point = if index == self.points.len() {
            self.points[0]
        } else {
            self.points[index]
        };
        point.1 as usize
    }

    /// Adds `shard` and bumps the version. False, with nothing changed, when it is already a
    /// member or the ring holds `RING_SHARDS_COUNT_MAX` shards.
    pub fn add_shard(&mut self, shard: ShardId) -> bool {
        let Err(index) = self.shards.binary_search(&shard) else {
            return false;
        };
        if self.shards.len() == RING_SHARDS_COUNT_MAX {
            return false;
        }
        self.shards.insert(index, shard);
        self.membership_changed();
        true
    }

    /// Removes `shard` and bumps the version. False, with nothing changed, when it is not a
    /// member or is the last one: a ring is never empty.
    pub fn remove_shard(&mut self, shard: ShardId) -> bool {
        let Ok(index) = self.shards.binary_search(&shard) else {
            return false;
        };
        if self.shards.len() == 1 {
            return false;
        }
        self.shards.remove(index);
        self.membership_changed();
        true
    }

    /// Rebuilds the points from scratch (indexes shift on insert and remove) and bumps the
    /// version. Membership changes are rare and cold: 128 hashes per shard and one sort.
    fn membership_changed(&mut self) {
        assert!(!self.shards.is_empty() && self.shards.len() <= RING_SHARDS_COUNT_MAX);
        debug_assert!(self.shards.windows(2).all(|pair| pair[0] < pair[1]));
        self.points = ring_points_build(&self.shards);
        self.version += 1;
    }
}

/// All virtual nodes of `shards` (sorted, distinct), sorted by (position, shard index).
///
/// Sorting on the whole tuple breaks position ties by shard index, which is shard id order
/// because `shards` is sorted: the tie-break depends only on membership.
fn ring_points_build(shards: &[ShardId]) -> Vec<(u64, u32)> {
    let mut points = Vec::with_capacity(shards.len() * VIRTUAL_NODES_PER_SHARD);
    for (shard_index, &shard) in shards.iter().enumerate() {
        for vnode_index in 0..VIRTUAL_NODES_PER_SHARD as u32 {
            points.push((vnode_position(shard, vnode_index), shard_index as u32));
        }
    }
    points.sort_unstable();
    points
}

/// Marks an empty cache entry; never a valid shard index (see `RING_SHARDS_COUNT_MAX`).
const ROUTE_CACHE_SHARD_INDEX_EMPTY: u32 = u32::MAX;

/// One cache slot: a full hash and the shard index it routes to.
#[derive(Clone, Copy, Debug)]
struct RouteCacheEntry {
    hash: u64,
    shard_index: u32,
}

const ROUTE_CACHE_ENTRY_EMPTY: RouteCacheEntry = RouteCacheEntry {
    hash: 0,
    shard_index: ROUTE_CACHE_SHARD_INDEX_EMPTY,
};

/// A direct-mapped cache from symbol hash to shard index, for one ring.
///
/// A slot is chosen by the low bits of the hash and stores the full hash, so a hit is exact
/// (the owner depends only on the hash). The cache is tagged with the ring version it was
/// filled from; a lookup against another version empties it first.
#[derive(Clone, Debug)]
pub struct RouteCache {
    entries: Box<[RouteCacheEntry]>,
    /// `entries.len() - 1`; the length is a power of two.
    slot_mask: u64,
    /// Version of the ring the entries came from; 0 matches no ring.
    version: u64,
}

impl RouteCache {
    /// An empty cache of `entries_count` slots.
    ///
    /// # Panics
    /// When `entries_count` is not a power of two (start-up configuration).
    pub fn new(entries_count: usize) -> RouteCache {
        assert!(
            entries_count.is_power_of_two(),
            "entries_count {entries_count}"
        );
        let entries = vec![ROUTE_CACHE_ENTRY_EMPTY; entries_count].into_boxed_slice();
        RouteCache {
            entries,
            slot_mask: entries_count as u64 - 1,
            version: 0,
        }
    }

    /// `ring.route_hash(hash)`, answered from the cache when possible.
    ///
    /// The cache must only ever be used with one ring (and its later versions): two distinct
    /// rings may share a version number.
    pub fn route_hash(&mut self, ring: &HashRing, hash: u64) -> usize {
        if self.version != ring.version() {
            self.clear(ring.version());
        }
        let slot_index = (hash & self.slot_mask) as usize;
        let entry = self.entries[slot_index];
        if entry.hash == hash && entry.shard_index != ROUTE_CACHE_SHARD_INDEX_EMPTY {
            debug_assert_eq!(entry.shard_index as usize, ring.route_hash(hash));
            return entry.shard_index as usize;
        }
        let shard_index = ring.route_hash(hash);
        self.entries[slot_index] = RouteCacheEntry {
            hash,
            shard_index: shard_index as u32,
        };
        shard_index
    }

    /// Empties every slot and tags the cache with `version`.
    #[cold]
    pub fn clear(&mut self, version: u64) {
        self.entries.fill(ROUTE_CACHE_ENTRY_EMPTY);
        self.version = version;
    }
}

/// One executor's router: a ring and its route cache, owned, never shared.
#[derive(Clone, Debug)]
pub struct RoutingTable {
    ring: HashRing,
    cache: RouteCache,
}

impl RoutingTable {
    /// A router over `ring` with a `ROUTE_CACHE_ENTRIES_COUNT_DEFAULT`-slot cache.
    pub fn new(ring: HashRing) -> RoutingTable {
        RoutingTable {
            ring,
            cache: RouteCache::new(ROUTE_CACHE_ENTRIES_COUNT_DEFAULT),
        }
    }

    /// The ring routed on.
    pub fn ring(&self) -> &HashRing {
        &self.ring
    }

    /// Index into `ring().shards()` of the owner of `key`.
    pub fn route(&mut self, key: &SymbolKey) -> usize {
        let hash = key.with_hash_bytes(hash64);
        self.cache.route_hash(&self.ring, hash)
    }

    /// Index into `ring().shards()` of the owner of a symbol whose `hash64` is `hash`.
    pub fn route_hash(&mut self, hash: u64) -> usize {
        self.cache.route_hash(&self.ring, hash)
    }

    /// `HashRing::add_shard`; the cache follows through the version tag.
    pub fn add_shard(&mut self, shard: ShardId) -> bool {
        self.ring.add_shard(shard)
    }

    /// `HashRing::remove_shard`; the cache follows through the version tag.
    pub fn remove_shard(&mut self, shard: ShardId) -> bool {
        self.ring.remove_shard(shard)
    }

    /// Routes on `ring` from now on (a newer ring from the coordinator). The cache is emptied
    /// whatever the versions, since another ring may reuse a version number.
    pub fn ring_replace(&mut self, ring: HashRing) {
        self.ring = ring;
        self.cache.clear(self.ring.version());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYS_COUNT: usize = 100_000;
    // Computed independently from the definition on `RingLayout` (a Python script).
    const ONE_SHARD_FINGERPRINT: u64 = 0x7d00_a8da_c4bb_4a04;
    const TWO_SHARDS_FINGERPRINT: u64 = 0xcda6_cd72_0e36_f7cd;

    /// A ring the test knows to be valid.
    fn ring_make(shards: &[ShardId]) -> HashRing {
        let Some(ring) = HashRing::new(shards) else {
            panic!("{} shards refused", shards.len());
        };
        ring
    }

    /// `count` shards spread over nodes of 4 cores: (0,0), (0,1), … (1,0), …
    fn shards_make(count: u32) -> Vec<ShardId> {
        (0..count)
            .map(|i| ShardId {
                node: i / 4,
                core: i % 4,
            })
            .collect()
    }

    /// Half string symbols ("SYM00042"), half integer ids, all distinct.
    fn keys_make() -> Vec<SymbolKey> {
        let half = KEYS_COUNT / 2;
        let strings = (0..half).map(|i| SymbolKey::Str(format!("SYM{i:05}").into()));
        let ints = (0..half as i64).map(|i| SymbolKey::Int(i * 7919 + 1_000_000));
        strings.chain(ints).collect()
    }

    /// The owning shard id of every key.
    fn placement(ring: &HashRing, keys: &[SymbolKey]) -> Vec<ShardId> {
        keys.iter()
            .map(|key| ring.shards()[ring.route(key)])
            .collect()
    }

    #[test]
    fn layout_is_pinned_and_tells_rings_apart() {
        let one = HashRing::local(1).map(|ring| ring.layout());
        let two = HashRing::local(2).map(|ring| ring.layout());
        let (Some(one), Some(two)) = (one, two) else {
            panic!("local rings of 1 and 2 shards refused");
        };
        // Pinned like hash64: a change here makes every existing WAL segment unreadable.
        assert_eq!((one.shards_count, one.virtual_nodes_per_shard), (1, 128));
        assert_eq!(one.fingerprint, ONE_SHARD_FINGERPRINT);
        assert_eq!(two.fingerprint, TWO_SHARDS_FINGERPRINT);
        // Same count, other members: another layout.
        let other = ring_make(&[ShardId { node: 1, core: 0 }, ShardId { node: 1, core: 1 }]);
        assert_eq!(other.layout().shards_count, 2);
        assert_ne!(other.layout().fingerprint, two.fingerprint);
        // Membership changes that come back to the same members give the same layout.
        let mut grown = ring_make(&[ShardId { node: 0, core: 0 }]);
        assert!(grown.add_shard(ShardId { node: 0, core: 1 }));
        assert_eq!(grown.layout(), two);
        assert!(HashRing::local(0).is_none());
    }

    #[test]
    fn hash64_outputs_are_pinned() {
        // Recomputed from the documented definition; a change here moves every symbol.
        assert_eq!(hash64(b""), 0xefd0_1f60_ba99_2926);
        assert_eq!(hash64(b"a"), 0x82a2_a958_a9be_ce5b);
        assert_eq!(hash64(b"AAPL"), 0x59ab_e90c_82fc_3687);
        assert_eq!(hash64(b"SYM00042"), 0x3a9f_32f4_7b54_cd0b);
        assert_eq!(hash64(b"BTC-USD-PERPETUAL"), 0x4360_c6d7_cc90_1380);
        assert_eq!(hash64(&42i64.to_le_bytes()), 0xa624_5a5d_cf27_8758);
    }

    #[test]
    fn route_is_pinned_and_independent_of_build_order() {
        let shards = shards_make(8);
        let forward = ring_make(&shards);
        let mut reversed_shards = shards.clone();
        reversed_shards.reverse();
        reversed_shards.extend_from_slice(&shards[..3]); // duplicates are ignored
        let reversed = ring_make(&reversed_shards);
        assert_eq!(forward, reversed);
        let keys = keys_make();
        assert_eq!(placement(&forward, &keys), placement(&reversed, &keys));
        // Pinned owners: the vnode scheme is part of the placement contract, like hash64.
        let owner = |key: SymbolKey| forward.shards()[forward.route(&key)];
        let pinned = [
            (SymbolKey::Str("AAPL".into()), ShardId { node: 1, core: 1 }),
            (SymbolKey::Str("MSFT".into()), ShardId { node: 0, core: 0 }),
            (SymbolKey::Str("NVDA".into()), ShardId { node: 0, core: 3 }),
            (
                SymbolKey::Str("EURUSD".into()),
                ShardId { node: 0, core: 2 },
            ),
            (SymbolKey::Int(42), ShardId { node: 0, core: 0 }),
            (SymbolKey::Int(-1), ShardId { node: 1, core: 0 }),
        ];
        for (key, shard) in pinned {
            assert_eq!(owner(key), shard);
        }
    }

    #[test]
    fn ownership_is_balanced_within_bound() {
        let keys = keys_make();
        for shards_count in [2u32, 4, 8, 16] {
            let ring = ring_make(&shards_make(shards_count));
            let mut keys_per_shard = vec![0usize; shards_count as usize];
            for key in &keys {
                keys_per_shard[ring.route(key)] += 1;
            }
            let max = keys_per_shard.iter().copied().max().unwrap_or(0);
            let min = keys_per_shard.iter().copied().min().unwrap_or(0);
            let ratio = max as f64 / min as f64;
            println!("balance: {shards_count:2} shards, max/min = {ratio:.3} ({max}/{min})");
            assert!(min > 0);
            assert!(ratio < 1.6, "{shards_count} shards: max/min {ratio}");
        }
    }

    #[test]
    fn adding_a_shard_moves_only_its_share_to_it_and_removing_restores() {
        let keys = keys_make();
        for shards_count in 2u32..=8 {
            let mut ring = ring_make(&shards_make(shards_count));
            let before = placement(&ring, &keys);
            let ring_before = ring.clone();
            let added = ShardId { node: 100, core: 3 };
            assert!(ring.add_shard(added));
            assert_eq!(ring.version(), ring_before.version() + 1);
            let after = placement(&ring, &keys);
            let mut moved_count = 0usize;
            for (old, new) in before.iter().zip(&after) {
                if old != new {
                    assert_eq!(*new, added, "a key moved between two old shards");
                    moved_count += 1;
                }
            }
            let moved = moved_count as f64 / KEYS_COUNT as f64;
            let expected = 1.0 / f64::from(shards_count + 1);
            println!(
                "moves: {shards_count} -> {} shards, moved {moved:.4}, 1/(n+1) = {expected:.4}",
                shards_count + 1
            );
            assert!(
                (moved - expected).abs() <= 0.35 * expected,
                "moved {moved}, expected {expected}"
            );
            assert!(ring.remove_shard(added));
            assert_eq!(placement(&ring, &keys), before);
            assert_eq!(ring.shards(), ring_before.shards());
            assert_eq!(ring.points, ring_before.points);
            assert_eq!(ring.version(), ring_before.version() + 2);
        }
    }

    #[test]
    fn cache_agrees_with_ring_across_membership_changes() {
        let keys = keys_make();
        let mut table = RoutingTable::new(ring_make(&shards_make(4)));
        let check = |table: &mut RoutingTable| {
            // Twice: the first pass fills (and evicts), the second mostly hits.
            for _ in 0..2 {
                for key in &keys {
                    assert_eq!(table.route(key), table.ring().route(key), "{key:?}");
                }
            }
        };
        check(&mut table);
        assert!(table.add_shard(ShardId { node: 7, core: 0 }));
        check(&mut table);
        assert!(!table.add_shard(ShardId { node: 0, core: 2 })); // already a member
        assert!(table.remove_shard(ShardId { node: 0, core: 1 }));
        check(&mut table);
        assert!(table.remove_shard(ShardId { node: 7, core: 0 }));
        check(&mut table);
        table.ring_replace(ring_make(&shards_make(16)));
        check(&mut table);
    }

    #[test]
    fn cache_is_emptied_when_a_ring_reuses_a_version() {
        let ring_a = ring_make(&shards_make(4));
        let ring_b = ring_make(&[ShardId { node: 9, core: 9 }]);
        assert_eq!(ring_a.version(), ring_b.version());
        let mut table = RoutingTable::new(ring_a);
        let keys = keys_make();
        let owners_a: Vec<usize> = keys.iter().map(|key| table.route(key)).collect();
        assert!(owners_a.iter().any(|&owner| owner != 0));
        table.ring_replace(ring_b);
        assert!(keys.iter().all(|key| table.route(key) == 0));
    }

    #[test]
    fn single_shard_ring_routes_everything_to_it_and_keeps_it() {
        let only = ShardId { node: 3, core: 1 };
        let mut ring = ring_make(&[only]);
        assert!(keys_make().iter().all(|key| ring.route(key) == 0));
        for hash in [0, 1, u64::MAX / 2, u64::MAX - 1, u64::MAX] {
            assert_eq!(ring.route_hash(hash), 0);
        }
        assert!(!ring.remove_shard(only));
        assert!(!ring.remove_shard(ShardId { node: 0, core: 0 }));
        assert_eq!(ring.version(), 1);
        assert_eq!(ring.shards(), &[only]);
    }

    #[test]
    fn empty_or_oversized_ring_is_refused() {
        assert!(HashRing::new(&[]).is_none());
        let too_many: Vec<ShardId> = (0..=RING_SHARDS_COUNT_MAX as u32)
            .map(|i| ShardId { node: i, core: 0 })
            .collect();
        assert!(HashRing::new(&too_many).is_none());
        let mut full = ring_make(&too_many[..RING_SHARDS_COUNT_MAX]);
        assert!(!full.add_shard(too_many[RING_SHARDS_COUNT_MAX]));
        assert_eq!(full.version(), 1);
    }

    #[test]
    fn route_hash_takes_first_point_strictly_above_and_wraps() {
        let ring = ring_make(&shards_make(3));
        let points = &ring.points;
        assert_eq!(points.len(), 3 * VIRTUAL_NODES_PER_SHARD);
        for (index, &(position, _)) in points.iter().enumerate() {
            let next = points.get(index + 1).unwrap_or(&points[0]);
            // A hash equal to a point's position belongs to the next point (upper_bound).
            if next.0 != position {
                assert_eq!(ring.route_hash(position), next.1 as usize);
            }
            if index > 0 && points[index - 1].0 < position {
                assert_eq!(ring.route_hash(position - 1), points[index].1 as usize);
            }
        }
        let last = points[points.len() - 1].0;
        assert_eq!(ring.route_hash(last), points[0].1 as usize);
        assert_eq!(ring.route_hash(u64::MAX), points[0].1 as usize);
        assert_eq!(ring.route_hash(0), points[0].1 as usize); // unless a point sits at 0
    }

    #[test]
    fn position_ties_break_by_shard_id() {
        // Forge a tie: every shard's points are sorted (position, index) = (position, id).
        let shards = shards_make(3);
        let mut points = vec![(20u64, 2u32), (10, 0), (20, 1), (90, 0)];
        points.sort_unstable();
        let ring = HashRing {
            shards,
            points,
            version: 1,
        };
        assert_eq!(ring.route_hash(5), 0);
        assert_eq!(ring.route_hash(10), 1); // tie at 20: shard 1 sorts before shard 2
        assert_eq!(ring.route_hash(19), 1);
        assert_eq!(ring.route_hash(20), 0); // next point is 90
        assert_eq!(ring.route_hash(90), 0); // wraps to 10
    }
}
