//! The SQL functions that verify tokens. Their SQL declarations, defaults and grants are in
//! `sql/finalize.sql`.

use crate::cache;
use crate::errors::{self, Reason, Rejection};
use crate::settings;
use crate::verification::{self, Policy, Verified};
use pgrx::pg_sys;
use pgrx::prelude::*;

/// Statement start time in seconds since 1970: one statement sees one clock, which is what
/// STABLE promises.
pub fn statement_time() -> f64 {
    // SAFETY: reads a timestamp the backend keeps for the current statement.
    cache::timestamp_to_unix(unsafe { pg_sys::GetCurrentStatementStartTimestamp() })
}

/// What the settings and the database policies ask of a token for `db`.
pub fn policy(current: &cache::Current, db: &str) -> Policy<'static> {
    Policy {
        leeway: settings::leeway_seconds(),
        require_jti: settings::require_jti(),
        audience: settings::expected_audience(),
        issuer: settings::expected_issuer(),
        max_bytes: settings::max_token_bytes(),
        databases_claim: settings::databases_claim(),
        databases_claim_required: current.enforced.contains(db),
    }
}

/// Verifies `token` for `db` now: the one path every entry point takes.
pub fn check(token: &str, db: &str) -> Result<Verified, Rejection> {
    let now = statement_time();
    let current = cache::current(now);
    let policy = policy(&current, db);
    verification::verify(
        token,
        db,
        now,
        &current.keys,
        current.revoked.as_ref(),
        &policy,
    )
}

/// Verifies `token` for `db` as of a given moment, asking the revocation tables (not the
/// in-memory set) whether it had been revoked by then.
pub fn check_as_of(token: &str, db: &str, at: f64) -> Result<Verified, Rejection> {
    let current = cache::current(statement_time());
    let policy = policy(&current, db);
    verification::verify(token, db, at, &current.keys, &cache::AsOf { at }, &policy)
}

/// Reads text argument `n`, called `name` in messages; the SQL declaration is STRICT, so it is
/// never NULL.
unsafe fn text_arg<'a>(
    fcinfo: pg_sys::FunctionCallInfo,
    n: usize,
    name: &str,
) -> Result<&'a str, Rejection> {
    // Before reading any text: in a database of another encoding the question is moot.
    cache::require_utf8_database();
    // SAFETY: the caller passes the live fcinfo of a function whose argument n is text.
    unsafe {
        let datum = pgrx::fcinfo::pg_getarg_datum_raw(fcinfo, n);
        let text = pg_sys::pg_detoast_datum_packed(datum.cast_mut_ptr());
        pgrx::varlena::text_to_rust_str(text)
            .map_err(|_| Rejection::new(Reason::Malformed, format!("{name} is not valid UTF-8")))
    }
}

fn verify_body(fcinfo: pg_sys::FunctionCallInfo) -> Result<Option<pg_sys::Datum>, Rejection> {
    // SAFETY: called by `errors::entry` with the fcinfo of revocation.jwt_verify(text, text).
    let (token, db) = unsafe { (text_arg(fcinfo, 0, "token")?, text_arg(fcinfo, 1, "db")?) };
    let verified = check(token, db)?;
    Ok(Some(jsonb_from_json_text(&verified.payload)))
}

fn authentic_claims_body(
    fcinfo: pg_sys::FunctionCallInfo,
) -> Result<Option<pg_sys::Datum>, Rejection> {
    // SAFETY: called by `errors::entry` with the fcinfo of revocation._authentic_claims(text).
    let token = unsafe { text_arg(fcinfo, 0, "token")? };
    let now = statement_time();
    let current = cache::current(now);
    let policy = policy(&current, "");
    let authentic = verification::authenticate(
        token,
        now,
        &current.keys,
        &policy,
        verification::KeyWindow::Ignored,
    )?;
    Ok(Some(jsonb_from_json_text(&authentic.payload)))
}

/// Builds a jsonb from JSON text that serde_json has already accepted.
pub fn jsonb_from_json_text(json: &[u8]) -> pg_sys::Datum {
    let text = std::ffi::CString::new(json).expect("parsed JSON contains no NUL byte");
    // SAFETY: jsonb_in takes a NUL-terminated cstring and returns a jsonb datum.
    unsafe {
        pgrx::direct_function_call_as_datum(pg_sys::jsonb_in, &[Some(text.as_ptr().into())])
            .expect("jsonb_in never returns NULL")
    }
}

fn verify_here_body(fcinfo: pg_sys::FunctionCallInfo) -> Result<Option<pg_sys::Datum>, Rejection> {
    // SAFETY: called by `errors::entry` with the fcinfo of revocation.jwt_verify(text).
    let token = unsafe { text_arg(fcinfo, 0, "token")? };
    let verified = CURRENT_DATABASE.with(|db| check(token, db))?;
    Ok(Some(jsonb_from_json_text(&verified.payload)))
}

