//! Writes the seed corpus of each fuzz target into `fuzz/seeds/<target>/`, and checks on the way
//! that every seed token gets the verdict the fixture says it must.
//!
//! Run from `fuzz/`: `cargo run --bin seeds [DIR]` (default: `fuzz/seeds`). The ES256 seeds get
//! new signatures each time (ECDSA is randomized), so regenerating rewrites them.

use revocation_fuzz::verification::verify;
use revocation_fuzz::*;
use std::fs;
use std::path::Path;

fn write(target: &str, name: &str, bytes: &[u8]) {
    let root = std::env::args().nth(1).map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds"),
        std::path::PathBuf::from,
    );
    let dir = root.join(target);
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join(name), bytes).unwrap();
}

fn main() {
    for (i, (token, expected)) in seeds().iter().enumerate() {
        let got = verify(token, DATABASE, AT, ring(), &Fixed, &policy())
            .err()
            .map(|r| r.reason);
        assert_eq!(&got, expected, "seed {i}");
        write("token", &format!("seed-{i:02}"), token.as_bytes());
    }

    let mut claims = vec![good_claims("jti-claims")];
    claims.push(claims[0].replace("\"alice\"", "\"cut-off-subject\""));
    claims.push(claims[0].replace("[\"app\"]", "[\"app\",\"x\"]"));
    claims.push(claims[0].replace("[\"api\",\"other\"]", "\"api\""));
    for (i, c) in claims.iter().enumerate() {
        write("signed_claims", &format!("seed-{i:02}"), c.as_bytes());
        let mut with_header = header_for("hs").into_bytes();
        with_header.push(0xFF);
        with_header.extend_from_slice(c.as_bytes());
        write("signed_claims", &format!("seed-h{i:02}"), &with_header);
    }

    let keys = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/keys");
    for (i, (choice, file)) in [
        (16u8 + 9, "p256.pub"),
        (16 + 3, "rsa2048.pub"),
        (16 + 3, "rsa2048.pkcs1.pub"),
        (16 + 11, "ed25519.pub"),
        (32 + 9, "p256.key"),
    ]
    .iter()
    .enumerate()
    {
        let mut bytes = vec![*choice];
        bytes.extend(fs::read(keys.join(file)).unwrap());
        write("key_material", &format!("seed-{i:02}"), &bytes);
    }
    write(
        "key_material",
        "seed-hmac",
        b"\x00fuzz-hmac-secret-of-32-bytes-!!!",
    );
    write(
        "key_material",
        "seed-legacy",
        b"\x00ZnV6ei1sZWdhY3ktc2VjcmV0LTMyLWJ5dGVzLWxvbmc",
    );

    write(
        "revoked_set",
        "seed-00",
        &[0, 1, 200, 0, 0, 2, 0, 0, 1, 0, 30, 0, 2, 0, 0, 0],
    );
    println!("seeds written; every seed token got its verdict");
}
