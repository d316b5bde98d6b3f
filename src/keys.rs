//! Signing keys: the rules a key must meet, and the in-memory form the verifier uses.
//!
//! A key is checked by [`Material::parse`] when a row enters `revocation.signing_keys` (a
//! trigger) and again when a backend loads the table, so a row that slipped in some other way
//! (an old dump, a superuser bypassing the trigger) is skipped with a warning rather than used.

use crate::der::{self, Curve, PublicKey};
use jsonwebtoken::crypto::{CryptoProvider, JwtVerifier};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};

/// The algorithms we accept, by their JOSE names. Anything else, `none` in every spelling
/// included, is refused.
const ALGORITHMS: [(&str, Algorithm); 12] = [
    ("HS256", Algorithm::HS256),
    ("HS384", Algorithm::HS384),
    ("HS512", Algorithm::HS512),
    ("RS256", Algorithm::RS256),
    ("RS384", Algorithm::RS384),
    ("RS512", Algorithm::RS512),
    ("PS256", Algorithm::PS256),
    ("PS384", Algorithm::PS384),
    ("PS512", Algorithm::PS512),
    ("ES256", Algorithm::ES256),
    ("ES384", Algorithm::ES384),
    ("EdDSA", Algorithm::EdDSA),
];

pub fn parse_alg(name: &str) -> Option<Algorithm> {
    ALGORITHMS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, alg)| *alg)
}

pub fn alg_name(alg: Algorithm) -> &'static str {
    ALGORITHMS
        .iter()
        .find(|(_, a)| *a == alg)
        .map_or("unsupported", |(name, _)| name)
}

/// RFC 7518 section 3.2: an HMAC key at least as long as the hash output.
fn min_secret_bytes(alg: Algorithm) -> Option<usize> {
    match alg {
        Algorithm::HS256 => Some(32),
        Algorithm::HS384 => Some(48),
        Algorithm::HS512 => Some(64),
        _ => None,
    }
}

pub const MIN_RSA_BITS: usize = 2048;
pub const MAX_RSA_BITS: usize = 16384;

/// The key material of one row, as given to `jwt_add_key` or found in the table.
#[derive(Clone, Copy, Debug, Default)]
pub struct RawKey<'a> {
    pub secret: Option<&'a [u8]>,
    pub public_key: Option<&'a str>,
    pub private_key: Option<&'a str>,
}

/// A key that passed every rule, ready to verify (and, with a private half, to sign).
pub struct Material {
    pub alg: Algorithm,
    pub verifier: Box<dyn JwtVerifier>,
    pub signer: Option<EncodingKey>,
    pub public: Option<PublicKey>,
}

impl Material {
    /// Applies the rules of `jwt_add_key`. The error names the rule that failed and never
    /// contains key material.
    pub fn parse(alg_name_given: &str, raw: RawKey<'_>) -> Result<Material, String> {
        let alg = parse_alg(alg_name_given).ok_or_else(|| {
            format!(
                "algorithm \"{}\" is not supported; use one of HS256, HS384, HS512, RS256, RS384, \
                 RS512, PS256, PS384, PS512, ES256, ES384, EdDSA",
                alg_name_given.escape_default()
            )
        })?;

        if let Some(min) = min_secret_bytes(alg) {
            return Self::hmac(alg, min, raw);
        }

        if raw.secret.is_some() {
            return Err(format!(
                "an {} key takes a public key, not a secret",
                alg_name(alg)
            ));
        }
        let pem = raw
            .public_key
            .ok_or_else(|| format!("an {} key needs a public key in PEM form", alg_name(alg)))?;
        let public = der::public_key_from_pem(pem)?;
        check_family(alg, &public)?;
        let decoding = match &public {
            PublicKey::Rsa { n, e } => DecodingKey::from_rsa_raw_components(n, e),
            PublicKey::Ec { point, .. } => DecodingKey::from_ec_der(point),
            PublicKey::Ed25519 { x } => DecodingKey::from_ed_der(x),
        };
        let verifier = make_verifier(alg, &decoding)?;

        let signer = match raw.private_key {
            None => None,
            Some(private_pem) => {
                let signer = match alg {
                    Algorithm::ES256 | Algorithm::ES384 => {
                        EncodingKey::from_ec_pem(private_pem.as_bytes())
                    }
                    Algorithm::EdDSA => EncodingKey::from_ed_pem(private_pem.as_bytes()),
                    _ => EncodingKey::from_rsa_pem(private_pem.as_bytes()),
                }
                .map_err(|_| {
                    format!(
                        "the private key is not a readable {} private key in PEM form \
                         (PKCS#8{})",
                        alg_name(alg),
                        if matches!(alg, Algorithm::ES256 | Algorithm::ES384 | Algorithm::EdDSA) {
                            ""
                        } else {
                            " or PKCS#1"
                        }
                    )
                })?;
                check_pair(alg, &signer, verifier.as_ref())?;
                Some(signer)
            }
        };

        Ok(Material {
            alg,
            verifier,
            signer,
            public: Some(public),
        })
    }

