//! The per-backend copy of the key table, and how it learns that the table changed.
//!
//! What is cached: every valid row of `revocation.signing_keys`, parsed once into a ready
//! verifier (for HMAC that includes the key schedule). Rows are few, so a change reloads them
//! all.
//!
//! When it is thrown away: a statement trigger on the table queues a relcache invalidation for
//! it. PostgreSQL delivers that message to every backend when the writing transaction commits
//! (never on rollback) and replays it on hot standbys. Our relcache callback only raises a flag;
//! the next lookup calls `AcceptInvalidationMessages` (about 0.1 us when nothing is pending),
//! sees the flag and reloads. A lost message is impossible: when PostgreSQL's queue overflows it
//! resets every cache, which reaches the callback as `InvalidOid`.
//!
//! Reads of the table go through [`select_latest`]: the newest committed state, whatever the
//! isolation level of the caller, and with the privileges of the table's owner, since the
//! callers of `jwt_verify` may not read key material themselves.

use crate::keys::{Key, KeyRing, Material, RawKey};
use pgrx::pg_sys;
use pgrx::prelude::*;
use std::cell::RefCell;
use std::ffi::CStr;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Instant;

/// Raised by the relcache callback; cleared just before a reload starts.
static KEYS_STALE: AtomicBool = AtomicBool::new(true);
/// OID of `revocation.signing_keys` as of the last load (0 before).
static KEYS_RELID: AtomicU32 = AtomicU32::new(0);

#[derive(Default)]
struct State {
    keys: Rc<KeyRing>,
    loads: u64,
    last_load_us: u64,
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State::default());
}

pub fn init() {
    // SAFETY: called once from _PG_init; the callback stays valid as long as the library.
    unsafe { pg_sys::CacheRegisterRelcacheCallback(Some(on_relcache), pg_sys::Datum::from(0)) };
}

#[pg_guard]
unsafe extern "C-unwind" fn on_relcache(_arg: pg_sys::Datum, relid: pg_sys::Oid) {
    let relid = relid.to_u32();
    if relid == 0 || relid == KEYS_RELID.load(Ordering::Relaxed) {
        KEYS_STALE.store(true, Ordering::Relaxed);
    }
}

/// The keys to verify with, current as of every transaction committed before this call.
pub fn keys() -> Rc<KeyRing> {
    // SAFETY: a plain call into PostgreSQL's invalidation machinery from a backend.
    unsafe { pg_sys::AcceptInvalidationMessages() };
    if KEYS_STALE.swap(false, Ordering::Relaxed) {
        let reload = StaleOnUnwind;
        reload_keys();
        std::mem::forget(reload);
    }
    STATE.with(|s| s.borrow().keys.clone())
}

/// Puts the stale flag back if a reload fails half way, so the next call tries again.
struct StaleOnUnwind;

impl Drop for StaleOnUnwind {
    fn drop(&mut self) {
        KEYS_STALE.store(true, Ordering::Relaxed);
    }
}

pub struct CacheStats {
    pub keys: usize,
    pub loads: u64,
    pub last_load_us: u64,
}

pub fn stats() -> CacheStats {
    STATE.with(|s| {
        let s = s.borrow();
        CacheStats { keys: s.keys.len(), loads: s.loads, last_load_us: s.last_load_us }
    })
}

/// Looks up one of our tables by name, without SQL.
pub fn relid(name: &CStr) -> Option<pg_sys::Oid> {
    // SAFETY: plain syscache lookups; both return InvalidOid when the object is missing.
    unsafe {
        let nsp = pg_sys::get_namespace_oid(c"revocation".as_ptr(), true);
        if nsp == pg_sys::InvalidOid {
            return None;
        }
        let rel = pg_sys::get_relname_relid(name.as_ptr(), nsp);
        (rel != pg_sys::InvalidOid).then_some(rel)
    }
}

fn reload_keys() {
    let started = Instant::now();
    let Some(rel) = relid(c"signing_keys") else {
        error!("the revocation extension is not installed in this database");
    };
    KEYS_RELID.store(rel.to_u32(), Ordering::Relaxed);

    let mut keys = Vec::new();
    select_latest(
        rel,
        c"SELECT kid, alg, secret, public_key, usable_from, retired_at \
          FROM revocation.signing_keys",
        |row| {
            let kid: String = row.get(1).unwrap_or_default();
            let alg: String = row.get(2).unwrap_or_default();
            let secret: Option<Vec<u8>> = row.get(3);
            let public_key: Option<String> = row.get(4);
            let raw = RawKey {
                secret: secret.as_deref(),
                public_key: public_key.as_deref(),
                private_key: None,
            };
            match Material::parse(&alg, raw) {
                Ok(material) => keys.push(Key {
                    kid,
                    material,
                    usable_from: row.time(5).unwrap_or(f64::NEG_INFINITY),
                    retired_at: row.time(6),
                }),
                Err(why) => warning!(
                    "signing key {} is not used: {}",
                    crate::errors::quoted(&kid),
                    why
                ),
            }
        },
    );

    STATE.with(|s| {
        let mut s = s.borrow_mut();
        s.keys = Rc::new(KeyRing::new(keys));
        s.loads += 1;
        s.last_load_us = started.elapsed().as_micros() as u64;
    });
}

