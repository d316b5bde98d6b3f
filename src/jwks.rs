//! JSON Web Key Sets (RFC 7517) in and out: the public keys for services outside the database,
//! and an identity provider's keys into the key table.
//!
//! Import is strict and all or nothing: a key is refused when it has no `kid` or `alg`, when its
//! `alg` does not fit its type or curve, when `use` is anything but `sig`, when it is symmetric
//! (`oct`: a shared secret does not belong in a published set), when it carries private
//! material, or when it breaks the size rules of `jwt_add_key`.

use crate::cache;
use crate::der::{Curve, PublicKey};
use crate::keys::{alg_name, base64_url_decode, base64_url_encode as b64, Material, RawKey};
use jsonwebtoken::Algorithm;
use pgrx::prelude::*;
use pgrx::JsonB;
use serde_json::{json, Map, Value};

/// The JWK of a public key, without `kid`, `alg` and `use`.
fn jwk_of(public: &PublicKey) -> Map<String, Value> {
    let value = match public {
        PublicKey::Rsa { n, e } => json!({"kty": "RSA", "n": b64(n), "e": b64(e)}),
        PublicKey::Ec { curve, point } => {
            let half = curve.coordinate_len();
            json!({"kty": "EC", "crv": curve.name(), "x": b64(&point[1..1 + half]),
                   "y": b64(&point[1 + half..])})
        }
        PublicKey::Ed25519 { x } => json!({"kty": "OKP", "crv": "Ed25519", "x": b64(x)}),
    };
    match value {
        Value::Object(map) => map,
        _ => unreachable!("json! of an object is an object"),
    }
}

/// `revocation.jwt_jwks()`: the public keys in use now or later, as a JWKS document.
#[pg_extern(stable, sql = false)]
fn jwt_jwks() -> JsonB {
    let now = crate::api::statement_time();
    let current = cache::current(now);
    let keys: Vec<Value> = current
        .keys
        .iter()
        .filter(|k| k.retired_at.is_none_or(|r| now < r))
        .filter_map(|k| {
            let mut jwk = jwk_of(k.material.public.as_ref()?);
            jwk.insert("kid".into(), Value::from(k.kid.clone()));
            jwk.insert("alg".into(), Value::from(alg_name(k.material.alg)));
            jwk.insert("use".into(), Value::from("sig"));
            Some(Value::Object(jwk))
        })
        .collect();
    JsonB(json!({ "keys": keys }))
}

fn refused(kid: &str, why: impl std::fmt::Display) -> ! {
    ereport!(
        ERROR,
        PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
        format!("JWK {} is refused: {why}", crate::errors::quoted(kid))
    );
}

fn member<'a>(jwk: &'a Map<String, Value>, kid: &str, name: &str) -> &'a str {
    match jwk.get(name) {
        Some(Value::String(s)) => s,
        Some(_) => refused(kid, format!("\"{name}\" is not a string")),
        None => refused(kid, format!("it has no \"{name}\"")),
    }
}

fn bytes(jwk: &Map<String, Value>, kid: &str, name: &str) -> Vec<u8> {
    base64_url_decode(member(jwk, kid, name))
        .unwrap_or_else(|| refused(kid, format!("\"{name}\" is not base64url")))
}