    fn hmac(alg: Algorithm, min: usize, raw: RawKey<'_>) -> Result<Material, String> {
        if raw.public_key.is_some() || raw.private_key.is_some() {
            return Err(format!(
                "an {} key is a shared secret; it has no public or private key",
                alg_name(alg)
            ));
        }
        let secret = raw
            .secret
            .ok_or_else(|| format!("an {} key needs a secret", alg_name(alg)))?;
        if secret.len() < min {
            return Err(format!(
                "an {} secret must be at least {} bytes, got {}",
                alg_name(alg),
                min,
                secret.len()
            ));
        }
        // A public key used as an HMAC secret is how algorithm confusion attacks start.
        if let Some(form) = public_key_form(secret) {
            return Err(format!(
                "the {} secret looks like {form}; a public key is not a shared secret",
                alg_name(alg)
            ));
        }
        let decoding = DecodingKey::from_secret(secret).map_err(|e| e.to_string())?;
        let verifier = make_verifier(alg, &decoding)?;
        let signer = EncodingKey::from_secret(secret).map_err(|e| e.to_string())?;
        Ok(Material {
            alg,
            verifier,
            signer: Some(signer),
            public: None,
        })
    }
}

/// Whether `secret` holds a key in a form someone might paste as an HMAC secret: PEM text
/// anywhere in it, DER (SubjectPublicKeyInfo or PKCS#1), the base64 of DER, or a JWK.
fn public_key_form(secret: &[u8]) -> Option<&'static str> {
    use base64::Engine;
    if secret.windows(10).any(|w| w == b"-----BEGIN") {
        return Some("a PEM key");
    }
    let is_der = |bytes: &[u8]| {
        der::public_key_from_spki(bytes).is_ok() || der::public_key_from_pkcs1(bytes).is_ok()
    };
    if is_der(secret) {
        return Some("a DER public key");
    }
    let text: Vec<u8> = secret
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    let engines = [
        &base64::engine::general_purpose::STANDARD,
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ];
    if engines
        .iter()
        .any(|e| e.decode(&text).is_ok_and(|bytes| is_der(&bytes)))
    {
        return Some("a base64 public key");
    }
    let jwk = serde_json::from_slice::<serde_json::Value>(secret.trim_ascii());
    if jwk.is_ok_and(|v| v.get("kty").is_some()) {
        return Some("a JWK");
    }
    None
}

