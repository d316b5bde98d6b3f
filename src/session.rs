//! The current request's token, for row-level security and for a REST gateway in front of the
//! database.
//!
//! `claims()` and `subject()` read the raw token from the session setting named by
//! `revocation.token_setting` and verify it fully, so a client that sets a forged value gains
//! nothing. A policy evaluated on every row would verify the same token a million times; instead
//! the last verdict is kept, keyed on everything it depends on: the token, the database, every
//! setting that takes part, the cache version (which moves whenever keys, revocations or
//! database policies are reloaded) and the window of time in which the token's time claims hold.
//! Only successes are kept: a refusal raises an ERROR, which ends the statement anyway. Within
//! one statement the first answer stands (the functions are STABLE, which promises exactly
//! that), so a policy evaluated on every row costs a comparison of two numbers per row.

use crate::api::{self, statement_time};
use crate::cache;
use crate::errors::{self, Reason, Rejection};
use crate::verification::Policy;
use pgrx::pg_sys;
use serde_json::Value;
use std::cell::RefCell;
use std::ffi::CStr;

/// The last successful verdict of this backend.
struct Verdict {
    /// The statement it was last confirmed in: within one statement a STABLE function's answer
    /// for the same token does not change, so the full comparison is skipped.
    statement: (u64, u32),
    /// Whether the token came from the session setting (not from request headers).
    from_setting: bool,
    token: Vec<u8>,
    db: String,
    version: u64,
    leeway: f64,
    require_jti: bool,
    audience: Option<Vec<u8>>,
    issuer: Option<Vec<u8>>,
    max_bytes: usize,
    databases_claim: String,
    databases_claim_required: bool,
    /// The token's time claims hold for statement times in `valid_from .. valid_until`.
    valid_from: f64,
    valid_until: f64,
    payload: Vec<u8>,
    sub: Option<String>,
}

impl Verdict {
    fn holds(&self, token: &[u8], db: &str, version: u64, policy: &Policy<'_>, now: f64) -> bool {
        self.version == version
            && self.valid_from <= now
            && now < self.valid_until
            && self.token == token
            && self.db == db
            && self.leeway == policy.leeway
            && self.require_jti == policy.require_jti
            && self.audience.as_deref() == policy.audience
            && self.issuer.as_deref() == policy.issuer
            && self.max_bytes == policy.max_bytes
            && self.databases_claim == policy.databases_claim
            && self.databases_claim_required == policy.databases_claim_required
    }
}

thread_local! {
    static LAST: RefCell<Option<Verdict>> = const { RefCell::new(None) };
}

/// The raw token in the session setting, if one is set and not empty.
fn request_token() -> Option<&'static [u8]> {
    // SAFETY: GetConfigOption returns PostgreSQL's own copy of the value (or NULL), valid until
    // the setting changes, which cannot happen during this call.
    let raw =
        unsafe { pg_sys::GetConfigOption(crate::settings::token_setting().as_ptr(), true, false) };
    if raw.is_null() {
        return None;
    }
    let value = unsafe { CStr::from_ptr(raw) }.to_bytes();
    (!value.is_empty()).then_some(value)
}

/// Counts executor starts in this backend. Every statement, including each statement of a
/// multi-statement query string, starts the executor; the rows of one scan do not. So an
/// unchanged count means "still the same statement".
static mut EXECUTOR_STARTS: u64 = 0;
static mut PREVIOUS_EXECUTOR_START: pg_sys::ExecutorStart_hook_type = None;

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn count_executor_start(query: *mut pg_sys::QueryDesc, eflags: i32) {
    // SAFETY: backends are single-threaded; the previous hook is the one we replaced.
    unsafe {
        EXECUTOR_STARTS = EXECUTOR_STARTS.wrapping_add(1);
        match PREVIOUS_EXECUTOR_START {
            Some(previous) => previous(query, eflags),
            None => pg_sys::standard_ExecutorStart(query, eflags),
        }
    }
}

pub fn init() {
    // SAFETY: called once from _PG_init, which chains to any hook already installed.
    unsafe {
        PREVIOUS_EXECUTOR_START = pg_sys::ExecutorStart_hook;
        pg_sys::ExecutorStart_hook = Some(count_executor_start);
    }
}

/// The current statement: the executor-start count and the local transaction it runs in.
fn statement() -> (u64, u32) {
    // SAFETY: plain reads of backend-local state.
    unsafe { (EXECUTOR_STARTS, (*pg_sys::MyProc).lxid) }
}