/// One row of an SPI result.
pub struct Row {
    tuple: pg_sys::HeapTuple,
    desc: pg_sys::TupleDesc,
}

impl Row {
    fn datum(&self, column: i32) -> Option<pg_sys::Datum> {
        let mut is_null = false;
        // SAFETY: tuple and desc come from the live SPI result this row belongs to.
        let datum = unsafe { pg_sys::SPI_getbinval(self.tuple, self.desc, column, &mut is_null) };
        (!is_null).then_some(datum)
    }

    /// Column `column` (1-based), copied out of SPI's memory.
    pub fn get<T: FromDatum>(&self, column: i32) -> Option<T> {
        // SAFETY: the caller names the column's real type; FromDatum copies the value.
        self.datum(column).and_then(|d| unsafe { T::from_datum(d, false) })
    }

    /// A timestamptz column as seconds since 1970; infinities map to infinities.
    pub fn time(&self, column: i32) -> Option<f64> {
        self.datum(column).map(|d| timestamp_to_unix(d.value() as i64))
    }
}

/// Seconds since 1970 for a PostgreSQL `TimestampTz` (microseconds since 2000).
pub fn timestamp_to_unix(ts: i64) -> f64 {
    match ts {
        i64::MIN => f64::NEG_INFINITY,
        i64::MAX => f64::INFINITY,
        _ => ts as f64 / 1_000_000.0 + 946_684_800.0,
    }
}

/// Runs a read-only query on one of our tables with the newest committed snapshot, as the
/// owner of `rel`, calling `each` for every row.
///
/// The newest snapshot, not the statement's, because a change that committed after the current
/// statement began must not be missed: its invalidation has already been consumed. The owner's
/// identity, switched the way PostgreSQL runs a `SECURITY DEFINER` function, because key material
/// is not readable by the roles that verify. The query text is fixed, schema-qualified and calls
/// no function or operator, so nothing in the caller's `search_path` can be substituted.
pub fn select_latest(rel: pg_sys::Oid, sql: &CStr, mut each: impl FnMut(&Row)) {
    let owner = owner_of(rel);
    let mut saved_user = pg_sys::InvalidOid;
    let mut saved_context = 0;
    // SAFETY: the SPI calls are paired; on an ERROR PostgreSQL's transaction abort closes the
    // SPI connection and restores the user ID and security context saved at (sub)transaction
    // start, exactly as for a failing SECURITY DEFINER function.
    unsafe {
        pg_sys::GetUserIdAndSecContext(&mut saved_user, &mut saved_context);
        pg_sys::SetUserIdAndSecContext(
            owner,
            saved_context
                | pg_sys::SECURITY_LOCAL_USERID_CHANGE as i32
                | pg_sys::SECURITY_RESTRICTED_OPERATION as i32,
        );
        let restore = RestoreUser(saved_user, saved_context);

        if pg_sys::SPI_connect() < 0 {
            error!("SPI_connect failed");
        }
        let plan = pg_sys::SPI_prepare(sql.as_ptr(), 0, std::ptr::null_mut());
        if plan.is_null() {
            error!("SPI_prepare failed for an internal query");
        }
        let rc = pg_sys::SPI_execute_snapshot(
            plan,
            std::ptr::null_mut(),
            std::ptr::null(),
            pg_sys::GetLatestSnapshot(),
            std::ptr::null_mut(),
            true,
            false,
            0,
        );
        if rc != pg_sys::SPI_OK_SELECT as i32 {
            error!("internal query failed with SPI code {rc}");
        }
        let table = pg_sys::SPI_tuptable;
        for i in 0..pg_sys::SPI_processed as usize {
            let row = Row { tuple: *(*table).vals.add(i), desc: (*table).tupdesc };
            each(&row);
        }
        pg_sys::SPI_finish();
        drop(restore);
    }
}

struct RestoreUser(pg_sys::Oid, i32);

impl Drop for RestoreUser {
    fn drop(&mut self) {
        // SAFETY: puts back exactly what GetUserIdAndSecContext returned.
        unsafe { pg_sys::SetUserIdAndSecContext(self.0, self.1) };
    }
}

fn owner_of(rel: pg_sys::Oid) -> pg_sys::Oid {
    let rel = unsafe { pgrx::PgRelation::with_lock(rel, pg_sys::AccessShareLock as pg_sys::LOCKMODE) };
    // SAFETY: rd_rel is valid while the relation is open.
    unsafe { (*rel.rd_rel).relowner }
}
