//! The verdict on one token, as plain Rust: no SQL, no PostgreSQL state.
//!
//! The checks run in a fixed order, so the reason a caller gets is the first thing wrong with the
//! token: size, shape, algorithm, key, signature, then the claims. Nothing in the payload is
//! trusted, or even parsed as JSON, before the signature holds, which is also why an expired token
//! signed with the wrong key is reported as a bad signature and never as expired.

// Unpadded, canonical base64url only (RFC 7515 section 2): one token has one spelling.
use crate::keys::{alg_name, base64_url_decode as b64, parse_alg, Key, KeyRing};
use crate::reason::{quoted, Reason, Rejection};
use serde_json::{Map, Value};

/// Latest time claim we accept: 9999-12-31T23:59:59Z, the end of PostgreSQL's timestamp range we
/// care about and far below where an f64 stops counting whole seconds.
pub const MAX_TIME_CLAIM: f64 = 253_402_300_799.0;

/// What the current settings ask of a token.
pub struct Policy<'a> {
    pub leeway: f64,
    pub require_jti: bool,
    pub audience: Option<&'a [u8]>,
    pub issuer: Option<&'a [u8]>,
    pub max_bytes: usize,
    /// The claim that lists the databases a token may reach.
    pub databases_claim: &'a str,
    /// Enforcement is on for the database being checked: a token must carry that claim.
    pub databases_claim_required: bool,
}

/// A token that passed every check.
#[derive(Debug)]
pub struct Verified {
    /// The decoded payload, exactly as signed.
    pub payload: Vec<u8>,
    pub claims: Map<String, Value>,
    pub kid: String,
    pub jti: Option<String>,
    pub exp: f64,
    /// When the key that signed it retires (infinity if it does not).
    pub key_retired_at: f64,
}

fn malformed(message: &str) -> Rejection {
    Rejection::new(Reason::Malformed, message)
}

/// Which tokens have been revoked, as of the time being checked.
pub trait Revocations {
    fn jti_revoked(&self, jti: &str) -> bool;
    /// Tokens of `sub` issued before the returned time (seconds since 1970) are revoked.
    fn subject_cutoff(&self, sub: &str) -> Option<f64>;
}

/// A token whose signature holds.
pub struct Authentic {
    pub payload: Vec<u8>,
    pub claims: Map<String, Value>,
    pub kid: String,
    pub key_retired_at: f64,
}

/// Whether a key outside its window of use may still vouch for a token.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum KeyWindow {
    /// Only keys in use at the time being checked: every verification.
    Enforced,
    /// Any known key: for revoking a token, which is worth doing whatever its key's state.
    Ignored,
}

/// Checks `token` as of `at` (seconds since 1970) for database `db`.
pub fn verify(
    token: &str,
    db: &str,
    at: f64,
    keys: &KeyRing,
    revocations: &dyn Revocations,
    policy: &Policy<'_>,
) -> Result<Verified, Rejection> {
    let Authentic {
        payload,
        claims,
        kid,
        key_retired_at,
    } = authenticate(token, at, keys, policy, KeyWindow::Enforced)?;
    let checked = check_claims(&claims, db, at, revocations, policy)?;
    Ok(Verified {
        payload,
        claims,
        kid,
        jti: checked.jti,
        exp: checked.exp,
        key_retired_at,
    })
}

