//! What the fuzz targets share: the extension's PostgreSQL-free modules, and one fixed world to
//! judge tokens in (a key ring with one key of each family plus a retired, a future and a legacy
//! key; a revoked jti and a revoked subject; a policy that asks for every claim).
//!
//! The modules are the extension's own files, not copies, so a fuzz run always tests the code
//! that ships.

#![allow(dead_code)]

#[path = "../../src/der.rs"]
pub mod der;
#[path = "../../src/keys.rs"]
pub mod keys;
#[path = "../../src/reason.rs"]
pub mod reason;
#[path = "../../src/revocation.rs"]
pub mod revocation;
#[path = "../../src/verification.rs"]
pub mod verification;

use base64::Engine;
use keys::{alg_name, Key, KeyRing, Material, RawKey};
use std::sync::OnceLock;
use verification::{Policy, Revocations};

/// The time every token is judged at: 2027-01-15T08:00:00Z.
pub const AT: f64 = 1_800_000_000.0;
pub const LEEWAY: f64 = 30.0;
pub const AUDIENCE: &str = "api";
pub const ISSUER: &str = "https://issuer.example";
pub const DATABASE: &str = "app";
pub const DATABASES_CLAIM: &str = "dbs";
pub const REVOKED_JTI: &str = "revoked-jti";
pub const CUT_SUBJECT: &str = "cut-off-subject";
/// Tokens of [`CUT_SUBJECT`] issued before this were revoked.
pub const CUTOFF: f64 = AT - 100.0;

pub const HMAC_SECRET: &[u8] = b"fuzz-hmac-secret-of-32-bytes-!!!";
pub const LEGACY_SECRET: &[u8] = b"fuzz-legacy-secret-32-bytes-long";
pub const RETIRED_SECRET: &[u8] = b"fuzz-retired-secret-32-bytes-ok!";
pub const FUTURE_SECRET: &[u8] = b"fuzz-future-secret-of-32-bytes!!";

const P256_PUB: &str = include_str!("../../tests/keys/p256.pub");
const P256_KEY: &str = include_str!("../../tests/keys/p256.key");
const RSA_PUB: &str = include_str!("../../tests/keys/rsa2048.pub");
const RSA_KEY: &str = include_str!("../../tests/keys/rsa2048.key");
const ED_PUB: &str = include_str!("../../tests/keys/ed25519.pub");
const ED_KEY: &str = include_str!("../../tests/keys/ed25519.key");

pub fn policy() -> Policy<'static> {
    Policy {
        leeway: LEEWAY,
        require_jti: true,
        audience: Some(AUDIENCE.as_bytes()),
        issuer: Some(ISSUER.as_bytes()),
        max_bytes: 8192,
        databases_claim: DATABASES_CLAIM,
        databases_claim_required: true,
    }
}

fn key(kid: &str, alg: &str, raw: RawKey<'_>, usable_from: f64, retired_at: Option<f64>) -> Key {
    Key {
        kid: kid.into(),
        material: Material::parse(alg, raw).expect("fixture keys obey the key rules"),
        usable_from,
        retired_at,
    }
}

fn secret(bytes: &[u8]) -> RawKey<'_> {
    RawKey {
        secret: Some(bytes),
        ..RawKey::default()
    }
}

fn pair<'a>(public: &'a str, private: &'a str) -> RawKey<'a> {
    RawKey {
        public_key: Some(public),
        private_key: Some(private),
        ..RawKey::default()
    }
}

/// The key ring: `hs`, `es`, `rs`, `ed` in use; `retired` retired an hour ago; `future` usable
/// in an hour; one legacy secret for tokens without a kid.
pub fn ring() -> &'static KeyRing {
    // Verifiers are not Sync; libFuzzer runs one thread, so each thread builds its own ring once.
    thread_local! {
        static RING: &'static KeyRing = Box::leak(Box::new(build_ring()));
    }
    RING.with(|ring| *ring)
}

fn build_ring() -> KeyRing {
    {
        let keys = vec![
            key("hs", "HS256", secret(HMAC_SECRET), 0.0, None),
            key("es", "ES256", pair(P256_PUB, P256_KEY), 0.0, None),
            key("rs", "RS256", pair(RSA_PUB, RSA_KEY), 0.0, None),
            key("ed", "EdDSA", pair(ED_PUB, ED_KEY), 0.0, None),
            key(
                "retired",
                "HS256",
                secret(RETIRED_SECRET),
                0.0,
                Some(AT - 3600.0),
            ),
            key("future", "HS256", secret(FUTURE_SECRET), AT + 3600.0, None),
        ];
        let legacy = vec![key(
            "legacy-1",
            "HS256",
            secret(LEGACY_SECRET),
            f64::NEG_INFINITY,
            None,
        )];
        KeyRing::new(keys, legacy)
    }
}

/// The revocations in force: one jti, and one subject's tokens issued before [`CUTOFF`].
pub struct Fixed;

