//! Triggers on our tables: keep weak keys out, and tell every backend that a table changed.

use crate::errors::quoted;
use crate::keys::{Material, RawKey};
use pgrx::datum::TimestampWithTimeZone;
use pgrx::datum::TryFromDatumError;
use pgrx::pg_sys;
use pgrx::prelude::*;

/// BEFORE INSERT OR UPDATE on `revocation.signing_keys`: the rules of `jwt_add_key` for every
/// row, however it arrives.
#[pg_trigger(sql = false)]
fn _check_signing_key<'a>(
    trigger: &'a PgTrigger<'a>,
) -> Result<Option<PgHeapTuple<'a, AllocatedByPostgres>>, PgHeapTupleError> {
    crate::cache::require_utf8_database();
    let Some(new) = trigger.new() else {
        return Ok(None);
    };
    let column = |name: &str| -> Option<String> {
        new.get_by_name(name)
            .unwrap_or_else(|e| error!("cannot read column {name}: {e}"))
    };
    // The table's own constraints would report a failure with the whole row, secret included;
    // check what they check first, with messages that name only the kid.
    let kid = column("kid").unwrap_or_default();
    if kid.is_empty() || kid.len() > 256 {
        ereport!(
            ERROR,
            PgSqlErrorCode::ERRCODE_CHECK_VIOLATION,
            "a kid must have between 1 and 256 bytes"
        );
    }
    let time = |name: &str| -> Option<pgrx::datum::TimestampWithTimeZone> {
        new.get_by_name(name)
            .unwrap_or_else(|e| error!("cannot read column {name}: {e}"))
    };
    let alg = column("alg");
    let present = [
        ("alg", alg.is_some()),
        ("usable_from", time("usable_from").is_some()),
        ("created_at", time("created_at").is_some()),
    ];
    for (required, present) in present {
        if !present {
            ereport!(
                ERROR,
                PgSqlErrorCode::ERRCODE_NOT_NULL_VIOLATION,
                format!("signing key {}: {required} must not be null", quoted(&kid))
            );
        }
    }
    let alg = alg.unwrap_or_default();
    if let Some(old) = trigger.old() {
        // A retirement is only ever brought forward: a compromised key must not come back.
        let before: Option<pgrx::datum::TimestampWithTimeZone> = old
            .get_by_name("retired_at")
            .unwrap_or_else(|e| error!("{e}"));
        let after = time("retired_at");
        if let Some(before) = before {
            if after.is_none_or(|after| after > before) {
                ereport!(
                    ERROR,
                    PgSqlErrorCode::ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION,
                    format!(
                        "signing key {} is retired; its retirement cannot be undone or delayed",
                        quoted(&kid)
                    ),
                    "Add the key again under a new kid to use it again."
                );
            }
        }
    }
    let public_key = column("public_key");
    let private_key = column("private_key");
    let secret: Option<&[u8]> = new
        .get_by_name("secret")
        .unwrap_or_else(|e| error!("cannot read column secret: {e}"));
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
    crate::cache::require_utf8_database();
    let relid = trigger.relid().unwrap_or_else(|e| error!("{e}"));
    // SAFETY: queues a message in the current transaction; no other effect until commit.
    unsafe { pg_sys::CacheInvalidateRelcacheByRelid(relid) };
    crate::cache::note_own_write();
    Ok(None)
}