/// Size, shape, algorithm, key and signature: everything up to trusting the payload.
pub fn authenticate(
    token: &str,
    at: f64,
    keys: &KeyRing,
    policy: &Policy<'_>,
    window: KeyWindow,
) -> Result<Authentic, Rejection> {
    if token.len() > policy.max_bytes {
        return Err(
            Rejection::new(Reason::TooLarge, "token is too long").detail(format!(
                "The token has {} bytes; revocation.max_token_bytes allows {}.",
                token.len(),
                policy.max_bytes
            )),
        );
    }

    // Shape: three base64url segments.
    let mut segments = token.split('.');
    let (header_b64, payload_b64, signature_b64) = match (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) {
        (Some(h), Some(p), Some(s), None) => (h, p, s),
        (_, _, _, Some(_)) if token.split('.').count() == 5 => {
            return Err(malformed("encrypted tokens (JWE) are not supported"));
        }
        _ => {
            return Err(malformed(
                "token must have three segments separated by dots",
            ))
        }
    };
    let header_bytes = b64(header_b64).ok_or_else(|| malformed("token header is not base64url"))?;
    let payload = b64(payload_b64).ok_or_else(|| malformed("token payload is not base64url"))?;
    let signature =
        b64(signature_b64).ok_or_else(|| malformed("token signature is not base64url"))?;
    let header: Map<String, Value> = match serde_json::from_slice(&header_bytes) {
        Ok(Value::Object(map)) => map,
        _ => return Err(malformed("token header is not a JSON object")),
    };

    // Algorithm, then key: the key decides which algorithm is acceptable.
    let alg_text = match header.get("alg") {
        Some(Value::String(s)) => s.as_str(),
        Some(_) => return Err(malformed("token header alg is not a string")),
        None => return Err(malformed("token header has no alg")),
    };
    let alg = parse_alg(alg_text).ok_or_else(|| {
        Rejection::new(
            Reason::AlgorithmNotAllowed,
            format!("token algorithm {} is not allowed", quoted(alg_text)),
        )
    })?;
    if header.contains_key("crit") {
        // RFC 7515 section 4.1.11: we implement no extensions, so we must refuse any.
        return Err(malformed(
            "token header lists critical extensions, which are not supported",
        ));
    }
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => return Err(malformed("token header kid is not a string")),
    };
    let candidates: Vec<&Key> = match kid {
        Some(kid) => {
            let key = keys.by_kid(kid).ok_or_else(|| {
                Rejection::new(
                    Reason::UnknownKey,
                    format!("unknown signing key {}", quoted(kid)),
                )
            })?;
            if key.material.alg != alg {
                return Err(Rejection::new(
                    Reason::AlgorithmNotAllowed,
                    format!(
                        "token algorithm {} does not match signing key {}",
                        quoted(alg_text),
                        quoted(kid)
                    ),
                )
                .detail(format!("The key is for {}.", alg_name(key.material.alg))));
            }
            if window == KeyWindow::Enforced && !key.usable_at(at) {
                return Err(Rejection::new(
                    Reason::KeyInactive,
                    format!("signing key {} is not in use at this time", quoted(kid)),
                ));
            }
            vec![key]
        }
        None => {
            let usable: Vec<&Key> = keys
                .iter()
                .filter(|k| {
                    k.material.alg == alg && (window == KeyWindow::Ignored || k.usable_at(at))
                })
                .chain(keys.legacy().filter(|k| k.material.alg == alg))
                .collect();
            if usable.is_empty() {
                return Err(Rejection::new(
                    Reason::UnknownKey,
                    format!("no signing key for algorithm {} is in use", alg_name(alg)),
                )
                .detail("The token names no kid."));
            }
            usable
        }
    };

    // Signature over the first two segments, as they were sent.
    let signing_input = &token.as_bytes()[..header_b64.len() + 1 + payload_b64.len()];
    let key = candidates
        .into_iter()
        .find(|key| {
            key.material
                .verifier
                .verify(signing_input, &signature)
                .is_ok()
        })
        .ok_or_else(|| {
            let rejection = Rejection::new(Reason::BadSignature, "invalid token signature");
            match kid {
                Some(kid) => rejection.detail(format!("The token names key {}.", quoted(kid))),
                None => rejection,
            }
        })?;

    // The payload is authentic from here on.
    let claims: Map<String, Value> = match serde_json::from_slice(&payload) {
        Ok(Value::Object(map)) => map,
        _ => return Err(malformed("token payload is not a JSON object")),
    };
    Ok(Authentic {
        payload,
        claims,
        kid: key.kid.clone(),
        key_retired_at: key.retired_at.unwrap_or(f64::INFINITY),
    })
}

struct Checked {
    jti: Option<String>,
    exp: f64,
}