thread_local! {
    /// A backend never changes database; looking the name up per call costs a catalog lookup.
    pub static CURRENT_DATABASE: String = current_database();
}

// revocation.jwt_verify(token text, db text) returns jsonb: the claims of a valid token, or an
// ERROR whose SQLSTATE names the reason. jwt_verify(token text) checks for the current database.
errors::raising_function!(
    revocation_jwt_verify,
    pg_finfo_revocation_jwt_verify,
    verify_body
);
errors::raising_function!(
    revocation_jwt_verify_here,
    pg_finfo_revocation_jwt_verify_here,
    verify_here_body
);

// revocation._authentic_claims(token text) returns jsonb: the claims of a token whose signature
// holds with any known key, whatever its expiry; for jwt_revoke_token.
errors::raising_function!(
    revocation_authentic_claims,
    pg_finfo_revocation_authentic_claims,
    authentic_claims_body
);

/// `revocation.jwt_check`: the verdict as a row, for a given time; never raises for a bad token.
#[pg_extern(stable, parallel_restricted, sql = false)]
fn jwt_check(
    // Bytes, not &str: pgrx would raise an internal error for text that is not UTF-8, which
    // can only arrive in a database of another encoding, refused below with its own error.
    token: Option<&[u8]>,
    db: Option<&[u8]>,
    at: Option<TimestampWithTimeZone>,
) -> TableIterator<
    'static,
    (
        name!(active, bool),
        name!(reason, Option<String>),
        name!(sqlstate, Option<String>),
        name!(message, Option<String>),
        name!(claims, Option<pgrx::JsonB>),
        name!(kid, Option<String>),
        name!(jti, Option<String>),
    ),
> {
    cache::require_utf8_database();
    let utf8 = |bytes: &[u8], name: &str| {
        std::str::from_utf8(bytes)
            .map(str::to_string)
            .map_err(|_| Rejection::new(Reason::Malformed, format!("{name} is not valid UTF-8")))
    };
    let outcome = (|| {
        let token = token.ok_or_else(|| Rejection::new(Reason::Malformed, "no token was given"))?;
        let token = utf8(token, "token")?;
        let db = match db {
            Some(db) => utf8(db, "db")?,
            None => current_database(),
        };
        match at {
            None => check(&token, &db),
            Some(ts) => check_as_of(&token, &db, cache::timestamp_to_unix(ts.into_inner())),
        }
    })();
    let row = match outcome {
        Ok(v) => (
            true,
            None,
            None,
            None,
            Some(pgrx::JsonB(serde_json::Value::Object(v.claims))),
            Some(v.kid),
            v.jti,
        ),
        Err(r) => {
            let message = match &r.detail {
                Some(detail) => format!("{}: {}", r.message, detail),
                None => r.message.clone(),
            };
            (
                false,
                Some(r.reason.name().to_string()),
                Some(r.reason.sqlstate().to_string()),
                Some(message),
                None,
                None,
                None,
            )
        }
    };
    TableIterator::once(row)
}

/// `revocation._jti_revoked(jti text) returns bool`: the in-memory revocation check alone, for
/// measuring it against a table lookup.
#[pg_extern(stable, strict, sql = false)]
fn _jti_revoked(jti: &str) -> bool {
    use crate::verification::Revocations;
    cache::current(statement_time()).revoked.jti_revoked(jti)
}

pub fn current_database() -> String {
    // SAFETY: MyDatabaseId is set for every backend that can run SQL.
    unsafe {
        let name = pg_sys::get_database_name(pg_sys::MyDatabaseId);
        std::ffi::CStr::from_ptr(name)
            .to_string_lossy()
            .into_owned()
    }
}

/// `revocation.cache_stats()`: what this backend holds.
#[allow(clippy::type_complexity)]
#[pg_extern(volatile, sql = false)]
fn cache_stats() -> TableIterator<
    'static,
    (
        name!(keys, i64),
        name!(key_loads, i64),
        name!(last_key_load_us, i64),
        name!(generation, i64),
        name!(revoked_jtis, i64),
        name!(revoked_subjects, i64),
        name!(revoked_bytes, i64),
        name!(refreshes, i64),
        name!(full_loads, i64),
        name!(last_refresh_us, i64),
    ),
> {
    // Bring the cache up to date first, so the numbers describe what a verification now sees.
    cache::current_version(statement_time());
    let s = cache::stats();
    TableIterator::once((
        s.keys as i64,
        s.key_loads as i64,
        s.last_key_load_us as i64,
        s.generation,
        s.revoked_jtis as i64,
        s.revoked_subjects as i64,
        s.revoked_bytes as i64,
        s.refreshes as i64,
        s.full_loads as i64,
        s.last_refresh_us as i64,
    ))
}