fn check_family(alg: Algorithm, public: &PublicKey) -> Result<(), String> {
    let name = alg_name(alg);
    match (alg, public) {
        (Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512, PublicKey::Rsa { e, .. })
        | (Algorithm::PS256 | Algorithm::PS384 | Algorithm::PS512, PublicKey::Rsa { e, .. }) => {
            let bits = public.rsa_bits().unwrap_or(0);
            if bits < MIN_RSA_BITS {
                return Err(format!(
                    "an RSA key for {name} must have at least {MIN_RSA_BITS} bits, got {bits}"
                ));
            }
            if bits > MAX_RSA_BITS {
                return Err(format!(
                    "an RSA key for {name} may have at most {MAX_RSA_BITS} bits, got {bits}"
                ));
            }
            let odd = e.last().is_some_and(|b| b & 1 == 1);
            if !odd || (e.len() == 1 && e[0] < 3) {
                return Err("the RSA public exponent must be odd and at least 3".into());
            }
            Ok(())
        }
        (
            Algorithm::ES256,
            PublicKey::Ec {
                curve: Curve::P256, ..
            },
        )
        | (
            Algorithm::ES384,
            PublicKey::Ec {
                curve: Curve::P384, ..
            },
        ) => Ok(()),
        (Algorithm::ES256 | Algorithm::ES384, PublicKey::Ec { curve, .. }) => Err(format!(
            "{name} needs a {} key, got {}",
            if alg == Algorithm::ES256 {
                "P-256"
            } else {
                "P-384"
            },
            curve.name()
        )),
        (Algorithm::EdDSA, PublicKey::Ed25519 { .. }) => Ok(()),
        (_, found) => Err(format!(
            "{name} needs {}, got {}",
            match alg {
                Algorithm::ES256 | Algorithm::ES384 => "an EC key",
                Algorithm::EdDSA => "an Ed25519 key",
                _ => "an RSA key",
            },
            match found {
                PublicKey::Rsa { .. } => "an RSA key",
                PublicKey::Ec { .. } => "an EC key",
                PublicKey::Ed25519 { .. } => "an Ed25519 key",
            }
        )),
    }
}

fn make_verifier(alg: Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>, String> {
    let provider = CryptoProvider::try_get_default()
        .ok_or("no crypto provider is compiled in; this build of revocation is broken")?;
    (provider.verifier_factory)(&alg, key).map_err(|e| format!("the key is not usable: {e}"))
}

/// Signs a fixed message with the private key and checks it with the public one, so a private
/// key that belongs to some other public key is refused at insert, not discovered by a client.
fn check_pair(
    alg: Algorithm,
    signer: &EncodingKey,
    verifier: &dyn JwtVerifier,
) -> Result<(), String> {
    const PROBE: &[u8] = b"revocation: does this private key match its public key?";
    let signature = jsonwebtoken::crypto::sign(PROBE, signer, alg)
        .map_err(|_| format!("the private key cannot sign {}", alg_name(alg)))?;
    let raw =
        base64_url_decode(&signature).ok_or("the private key produced an unreadable signature")?;
    verifier
        .verify(PROBE, &raw)
        .map_err(|_| "the private key does not belong to the public key".to_string())
}

/// Unpadded, canonical base64url (RFC 7515 section 2): what every JOSE field uses.
pub fn base64_url_decode(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .ok()
}

pub fn base64_url_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Parses `revocation.legacy_secrets`: shared secrets from before the key table, separated by
/// commas, each `base64` (an HS256 secret) or `HS384:base64` / `HS512:base64`. Every entry must
/// meet the rules of `jwt_add_key`; the error names the entry and the rule.
pub fn parse_legacy_secrets(text: &str) -> Result<Vec<(Algorithm, Vec<u8>)>, String> {
    use base64::Engine;
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let mut secrets = Vec::new();
    for (i, entry) in text.split(',').enumerate() {
        let n = i + 1;
        let entry = entry.trim();
        let (alg, encoded) = match entry.split_once(':') {
            Some((alg, rest)) => (alg.trim(), rest.trim()),
            None => ("HS256", entry),
        };
        if !matches!(alg, "HS256" | "HS384" | "HS512") {
            return Err(format!(
                "entry {n}: algorithm \"{}\" is not allowed; \
                 legacy secrets are HS256, HS384 or HS512",
                alg.escape_default()
            ));
        }
        if encoded.is_empty() {
            return Err(format!("entry {n} is empty"));
        }
        let padded = encoded.trim_end_matches('=');
        let secret = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(padded)
            .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(padded))
            .map_err(|_| format!("entry {n} is not base64"))?;
        let raw = RawKey {
            secret: Some(&secret),
            ..RawKey::default()
        };
        let material = Material::parse(alg, raw).map_err(|why| format!("entry {n}: {why}"))?;
        secrets.push((material.alg, secret));
    }
    Ok(secrets)
}