/// The claims of an authentic token: types, time, issuer, audience, databases, revocation.
fn check_claims(
    claims: &Map<String, Value>,
    db: &str,
    at: f64,
    revocations: &dyn Revocations,
    policy: &Policy<'_>,
) -> Result<Checked, Rejection> {
    check_claim_types(claims, policy)?;
    let jti = claims
        .get("jti")
        .and_then(Value::as_str)
        .map(str::to_string);
    let exp = time_claim(claims, "exp")?.ok_or_else(|| {
        Rejection::new(Reason::InvalidClaim, "token has no exp claim")
            .detail("Every token must say when it expires.")
    })?;
    let nbf = time_claim(claims, "nbf")?;
    let iat = time_claim(claims, "iat")?;
    // Only refusals need it, so it is built only for them.
    let who = || {
        jti.as_deref()
            .map(|j| format!("The token has jti {}. ", quoted(j)))
            .unwrap_or_default()
    };

    if at - policy.leeway >= exp {
        return Err(
            Rejection::new(Reason::Expired, "token has expired").detail(format!(
                "{}It expired at {exp} (seconds since 1970).",
                who()
            )),
        );
    }
    if let Some(nbf) = nbf {
        if at + policy.leeway < nbf {
            return Err(
                Rejection::new(Reason::NotYetValid, "token is not yet valid")
                    .detail(format!("{}Its nbf is {nbf} (seconds since 1970).", who())),
            );
        }
    }
    if let Some(iat) = iat {
        if iat > at + policy.leeway {
            return Err(
                Rejection::new(Reason::NotYetValid, "token was issued in the future")
                    .detail(format!("{}Its iat is {iat} (seconds since 1970).", who())),
            );
        }
    }
    if let Some(expected) = policy.issuer {
        match claims.get("iss") {
            Some(Value::String(iss)) if iss.as_bytes() == expected => {}
            Some(_) => {
                return Err(
                    Rejection::new(Reason::IssuerMismatch, "token issuer does not match").detail(
                        format!(
                            "{}revocation.issuer expects {}.",
                            who(),
                            quoted(&String::from_utf8_lossy(expected))
                        ),
                    ),
                );
            }
            None => {
                return Err(
                    Rejection::new(Reason::IssuerMismatch, "token has no iss claim")
                        .detail("revocation.issuer is set, so every token must name its issuer."),
                );
            }
        }
    }
    if let Some(expected) = policy.audience {
        // The shape was checked by check_claim_types.
        let listed = match claims.get("aud") {
            Some(Value::String(aud)) => aud.as_bytes() == expected,
            Some(Value::Array(items)) => items
                .iter()
                .any(|item| item.as_str().is_some_and(|a| a.as_bytes() == expected)),
            _ => {
                return Err(
                    Rejection::new(Reason::AudienceMismatch, "token has no aud claim").detail(
                        "revocation.audience is set, so every token must name its audience.",
                    ),
                );
            }
        };
        if !listed {
            return Err(
                Rejection::new(Reason::AudienceMismatch, "token audience does not match").detail(
                    format!(
                        "{}revocation.audience expects {}.",
                        who(),
                        quoted(&String::from_utf8_lossy(expected))
                    ),
                ),
            );
        }
    }
    check_databases(claims, db, &who, policy)?;

    match jti.as_deref() {
        None if policy.require_jti => {
            return Err(
                Rejection::new(Reason::JtiRequired, "token has no jti claim").detail(
                    "revocation.require_jti is on: a token that cannot be revoked is refused.",
                ),
            );
        }
        Some(jti) if revocations.jti_revoked(jti) => {
            return Err(Rejection::new(Reason::Revoked, "token has been revoked")
                .detail(format!("The token has jti {}.", quoted(jti))));
        }
        _ => {}
    }
    if let Some(Value::String(sub)) = claims.get("sub") {
        if let Some(cutoff) = revocations.subject_cutoff(sub) {
            // A token without iat cannot show it was issued after the cut-off.
            if iat.unwrap_or(f64::NEG_INFINITY) < cutoff {
                return Err(
                    Rejection::new(Reason::Revoked, "token has been revoked").detail(format!(
                        "Every token of subject {} issued before {cutoff} (seconds since 1970) \
                         was revoked.",
                        quoted(sub)
                    )),
                );
            }
        }
    }
    Ok(Checked { jti, exp })
}

fn check_databases(
    claims: &Map<String, Value>,
    db: &str,
    who: &dyn Fn() -> String,
    policy: &Policy<'_>,
) -> Result<(), Rejection> {
    let name = policy.databases_claim;
    let Some(value) = claims.get(name) else {
        if policy.databases_claim_required {
            return Err(Rejection::new(
                Reason::DatabaseClaimRequired,
                format!("token has no {name} claim"),
            )
            .detail(format!(
                "{}Database {} requires every token to list the databases it may reach.",
                who(),
                quoted(db)
            )));
        }
        return Ok(());
    };
    // The shape was checked by check_claim_types.
    let listed = value
        .as_array()
        .is_some_and(|items| items.iter().any(|item| item.as_str() == Some(db)));
    if listed {
        Ok(())
    } else {
        Err(Rejection::new(
            Reason::DatabaseNotAllowed,
            format!("token is not valid for database {}", quoted(db)),
        )
        .detail(format!(
            "{}Its {name} claim does not list this database.",
            who()
        )))
    }
}

