//! Every `revocation.*` setting, in one place, with a typed accessor.
//!
//! The settings that decide whether a token is accepted (leeway, audience, issuer, size limit)
//! are `SUSET`: a session that may hand us a token must not also be able to widen what we accept.
//! A superuser sets them in `postgresql.conf`, per database with `ALTER DATABASE ... SET`, or per
//! role.

use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting};
use std::ffi::{CStr, CString};

static LEEWAY: GucSetting<i32> = GucSetting::<i32>::new(30);
static AUDIENCE: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
static ISSUER: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
static MAX_TOKEN_BYTES: GucSetting<i32> = GucSetting::<i32>::new(16 * 1024);
static TOKEN_LIFETIME: GucSetting<i32> = GucSetting::<i32>::new(3600);
static REQUIRE_JTI: GucSetting<bool> = GucSetting::<bool>::new(true);
static DATABASES_CLAIM: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(c"dbs"));
static LEGACY_SECRETS: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
static TOKEN_SETTING: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(c"request.token"));

/// The largest leeway we allow: clocks that disagree by more than this are a fault to fix.
pub const MAX_LEEWAY_SECONDS: i32 = 300;

pub const LEGACY_SECRETS_NAME: &CStr = c"revocation.legacy_secrets";

/// Refuses a bad `revocation.legacy_secrets` before it takes effect: at start-up the server does
/// not start, and on reload the old value stays in force.
#[pgrx::pg_guard]
unsafe extern "C-unwind" fn check_legacy_secrets(
    newval: *mut *mut std::ffi::c_char,
    _extra: *mut *mut std::ffi::c_void,
    _source: pgrx::pg_sys::GucSource::Type,
) -> bool {
    // SAFETY: PostgreSQL passes a valid pointer to the proposed value (which may be NULL).
    let value = unsafe { (*newval).as_ref().map(|p| CStr::from_ptr(p)) };
    let text = value
        .map(|v| v.to_string_lossy().into_owned())
        .unwrap_or_default();
    match crate::keys::parse_legacy_secrets(&text) {
        Ok(_) => true,
        Err(why) => {
            let detail = CString::new(why).unwrap_or_default();
            // SAFETY: PostgreSQL reads and frees these after the hook returns.
            unsafe {
                pgrx::pg_sys::GUC_check_errcode(
                    pgrx::PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE as i32,
                );
                pgrx::pg_sys::GUC_check_errdetail_string = pgrx::pg_sys::pstrdup(detail.as_ptr());
                // Our own message, so PostgreSQL does not quote the value (the secrets) in it.
                pgrx::pg_sys::GUC_check_errmsg_string = pgrx::pg_sys::pstrdup(
                    c"invalid value for parameter \"revocation.legacy_secrets\"".as_ptr(),
                );
            }
            false
        }
    }
}

/// With the library in shared_preload_libraries, validates the configured legacy secrets while
/// the postmaster starts, so a weak one stops the start-up before any connection is accepted.
/// (PostgreSQL itself would only warn and drop the value.)
pub fn check_at_startup() {
    // SAFETY: reads a flag and the placeholder value PostgreSQL holds for our setting.
    let preloading = unsafe { pgrx::pg_sys::process_shared_preload_libraries_in_progress };
    if !preloading {
        return;
    }
    PRELOADED.store(true, std::sync::atomic::Ordering::Relaxed);
    let raw = unsafe { pgrx::pg_sys::GetConfigOption(LEGACY_SECRETS_NAME.as_ptr(), true, false) };
    if raw.is_null() {
        return;
    }
    let text = unsafe { CStr::from_ptr(raw) }
        .to_string_lossy()
        .into_owned();
    if let Err(why) = crate::keys::parse_legacy_secrets(&text) {
        pgrx::ereport!(
            pgrx::PgLogLevel::FATAL,
            pgrx::PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            "invalid value for parameter \"revocation.legacy_secrets\"",
            why
        );
    }
}

/// Whether the library was loaded by shared_preload_libraries (in the postmaster).
static PRELOADED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The raw legacy secrets setting, for noticing that it changed. Empty unless the library is
/// preloaded: before our setting is defined PostgreSQL holds it as a placeholder that any role
/// can read, so secrets configured for a library loaded later are refused, not used.
pub fn legacy_secrets_raw() -> &'static [u8] {
    let value = borrowed(&LEGACY_SECRETS).unwrap_or(b"");
    if !value.is_empty() && !PRELOADED.load(std::sync::atomic::Ordering::Relaxed) {
        static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
        if !WARNED.swap(true, std::sync::atomic::Ordering::Relaxed) {
            pgrx::warning!(
                "revocation.legacy_secrets is ignored: it is used only with revocation in \
                 shared_preload_libraries, where no other role can read it"
            );
        }
        return b"";
    }
    value
}

