//! A bounded concurrent cache for hot records and derived templates.

use std::hash::Hash;

use dashmap::DashMap;

/// A concurrent map that holds at most `capacity` entries. When full, an insert first
/// evicts a few entries from wherever iteration starts; that is close to random
/// eviction, which for the uniform access of a national population is as good as LRU
/// and needs no bookkeeping on the read path.
#[derive(Debug)]
pub struct HotCache<K: Eq + Hash, V> {
    map: DashMap<K, V>,
    capacity: usize,
}

/// Entries dropped per eviction, so that evictions are rare rather than per insert.
const EVICT_BATCH: usize = 16;

impl<K: Eq + Hash + Clone, V: Clone> HotCache<K, V> {
    /// An empty cache of `capacity` entries; 0 disables caching.
    pub fn new(capacity: usize) -> Self {
        Self {
            map: DashMap::new(),
            capacity,
        }
    }

    /// A copy of the cached value.
    pub fn get(&self, key: &K) -> Option<V> {
        self.map.get(key).map(|entry| entry.value().clone())
    }

    /// Caches a value, evicting others when full.
    pub fn insert(&self, key: K, value: V) {
        if self.capacity == 0 {
            return;
        }
        self.insert_room(&key);
        self.map.insert(key, value);
    }

    /// Caches a value unless the cached one is to stay: `replace(cached)` decides, under
    /// the entry's lock, so that of two racing inserts the newer one wins whatever their
    /// order (a record's cache must never go back to an older version).
    pub fn insert_if(&self, key: K, value: V, replace: impl FnOnce(&V) -> bool) {
        if self.capacity == 0 {
            return;
        }
        // Evict before taking the entry: iterating the map under an entry's lock would
        // deadlock on that shard of the map.
        self.insert_room(&key);
        match self.map.entry(key) {
            dashmap::Entry::Occupied(mut entry) => {
                if replace(entry.get()) {
                    entry.insert(value);
                }
            }
            dashmap::Entry::Vacant(entry) => {
                entry.insert(value);
            }
        }
    }

    fn insert_room(&self, key: &K) {
        if self.map.len() >= self.capacity && !self.map.contains_key(key) {
            let victims: Vec<K> = self
                .map
                .iter()
                .take(EVICT_BATCH)
                .map(|entry| entry.key().clone())
                .collect();
            for victim in victims {
                self.map.remove(&victim);
            }
        }
    }

    /// Drops an entry.
    pub fn remove(&self, key: &K) {
        self.map.remove(key);
    }

    /// Drops every entry whose key satisfies `predicate`.
    pub fn remove_if(&self, predicate: impl Fn(&K) -> bool) {
        self.map.retain(|key, _| !predicate(key));
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_holds_more_than_its_capacity() {
        let cache = HotCache::new(100);
        for i in 0..1000u32 {
            cache.insert(i, i * 2);
            assert!(cache.len() <= 100);
        }
        assert_eq!(cache.get(&999), Some(1998));
    }

    #[test]
    fn an_older_value_never_replaces_a_newer_one() {
        let cache = HotCache::new(10);
        let newer = |new: u64| move |cached: &u64| *cached < new;
        cache.insert_if(1, 9, newer(9));
        cache.insert_if(1, 8, newer(8));
        assert_eq!(cache.get(&1), Some(9));
        cache.insert_if(1, 10, newer(10));
        assert_eq!(cache.get(&1), Some(10));
    }

    #[test]
    fn zero_capacity_caches_nothing() {
        let cache = HotCache::new(0);
        cache.insert(1, 1);
        assert!(cache.is_empty());
    }
}
