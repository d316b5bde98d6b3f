//! The per-backend copies of our tables, and how a backend learns that a table changed.
//!
//! Two things are cached: every valid row of `revocation.signing_keys`, parsed once into a ready
//! verifier (rows are few, so a change reloads them all), and the revoked set of
//! [`crate::revocation`], which a change updates incrementally.
//!
//! When they are thrown away: a statement trigger on each table queues a relcache invalidation
//! for it. PostgreSQL delivers that message to every backend when the writing transaction commits
//! (never on rollback) and replays it on hot standbys. Our relcache callback only raises a flag;
//! the next lookup calls `AcceptInvalidationMessages` (about 0.1 us when nothing is pending),
//! sees the flag and refreshes. A lost message is impossible: when PostgreSQL's queue overflows it
//! resets every cache, which reaches the callback as `InvalidOid`. The writing backend itself is
//! told by a transaction callback when its own change commits.
//!
//! Reads of the tables go through [`read_latest`]: the newest committed state, whatever the
//! isolation level of the caller, and with the privileges of the table's owner, since the
//! callers of `jwt_verify` may not read key material themselves.

use crate::keys::{Key, KeyRing, Material, RawKey};
use crate::revocation::RevokedSet;
use crate::settings;
use pgrx::pg_sys;
use pgrx::prelude::*;
use std::cell::RefCell;
use std::ffi::CStr;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Instant;

/// How long past its token's expiry a revoked entry is held: the largest leeway allowed, so that
/// raising revocation.leeway can never bring a dropped revocation back.
const HOLD_PAST_EXPIRY: f64 = settings::MAX_LEEWAY_SECONDS as f64;

/// Raised by the callbacks; cleared just before a reload starts.
static KEYS_STALE: AtomicBool = AtomicBool::new(true);
static REVOKED_STALE: AtomicBool = AtomicBool::new(true);
static POLICIES_STALE: AtomicBool = AtomicBool::new(true);
/// OIDs of our tables as of the last load (0 before).
static KEYS_RELID: AtomicU32 = AtomicU32::new(0);
static TOKENS_RELID: AtomicU32 = AtomicU32::new(0);
static SUBJECTS_RELID: AtomicU32 = AtomicU32::new(0);
static POLICIES_RELID: AtomicU32 = AtomicU32::new(0);
/// Set by our triggers: this transaction wrote one of our tables.
static WROTE_IN_XACT: AtomicBool = AtomicBool::new(false);

#[derive(Default)]
struct State {
    keys: Rc<KeyRing>,
    revoked: Rc<RevokedSet>,
    /// Databases where tokens must carry the allowlist claim.
    enforced: Rc<std::collections::HashSet<String>>,
    /// Moves whenever anything above is reloaded or refreshed: cached verdicts compare it.
    version: u64,
    key_loads: u64,
    last_key_load_us: u64,
    /// The legacy secrets setting the key ring was built from.
    legacy_source: Vec<u8>,
    refreshes: u64,
    full_loads: u64,
    last_refresh_us: u64,
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State::default());
}

