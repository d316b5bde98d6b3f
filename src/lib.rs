//! `revocation`: verify JSON Web Tokens inside PostgreSQL, from a table of signing keys.
//!
//! This file wires the modules together; each concept has its own:
//! - [`verification`]: the verdict on one token, as plain Rust.
//! - [`keys`] and [`der`]: the rules a signing key must meet, and its in-memory form.
//! - [`jwks`]: JSON Web Key Sets in and out.
//! - [`revocation`]: the in-memory set of revoked `jti`s and subjects.
//! - [`cache`]: the per-backend copies of our tables and their invalidation.
//! - [`errors`]: rejection reasons, their SQLSTATEs, and how they are raised.
//! - [`settings`]: every `revocation.*` setting.
//! - [`oauth`]: the Google OAuth authorize URL.
//! - [`session`]: the request's token, for RLS policies and a REST gateway.
//! - [`api`], [`issuance`], [`triggers`]: what SQL calls.

use pgrx::prelude::*;

pub mod api;
pub mod cache;
pub mod der;
pub mod errors;
pub mod issuance;
pub mod jwks;
pub mod keys;
pub mod oauth;
pub mod reason;
pub mod revocation;
pub mod session;
pub mod settings;
pub mod triggers;
pub mod verification;

::pgrx::pg_module_magic!();

extension_sql_file!("../sql/tables.sql", name = "tables", bootstrap);
extension_sql_file!("../sql/finalize.sql", name = "finalize", finalize);

#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    settings::check_at_startup();
    settings::init();
    cache::init();
    session::init();
}

#[cfg(any(test, feature = "pg_test"))]
mod pg_tests;

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![]
    }
}