/// Reads one JWK into (kid, alg, PEM public key), applying every import rule.
fn import_one(jwk: &Value) -> (String, String, String) {
    let Value::Object(jwk) = jwk else {
        refused("?", "a key must be a JSON object");
    };
    let kid = match jwk.get("kid") {
        Some(Value::String(kid)) if !kid.is_empty() => kid.clone(),
        _ => refused("?", "it has no kid"),
    };
    let kty = member(jwk, &kid, "kty");
    if kty == "oct" {
        refused(
            &kid,
            "symmetric (oct) keys cannot be imported; add a shared secret with jwt_add_key",
        );
    }
    let alg_text = member(jwk, &kid, "alg");
    let alg = crate::keys::parse_alg(alg_text).unwrap_or_else(|| {
        refused(
            &kid,
            format!("alg \"{}\" is not supported", alg_text.escape_default()),
        )
    });
    match jwk.get("use") {
        None => {}
        Some(Value::String(u)) if u == "sig" => {}
        Some(_) => refused(&kid, "its use is not \"sig\""),
    }
    if let Some(ops) = jwk.get("key_ops") {
        let verifies = ops
            .as_array()
            .is_some_and(|o| o.iter().any(|op| op == "verify"));
        if !verifies {
            refused(&kid, "its key_ops do not include \"verify\"");
        }
    }
    for private in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
        if jwk.contains_key(private) {
            refused(&kid, "it contains private key material");
        }
    }
    let public = match (kty, alg) {
        ("RSA", Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512)
        | ("RSA", Algorithm::PS256 | Algorithm::PS384 | Algorithm::PS512) => {
            let strip = |v: Vec<u8>| v.into_iter().skip_while(|b| *b == 0).collect::<Vec<u8>>();
            PublicKey::Rsa {
                n: strip(bytes(jwk, &kid, "n")),
                e: strip(bytes(jwk, &kid, "e")),
            }
        }
        ("EC", Algorithm::ES256 | Algorithm::ES384) => {
            let curve = match member(jwk, &kid, "crv") {
                "P-256" => Curve::P256,
                "P-384" => Curve::P384,
                other => refused(
                    &kid,
                    format!("curve \"{}\" is not supported", other.escape_default()),
                ),
            };
            let wanted = if alg == Algorithm::ES256 {
                Curve::P256
            } else {
                Curve::P384
            };
            if curve != wanted {
                refused(
                    &kid,
                    format!(
                        "{} needs a {} key, got {}",
                        alg_name(alg),
                        wanted.name(),
                        curve.name()
                    ),
                );
            }
            let (x, y) = (bytes(jwk, &kid, "x"), bytes(jwk, &kid, "y"));
            let len = curve.coordinate_len();
            if x.len() != len || y.len() != len {
                refused(
                    &kid,
                    format!("{} coordinates must be {len} bytes", curve.name()),
                );
            }
            PublicKey::Ec {
                curve,
                point: [vec![4], x, y].concat(),
            }
        }
        ("OKP", Algorithm::EdDSA) => {
            if member(jwk, &kid, "crv") != "Ed25519" {
                refused(&kid, "EdDSA here means the curve Ed25519");
            }
            PublicKey::Ed25519 {
                x: bytes(jwk, &kid, "x"),
            }
        }
        (kty, _) => refused(
            &kid,
            format!(
                "alg {} does not fit key type \"{}\"",
                alg_name(alg),
                kty.escape_default()
            ),
        ),
    };
    let pem = public.to_pem();
    let raw = RawKey {
        public_key: Some(&pem),
        ..RawKey::default()
    };
    if let Err(why) = Material::parse(alg_name(alg), raw) {
        refused(&kid, why);
    }
    (kid, alg_name(alg).to_string(), pem)
}

/// `revocation._jwks_keys(jwks jsonb)`: every key of a JWKS, checked, as rows for the key table;
/// an ERROR names the first key refused.
#[pg_extern(stable, strict, sql = false)]
fn _jwks_keys(
    jwks: JsonB,
) -> TableIterator<
    'static,
    (
        name!(kid, String),
        name!(alg, String),
        name!(public_key, String),
    ),
> {
    let Some(Value::Array(keys)) = jwks.0.get("keys") else {
        ereport!(
            ERROR,
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            "a JWKS is an object with a \"keys\" array"
        );
    };
    let rows: Vec<_> = keys.iter().map(import_one).collect();
    let mut kids: Vec<&String> = rows.iter().map(|r| &r.0).collect();
    kids.sort();
    if let Some(pair) = kids.windows(2).find(|w| w[0] == w[1]) {
        refused(pair[0], "its kid appears twice in the set");
    }
    TableIterator::new(rows)
}