pub fn init() {
    // SAFETY: called once from _PG_init; the callbacks stay valid as long as the library.
    unsafe {
        pg_sys::CacheRegisterRelcacheCallback(Some(on_relcache), pg_sys::Datum::from(0));
        pg_sys::RegisterXactCallback(Some(on_xact), std::ptr::null_mut());
        pg_sys::RegisterSubXactCallback(Some(on_subxact), std::ptr::null_mut());
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn on_subxact(
    event: pg_sys::SubXactEvent::Type,
    _my_subid: pg_sys::SubTransactionId,
    _parent_subid: pg_sys::SubTransactionId,
    _arg: *mut std::ffi::c_void,
) {
    if event == pg_sys::SubXactEvent::SUBXACT_EVENT_ABORT_SUB {
        crate::triggers::forget_generation();
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn on_relcache(_arg: pg_sys::Datum, relid: pg_sys::Oid) {
    let relid = relid.to_u32();
    let all = relid == 0;
    if all || relid == KEYS_RELID.load(Ordering::Relaxed) {
        KEYS_STALE.store(true, Ordering::Relaxed);
    }
    if all
        || relid == TOKENS_RELID.load(Ordering::Relaxed)
        || relid == SUBJECTS_RELID.load(Ordering::Relaxed)
    {
        REVOKED_STALE.store(true, Ordering::Relaxed);
    }
    if all || relid == POLICIES_RELID.load(Ordering::Relaxed) {
        POLICIES_STALE.store(true, Ordering::Relaxed);
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn on_xact(event: pg_sys::XactEvent::Type, _arg: *mut std::ffi::c_void) {
    match event {
        pg_sys::XactEvent::XACT_EVENT_COMMIT | pg_sys::XactEvent::XACT_EVENT_PARALLEL_COMMIT => {
            crate::triggers::forget_generation();
            if WROTE_IN_XACT.swap(false, Ordering::Relaxed) {
                // Our own refreshes never see our own uncommitted rows; now they count.
                KEYS_STALE.store(true, Ordering::Relaxed);
                REVOKED_STALE.store(true, Ordering::Relaxed);
                POLICIES_STALE.store(true, Ordering::Relaxed);
            }
        }
        pg_sys::XactEvent::XACT_EVENT_ABORT
        | pg_sys::XactEvent::XACT_EVENT_PARALLEL_ABORT
        | pg_sys::XactEvent::XACT_EVENT_PREPARE => {
            crate::triggers::forget_generation();
            // A prepared transaction's invalidations reach every backend at COMMIT PREPARED.
            WROTE_IN_XACT.store(false, Ordering::Relaxed);
        }
        _ => {}
    }
}

/// Called by the triggers that queue an invalidation.
pub fn note_own_write() {
    WROTE_IN_XACT.store(true, Ordering::Relaxed);
}

/// What a token is judged with, current as of every transaction committed before this call.
pub struct Current {
    pub keys: Rc<KeyRing>,
    pub revoked: Rc<RevokedSet>,
    pub enforced: Rc<std::collections::HashSet<String>>,
    /// Moves whenever any of the above is reloaded or refreshed.
    pub version: u64,
}

/// The keys, revocations and database policies to judge a token with, current as of every
/// transaction committed before this call.
pub fn current(now: f64) -> Current {
    refresh(now);
    STATE.with(|s| {
        let s = s.borrow();
        Current {
            keys: s.keys.clone(),
            revoked: s.revoked.clone(),
            enforced: s.enforced.clone(),
            version: s.version,
        }
    })
}

/// Brings the cache up to date and returns its version, which moves with every reload.
pub fn current_version(now: f64) -> u64 {
    refresh(now);
    STATE.with(|s| s.borrow().version)
}

/// Refuses to work in a database whose encoding is not UTF8. Tokens are UTF-8 JSON, and the
/// tables' text (a `jti`, a `sub`, a database name) is compared with their strings byte for
/// byte; in another encoding the same name has other bytes, so a revocation could silently not
/// match. `CREATE EXTENSION` refuses such a database; this covers one that has an older
/// version.
pub fn require_utf8_database() {
    // SAFETY: reads the database encoding, fixed for the life of the backend.
    let encoding = unsafe { pg_sys::GetDatabaseEncoding() };
    if encoding != pg_sys::pg_enc::PG_UTF8 as i32 {
        // SAFETY: the name of a valid encoding is a static C string.
        let name = unsafe { CStr::from_ptr(pg_sys::GetDatabaseEncodingName()) };
        pg_sys::panic::ErrorReport::new(
            PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            "revocation needs a database with UTF8 encoding",
            "revocation",
        )
        .set_detail(format!(
            "This database's encoding is {}.",
            name.to_string_lossy()
        ))
        .set_hint("Move the extension's rows to a database created with ENCODING 'UTF8'.")
        .report(PgLogLevel::ERROR);
    }
}

fn refresh(now: f64) {
    require_utf8_database();
    // SAFETY: a plain call into PostgreSQL's invalidation machinery from a backend.
    unsafe { pg_sys::AcceptInvalidationMessages() };
    let legacy = settings::legacy_secrets_raw();
    if STATE.with(|s| s.borrow().legacy_source != legacy) {
        KEYS_STALE.store(true, Ordering::Relaxed);
    }
    if KEYS_STALE.swap(false, Ordering::Relaxed) {
        let guard = StaleOnUnwind(&KEYS_STALE);
        reload_keys();
        std::mem::forget(guard);
    }
    if REVOKED_STALE.swap(false, Ordering::Relaxed) {
        let guard = StaleOnUnwind(&REVOKED_STALE);
        refresh_revocations(now);
        std::mem::forget(guard);
    }
    if POLICIES_STALE.swap(false, Ordering::Relaxed) {
        let guard = StaleOnUnwind(&POLICIES_STALE);
        reload_policies();
        std::mem::forget(guard);
    }
    STATE.with(|s| {
        let mut s = s.borrow_mut();
        if s.revoked.needs_prune(now) {
            Rc::make_mut(&mut s.revoked).prune(now, HOLD_PAST_EXPIRY);
        }
    });
}

fn reload_policies() {
    let rel = relid(c"database_policies");
    POLICIES_RELID.store(rel.to_u32(), Ordering::Relaxed);
    let mut enforced = std::collections::HashSet::new();
    read_latest(rel, true, |session| {
        session.query(
            c"SELECT db FROM revocation.database_policies WHERE require_claim",
            &[],
            |row| {
                if let Some(db) = row.get::<String>(1) {
                    enforced.insert(db);
                }
            },
        )
    });
    STATE.with(|s| {
        let mut s = s.borrow_mut();
        s.enforced = Rc::new(enforced);
        s.version += 1;
    });
}

/// Puts a stale flag back if a reload fails half way, so the next call tries again.
struct StaleOnUnwind(&'static AtomicBool);

impl Drop for StaleOnUnwind {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

pub struct CacheStats {
    pub keys: usize,
    pub key_loads: u64,
    pub last_key_load_us: u64,
    pub generation: i64,
    pub revoked_jtis: usize,
    pub revoked_subjects: usize,
    pub revoked_bytes: usize,
    pub refreshes: u64,
    pub full_loads: u64,
    pub last_refresh_us: u64,
}

pub fn stats() -> CacheStats {
    STATE.with(|s| {
        let s = s.borrow();
        CacheStats {
            keys: s.keys.len(),
            key_loads: s.key_loads,
            last_key_load_us: s.last_key_load_us,
            generation: s.revoked.generation,
            revoked_jtis: s.revoked.jti_count(),
            revoked_subjects: s.revoked.subject_count(),
            revoked_bytes: s.revoked.bytes(),
            refreshes: s.refreshes,
            full_loads: s.full_loads,
            last_refresh_us: s.last_refresh_us,
        }
    })
}

/// Looks up one of our tables by name, without SQL.
pub fn relid(name: &CStr) -> pg_sys::Oid {
    // SAFETY: plain syscache lookups; both return InvalidOid when the object is missing.
    let rel = unsafe {
        let nsp = pg_sys::get_namespace_oid(c"revocation".as_ptr(), true);
        if nsp == pg_sys::InvalidOid {
            pg_sys::InvalidOid
        } else {
            pg_sys::get_relname_relid(name.as_ptr(), nsp)
        }
    };
    if rel == pg_sys::InvalidOid {
        ereport!(
            ERROR,
            PgSqlErrorCode::ERRCODE_UNDEFINED_TABLE,
            "the revocation extension is not installed in this database",
            "Run CREATE EXTENSION revocation first."
        );
    }
    rel
}

/// One row of `revocation.signing_keys`, as stored.
pub struct KeyRow {
    pub kid: String,
    pub alg: String,
    pub secret: Option<Vec<u8>>,
    pub public_key: Option<String>,
    pub private_key: Option<String>,
    /// Seconds since 1970.
    pub usable_from: f64,
    pub retired_at: Option<f64>,
    pub created_at: f64,
}

impl KeyRow {
    pub fn raw(&self) -> RawKey<'_> {
        RawKey {
            secret: self.secret.as_deref(),
            public_key: self.public_key.as_deref(),
            private_key: self.private_key.as_deref(),
        }
    }
}

/// Every row of the key table, newest committed state, read as its owner. Private keys are
/// read only when asked for: the verifier's cache never holds them.
pub fn key_rows(with_private: bool) -> Vec<KeyRow> {
    require_utf8_database();
    let rel = relid(c"signing_keys");
    KEYS_RELID.store(rel.to_u32(), Ordering::Relaxed);
    let sql = if with_private {
        c"SELECT kid, alg, secret, public_key, private_key, usable_from, retired_at, created_at \
          FROM revocation.signing_keys"
    } else {
        c"SELECT kid, alg, secret, public_key, NULL::text, usable_from, retired_at, created_at \
          FROM revocation.signing_keys"
    };
    let mut rows = Vec::new();
    read_latest(rel, true, |session| {
        session.query(sql, &[], |row| {
            rows.push(KeyRow {
                kid: row.get(1).unwrap_or_default(),
                alg: row.get(2).unwrap_or_default(),
                secret: row.get(3),
                public_key: row.get(4),
                private_key: row.get(5),
                usable_from: row.time(6).unwrap_or(f64::NEG_INFINITY),
                retired_at: row.time(7),
                created_at: row.time(8).unwrap_or(f64::NEG_INFINITY),
            })
        })
    });
    rows
}

fn reload_keys() {
    let started = Instant::now();

    let mut keys = Vec::new();
    for row in key_rows(false) {
        match Material::parse(&row.alg, row.raw()) {
            Ok(material) => keys.push(Key {
                kid: row.kid,
                material,
                usable_from: row.usable_from,
                retired_at: row.retired_at,
            }),
            Err(why) => warning!(
                "signing key {} is not used: {}",
                crate::errors::quoted(&row.kid),
                why
            ),
        }
    }

    let legacy_source = settings::legacy_secrets_raw().to_vec();
    // A value that fails the rules never took effect (the check hook refused it), so this only
    // fails if the rules changed under a running server; then no legacy secret is used.
    let legacy_text = String::from_utf8_lossy(&legacy_source);
    let legacy = crate::keys::parse_legacy_secrets(&legacy_text)
        .unwrap_or_else(|why| {
            warning!("revocation.legacy_secrets is not used: {why}");
            Vec::new()
        })
        .into_iter()
        .enumerate()
        .filter_map(|(i, (alg, secret))| {
            let raw = RawKey {
                secret: Some(&secret),
                ..RawKey::default()
            };
            let material = Material::parse(crate::keys::alg_name(alg), raw).ok()?;
            Some(Key {
                kid: format!("legacy-{}", i + 1),
                material,
                usable_from: f64::NEG_INFINITY,
                retired_at: None,
            })
        })
        .collect();

    STATE.with(|s| {
        let mut s = s.borrow_mut();
        s.keys = Rc::new(KeyRing::new(keys, legacy));
        s.legacy_source = legacy_source;
        s.version += 1;
        s.key_loads += 1;
        s.last_key_load_us = started.elapsed().as_micros() as u64;
    });
}

fn refresh_revocations(now: f64) {
    let started = Instant::now();
    let tokens = relid(c"invalidated_tokens");
    TOKENS_RELID.store(tokens.to_u32(), Ordering::Relaxed);
    SUBJECTS_RELID.store(relid(c"invalidated_subjects").to_u32(), Ordering::Relaxed);
    let leeway = HOLD_PAST_EXPIRY;

    let (loaded, seen_generation, seen_epoch) = STATE.with(|s| {
        let s = s.borrow();
        (s.revoked.loaded, s.revoked.generation, s.revoked.epoch)
    });

    // Nothing in force changes until every row has been read, so a failure half way leaves the
    // old set as it was. A full load builds a new set; an incremental one collects the few
    // changed rows and applies them in place.
    let mut fresh: Option<RevokedSet> = None;
    let mut jtis: Vec<(String, Option<f64>)> = Vec::new();
    let mut subjects: Vec<(String, f64)> = Vec::new();
    let mut counter = (0, 0);
    // Committed state only: a revocation is in force when its transaction has committed, in
    // this session as in every other.
    read_latest(tokens, false, |session| {
        let mut found = None;
        session.query(
            c"SELECT generation, epoch FROM revocation.generation",
            &[],
            |row| {
                found = Some((
                    row.get::<i64>(1).unwrap_or(0),
                    row.get::<i64>(2).unwrap_or(0),
                ));
            },
        );
        let Some((generation, epoch)) = found else {
            error!("revocation.generation has no row; reinstall the extension");
        };
        counter = (generation, epoch);
        let full = !loaded || epoch != seen_epoch || generation < seen_generation;
        if full {
            fresh = Some(RevokedSet::default());
        }
        let since = if full { -1 } else { seen_generation };
        let args = [(pg_sys::INT8OID, pg_sys::Datum::from(since))];
        session.query(
            c"SELECT jti, expires_at FROM revocation.invalidated_tokens \
              WHERE seq OPERATOR(pg_catalog.>) $1",
            &args,
            |row| {
                let jti: String = row.get(1).unwrap_or_default();
                match fresh.as_mut() {
                    Some(set) => set.apply_jti(&jti, row.time(2), now, leeway),
                    None => jtis.push((jti, row.time(2))),
                }
            },
        );
        session.query(
            c"SELECT sub, issued_before FROM revocation.invalidated_subjects \
              WHERE seq OPERATOR(pg_catalog.>) $1",
            &args,
            |row| {
                let sub: String = row.get(1).unwrap_or_default();
                let cutoff = row.time(2).unwrap_or(f64::INFINITY);
                match fresh.as_mut() {
                    Some(set) => set.apply_subject(&sub, cutoff),
                    None => subjects.push((sub, cutoff)),
                }
            },
        );
    });

    let full = fresh.is_some();
    STATE.with(|s| {
        let mut s = s.borrow_mut();
        if let Some(set) = fresh {
            s.revoked = Rc::new(set);
        }
        let set = Rc::make_mut(&mut s.revoked);
        for (jti, expires_at) in &jtis {
            set.apply_jti(jti, *expires_at, now, leeway);
        }
        for (sub, cutoff) in &subjects {
            set.apply_subject(sub, *cutoff);
        }
        (set.generation, set.epoch) = counter;
        set.loaded = true;
    });

    let elapsed = started.elapsed().as_micros() as u64;
    STATE.with(|s| {
        let mut s = s.borrow_mut();
        s.version += 1;
        s.refreshes += 1;
        s.full_loads += full as u64;
        s.last_refresh_us = elapsed;
    });
    if elapsed > 100_000 {
        log!(
            "revocation: refreshing the revoked set took {} ms",
            elapsed / 1000
        );
    }
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
        self.datum(column)
            .and_then(|d| unsafe { T::from_datum(d, false) })
    }

    /// A timestamptz column as seconds since 1970; infinities map to infinities.
    pub fn time(&self, column: i32) -> Option<f64> {
        self.datum(column)
            .map(|d| timestamp_to_unix(d.value() as i64))
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

/// Queries that share one snapshot, run by [`read_latest`].
pub struct Session {
    snapshot: pg_sys::Snapshot,
}

impl Session {
    /// Runs a fixed read-only query with `args` (type OID, value), calling `each` for every row.
    /// Each run is planned for its actual arguments, so an index on a sequence number is used
    /// however many rows the table has.
    pub fn query(
        &mut self,
        sql: &CStr,
        args: &[(pg_sys::Oid, pg_sys::Datum)],
        mut each: impl FnMut(&Row),
    ) {
        let mut types: Vec<pg_sys::Oid> = args.iter().map(|a| a.0).collect();
        let mut values: Vec<pg_sys::Datum> = args.iter().map(|a| a.1).collect();
        // SAFETY: SPI is connected by read_latest; the plan and snapshot live until we return.
        unsafe {
            let plan = pg_sys::SPI_prepare_cursor(
                sql.as_ptr(),
                args.len() as i32,
                types.as_mut_ptr(),
                pg_sys::CURSOR_OPT_CUSTOM_PLAN as i32,
            );
            if plan.is_null() {
                error!("SPI_prepare failed for an internal query");
            }
            let rc = pg_sys::SPI_execute_snapshot(
                plan,
                values.as_mut_ptr(),
                std::ptr::null(),
                self.snapshot,
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
                let row = Row {
                    tuple: *(*table).vals.add(i),
                    desc: (*table).tupdesc,
                };
                each(&row);
            }
            pg_sys::SPI_freetuptable(table);
            pg_sys::SPI_freeplan(plan);
        }
    }
}

/// Runs read-only queries on our tables under one snapshot, the newest one, as the owner of
/// `rel`.
///
/// The newest snapshot, not the statement's, because a change that committed after the current
/// statement began must not be missed: its invalidation has already been consumed. With
/// `own_changes` false the snapshot also hides what this transaction itself has written and not
/// yet committed. The owner's identity, switched the way PostgreSQL runs a `SECURITY DEFINER`
/// function, because key material is not readable by the roles that verify. The query texts are
/// fixed, schema-qualified and name their operators, so nothing in the caller's `search_path`
/// can be substituted.
pub fn read_latest<R>(rel: pg_sys::Oid, own_changes: bool, f: impl FnOnce(&mut Session) -> R) -> R {
    as_owner(rel, || {
        // SAFETY: the SPI calls are paired and the snapshot is registered and unregistered
        // here; on an ERROR, transaction abort closes SPI and releases the snapshot.
        unsafe {
            if pg_sys::SPI_connect() < 0 {
                error!("SPI_connect failed");
            }
            let snapshot = pg_sys::RegisterSnapshot(pg_sys::GetLatestSnapshot());
            if !own_changes {
                // Rows this transaction wrote carry command ids >= 0, so none are visible; rows
                // of committed transactions do not depend on curcid. The snapshot is our own
                // registered copy.
                (*snapshot).curcid = 0;
            }
            let mut session = Session { snapshot };
            let result = f(&mut session);
            pg_sys::UnregisterSnapshot(snapshot);
            pg_sys::SPI_finish();
            result
        }
    })
}

/// Runs `f` with the identity of `rel`'s owner, as a `SECURITY DEFINER` function would.
pub fn as_owner<R>(rel: pg_sys::Oid, f: impl FnOnce() -> R) -> R {
    let owner = owner_of(rel);
    let mut saved_user = pg_sys::InvalidOid;
    let mut saved_context = 0;
    // SAFETY: on an ERROR PostgreSQL's (sub)transaction abort restores the user ID and security
    // context saved when the (sub)transaction began; on success the guard restores them.
    unsafe {
        pg_sys::GetUserIdAndSecContext(&mut saved_user, &mut saved_context);
        pg_sys::SetUserIdAndSecContext(
            owner,
            saved_context
                | pg_sys::SECURITY_LOCAL_USERID_CHANGE as i32
                | pg_sys::SECURITY_RESTRICTED_OPERATION as i32,
        );
    }
    let _restore = RestoreUser(saved_user, saved_context);
    f()
}

struct RestoreUser(pg_sys::Oid, i32);

impl Drop for RestoreUser {
    fn drop(&mut self) {
        // SAFETY: puts back exactly what GetUserIdAndSecContext returned.
        unsafe { pg_sys::SetUserIdAndSecContext(self.0, self.1) };
    }
}

fn owner_of(rel: pg_sys::Oid) -> pg_sys::Oid {
    let rel =
        unsafe { pgrx::PgRelation::with_lock(rel, pg_sys::AccessShareLock as pg_sys::LOCKMODE) };
    // SAFETY: rd_rel is valid while the relation is open.
    unsafe { (*rel.rd_rel).relowner }
}

/// Revocations as of a past (or future) moment, read from the tables themselves: a token
/// revoked after that moment was still valid then. For `jwt_check(..., at => T)`; the hot path
/// uses the in-memory set instead.
pub struct AsOf {
    pub at: f64,
}

impl AsOf {
    /// (cut-off, when it was invalidated) for every row of `key`.
    fn lookup(&self, sql: &CStr, key: &str) -> Vec<(Option<f64>, f64)> {
        let rel = relid(c"invalidated_tokens");
        let Ok(key) = std::ffi::CString::new(key) else {
            return Vec::new();
        };
        // SAFETY: cstring_to_text copies the bytes into a text datum in the current context.
        let text = unsafe { pg_sys::cstring_to_text(key.as_ptr()) };
        let args = [(pg_sys::TEXTOID, pg_sys::Datum::from(text))];
        let mut found = Vec::new();
        read_latest(rel, false, |session| {
            session.query(sql, &args, |row| {
                if let Some(invalidated_at) = row.time(2) {
                    found.push((row.time(1), invalidated_at));
                }
            });
        });
        found
    }
}

impl crate::verification::Revocations for AsOf {
    fn jti_revoked(&self, jti: &str) -> bool {
        self.lookup(
            c"SELECT NULL::timestamptz, invalidated_at FROM revocation.invalidated_tokens \
              WHERE jti OPERATOR(pg_catalog.=) $1",
            jti,
        )
        .iter()
        .any(|(_, invalidated_at)| *invalidated_at <= self.at)
    }

    /// The latest cut-off that had been set by `at`.
    fn subject_cutoff(&self, sub: &str) -> Option<f64> {
        self.lookup(
            c"SELECT issued_before, invalidated_at FROM revocation.invalidated_subjects \
              WHERE sub OPERATOR(pg_catalog.=) $1",
            sub,
        )
        .into_iter()
        .filter(|(_, invalidated_at)| *invalidated_at <= self.at)
        .filter_map(|(cutoff, _)| cutoff)
        .reduce(f64::max)
    }
}
