//! Prints, for each algorithm, the median cost in microseconds of
//! (a) the signature check alone with a prepared verifier, as the extension keeps one per key, and
//! (b) a full `jsonwebtoken::decode` into a JSON value, the crate's own path,
//! over distinct tokens, so nothing is cached between iterations.
//!
//! Usage: revocation-floor KEYDIR [TOKENS]

use jsonwebtoken::crypto::CryptoProvider;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use std::time::Instant;

fn read(dir: &str, name: &str) -> Vec<u8> {
    std::fs::read(format!("{dir}/{name}")).unwrap_or_else(|e| panic!("{dir}/{name}: {e}"))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = args.next().expect("usage: revocation-floor KEYDIR [TOKENS]");
    let n: usize = args.next().map_or(2000, |s| s.parse().unwrap());
    let backend = if cfg!(feature = "rust_crypto") { "rust_crypto" } else { "aws_lc_rs" };

    let secret = b"0123456789abcdef0123456789abcdef".to_vec();
    let cases: Vec<(&str, Algorithm, EncodingKey, DecodingKey)> = vec![
        ("HS256", Algorithm::HS256, EncodingKey::from_secret(&secret).unwrap(),
         DecodingKey::from_secret(&secret).unwrap()),
        ("RS256", Algorithm::RS256, EncodingKey::from_rsa_pem(&read(&dir, "rsa2048.key")).unwrap(),
         DecodingKey::from_rsa_pem(&read(&dir, "rsa2048.pub")).unwrap()),
        ("PS256", Algorithm::PS256, EncodingKey::from_rsa_pem(&read(&dir, "rsa2048.key")).unwrap(),
         DecodingKey::from_rsa_pem(&read(&dir, "rsa2048.pub")).unwrap()),
        ("ES256", Algorithm::ES256, EncodingKey::from_ec_pem(&read(&dir, "p256.key")).unwrap(),
         DecodingKey::from_ec_pem(&read(&dir, "p256.pub")).unwrap()),
        ("EdDSA", Algorithm::EdDSA, EncodingKey::from_ed_pem(&read(&dir, "ed25519.key")).unwrap(),
         DecodingKey::from_ed_pem(&read(&dir, "ed25519.pub")).unwrap()),
    ];
    let provider = CryptoProvider::try_get_default().expect("one backend feature");

    println!("backend\talg\tverify_us\tdecode_us");
    for (name, alg, enc, dec) in cases {
        let header = Header::new(alg);
        let tokens: Vec<String> = (0..n)
            .map(|i| {
                let claims = serde_json::json!({"sub": "alice", "jti": format!("j-{i}"),
                                                "exp": 4_000_000_000u64});
                jsonwebtoken::encode(&header, &claims, &enc).unwrap()
            })
            .collect();
        let parts: Vec<(Vec<u8>, Vec<u8>)> = tokens
            .iter()
            .map(|t| {
                let (input, sig) = t.rsplit_once('.').unwrap();
                use base64::Engine;
                let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(sig).unwrap();
                (input.as_bytes().to_vec(), sig)
            })
            .collect();
        let verifier = (provider.verifier_factory)(&alg, &dec).unwrap();
        let mut validation = Validation::new(alg);
        validation.validate_aud = false;

        let (mut verify, mut decode) = (Vec::new(), Vec::new());
        for _round in 0..7 {
            let start = Instant::now();
            for (input, sig) in &parts {
                verifier.verify(input, sig).unwrap();
            }
            verify.push(start.elapsed().as_secs_f64() * 1e6 / n as f64);

            let start = Instant::now();
            for t in &tokens {
                jsonwebtoken::decode::<serde_json::Value>(t, &dec, &validation).unwrap();
            }
            decode.push(start.elapsed().as_secs_f64() * 1e6 / n as f64);
        }
        println!("{backend}\t{name}\t{:.2}\t{:.2}", median(verify), median(decode));
    }
}