pub fn init() {
    // SAFETY: the hook is a #[pg_guard] function that lives as long as the library.
    unsafe {
        GucRegistry::define_string_guc_with_hooks(
            LEGACY_SECRETS_NAME,
            c"HS256/384/512 shared secrets from before the key table, for tokens without a kid.",
            c"Comma-separated base64 secrets, each optionally prefixed HS384: or HS512:. \
              Checked at start-up and on reload.",
            &LEGACY_SECRETS,
            GucContext::Sighup,
            GucFlags::SUPERUSER_ONLY,
            Some(check_legacy_secrets),
            None,
            None,
        );
    }
    GucRegistry::define_int_guc(
        c"revocation.leeway",
        c"Clock skew, in seconds, allowed when checking exp, nbf and iat.",
        c"At most 300 seconds.",
        &LEEWAY,
        0,
        MAX_LEEWAY_SECONDS,
        GucContext::Suset,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_string_guc(
        c"revocation.audience",
        c"Audience a token must name in its aud claim; empty means aud is not checked.",
        c"",
        &AUDIENCE,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"revocation.issuer",
        c"Issuer a token must name in its iss claim; empty means iss is not checked.",
        c"",
        &ISSUER,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"revocation.max_token_bytes",
        c"Longest token, in bytes, that is decoded at all.",
        c"Longer tokens are refused before any decoding.",
        &MAX_TOKEN_BYTES,
        256,
        1024 * 1024,
        GucContext::Suset,
        GucFlags::UNIT_BYTE,
    );
    GucRegistry::define_bool_guc(
        c"revocation.require_jti",
        c"Refuse tokens without a jti claim, which could not be revoked one by one.",
        c"",
        &REQUIRE_JTI,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"revocation.databases_claim",
        c"Name of the claim that lists the databases a token may reach.",
        c"",
        &DATABASES_CLAIM,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"revocation.token_setting",
        c"Session setting from which revocation.claims() reads the raw token.",
        c"The client sets it, for example with set_config('request.token', token, true).",
        &TOKEN_SETTING,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"revocation.token_lifetime",
        c"Lifetime, in seconds, that jwt_sign gives a token without an exp claim.",
        c"",
        &TOKEN_LIFETIME,
        1,
        366 * 24 * 3600,
        GucContext::Userset,
        GucFlags::UNIT_S,
    );
}

pub fn require_jti() -> bool {
    REQUIRE_JTI.get()
}

pub fn leeway_seconds() -> f64 {
    LEEWAY.get() as f64
}

pub fn max_token_bytes() -> usize {
    MAX_TOKEN_BYTES.get() as usize
}

pub fn token_lifetime_seconds() -> i64 {
    TOKEN_LIFETIME.get() as i64
}

/// Reads a string setting without copying it; empty counts as unset.
///
/// Bytes, not `str`: a value that is not UTF-8 then simply matches no claim, rather than being
/// mistaken for "unset".
fn borrowed(setting: &'static GucSetting<Option<CString>>) -> Option<&'static [u8]> {
    // SAFETY: PostgreSQL owns the string and replaces the pointer, never the bytes, when the
    // setting changes; we only read it during the current call.
    let raw = unsafe { *setting.as_ptr() };
    if raw.is_null() {
        return None;
    }
    let value = unsafe { CStr::from_ptr(raw) }.to_bytes();
    (!value.is_empty()).then_some(value)
}

/// The allowlist claim's name; "dbs" unless configured (an empty value also means "dbs").
pub fn databases_claim() -> &'static str {
    borrowed(&DATABASES_CLAIM)
        .and_then(|b| std::str::from_utf8(b).ok())
        .unwrap_or("dbs")
}

/// The name of the session setting that carries the request's token.
pub fn token_setting() -> &'static CStr {
    // SAFETY: see `borrowed`.
    let raw = unsafe { *TOKEN_SETTING.as_ptr() };
    if raw.is_null() {
        c"request.token"
    } else {
        unsafe { CStr::from_ptr(raw) }
    }
}

pub fn expected_audience() -> Option<&'static [u8]> {
    borrowed(&AUDIENCE)
}

pub fn expected_issuer() -> Option<&'static [u8]> {
    borrowed(&ISSUER)
}
