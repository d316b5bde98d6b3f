//! Arbitrary bytes as the header and payload of a token signed with the fixture's HMAC key, so
//! every input gets past the signature and exercises the claim checks. Input: `payload`, or
//! `header 0xFF payload`. Nothing may panic, and a token that is accepted must meet the policy,
//! checked here again from the JSON by an independent reading of the rules.

#![no_main]

use libfuzzer_sys::fuzz_target;
use revocation_fuzz::verification::{verify, MAX_TIME_CLAIM};
use revocation_fuzz::*;
use serde_json::Value;

fn has_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(has_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}

fn number(claims: &serde_json::Map<String, Value>, name: &str) -> Option<f64> {
    claims.get(name).map(|v| {
        let n = v
            .as_f64()
            .unwrap_or_else(|| panic!("accepted a non-numeric {name}: {v}"));
        assert!((0.0..=MAX_TIME_CLAIM).contains(&n), "accepted {name} = {n}");
        n
    })
}

fuzz_target!(|data: &[u8]| {
    let (header, payload) = match data.iter().position(|&b| b == 0xFF) {
        Some(split) => (data[..split].to_vec(), &data[split + 1..]),
        None => (header_for("hs").into_bytes(), data),
    };
    let token = sign(Some("hs"), &header, payload);
    let Ok(verified) = verify(&token, DATABASE, AT, ring(), &Fixed, &policy()) else {
        return;
    };

    let header: Value = serde_json::from_slice(&header).expect("accepted a non-JSON header");
    assert_eq!(header["alg"], "HS256");
    assert!(header.get("kid").is_none_or(|kid| kid == "hs"));
    assert!(
        header.get("crit").is_none(),
        "accepted a critical extension"
    );

    let claims: Value = serde_json::from_slice(payload).expect("accepted a non-JSON payload");
    let claims = claims
        .as_object()
        .expect("accepted a payload that is not an object");
    assert_eq!(&verified.claims, claims);

    let exp = number(claims, "exp").expect("accepted a token without exp");
    assert!(exp > AT - LEEWAY, "accepted an expired token");
    if let Some(nbf) = number(claims, "nbf") {
        assert!(nbf <= AT + LEEWAY, "accepted a token before its nbf");
    }
    let iat = number(claims, "iat");
    if let Some(iat) = iat {
        assert!(iat <= AT + LEEWAY, "accepted a token issued in the future");
    }
    assert_eq!(claims["iss"], ISSUER);
    match &claims["aud"] {
        Value::String(aud) => assert_eq!(aud, AUDIENCE),
        Value::Array(items) => {
            assert!(items.iter().all(Value::is_string));
            assert!(items.iter().any(|a| a == AUDIENCE));
        }
        other => panic!("accepted aud = {other}"),
    }
    let dbs = claims[DATABASES_CLAIM]
        .as_array()
        .expect("accepted without a databases claim");
    assert!(dbs.iter().all(Value::is_string) && dbs.iter().any(|d| d == DATABASE));
    let jti = claims["jti"]
        .as_str()
        .expect("accepted without a string jti");
    assert!(!jti.is_empty() && jti.len() <= 256 && jti != REVOKED_JTI);
    assert_eq!(verified.jti.as_deref(), Some(jti));
    match claims.get("sub") {
        None => {}
        Some(Value::String(sub)) => {
            assert!(!sub.is_empty() && sub.len() <= 1024);
            if sub == CUT_SUBJECT {
                assert!(
                    iat.is_some_and(|iat| iat >= CUTOFF),
                    "accepted a revoked subject"
                );
            }
        }
        Some(other) => panic!("accepted sub = {other}"),
    }
    assert!(!has_nul(&Value::Object(claims.clone())), "accepted a NUL");
});
