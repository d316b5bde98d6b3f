//! `jwt_sign`: tokens from the key table.
//!
//! Signing is not on any hot path, so it reads the key it needs afresh on every call instead of
//! keeping private keys in the verifier's cache.

use crate::cache::{self, KeyRow};
use crate::keys::{alg_name, base64_url_encode as b64url, Material};
use pgrx::datum::Interval;
use pgrx::prelude::*;
use pgrx::{pg_sys, JsonB};
use serde_json::{Map, Value};

fn invalid(message: String) -> ! {
    ereport!(
        ERROR,
        PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
        message
    );
}

fn no_key(message: String) -> ! {
    ereport!(
        ERROR,
        PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
        message
    );
}

/// A random `jti`: 128 bits from the server's strong random source, base64url.
fn new_jti() -> String {
    let mut bytes = [0u8; 16];
    // SAFETY: fills exactly the buffer we pass.
    if !unsafe { pg_sys::pg_strong_random(bytes.as_mut_ptr().cast(), bytes.len()) } {
        error!("could not generate a random jti");
    }
    b64url(&bytes)
}

/// `revocation.jwt_sign(claims jsonb, kid text, lifetime interval) returns text`
#[pg_extern(volatile, sql = false)]
fn jwt_sign(
    claims: Option<JsonB>,
    kid: Option<&str>,
    lifetime: Option<Interval>,
    dbs: Option<Vec<Option<String>>>,
) -> String {
    let Some(Value::Object(mut claims)) = claims.map(|c| c.0) else {
        invalid("claims must be a JSON object".into());
    };
    let now = crate::api::statement_time();

    let lifetime = match lifetime {
        None => crate::settings::token_lifetime_seconds() as f64,
        Some(interval) => {
            let micros = interval.as_micros();
            if micros <= 0 {
                invalid("lifetime must be positive".into());
            }
            micros as f64 / 1_000_000.0
        }
    };
    if let Some(dbs) = dbs {
        // Scoped at issuance: the token may reach these databases only.
        let names: Vec<String> = dbs
            .into_iter()
            .flatten()
            .filter(|d| !d.is_empty())
            .collect();
        if names.is_empty() {
            invalid("dbs must list at least one database".into());
        }
        claims.insert(
            crate::settings::databases_claim().into(),
            Value::from(names),
        );
    }
    claims
        .entry("jti")
        .or_insert_with(|| Value::from(new_jti()));
    claims
        .entry("iat")
        .or_insert_with(|| Value::from(now.floor() as i64));
    if !claims.contains_key("exp") {
        claims.insert(
            "exp".into(),
            Value::from((now.floor() + lifetime).ceil() as i64),
        );
    }
    check_claims(&claims);

    let key = signing_key(kid, now);
    let material = Material::parse(&key.alg, key.raw()).unwrap_or_else(|why| {
        no_key(format!(
            "signing key {} is not valid: {why}",
            crate::errors::quoted(&key.kid)
        ))
    });
    let Some(signer) = material.signer.as_ref() else {
        no_key(format!(
            "signing key {} has no private key; it can only verify",
            crate::errors::quoted(&key.kid)
        ));
    };

    let mut header = Map::new();
    header.insert("alg".into(), Value::from(alg_name(material.alg)));
    header.insert("kid".into(), Value::from(key.kid.clone()));
    header.insert("typ".into(), Value::from("JWT"));
    let signing_input = format!(
        "{}.{}",
        b64url(Value::Object(header).to_string().as_bytes()),
        b64url(Value::Object(claims).to_string().as_bytes())
    );
    let signature = jsonwebtoken::crypto::sign(signing_input.as_bytes(), signer, material.alg)
        .unwrap_or_else(|e| error!("signing failed: {e}"));
    format!("{signing_input}.{signature}")
}

/// What we sign must be something `jwt_verify` could accept: the same claim rules.
fn check_claims(claims: &Map<String, Value>) {
    let policy = crate::verification::Policy {
        leeway: 0.0,
        require_jti: false,
        audience: None,
        issuer: None,
        max_bytes: usize::MAX,
        databases_claim: crate::settings::databases_claim(),
        databases_claim_required: false,
    };
    if let Err(rejection) = crate::verification::check_claim_types(claims, &policy) {
        match rejection.detail {
            Some(detail) => invalid(format!("{}: {detail}", rejection.message)),
            None => invalid(rejection.message),
        }
    }
}

/// The named key, or else the newest key in use that can sign.
fn signing_key(kid: Option<&str>, now: f64) -> KeyRow {
    let all = cache::key_rows(true);
    let in_use = |c: &KeyRow| crate::keys::in_window(c.usable_from, c.retired_at, now);

    if let Some(kid) = kid {
        let Some(key) = all.into_iter().find(|c| c.kid == kid) else {
            no_key(format!(
                "unknown signing key {}",
                crate::errors::quoted(kid)
            ));
        };
        // A key with a retirement time, even a future one, has been superseded: it only verifies.
        if !in_use(&key) || key.retired_at.is_some() {
            no_key(format!(
                "signing key {} is retired or not yet in use; such a key only verifies",
                crate::errors::quoted(kid)
            ));
        }
        return key;
    }
    all.into_iter()
        .filter(|c| {
            in_use(c) && c.retired_at.is_none() && (c.secret.is_some() || c.private_key.is_some())
        })
        .max_by(|a, b| {
            (a.usable_from, a.created_at, &a.kid)
                .partial_cmp(&(b.usable_from, b.created_at, &b.kid))
                .unwrap_or(std::cmp::Ordering::Equal)
        })
        .unwrap_or_else(|| {
            no_key("no signing key with a secret or private key is in use and unretired".into())
        })
}

/// `revocation.jwt_validate_keys()`: every row of the key table that breaks a rule, and why.
#[pg_extern(volatile, sql = false)]
fn jwt_validate_keys() -> TableIterator<'static, (name!(kid, String), name!(problem, String))> {
    let mut problems: Vec<(String, String)> = cache::key_rows(true)
        .into_iter()
        .filter_map(|row| {
            Material::parse(&row.alg, row.raw())
                .err()
                .map(|why| (row.kid, why))
        })
        .collect();
    problems.sort();
    TableIterator::new(problems)
}