impl Revocations for Fixed {
    fn jti_revoked(&self, jti: &str) -> bool {
        jti == REVOKED_JTI
    }
    fn subject_cutoff(&self, sub: &str) -> Option<f64> {
        (sub == CUT_SUBJECT).then_some(CUTOFF)
    }
}

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Signs `header` and `payload` (raw bytes, not necessarily JSON) with the private half of the
/// ring's key `kid`, or with the legacy secret for `kid == None`.
pub fn sign(kid: Option<&str>, header: &[u8], payload: &[u8]) -> String {
    let input = format!("{}.{}", b64(header), b64(payload));
    let signature = match kid {
        Some(kid) => {
            let key = ring().by_kid(kid).expect("a fixture kid");
            let signer = match &key.material.signer {
                Some(signer) => signer.clone(),
                None => jsonwebtoken::EncodingKey::from_secret(secret_of(kid)).unwrap(),
            };
            jsonwebtoken::crypto::sign(input.as_bytes(), &signer, key.material.alg).unwrap()
        }
        None => {
            let signer = jsonwebtoken::EncodingKey::from_secret(LEGACY_SECRET).unwrap();
            jsonwebtoken::crypto::sign(input.as_bytes(), &signer, jsonwebtoken::Algorithm::HS256)
                .unwrap()
        }
    };
    format!("{input}.{signature}")
}

fn secret_of(kid: &str) -> &'static [u8] {
    match kid {
        "hs" => HMAC_SECRET,
        "retired" => RETIRED_SECRET,
        "future" => FUTURE_SECRET,
        other => panic!("{other} is not an HMAC key"),
    }
}

/// A header naming `kid` and its key's algorithm.
pub fn header_for(kid: &str) -> String {
    let alg = alg_name(ring().by_kid(kid).unwrap().material.alg);
    format!(r#"{{"alg":"{alg}","kid":"{kid}","typ":"JWT"}}"#)
}

/// Claims that pass every check of [`policy`].
pub fn good_claims(jti: &str) -> String {
    let (iat, exp) = (AT - 10.0, AT + 600.0);
    format!(
        concat!(
            r#"{{"iss":"{ISSUER}","sub":"alice","aud":["{AUDIENCE}","other"],"jti":"{jti}","#,
            r#""iat":{iat},"nbf":{iat},"exp":{exp},"{DATABASES_CLAIM}":["{DATABASE}"]}}"#
        ),
        ISSUER = ISSUER,
        AUDIENCE = AUDIENCE,
        jti = jti,
        iat = iat,
        exp = exp,
        DATABASES_CLAIM = DATABASES_CLAIM,
        DATABASE = DATABASE
    )
}

/// Tokens signed in the fixture, each with the verdict it must get: one accepted token per key
/// in use (and one for the legacy secret), then authentic tokens refused for their key's window
/// or their claims. They seed the corpus, and they are the only tokens that can be authentic.
pub fn seeds() -> &'static [(String, Option<reason::Reason>)] {
    use reason::Reason;
    static SEEDS: OnceLock<Vec<(String, Option<Reason>)>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let mut seeds: Vec<(String, Option<Reason>)> = ["hs", "es", "rs", "ed"]
            .iter()
            .map(|kid| {
                let claims = good_claims(&format!("jti-{kid}"));
                (
                    sign(Some(kid), header_for(kid).as_bytes(), claims.as_bytes()),
                    None,
                )
            })
            .collect();
        seeds.push((
            sign(
                None,
                br#"{"alg":"HS256"}"#,
                good_claims("jti-legacy").as_bytes(),
            ),
            None,
        ));
        let hs = |claims: String| sign(Some("hs"), header_for("hs").as_bytes(), claims.as_bytes());
        let good = good_claims("jti-x");
        for (kid, reason) in [
            ("retired", Reason::KeyInactive),
            ("future", Reason::KeyInactive),
        ] {
            seeds.push((
                sign(Some(kid), header_for(kid).as_bytes(), good.as_bytes()),
                Some(reason),
            ));
        }
        let exp = format!("{}", AT + 600.0);
        let iat = format!("{}", AT - 10.0);
        let changed = [
            (good_claims(REVOKED_JTI), Reason::Revoked),
            (
                good.replace("alice", CUT_SUBJECT)
                    .replacen(&iat, &format!("{}", CUTOFF - 1.0), 1),
                Reason::Revoked,
            ),
            (
                good.replace(&exp, &format!("{}", AT - 60.0)),
                Reason::Expired,
            ),
            (good.replace(&exp, "\"soon\""), Reason::InvalidClaim),
            (
                good.replacen(&iat, &format!("{}", AT + 600.0), 2),
                Reason::NotYetValid,
            ),
            (
                good.replace(AUDIENCE, "elsewhere"),
                Reason::AudienceMismatch,
            ),
            (
                good.replace(ISSUER, "https://other.example"),
                Reason::IssuerMismatch,
            ),
            (
                good.replace(DATABASE, "other_db"),
                Reason::DatabaseNotAllowed,
            ),
            (
                good.replace(DATABASES_CLAIM, "databases"),
                Reason::DatabaseClaimRequired,
            ),
            (good.replace("\"jti\"", "\"id\""), Reason::JtiRequired),
            (good.replace("\"alice\"", "[1e400]"), Reason::Malformed),
        ];
        for (claims, reason) in changed {
            seeds.push((hs(claims), Some(reason)));
        }
        seeds
    })
}

/// Whether a token's header and payload are those of a seed: authentic, not forged.
pub fn signed_in_fixture(token: &str) -> bool {
    signing_input(token).is_some_and(|input| {
        seeds()
            .iter()
            .any(|(seed, _)| signing_input(seed) == Some(input))
    })
}

/// Whether a token's header and payload are those of a seed that must be accepted.
pub fn accepted_in_fixture(token: &str) -> bool {
    signing_input(token).is_some_and(|input| {
        seeds()
            .iter()
            .any(|(seed, verdict)| verdict.is_none() && signing_input(seed) == Some(input))
    })
}

/// The signing input (`header.payload`) of a compact token.
pub fn signing_input(token: &str) -> Option<&str> {
    let second_dot = token.match_indices('.').nth(1)?.0;
    Some(&token[..second_dot])
}