/// BEFORE INSERT OR UPDATE on the revocation tables: the next generation number, taken under
/// the counter row's lock (so numbers follow commit order), and the revoking role. A revoked
/// jti's audit columns never change; a subject's record says who moved its cut-off last, and
/// when.
#[pg_trigger(sql = false)]
fn _stamp_revocation<'a>(
    trigger: &'a PgTrigger<'a>,
) -> Result<Option<PgHeapTuple<'a, AllocatedByRust>>, PgHeapTupleError> {
    crate::cache::require_utf8_database();
    let fail = |e: &dyn std::fmt::Display| -> ! { error!("revocation trigger: {e}") };
    let mut new = trigger
        .new()
        .unwrap_or_else(|| fail(&"no new row"))
        .into_owned();
    let table = trigger.table_name().unwrap_or_else(|e| fail(&e));
    let updating = trigger.event().fired_by_update();
    let role = current_role();

    if updating {
        let old = trigger
            .old()
            .unwrap_or_else(|| fail(&"no old row"))
            .into_owned();
        let (key, what, hint) = if table == "invalidated_tokens" {
            (
                "jti",
                "a revocation",
                "The audit trail never moves; revoke under a new jti instead.",
            )
        } else {
            (
                "sub",
                "a subject's revocation",
                "The history never moves; jwt_revoke_subject adds a later cut-off as a new row.",
            )
        };
        let times: &[&'static str] = if key == "sub" {
            &["issued_before", "invalidated_at"]
        } else {
            &["invalidated_at"]
        };
        let mut changed = frozen_column(&old, &new, &[key, "revoked_by"], times);
        if key == "jti" {
            // An expiry may be learned or extended, never shortened: a shorter one would let
            // the entry be dropped from memory while tokens with this jti are still alive.
            let expiry = |row: &PgHeapTuple<'_, AllocatedByRust>| -> Option<TimestampWithTimeZone> {
                row.get_by_name("expires_at").unwrap_or_else(|e| fail(&e))
            };
            changed = changed.or(match (expiry(&old), expiry(&new)) {
                (None, Some(_)) => Some("expires_at"),
                (Some(before), Some(after)) if after < before => Some("expires_at"),
                _ => None,
            });
        }
        if let Some(column) = changed {
            ereport!(
                ERROR,
                PgSqlErrorCode::ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION,
                format!("column {column} of {what} cannot change"),
                hint
            );
        }
    } else if new
        .get_by_name::<String>("revoked_by")
        .unwrap_or_else(|e| fail(&e))
        .is_none()
    {
        // A restore supplies the original role; a revoker cannot (no column privilege).
        new.set_by_name("revoked_by", role)
            .unwrap_or_else(|e| fail(&e));
    }

    let seq = generation_of_this_transaction();
    new.set_by_name("seq", seq).unwrap_or_else(|e| fail(&e));
    Ok(Some(new))
}

/// The first of the given text and timestamptz columns whose value differs between two rows.
fn frozen_column(
    old: &PgHeapTuple<'_, AllocatedByRust>,
    new: &PgHeapTuple<'_, AllocatedByRust>,
    text_columns: &[&'static str],
    time_columns: &[&'static str],
) -> Option<&'static str> {
    let read = |e: TryFromDatumError| -> ! { error!("revocation trigger: {e}") };
    let text_changed = |c: &str| {
        old.get_by_name::<String>(c).unwrap_or_else(|e| read(e))
            != new.get_by_name::<String>(c).unwrap_or_else(|e| read(e))
    };
    let time_changed = |c: &str| {
        old.get_by_name::<TimestampWithTimeZone>(c)
            .unwrap_or_else(|e| read(e))
            != new
                .get_by_name::<TimestampWithTimeZone>(c)
                .unwrap_or_else(|e| read(e))
    };
    text_columns
        .iter()
        .copied()
        .find(|c| text_changed(c))
        .or_else(|| time_columns.iter().copied().find(|c| time_changed(c)))
}

fn current_role() -> String {
    // SAFETY: GetUserNameFromId with noerr = false raises for an unknown role.
    unsafe {
        let name = pg_sys::GetUserNameFromId(pg_sys::GetUserId(), false);
        std::ffi::CStr::from_ptr(name)
            .to_string_lossy()
            .into_owned()
    }
}

thread_local! {
    /// The generation number this transaction took; every revocation row it writes gets it.
    static TAKEN: std::cell::Cell<Option<i64>> = const { std::cell::Cell::new(None) };
}

/// The number for a row written by this transaction. The first row takes the next number with
/// an UPDATE of the counter row, whose lock is then held until the transaction ends; the rest
/// share it. That keeps the numbers in commit order (a refresh that has seen N can never miss a
/// row numbered N or less), and a restore of a million rows costs one UPDATE, not a million
/// versions of one row, each found by walking the chain of the ones before.
///
/// The number is forgotten when the transaction ends and when any subtransaction aborts: if the
/// one that took it aborts, its lock is gone, another revoker may take the same number and
/// commit first, and a later row of ours must take a new one.
fn generation_of_this_transaction() -> i64 {
    if let Some(seq) = TAKEN.get() {
        return seq;
    }
    let seq = next_generation();
    TAKEN.set(Some(seq));
    seq
}

/// Called at the end of every transaction and subtransaction abort.
pub fn forget_generation() {
    TAKEN.set(None);
}

/// Takes the next generation number. The UPDATE holds the counter row's lock until this
/// transaction ends, so a concurrent revoker waits, and numbers are handed out in commit order.
fn next_generation() -> i64 {
    let rel = crate::cache::relid(c"generation");
    crate::cache::as_owner(rel, || {
        Spi::connect_mut(|client| {
            client
                .update(
                    "UPDATE revocation.generation \
                     SET generation = generation OPERATOR(pg_catalog.+) 1 RETURNING generation",
                    None,
                    &[],
                )?
                .first()
                .get_one::<i64>()
        })
    })
    .unwrap_or_else(|e| error!("cannot take the next generation number: {e}"))
    .unwrap_or_else(|| error!("revocation.generation has no row; reinstall the extension"))
}
