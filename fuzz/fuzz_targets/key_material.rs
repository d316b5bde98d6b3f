//! Arbitrary bytes as key material, the way `jwt_add_key`, the key table's trigger and
//! `revocation.legacy_secrets` take it. Nothing may panic; an accepted HMAC secret has the
//! length its algorithm needs; a public key that parses writes out as SPKI and PEM that parse
//! back to the same key. Input: one byte choosing the algorithm and the field, then the material.

#![no_main]

use libfuzzer_sys::fuzz_target;
use revocation_fuzz::der;
use revocation_fuzz::keys::{parse_legacy_secrets, Material, RawKey};

const ALGS: [&str; 13] = [
    "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256",
    "ES384", "EdDSA", "none",
];

fuzz_target!(|data: &[u8]| {
    let Some((&choice, material)) = data.split_first() else {
        return;
    };
    let alg = ALGS[choice as usize % ALGS.len()];
    let text = String::from_utf8_lossy(material);
    let raw = match (choice / 16) % 3 {
        0 => RawKey {
            secret: Some(material),
            ..RawKey::default()
        },
        1 => RawKey {
            public_key: Some(&text),
            ..RawKey::default()
        },
        _ => RawKey {
            public_key: Some(&text),
            private_key: Some(&text),
            ..RawKey::default()
        },
    };
    let parsed = Material::parse(alg, raw);
    if let Some(secret) = raw.secret {
        // A public key is public: as an HMAC secret it would let anyone sign.
        let holds_public_key = secret.windows(10).any(|w| w == b"-----BEGIN")
            || der::public_key_from_spki(secret).is_ok()
            || der::public_key_from_pkcs1(secret).is_ok();
        if holds_public_key {
            assert!(parsed.is_err(), "{alg} accepted a public key as its secret");
        }
    }
    if let Ok(parsed) = parsed {
        if let Some(secret) = raw.secret {
            let need = match alg {
                "HS256" => 32,
                "HS384" => 48,
                "HS512" => 64,
                other => panic!("{other} accepted a secret"),
            };
            assert!(
                secret.len() >= need,
                "{alg} accepted a {}-byte secret",
                secret.len()
            );
        } else {
            // The key's family and size fit the algorithm.
            match (alg, parsed.public.as_ref()) {
                ("RS256" | "RS384" | "RS512" | "PS256" | "PS384" | "PS512", Some(key)) => {
                    let bits = key.rsa_bits().expect("an RSA algorithm took a non-RSA key");
                    assert!(bits >= 2048, "{alg} accepted a {bits}-bit key");
                }
                ("ES256", Some(der::PublicKey::Ec { curve, .. })) => {
                    assert_eq!(*curve, der::Curve::P256)
                }
                ("ES384", Some(der::PublicKey::Ec { curve, .. })) => {
                    assert_eq!(*curve, der::Curve::P384)
                }
                ("EdDSA", Some(der::PublicKey::Ed25519 { .. })) => {}
                (alg, key) => panic!("{alg} accepted {key:?}"),
            }
        }
    }

    if let Ok(key) = der::public_key_from_pem(&text) {
        assert_eq!(der::public_key_from_spki(&key.to_spki()).as_ref(), Ok(&key));
        assert_eq!(der::public_key_from_pem(&key.to_pem()).as_ref(), Ok(&key));
    }
    if let Ok(key) = der::public_key_from_spki(material) {
        assert_eq!(key.to_spki(), material, "one key, two DER spellings");
    }
    let _ = der::public_key_from_pkcs1(material);

    if let Ok(secrets) = parse_legacy_secrets(&text) {
        for (alg, secret) in secrets {
            let need = match alg {
                jsonwebtoken::Algorithm::HS256 => 32,
                jsonwebtoken::Algorithm::HS384 => 48,
                jsonwebtoken::Algorithm::HS512 => 64,
                other => panic!("a legacy secret for {other:?}"),
            };
            assert!(
                secret.len() >= need,
                "a {}-byte legacy secret",
                secret.len()
            );
        }
    }
});