/// One usable row of `revocation.signing_keys`, as a backend holds it.
pub struct Key {
    pub kid: String,
    pub material: Material,
    /// Seconds since 1970; the key verifies at `t` when `usable_from <= t < retired_at`.
    pub usable_from: f64,
    pub retired_at: Option<f64>,
}

impl Key {
    pub fn usable_at(&self, t: f64) -> bool {
        in_window(self.usable_from, self.retired_at, t)
    }
}

/// A key's window of use: from `usable_from` (inclusive) until `retired_at` (exclusive).
pub fn in_window(usable_from: f64, retired_at: Option<f64>, t: f64) -> bool {
    usable_from <= t && retired_at.is_none_or(|r| t < r)
}

/// The keys a backend verifies with.
#[derive(Default)]
pub struct KeyRing {
    keys: Vec<Key>,
    /// From `revocation.legacy_secrets`: tried for tokens that name no kid.
    legacy: Vec<Key>,
}

impl KeyRing {
    pub fn new(mut keys: Vec<Key>, legacy: Vec<Key>) -> Self {
        keys.sort_by(|a, b| a.kid.cmp(&b.kid));
        KeyRing { keys, legacy }
    }

    pub fn legacy(&self) -> impl Iterator<Item = &Key> {
        self.legacy.iter()
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn by_kid(&self, kid: &str) -> Option<&Key> {
        self.keys
            .binary_search_by(|k| k.kid.as_str().cmp(kid))
            .ok()
            .map(|i| &self.keys[i])
    }

    pub fn iter(&self) -> impl Iterator<Item = &Key> {
        self.keys.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_supported_names_parse() {
        for name in ["none", "None", "NONE", "none ", "hs256", "ES512", "RS1", ""] {
            assert!(parse_alg(name).is_none(), "{name}");
        }
        for name in ["HS256", "RS512", "PS384", "ES384", "EdDSA"] {
            assert_eq!(alg_name(parse_alg(name).unwrap()), name);
        }
    }

    #[test]
    fn legacy_secrets() {
        use base64::Engine;
        let b64 = |n: usize| base64::engine::general_purpose::STANDARD.encode(vec![b'x'; n]);
        assert_eq!(parse_legacy_secrets("").unwrap().len(), 0);
        let two = format!("{}, HS512:{}", b64(32), b64(64));
        let parsed = parse_legacy_secrets(&two).unwrap();
        assert_eq!(
            parsed.iter().map(|(a, _)| *a).collect::<Vec<_>>(),
            [Algorithm::HS256, Algorithm::HS512]
        );
        for (text, error) in [
            (
                b64(16),
                "entry 1: an HS256 secret must be at least 32 bytes, got 16".to_string(),
            ),
            (
                format!("{},HS384:{}", b64(32), b64(32)),
                "entry 2: an HS384 secret must be at least 48 bytes, got 32".into(),
            ),
            (
                format!("RS256:{}", b64(32)),
                "entry 1: algorithm \"RS256\" is not allowed; \
                 legacy secrets are HS256, HS384 or HS512"
                    .into(),
            ),
            (format!("{},", b64(32)), "entry 2 is empty".into()),
            ("not base64!".into(), "entry 1 is not base64".into()),
        ] {
            assert_eq!(parse_legacy_secrets(&text).unwrap_err(), error, "{text}");
        }
    }

    #[test]
    fn hmac_secret_lengths_follow_rfc_7518() {
        for (alg, min) in [("HS256", 32), ("HS384", 48), ("HS512", 64)] {
            let short = vec![7u8; min - 1];
            let err = Material::parse(
                alg,
                RawKey {
                    secret: Some(&short),
                    ..Default::default()
                },
            )
            .err()
            .unwrap();
            assert_eq!(
                err,
                format!(
                    "an {alg} secret must be at least {min} bytes, got {}",
                    min - 1
                )
            );
            let ok = vec![7u8; min];
            assert!(Material::parse(
                alg,
                RawKey {
                    secret: Some(&ok),
                    ..Default::default()
                }
            )
            .is_ok());
        }
    }

    #[test]
    fn a_pem_text_is_not_an_hmac_secret() {
        let pem = b"-----BEGIN PUBLIC KEY-----\n\
                    MCowBQYDK2VwAyEAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa=\n\
                    -----END PUBLIC KEY-----\n";
        let err = Material::parse(
            "HS256",
            RawKey {
                secret: Some(pem),
                ..Default::default()
            },
        )
        .err()
        .unwrap();
        assert_eq!(
            err,
            "the HS256 secret looks like a PEM key; a public key is not a shared secret"
        );
        let mut ed = vec![
            0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
        ];
        ed.extend([7u8; 32]);
        let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &ed);
        let jwk =
            br#" {"kty":"OKP","crv":"Ed25519","x":"BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc"}"#;
        let bom_pem = [&b"\xef\xbb\xbfkey:\n"[..], &pem[..]].concat();
        for (secret, form) in [
            (&ed[..], "a DER public key"),
            (b64.as_bytes(), "a base64 public key"),
            (&jwk[..], "a JWK"),
            (&bom_pem[..], "a PEM key"),
        ] {
            let err = Material::parse(
                "HS256",
                RawKey {
                    secret: Some(secret),
                    ..Default::default()
                },
            )
            .err()
            .unwrap();
            assert_eq!(
                err,
                format!("the HS256 secret looks like {form}; a public key is not a shared secret")
            );
        }
    }

    #[test]
    fn asymmetric_keys_need_a_public_key() {
        let err = Material::parse("RS256", RawKey::default()).err().unwrap();
        assert_eq!(err, "an RS256 key needs a public key in PEM form");
        let err = Material::parse(
            "ES256",
            RawKey {
                secret: Some(b"x"),
                ..Default::default()
            },
        )
        .err()
        .unwrap();
        assert_eq!(err, "an ES256 key takes a public key, not a secret");
    }

    fn rsa(bits: usize, e: &[u8]) -> PublicKey {
        let mut n = vec![0xffu8; bits.div_ceil(8)];
        let spare = n.len() * 8 - bits;
        n[0] >>= spare;
        PublicKey::Rsa { n, e: e.to_vec() }
    }

    #[test]
    fn rsa_size_and_exponent_rules() {
        assert_eq!(
            check_family(Algorithm::RS256, &rsa(2047, &[1, 0, 1])).unwrap_err(),
            "an RSA key for RS256 must have at least 2048 bits, got 2047"
        );
        assert!(check_family(Algorithm::RS256, &rsa(2048, &[1, 0, 1])).is_ok());
        assert!(check_family(Algorithm::PS512, &rsa(16384, &[1, 0, 1])).is_ok());
        assert_eq!(
            check_family(Algorithm::PS512, &rsa(16385, &[1, 0, 1])).unwrap_err(),
            "an RSA key for PS512 may have at most 16384 bits, got 16385"
        );
        for e in [&[2u8][..], &[1], &[1, 0, 0]] {
            assert_eq!(
                check_family(Algorithm::RS256, &rsa(2048, e)).unwrap_err(),
                "the RSA public exponent must be odd and at least 3"
            );
        }
        assert!(check_family(Algorithm::RS256, &rsa(2048, &[3])).is_ok());
    }

    #[test]
    fn spki_reader_refuses_what_it_cannot_vouch_for() {
        use crate::der::public_key_from_spki;
        // An Ed25519 SPKI, then the same with a byte too many, too few, and trailing junk.
        let mut ed = vec![
            0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
        ];
        ed.extend([7u8; 32]);
        assert_eq!(
            public_key_from_spki(&ed).unwrap(),
            PublicKey::Ed25519 { x: vec![7; 32] }
        );
        let mut long = ed.clone();
        long.push(0);
        assert_eq!(
            public_key_from_spki(&long).unwrap_err(),
            "the key has trailing bytes"
        );
        assert!(public_key_from_spki(&ed[..ed.len() - 1]).is_err());
        // A compressed P-256 point.
        let mut ec = vec![
            0x30, 0x39, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06,
            0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x22, 0x00, 0x02,
        ];
        ec.extend([9u8; 32]);
        assert_eq!(
            public_key_from_spki(&ec).unwrap_err(),
            "the P-256 point must be uncompressed"
        );
    }
}