fn invalid_claim(name: &str, rule: &str) -> Rejection {
    Rejection::new(Reason::InvalidClaim, format!("invalid {name} claim"))
        .detail(format!("The {name} claim {rule}."))
}

/// Longest `jti` and `sub` we accept: what the revocation tables can hold, so that every token
/// that verifies can also be revoked.
pub const MAX_JTI_BYTES: usize = 256;
pub const MAX_SUB_BYTES: usize = 1024;

/// The types of the registered claims, and the allowlist claim's shape: the rules `jwt_sign`
/// applies to what it signs, and `jwt_verify` to what it accepts.
pub fn check_claim_types(
    claims: &Map<String, Value>,
    policy: &Policy<'_>,
) -> Result<(), Rejection> {
    match claims.get("jti") {
        None => {}
        Some(Value::String(s)) if !s.is_empty() && s.len() <= MAX_JTI_BYTES => {}
        Some(Value::String(_)) => {
            return Err(invalid_claim("jti", "must have between 1 and 256 bytes"));
        }
        Some(_) => return Err(invalid_claim("jti", "must be a string")),
    }
    match claims.get("sub") {
        // RFC 7519: a StringOrURI. A number would slip past jwt_revoke_subject.
        None => {}
        Some(Value::String(s)) if !s.is_empty() && s.len() <= MAX_SUB_BYTES => {}
        Some(Value::String(_)) => {
            return Err(invalid_claim("sub", "must have between 1 and 1024 bytes"));
        }
        Some(_) => return Err(invalid_claim("sub", "must be a string")),
    }
    if !matches!(claims.get("iss"), None | Some(Value::String(_))) {
        return Err(invalid_claim("iss", "must be a string"));
    }
    match claims.get("aud") {
        None | Some(Value::String(_)) => {}
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => {}
        Some(_) => {
            return Err(invalid_claim(
                "aud",
                "must be a string or an array of strings",
            ))
        }
    }
    for name in ["exp", "nbf", "iat"] {
        time_claim(claims, name)?;
    }
    if let Some(value) = claims.get(policy.databases_claim) {
        let ok = matches!(value, Value::Array(items)
            if !items.is_empty() && items.iter().all(Value::is_string));
        if !ok {
            return Err(invalid_claim(
                policy.databases_claim,
                "must be a non-empty array of database names",
            ));
        }
    }
    if claims
        .iter()
        .any(|(k, v)| k.contains('\0') || contains_nul(v))
    {
        return Err(malformed(
            "token payload contains a NUL character, which PostgreSQL cannot store",
        ));
    }
    Ok(())
}

fn contains_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(contains_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || contains_nul(v)),
        _ => false,
    }
}

/// Reads a NumericDate claim (RFC 7519 section 2). Absent is `None`; any other type, or a value
/// outside 0 ..= 9999-12-31, is an error and never taken as absent.
fn time_claim(claims: &Map<String, Value>, name: &str) -> Result<Option<f64>, Rejection> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(v) if (0.0..=MAX_TIME_CLAIM).contains(&v) => Ok(Some(v)),
            _ => Err(invalid_claim(name, "is out of range")),
        },
        Some(_) => Err(invalid_claim(
            name,
            "must be a JSON number of seconds since 1970",
        )),
    }
}

/// Randomized tests of the whole verdict: mutated and generated tokens never panic, and nothing
/// but the original token is ever accepted. A small xorshift generator keeps them reproducible.
#[cfg(test)]
mod fuzz {
    use super::*;
    use crate::keys::{Material, RawKey};

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    struct Nothing;

    impl Revocations for Nothing {
        fn jti_revoked(&self, _: &str) -> bool {
            false
        }
        fn subject_cutoff(&self, _: &str) -> Option<f64> {
            None
        }
    }

