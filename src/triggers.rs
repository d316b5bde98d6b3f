//! Triggers on our tables: keep weak keys out, and tell every backend that a table changed.

use crate::errors::quoted;
use crate::keys::{Material, RawKey};
use pgrx::prelude::*;
use pgrx::pg_sys;

/// BEFORE INSERT OR UPDATE on `revocation.signing_keys`: the rules of `jwt_add_key` for every
/// row, however it arrives.
#[pg_trigger(sql = false)]
fn _check_signing_key<'a>(
    trigger: &'a PgTrigger<'a>,
) -> Result<Option<PgHeapTuple<'a, AllocatedByPostgres>>, PgHeapTupleError> {
    let Some(new) = trigger.new() else {
        return Ok(None);
    };
    let column = |name: &str| -> Option<String> {
        new.get_by_name(name).unwrap_or_else(|e| error!("cannot read column {name}: {e}"))
    };
    let kid = column("kid").unwrap_or_default();
    let alg = column("alg").unwrap_or_default();
    let public_key = column("public_key");
    let private_key = column("private_key");
    let secret: Option<&[u8]> =
        new.get_by_name("secret").unwrap_or_else(|e| error!("cannot read column secret: {e}"));
    let raw = RawKey {
        secret,
        public_key: public_key.as_deref(),
        private_key: private_key.as_deref(),
    };
    if let Err(why) = Material::parse(&alg, raw) {
        ereport!(
            ERROR,
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("signing key {} is refused: {why}", quoted(&kid))
        );
    }
    Ok(Some(new))
}

/// AFTER ... FOR EACH STATEMENT on our tables: queue a relcache invalidation for the table,
/// which every backend (and every hot standby) receives when this transaction commits.
#[pg_trigger(sql = false)]
fn _table_changed<'a>(
    trigger: &'a PgTrigger<'a>,
) -> Result<Option<PgHeapTuple<'a, AllocatedByPostgres>>, PgHeapTupleError> {
    let relid = trigger.relid().unwrap_or_else(|e| error!("{e}"));
    // SAFETY: queues a message in the current transaction; no other effect until commit.
    unsafe { pg_sys::CacheInvalidateRelcacheByRelid(relid) };
    Ok(None)
}
