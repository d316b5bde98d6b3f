//! One error path for every token that is turned away.
//!
//! Each [`Reason`] has a name (what `jwt_check` reports), a SQLSTATE of its own and a message in
//! PostgreSQL's style. The codes sit in class 28, "invalid authorization specification", so a
//! client that only looks at the class still sees an authorization failure; the subclass starts
//! with `J`, which the SQL standard leaves to implementations and PostgreSQL does not use.
//!
//! pgrx can only raise the SQLSTATEs it knows, so the entry points that raise a rejection do the
//! last step themselves: [`entry`] runs the body under pgrx's guard (a panic or a PostgreSQL error
//! inside still becomes an ordinary ERROR) and, once every Rust value is dropped, reports the
//! rejection with `ereport` from a frame that owns nothing.
//!
//! Messages and details may name a `kid` or a `jti`, shortened and stripped of control
//! characters; they never contain a key, a secret or the token.

use pgrx::pg_sys;
use std::ffi::{c_char, c_int, CString};

pub use crate::reason::{quoted, Reason, Rejection};

fn make_sqlstate(code: &str) -> c_int {
    code.bytes().enumerate().fold(0, |acc, (i, ch)| {
        acc | ((((ch as c_int) - ('0' as c_int)) & 0x3f) << (6 * i))
    })
}

// The ereport primitives. pgrx keeps its own declarations private, and they are exported by the
// server like any other function.
extern "C-unwind" {
    fn errstart(elevel: c_int, domain: *const c_char) -> bool;
    fn errcode(sqlerrcode: c_int) -> c_int;
    fn errmsg(fmt: *const c_char, ...) -> c_int;
    fn errdetail(fmt: *const c_char, ...) -> c_int;
    fn errfinish(filename: *const c_char, lineno: c_int, funcname: *const c_char);
}

/// What the guarded body of an entry point hands back: a result, or a rejection whose strings
/// live in the function's memory context. Plain data, so nothing is left to drop when the error
/// is raised.
struct Outcome {
    datum: pg_sys::Datum,
    is_null: bool,
    code: c_int,
    message: *mut c_char,
    detail: *mut c_char,
}

fn palloc_cstring(text: &str) -> *mut c_char {
    let c = CString::new(text.replace('\0', "?")).unwrap_or_default();
    // SAFETY: pstrdup copies a NUL-terminated string into CurrentMemoryContext.
    unsafe { pg_sys::pstrdup(c.as_ptr()) }
}

/// Runs the body of a SQL-callable function that can refuse a token.
///
/// The body returns the result datum (`None` for SQL NULL) or a [`Rejection`]; the rejection is
/// raised here with its own SQLSTATE.
///
/// # Safety
/// Call this only as the whole body of an `extern "C-unwind"` function that PostgreSQL calls with
/// `fcinfo`, so that the frames the error unwinds through are PostgreSQL's and this one.
#[inline(always)]
pub unsafe fn entry(
    fcinfo: pg_sys::FunctionCallInfo,
    body: fn(pg_sys::FunctionCallInfo) -> Result<Option<pg_sys::Datum>, Rejection>,
) -> pg_sys::Datum {
    // SAFETY: we are at the top of an extern "C-unwind" function and own nothing yet.
    let outcome = unsafe {
        pg_sys::panic::pgrx_extern_c_guard(|| match body(fcinfo) {
            Ok(Some(datum)) => Outcome {
                datum,
                is_null: false,
                code: 0,
                message: std::ptr::null_mut(),
                detail: std::ptr::null_mut(),
            },
            Ok(None) => Outcome {
                datum: pg_sys::Datum::from(0usize),
                is_null: true,
                code: 0,
                message: std::ptr::null_mut(),
                detail: std::ptr::null_mut(),
            },
            Err(rejection) => Outcome {
                datum: pg_sys::Datum::from(0usize),
                is_null: true,
                code: make_sqlstate(rejection.sqlstate.unwrap_or(rejection.reason.sqlstate())),
                message: palloc_cstring(&rejection.message),
                detail: rejection
                    .detail
                    .as_deref()
                    .map_or(std::ptr::null_mut(), palloc_cstring),
            },
        })
    };

    if outcome.code == 0 {
        // SAFETY: fcinfo is the live call frame PostgreSQL handed us.
        unsafe { (*fcinfo).isnull = outcome.is_null };
        return outcome.datum;
    }

    // SAFETY: nothing in this frame needs dropping; errfinish does not return at ERROR.
    unsafe {
        if errstart(pgrx::PgLogLevel::ERROR as c_int, std::ptr::null()) {
            errcode(outcome.code);
            errmsg(c"%s".as_ptr(), outcome.message);
            if !outcome.detail.is_null() {
                errdetail(c"%s".as_ptr(), outcome.detail);
            }
            errfinish(
                c"errors.rs".as_ptr(),
                line!() as c_int,
                c"revocation".as_ptr(),
            );
        }
        unreachable!("errstart at ERROR level always reports")
    }
}

/// Defines the C symbol of a SQL function whose body may refuse a token, and its info
/// function: `raising_function!(symbol, pg_finfo_symbol, body)`.
macro_rules! raising_function {
    ($symbol:ident, $finfo:ident, $body:path) => {
        /// # Safety
        /// Called by PostgreSQL's function manager only.
        #[no_mangle]
        pub unsafe extern "C-unwind" fn $symbol(
            fcinfo: pgrx::pg_sys::FunctionCallInfo,
        ) -> pgrx::pg_sys::Datum {
            // SAFETY: this is the whole body of the function PostgreSQL calls.
            unsafe { $crate::errors::entry(fcinfo, $body) }
        }

        #[no_mangle]
        pub extern "C" fn $finfo() -> &'static pgrx::pg_sys::Pg_finfo_record {
            const V1: pgrx::pg_sys::Pg_finfo_record =
                pgrx::pg_sys::Pg_finfo_record { api_version: 1 };
            &V1
        }
    };
}
pub(crate) use raising_function;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstate_packs_like_postgres() {
        // ERRCODE_INVALID_PASSWORD is MAKE_SQLSTATE('2','8','P','0','1').
        let expected = 2 | (8 << 6) | ((('P' as c_int - '0' as c_int) & 0x3f) << 12) | (1 << 24);
        assert_eq!(make_sqlstate("28P01"), expected);
    }
}
