//! The in-memory set of revoked `jti`s and subjects that `jwt_verify` consults.
//!
//! What is held: for each revoked `jti` whose token has not yet expired (or whose expiry is
//! unknown), a 128-bit keyed hash of the `jti` and the expiry in whole seconds: 24 bytes a slot
//! plus a control byte, so 25 to 57 bytes an entry depending on how full the hash table is. The
//! hash is two SipHash values with keys drawn at random per backend, so nobody can craft a `jti`
//! that collides with a revoked one, and an accidental collision (a valid token refused) has a
//! chance of about one in 2^128 per entry. Subjects revoked with `jwt_revoke_subject` are held
//! the same way with their cut-off time, and never dropped.
//!
//! When it changes: `cache.rs` applies the rows whose sequence number is above the highest one
//! this backend has seen (an incremental refresh, whose cost follows the change, not the table),
//! or reloads everything when a row was deleted. Entries whose token expiry plus the leeway has
//! passed are dropped at most once a minute; an expired token is refused anyway.

use crate::verification::Revocations;
use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher};

/// A 128-bit keyed hash of a `jti` or a `sub`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Digest(u64, u64);

impl Hash for Digest {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Already uniformly distributed: the table needs no further hashing.
        state.write_u64(self.0);
    }
}

/// Passes a [`Digest`]'s first half through as the table hash.
#[derive(Default)]
pub struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, _: &[u8]) {
        unreachable!("only Digest is hashed with PassThrough")
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type Table<V> = HashMap<Digest, V, BuildHasherDefault<PassThrough>>;

/// Expiry of a token whose `exp` we do not know, or that lies beyond 2106: never dropped.
const NO_EXPIRY: u32 = u32::MAX;

#[derive(Clone)]
pub struct RevokedSet {
    keys: (RandomState, RandomState),
    jtis: Table<u32>,
    subjects: Table<f64>,
    /// Highest sequence number applied; rows above it are what a refresh reads.
    pub generation: i64,
    /// Bumped by every DELETE or TRUNCATE: a change of epoch means a full reload.
    pub epoch: i64,
    pub loaded: bool,
    next_prune: f64,
}

impl Default for RevokedSet {
    fn default() -> Self {
        RevokedSet {
            keys: (RandomState::new(), RandomState::new()),
            jtis: Table::default(),
            subjects: Table::default(),
            generation: 0,
            epoch: 0,
            loaded: false,
            next_prune: f64::NEG_INFINITY,
        }
    }
}

impl RevokedSet {
    fn digest(&self, text: &str) -> Digest {
        Digest(self.keys.0.hash_one(text), self.keys.1.hash_one(text))
    }

    /// Applies one row of `invalidated_tokens`. `expires_at` is in seconds since 1970.
    pub fn apply_jti(&mut self, jti: &str, expires_at: Option<f64>, now: f64, leeway: f64) {
        let digest = self.digest(jti);
        match expires_at {
            Some(exp) if exp + leeway < now => {
                self.jtis.remove(&digest);
            }
            Some(exp) if exp < NO_EXPIRY as f64 => {
                self.jtis.insert(digest, exp.ceil().max(0.0) as u32);
            }
            _ => {
                self.jtis.insert(digest, NO_EXPIRY);
            }
        }
    }

    /// Applies one row of `invalidated_subjects`: tokens of `sub` issued before `cutoff` are
    /// revoked.
    pub fn apply_subject(&mut self, sub: &str, cutoff: f64) {
        let digest = self.digest(sub);
        let entry = self.subjects.entry(digest).or_insert(cutoff);
        *entry = entry.max(cutoff);
    }

    /// Drops entries whose token has expired, at most once a minute.
    pub fn prune(&mut self, now: f64, leeway: f64) {
        if now < self.next_prune {
            return;
        }
        self.next_prune = now + 60.0;
        self.jtis
            .retain(|_, exp| *exp == NO_EXPIRY || (*exp as f64) + leeway >= now);
    }

    pub fn needs_prune(&self, now: f64) -> bool {
        now >= self.next_prune
    }

    pub fn jti_count(&self) -> usize {
        self.jtis.len()
    }

    pub fn subject_count(&self) -> usize {
        self.subjects.len()
    }

    /// Bytes the two tables occupy: every slot and its control byte, used or not.
    pub fn bytes(&self) -> usize {
        let slot = |size: usize| size + 1;
        self.jtis.capacity() * slot(std::mem::size_of::<(Digest, u32)>())
            + self.subjects.capacity() * slot(std::mem::size_of::<(Digest, f64)>())
    }
}

impl Revocations for RevokedSet {
    fn jti_revoked(&self, jti: &str) -> bool {
        self.jtis.contains_key(&self.digest(jti))
    }

    fn subject_cutoff(&self, sub: &str) -> Option<f64> {
        if self.subjects.is_empty() {
            return None;
        }
        self.subjects.get(&self.digest(sub)).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expired_entries_are_not_held() {
        let mut set = RevokedSet::default();
        set.apply_jti("gone", Some(1000.0), 2000.0, 30.0);
        set.apply_jti("live", Some(3000.0), 2000.0, 30.0);
        set.apply_jti("unknown", None, 2000.0, 30.0);
        assert!(!set.jti_revoked("gone"));
        assert!(set.jti_revoked("live") && set.jti_revoked("unknown"));
        assert_eq!(set.jti_count(), 2);
        set.prune(4000.0, 30.0);
        assert_eq!(set.jti_count(), 1);
        assert!(set.jti_revoked("unknown"));
    }

    #[test]
    fn an_update_to_a_past_expiry_removes_the_entry() {
        let mut set = RevokedSet::default();
        set.apply_jti("j", Some(3000.0), 2000.0, 30.0);
        set.apply_jti("j", Some(1000.0), 2000.0, 30.0);
        assert!(!set.jti_revoked("j"));
    }

    #[test]
    fn subjects_have_a_cutoff() {
        let mut set = RevokedSet::default();
        assert_eq!(set.subject_cutoff("alice"), None);
        set.apply_subject("alice", 1500.0);
        set.apply_subject("alice", 1200.0);
        assert_eq!(set.subject_cutoff("alice"), Some(1500.0));
        assert_eq!(set.subject_cutoff("bob"), None);
    }

    #[test]
    fn a_slot_is_24_bytes() {
        assert_eq!(std::mem::size_of::<(Digest, u32)>(), 24);
    }
}
