//! Arbitrary text as a token. Nothing may panic; a token is accepted only if its header and
//! payload are exactly those of a token the fixture signed and meant to pass, and is authentic
//! only if they are those of any token the fixture signed. The fuzzer cannot forge a signature,
//! so any other outcome is a hole in the verdict. (A second valid signature over the same input,
//! as ECDSA allows, is not a forgery: revocation by jti covers it.)

#![no_main]

use libfuzzer_sys::fuzz_target;
use revocation_fuzz::verification::{authenticate, verify, KeyWindow};
use revocation_fuzz::*;

fuzz_target!(|data: &[u8]| {
    let token = String::from_utf8_lossy(data);
    if verify(&token, DATABASE, AT, ring(), &Fixed, &policy()).is_ok() {
        assert!(
            accepted_in_fixture(&token),
            "accepted a token the fixture did not mean to pass: {token:?}"
        );
    }
    // With the key window ignored, as jwt_revoke_token checks a token.
    if authenticate(&token, AT, ring(), &policy(), KeyWindow::Ignored).is_ok() {
        assert!(
            signed_in_fixture(&token),
            "authenticated a token nobody signed: {token:?}"
        );
    }
});