    fn ring() -> KeyRing {
        let material = Material::parse(
            "HS256",
            RawKey {
                secret: Some(SECRET),
                ..RawKey::default()
            },
        )
        .unwrap();
        let key = Key {
            kid: "k".into(),
            material,
            usable_from: 0.0,
            retired_at: None,
        };
        KeyRing::new(vec![key], Vec::new())
    }

    fn policy() -> Policy<'static> {
        Policy {
            leeway: 30.0,
            require_jti: true,
            audience: Some(b"api"),
            issuer: None,
            max_bytes: 16 * 1024,
            databases_claim: "dbs",
            databases_claim_required: false,
        }
    }

    fn sign(header: &str, payload: &str) -> String {
        use base64::Engine;
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let input = format!("{}.{}", b64(header), b64(payload));
        let key = jsonwebtoken::EncodingKey::from_secret(SECRET).unwrap();
        let sig =
            jsonwebtoken::crypto::sign(input.as_bytes(), &key, jsonwebtoken::Algorithm::HS256)
                .unwrap();
        format!("{input}.{sig}")
    }

    const PIECES: &[&str] = &[
        "\"alg\":\"none\"",
        "\"kid\":7",
        "\"exp\":1e400",
        "\"exp\":\"1\"",
        "\"aud\":[1]",
        "\"dbs\":[]",
        "\"sub\":{}",
        "\"jti\":\"\\u0000\"",
        "[[[[[[[[",
        "]]]]",
        "{\"a\":",
        "\"\\ud800\"",
        "-0",
        "18446744073709551616",
        "\"crit\":[\"b64\"]",
        "null",
        "true",
        "é",
        "\u{10ffff}",
    ];

    #[test]
    fn mutated_tokens_never_panic_and_never_pass() {
        let keys = ring();
        let policy = policy();
        let original = sign(
            r#"{"alg":"HS256","kid":"k"}"#,
            r#"{"sub":"a","jti":"j","aud":"api","exp":4000000000,"dbs":["db"]}"#,
        );
        assert!(verify(&original, "db", 1e9, &keys, &Nothing, &policy).is_ok());
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let alphabet = b"ABCxyz0189-_.=+/ \"{}[]:,\\\x00\xff";
        let runs = 200_000;
        for _ in 0..runs {
            let mut bytes = original.clone().into_bytes();
            for _ in 0..=rng.below(4) {
                let at = rng.below(bytes.len() + 1);
                match rng.below(4) {
                    0 if at < bytes.len() => bytes[at] ^= 1 << rng.below(8),
                    1 => bytes.insert(at, alphabet[rng.below(alphabet.len())]),
                    2 if at < bytes.len() => {
                        let end = (at + rng.below(16)).min(bytes.len());
                        bytes.drain(at..end);
                    }
                    _ => {
                        let piece = PIECES[rng.below(PIECES.len())];
                        bytes.splice(at..at, piece.bytes());
                    }
                }
            }
            let token = String::from_utf8_lossy(&bytes).into_owned();
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                verify(&token, "db", 1e9, &keys, &Nothing, &policy).map(|v| v.payload)
            }));
            let outcome = outcome.unwrap_or_else(|_| panic!("verify panicked on {token:?}"));
            if outcome.is_ok() {
                assert_eq!(token, original, "a changed token was accepted");
            }
        }
        eprintln!("fuzz: {runs} mutated tokens, no panic, none accepted");
    }

    #[test]
    fn signed_garbage_payloads_never_panic() {
        let keys = ring();
        let policy = policy();
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        let runs = 50_000;
        for _ in 0..runs {
            let mut payload = String::from("{");
            for _ in 0..rng.below(6) {
                payload.push_str(PIECES[rng.below(PIECES.len())]);
                if rng.below(2) == 0 {
                    payload.push(',');
                }
            }
            if rng.below(3) > 0 {
                payload.push('}');
            }
            let header = if rng.below(5) == 0 {
                PIECES[rng.below(PIECES.len())].to_string()
            } else {
                r#"{"alg":"HS256","kid":"k"}"#.to_string()
            };
            let token = sign(&header, &payload);
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                verify(&token, "db", 1e9, &keys, &Nothing, &policy).is_ok()
            }));
            assert!(outcome.is_ok(), "verify panicked on payload {payload:?}");
        }
        eprintln!("fuzz: {runs} signed generated payloads, no panic");
    }
}