/// Runs `f` on the verdict for `token` in the current database, verifying only when the last
/// verdict does not hold.
fn with_verdict<R>(
    token: &[u8],
    from_setting: bool,
    f: impl FnOnce(&Verdict) -> R,
) -> Result<R, Rejection> {
    let now = statement_time();
    let current = cache::current(now);
    let version = current.version;
    api::CURRENT_DATABASE.with(|db| {
        let policy = api::policy(&current, db);
        let hit = LAST.with(|last| {
            last.borrow()
                .as_ref()
                .is_some_and(|v| v.holds(token, db, version, &policy, now))
        });
        if hit {
            LAST.with(|last| {
                if let Some(v) = last.borrow_mut().as_mut() {
                    v.statement = self::statement();
                    v.from_setting = from_setting;
                }
            });
        } else {
            let text = std::str::from_utf8(token)
                .map_err(|_| Rejection::new(Reason::Malformed, "token is not valid UTF-8"))?;
            let verified = api::check(text, db)?;
            let time = |name: &str| verified.claims.get(name).and_then(Value::as_f64);
            let valid_from = [time("nbf"), time("iat")]
                .into_iter()
                .flatten()
                .fold(f64::NEG_INFINITY, f64::max)
                - policy.leeway;
            let verdict = Verdict {
                // Read after verifying: a refresh runs queries, which start the executor.
                statement: self::statement(),
                from_setting,
                token: token.to_vec(),
                db: db.clone(),
                version,
                leeway: policy.leeway,
                require_jti: policy.require_jti,
                audience: policy.audience.map(<[u8]>::to_vec),
                issuer: policy.issuer.map(<[u8]>::to_vec),
                max_bytes: policy.max_bytes,
                databases_claim: policy.databases_claim.to_string(),
                databases_claim_required: policy.databases_claim_required,
                valid_from,
                // Until the token expires, or its key retires, whichever comes first.
                valid_until: (verified.exp + policy.leeway).min(verified.key_retired_at),
                sub: verified
                    .claims
                    .get("sub")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                payload: verified.payload,
            };
            LAST.with(|last| *last.borrow_mut() = Some(verdict));
        }
        Ok(LAST.with(|last| f(last.borrow().as_ref().expect("a verdict was just stored"))))
    })
}

/// Runs `f` on the verdict for the request's token: the one already confirmed in this
/// statement if there is one (a STABLE function gives one answer per statement, and this is
/// what keeps a per-row policy cheap), else after reading the setting and checking.
fn with_request_verdict<R>(f: impl FnOnce(&Verdict) -> R) -> Result<Option<R>, Rejection> {
    let statement = statement();
    let mut f = Some(f);
    let cached = LAST.with(|last| {
        let last = last.borrow();
        let v = last
            .as_ref()
            .filter(|v| v.statement == statement && v.from_setting)?;
        Some((f.take().expect("f is used once"))(v))
    });
    if cached.is_some() {
        return Ok(cached);
    }
    let Some(token) = request_token() else {
        return Ok(None);
    };
    with_verdict(token, true, f.take().expect("f is used once")).map(Some)
}

fn claims_body(_fcinfo: pg_sys::FunctionCallInfo) -> Result<Option<pg_sys::Datum>, Rejection> {
    with_request_verdict(|v| api::jsonb_from_json_text(&v.payload))
}

fn subject_body(_fcinfo: pg_sys::FunctionCallInfo) -> Result<Option<pg_sys::Datum>, Rejection> {
    let sub = with_request_verdict(|v| {
        v.sub.as_deref().map(|sub| {
            // SAFETY: copies the bytes into a new text datum in the current memory context.
            let text =
                unsafe { pg_sys::cstring_to_text_with_len(sub.as_ptr().cast(), sub.len() as i32) };
            pg_sys::Datum::from(text)
        })
    })?;
    Ok(sub.flatten())
}

/// The bearer token of the request a PostgREST-style gateway is serving: it puts the request's
/// headers, names in lower case, as a JSON object into the setting `request.headers`.
fn bearer_token() -> Result<Option<String>, Rejection> {
    // SAFETY: as in request_token.
    let raw = unsafe { pg_sys::GetConfigOption(c"request.headers".as_ptr(), true, false) };
    if raw.is_null() {
        return Ok(None);
    }
    let headers = unsafe { CStr::from_ptr(raw) }.to_bytes();
    if headers.is_empty() {
        return Ok(None);
    }
    let unauthorized = |message: &str| Rejection::new(Reason::Malformed, message);
    let headers: Value = serde_json::from_slice(headers)
        .map_err(|_| unauthorized("request.headers is not a JSON object"))?;
    let Some(value) = headers.get("authorization") else {
        return Ok(None);
    };
    let value = value
        .as_str()
        .ok_or_else(|| unauthorized("the Authorization header is not a string"))?;
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
            Ok(Some(token.trim().to_string()))
        }
        _ => Err(unauthorized(
            "the Authorization header is not a Bearer token",
        )),
    }
}

fn pre_request_body(_fcinfo: pg_sys::FunctionCallInfo) -> Result<Option<pg_sys::Datum>, Rejection> {
    let outcome = match bearer_token() {
        Ok(None) => Ok(()),
        Ok(Some(token)) => with_verdict(token.as_bytes(), false, |_| ()),
        Err(rejection) => Err(rejection),
    };
    match outcome {
        Ok(()) => Ok(Some(pg_sys::Datum::from(0usize))),
        Err(mut rejection) => {
            // PostgREST answers a PT401 error with HTTP 401; the reason stays in the detail.
            let reason = format!(
                "Reason: {} (SQLSTATE {}).",
                rejection.reason.name(),
                rejection.reason.sqlstate()
            );
            rejection.detail = Some(match rejection.detail.take() {
                Some(detail) => format!("{reason} {detail}"),
                None => reason,
            });
            rejection.sqlstate = Some("PT401");
            Err(rejection)
        }
    }
}

errors::raising_function!(revocation_claims, pg_finfo_revocation_claims, claims_body);
errors::raising_function!(
    revocation_subject,
    pg_finfo_revocation_subject,
    subject_body
);
errors::raising_function!(
    revocation_postgrest_pre_request,
    pg_finfo_revocation_postgrest_pre_request,
    pre_request_body
);
