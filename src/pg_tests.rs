//! In-database tests: every algorithm, every rejection reason, every key rule, each with its
//! exact outcome. Tokens here are built byte by byte so that each test controls the header, the
//! payload and the signature; tests/ adds tokens from PyJWT.

#[pgrx::pg_schema]
mod tests {
    use base64::Engine;
    use jsonwebtoken::{Algorithm, EncodingKey};
    use pgrx::prelude::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef"; // 32 bytes: the HS256 minimum
    const RSA_PUB: &str = include_str!("../tests/keys/rsa2048.pub");
    const RSA_KEY: &str = include_str!("../tests/keys/rsa2048.key");
    const RSA_PKCS1_PUB: &str = include_str!("../tests/keys/rsa2048.pkcs1.pub");
    const RSA_OTHER_KEY: &str = include_str!("../tests/keys/rsa2048b.key");
    const RSA1024_PUB: &str = include_str!("../tests/keys/rsa1024.pub");
    const P256_PUB: &str = include_str!("../tests/keys/p256.pub");
    const P256_KEY: &str = include_str!("../tests/keys/p256.key");
    const P384_PUB: &str = include_str!("../tests/keys/p384.pub");
    const P384_KEY: &str = include_str!("../tests/keys/p384.key");
    const P521_PUB: &str = include_str!("../tests/keys/p521.pub");
    const K256_PUB: &str = include_str!("../tests/keys/k256.pub");
    const ED_PUB: &str = include_str!("../tests/keys/ed25519.pub");
    const ED_KEY: &str = include_str!("../tests/keys/ed25519.key");
    const ED448_PUB: &str = include_str!("../tests/keys/ed448.pub");

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    fn now() -> i64 {
        Spi::get_one::<f64>("SELECT extract(epoch FROM statement_timestamp())::float8")
            .unwrap()
            .unwrap() as i64
    }

    /// A token with exactly this header and payload, signed with `key` as `alg`.
    fn token(header: &str, payload: &str, alg: Algorithm, key: &EncodingKey) -> String {
        let input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
        let sig = jsonwebtoken::crypto::sign(input.as_bytes(), key, alg).unwrap();
        format!("{input}.{sig}")
    }

    fn hs256(header: &str, payload: &str) -> String {
        token(
            header,
            payload,
            Algorithm::HS256,
            &EncodingKey::from_secret(SECRET.as_bytes()).unwrap(),
        )
    }

    /// A payload that is valid now, with `extra` claims spliced in.
    fn claims(extra: &str) -> String {
        let exp = now() + 600;
        if extra.is_empty() {
            format!(r#"{{"sub":"alice","jti":"j-1","exp":{exp}}}"#)
        } else {
            format!(r#"{{"sub":"alice","jti":"j-1","exp":{exp},{extra}}}"#)
        }
    }

    fn add_hs256(kid: &str) {
        Spi::run_with_args(
            "SELECT revocation.jwt_add_key($1, 'HS256', secret => convert_to($2, 'UTF8'), \
             usable_from => now() - interval '1 day')",
            &[kid.into(), SECRET.into()],
        )
        .unwrap();
    }

    const RETIRED_YESTERDAY: &str =
        "usable_from => now() - interval '2 days', retired_at => now() - interval '1 day'";

    /// Adds an HMAC key whose secret is `len` bytes of `byte_hex`, with a window in SQL.
    fn add_secret(kid: &str, alg: &str, byte_hex: &str, len: usize, window: &str) {
        Spi::run_with_args(
            &format!(
                "SELECT revocation.jwt_add_key($1, $2, \
                 secret => decode(repeat($3, {len}), 'hex'), {window})"
            ),
            &[kid.into(), alg.into(), byte_hex.into()],
        )
        .unwrap();
    }

    fn add_public(kid: &str, alg: &str, public: &str, private: Option<&str>) {
        Spi::run_with_args(
            "SELECT revocation.jwt_add_key($1, $2, public_key => $3, private_key => $4, \
             usable_from => now() - interval '1 day')",
            &[kid.into(), alg.into(), public.into(), private.into()],
        )
        .unwrap();
    }

    /// (active, reason) from jwt_check.
    fn verdict(token: &str) -> (bool, Option<String>) {
        Spi::get_two_with_args::<bool, String>(
            "SELECT active, reason FROM revocation.jwt_check($1)",
            &[token.into()],
        )
        .map(|(a, r)| (a.unwrap(), r))
        .unwrap()
    }

    fn reason(token: &str) -> String {
        match verdict(token) {
            (false, Some(reason)) => reason,
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    /// The SQLSTATE and message jwt_verify raises, or "ok".
    fn raised(token: &str) -> String {
        Spi::run(
            "CREATE OR REPLACE FUNCTION pg_temp.raised(t text) RETURNS text LANGUAGE plpgsql AS $$ \
             BEGIN PERFORM revocation.jwt_verify(t); RETURN 'ok'; \
             EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $$",
        )
        .unwrap();
        Spi::get_one_with_args::<String>("SELECT pg_temp.raised($1)", &[token.into()])
            .unwrap()
            .unwrap()
    }

    /// Runs `sql` with text parameters and returns "ok" or "SQLSTATE: message".
    fn outcome(sql: &str, args: &[&str]) -> String {
        Spi::run(
            "CREATE OR REPLACE FUNCTION pg_temp.try_sql(q text, a text[]) RETURNS text \
             LANGUAGE plpgsql AS $$ BEGIN EXECUTE q USING a[1], a[2], a[3]; RETURN 'ok'; \
             EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $$",
        )
        .unwrap();
        let args: Vec<Option<String>> = args.iter().map(|a| Some(a.to_string())).collect();
        Spi::get_one_with_args::<String>(
            "SELECT pg_temp.try_sql($1, $2)",
            &[sql.into(), args.into()],
        )
        .unwrap()
        .unwrap()
    }

    /// The error jwt_add_key raises for a key that breaks `rule`.
    fn refused(kid: &str, rule: &str) -> String {
        format!("22023: signing key \"{kid}\" is refused: {rule}")
    }

    fn key_count() -> i64 {
        Spi::get_one::<i64>("SELECT count(*) FROM revocation.signing_keys")
            .unwrap()
            .unwrap()
    }

    // ---- every algorithm, signed here and verified ----

    #[pg_test]
    fn every_algorithm_verifies() {
        add_hs256("hs256");
        add_secret(
            "hs384",
            "HS384",
            "ab",
            48,
            "usable_from => now() - interval '1 day'",
        );
        add_secret(
            "hs512",
            "HS512",
            "cd",
            64,
            "usable_from => now() - interval '1 day'",
        );
        for alg in ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"] {
            add_public(&alg.to_lowercase(), alg, RSA_PUB, Some(RSA_KEY));
        }
        add_public("es256", "ES256", P256_PUB, Some(P256_KEY));
        add_public("es384", "ES384", P384_PUB, Some(P384_KEY));
        add_public("eddsa", "EdDSA", ED_PUB, Some(ED_KEY));

        for kid in [
            "hs256", "hs384", "hs512", "rs256", "rs384", "rs512", "ps256", "ps384", "ps512",
            "es256", "es384", "eddsa",
        ] {
            let token = Spi::get_one_with_args::<String>(
                "SELECT revocation.jwt_sign('{\"sub\":\"bob\"}', $1)",
                &[kid.into()],
            )
            .unwrap()
            .unwrap();
            let header: serde_json::Value = serde_json::from_slice(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(token.split('.').next().unwrap())
                    .unwrap(),
            )
            .unwrap();
            assert_eq!(header["kid"], kid);
            assert_eq!(header["typ"], "JWT");
            assert_eq!(header["alg"].as_str().unwrap().to_lowercase(), kid);
            let sub = Spi::get_one_with_args::<String>(
                "SELECT revocation.jwt_verify($1)->>'sub'",
                &[token.clone().into()],
            )
            .unwrap();
            assert_eq!(sub.as_deref(), Some("bob"), "{kid}");
            let (active, kid_seen) = Spi::get_two_with_args::<bool, String>(
                "SELECT active, kid FROM revocation.jwt_check($1)",
                &[token.into()],
            )
            .unwrap();
            assert_eq!((active, kid_seen.as_deref()), (Some(true), Some(kid)));
        }
    }

    #[pg_test]
    fn sign_adds_jti_iat_and_exp() {
        add_hs256("k");
        let claims = Spi::get_one::<pgrx::JsonB>(
            "SELECT revocation.jwt_verify(\
             revocation.jwt_sign('{\"sub\":\"a\"}', lifetime => '90 seconds'))",
        )
        .unwrap()
        .unwrap()
        .0;
        let iat = claims["iat"].as_i64().unwrap();
        assert_eq!(claims["exp"].as_i64().unwrap() - iat, 90);
        assert!((iat - now()).abs() <= 1);
        assert_eq!(claims["jti"].as_str().unwrap().len(), 22);
        let again = Spi::get_one::<String>(
            "SELECT revocation.jwt_verify(revocation.jwt_sign('{}'))->>'jti'",
        )
        .unwrap()
        .unwrap();
        assert_ne!(again, claims["jti"].as_str().unwrap());
    }

    #[pg_test]
    fn sign_keeps_the_callers_claims() {
        add_hs256("k");
        let claims = Spi::get_one::<pgrx::JsonB>(&format!(
            "SELECT revocation.jwt_verify(revocation.jwt_sign('{{\"jti\":\"mine\",\"exp\":{}}}'))",
            now() + 42
        ))
        .unwrap()
        .unwrap()
        .0;
        assert_eq!(claims["jti"], "mine");
        assert_eq!(claims["exp"].as_i64().unwrap(), now() + 42);
    }

    #[pg_test]
    fn sign_picks_the_newest_key_in_use() {
        add_hs256("old");
        add_secret(
            "new",
            "HS256",
            "11",
            32,
            "usable_from => now() - interval '1 hour'",
        );
        add_secret(
            "future",
            "HS256",
            "22",
            32,
            "usable_from => now() + interval '1 hour'",
        );
        let kid = Spi::get_one::<String>(
            "SELECT kid FROM revocation.jwt_check(revocation.jwt_sign('{}'))",
        )
        .unwrap();
        assert_eq!(kid.as_deref(), Some("new"));
    }

    #[pg_test(error = "signing key \"pub\" has no private key; it can only verify")]
    fn sign_needs_a_private_key() {
        add_public("pub", "RS256", RSA_PUB, None);
        Spi::run("SELECT revocation.jwt_sign('{}', 'pub')").unwrap();
    }

    #[pg_test(
        error = "signing key \"gone\" is retired or not yet in use; such a key only verifies"
    )]
    fn sign_refuses_a_retired_key() {
        add_secret("gone", "HS256", "11", 32, RETIRED_YESTERDAY);
        Spi::run("SELECT revocation.jwt_sign('{}', 'gone')").unwrap();
    }

    #[pg_test]
    fn sign_refuses_claims_verify_would_refuse() {
        add_hs256("k");
        // (claims, the claim refused, its rule)
        for (claims, name, rule) in [
            (
                r#"{"exp":"soon"}"#,
                "exp",
                "must be a JSON number of seconds since 1970",
            ),
            (r#"{"sub":{"id":1}}"#, "sub", "must be a string"),
            (
                r#"{"dbs":[]}"#,
                "dbs",
                "must be a non-empty array of database names",
            ),
            (
                r#"{"aud":5}"#,
                "aud",
                "must be a string or an array of strings",
            ),
        ] {
            let expected = format!("22023: invalid {name} claim: The {name} claim {rule}.");
            let sql = "SELECT revocation.jwt_sign($1::jsonb)";
            assert_eq!(outcome(sql, &[claims]), expected, "{claims}");
        }
    }

    // ---- each rejection reason: name, SQLSTATE and message ----

    #[pg_test]
    fn rejection_reasons() {
        add_hs256("k");
        add_public("rsa", "RS256", RSA_PUB, Some(RSA_KEY));
        Spi::run_with_args(
            &format!(
                "SELECT revocation.jwt_add_key('retired', 'HS256', \
                 secret => convert_to($1, 'UTF8'), {RETIRED_YESTERDAY})"
            ),
            &[SECRET.into()],
        )
        .unwrap();
        let n = now();
        let ok_header = r#"{"alg":"HS256","kid":"k","typ":"JWT"}"#;
        let valid = hs256(ok_header, &claims(""));
        assert_eq!(verdict(&valid), (true, None));
        assert_eq!(raised(&valid), "ok");

        let other_key = EncodingKey::from_secret(b"another secret, also 32 bytes lo").unwrap();
        let rsa_other = EncodingKey::from_rsa_pem(RSA_OTHER_KEY.as_bytes()).unwrap();
        let cases: Vec<(&str, String, &str, &str)> = vec![
            (
                "empty",
                String::new(),
                "malformed",
                "28J01: token must have three segments separated by dots",
            ),
            (
                "two segments",
                "a.b".into(),
                "malformed",
                "28J01: token must have three segments separated by dots",
            ),
            (
                "four segments",
                "a.b.c.d".into(),
                "malformed",
                "28J01: token must have three segments separated by dots",
            ),
            (
                "jwe",
                "a.b.c.d.e".into(),
                "malformed",
                "28J01: encrypted tokens (JWE) are not supported",
            ),
            (
                "padded header",
                format!(
                    "{}=.{}",
                    b64(ok_header.as_bytes()),
                    valid.split_once('.').unwrap().1
                ),
                "malformed",
                "28J01: token header is not base64url",
            ),
            (
                "header not json",
                format!("{}.e30.", b64(b"hello")),
                "malformed",
                "28J01: token header is not a JSON object",
            ),
            (
                "no alg",
                hs256(r#"{"kid":"k"}"#, &claims("")),
                "malformed",
                "28J01: token header has no alg",
            ),
            (
                "crit",
                hs256(r#"{"alg":"HS256","kid":"k","crit":["exp"]}"#, &claims("")),
                "malformed",
                "28J01: token header lists critical extensions, which are not supported",
            ),
            (
                "kid number",
                hs256(r#"{"alg":"HS256","kid":7}"#, &claims("")),
                "malformed",
                "28J01: token header kid is not a string",
            ),
            (
                "payload not object",
                hs256(ok_header, "[1]"),
                "malformed",
                "28J01: token payload is not a JSON object",
            ),
            (
                "too large",
                format!("{}.{}.x", b64(ok_header.as_bytes()), "a".repeat(20_000)),
                "too_large",
                "28J02: token is too long",
            ),
            (
                "alg none",
                format!(
                    "{}.{}.",
                    b64(br#"{"alg":"none"}"#),
                    b64(claims("").as_bytes())
                ),
                "algorithm_not_allowed",
                "28J03: token algorithm \"none\" is not allowed",
            ),
            (
                "alg NONE with signature",
                format!(
                    "{}.{}.c2ln",
                    b64(br#"{"alg":"NONE","kid":"k"}"#),
                    b64(claims("").as_bytes())
                ),
                "algorithm_not_allowed",
                "28J03: token algorithm \"NONE\" is not allowed",
            ),
            (
                "alg mismatch",
                hs256(r#"{"alg":"HS256","kid":"rsa"}"#, &claims("")),
                "algorithm_not_allowed",
                "28J03: token algorithm \"HS256\" does not match signing key \"rsa\"",
            ),
            (
                "unknown kid",
                hs256(r#"{"alg":"HS256","kid":"nope"}"#, &claims("")),
                "unknown_key",
                "28J04: unknown signing key \"nope\"",
            ),
            (
                "no key for alg",
                token(
                    r#"{"alg":"ES256"}"#,
                    &claims(""),
                    Algorithm::ES256,
                    &EncodingKey::from_ec_pem(P256_KEY.as_bytes()).unwrap(),
                ),
                "unknown_key",
                "28J04: no signing key for algorithm ES256 is in use",
            ),
            (
                "retired key",
                hs256(r#"{"alg":"HS256","kid":"retired"}"#, &claims("")),
                "key_inactive",
                "28J05: signing key \"retired\" is not in use at this time",
            ),
            (
                "wrong secret",
                token(ok_header, &claims(""), Algorithm::HS256, &other_key),
                "bad_signature",
                "28J06: invalid token signature",
            ),
            (
                "wrong rsa key",
                token(
                    r#"{"alg":"RS256","kid":"rsa"}"#,
                    &claims(""),
                    Algorithm::RS256,
                    &rsa_other,
                ),
                "bad_signature",
                "28J06: invalid token signature",
            ),
            (
                "expired and wrong key",
                token(
                    ok_header,
                    &format!(r#"{{"exp":{}}}"#, n - 3600),
                    Algorithm::HS256,
                    &other_key,
                ),
                "bad_signature",
                "28J06: invalid token signature",
            ),
            (
                "no exp",
                hs256(ok_header, r#"{"sub":"a"}"#),
                "invalid_claim",
                "28J07: token has no exp claim",
            ),
            (
                "exp string",
                hs256(ok_header, &format!(r#"{{"exp":"{}"}}"#, n + 600)),
                "invalid_claim",
                "28J07: invalid exp claim",
            ),
            (
                "exp negative",
                hs256(ok_header, r#"{"exp":-1}"#),
                "invalid_claim",
                "28J07: invalid exp claim",
            ),
            (
                "exp huge",
                hs256(ok_header, r#"{"exp":1e300}"#),
                "invalid_claim",
                "28J07: invalid exp claim",
            ),
            (
                "nbf null",
                hs256(ok_header, &claims(r#""nbf":null"#)),
                "invalid_claim",
                "28J07: invalid nbf claim",
            ),
            (
                "jti number",
                hs256(ok_header, &format!(r#"{{"exp":{},"jti":5}}"#, n + 600)),
                "invalid_claim",
                "28J07: invalid jti claim",
            ),
            (
                "jti too long",
                hs256(
                    ok_header,
                    &format!(r#"{{"exp":{},"jti":"{}"}}"#, n + 600, "j".repeat(257)),
                ),
                "invalid_claim",
                "28J07: invalid jti claim",
            ),
            (
                "sub number",
                hs256(
                    ok_header,
                    &claims(r#""sub":42"#).replace(r#""sub":"alice","#, ""),
                ),
                "invalid_claim",
                "28J07: invalid sub claim",
            ),
            (
                "aud number",
                hs256(ok_header, &claims(r#""aud":7"#)),
                "invalid_claim",
                "28J07: invalid aud claim",
            ),
            (
                "iss object",
                hs256(ok_header, &claims(r#""iss":{}"#)),
                "invalid_claim",
                "28J07: invalid iss claim",
            ),
            (
                "nul in payload",
                hs256(ok_header, &claims(r#""name":"a\u0000b""#)),
                "malformed",
                "28J01: token payload contains a NUL character, which PostgreSQL cannot store",
            ),
            (
                "expired",
                hs256(ok_header, &format!(r#"{{"exp":{}}}"#, n - 31)),
                "expired",
                "28J08: token has expired",
            ),
            (
                "nbf future",
                hs256(ok_header, &claims(&format!(r#""nbf":{}"#, n + 120))),
                "not_yet_valid",
                "28J09: token is not yet valid",
            ),
            (
                "iat future",
                hs256(ok_header, &claims(&format!(r#""iat":{}"#, n + 120))),
                "not_yet_valid",
                "28J09: token was issued in the future",
            ),
            (
                "dbs not listed",
                hs256(ok_header, &claims(r#""dbs":["other"]"#)),
                "database_not_allowed",
                "28J12: token is not valid for database \"pgrx_tests\"",
            ),
            (
                "dbs empty",
                hs256(ok_header, &claims(r#""dbs":[]"#)),
                "invalid_claim",
                "28J07: invalid dbs claim",
            ),
            (
                "dbs string",
                hs256(ok_header, &claims(r#""dbs":"pgrx_tests""#)),
                "invalid_claim",
                "28J07: invalid dbs claim",
            ),
        ];
        for (name, token, expected_reason, expected_error) in cases {
            assert_eq!(reason(&token), expected_reason, "{name}");
            assert_eq!(raised(&token), expected_error, "{name}");
        }
    }

    #[pg_test]
    fn time_claims_within_leeway_and_floats() {
        add_hs256("k");
        let n = now();
        let h = r#"{"alg":"HS256","kid":"k"}"#;
        // 29 s past exp is inside the default 30 s leeway; a float exp is legal.
        let j = r#""jti":"t""#;
        assert_eq!(
            verdict(&hs256(h, &format!(r#"{{{j},"exp":{}}}"#, n - 29))),
            (true, None)
        );
        assert_eq!(
            verdict(&hs256(h, &format!(r#"{{{j},"exp":{}.75}}"#, n + 600))),
            (true, None)
        );
        assert_eq!(
            verdict(&hs256(
                h,
                &format!(r#"{{{j},"exp":{},"nbf":{}}}"#, n + 600, n + 20)
            )),
            (true, None)
        );
        Spi::run("SET revocation.leeway = 0").unwrap();
        assert_eq!(
            reason(&hs256(h, &format!(r#"{{"exp":{}}}"#, n - 1))),
            "expired"
        );
        assert_eq!(
            reason(&hs256(
                h,
                &format!(r#"{{"exp":{},"nbf":{}}}"#, n + 600, n + 20)
            )),
            "not_yet_valid"
        );
    }

    #[pg_test(
        error = "301 s is outside the valid range for parameter \"revocation.leeway\" (0 .. 300)"
    )]
    fn leeway_is_bounded() {
        Spi::run("SET revocation.leeway = 301").unwrap();
    }

    #[pg_test]
    fn audience_and_issuer_when_configured() {
        add_hs256("k");
        let h = r#"{"alg":"HS256","kid":"k"}"#;
        Spi::run("SET revocation.audience = 'api'").unwrap();
        assert_eq!(verdict(&hs256(h, &claims(r#""aud":"api""#))), (true, None));
        assert_eq!(
            verdict(&hs256(h, &claims(r#""aud":["x","api"]"#))),
            (true, None)
        );
        assert_eq!(
            reason(&hs256(h, &claims(r#""aud":["x"]"#))),
            "audience_mismatch"
        );
        assert_eq!(
            reason(&hs256(h, &claims(r#""aud":[]"#))),
            "audience_mismatch"
        );
        assert_eq!(
            reason(&hs256(h, &claims(r#""aud":"API""#))),
            "audience_mismatch"
        );
        assert_eq!(reason(&hs256(h, &claims(""))), "audience_mismatch");
        assert_eq!(
            raised(&hs256(h, &claims(""))),
            "28J10: token has no aud claim"
        );
        assert_eq!(reason(&hs256(h, &claims(r#""aud":7"#))), "invalid_claim");
        Spi::run("RESET revocation.audience; SET revocation.issuer = 'https://idp'").unwrap();
        assert_eq!(
            verdict(&hs256(h, &claims(r#""iss":"https://idp""#))),
            (true, None)
        );
        assert_eq!(
            raised(&hs256(h, &claims(r#""iss":"https://evil""#))),
            "28J11: token issuer does not match"
        );
        assert_eq!(
            raised(&hs256(h, &claims(""))),
            "28J11: token has no iss claim"
        );
    }

    #[pg_test]
    fn kid_absent_tries_every_key_of_the_alg() {
        add_hs256("a");
        add_secret(
            "b",
            "HS256",
            "42",
            32,
            "usable_from => now() - interval '1 day'",
        );
        let second = EncodingKey::from_secret(&[0x42; 32]).unwrap();
        let t = token(r#"{"alg":"HS256"}"#, &claims(""), Algorithm::HS256, &second);
        let kid = Spi::get_one_with_args::<String>(
            "SELECT kid FROM revocation.jwt_check($1)",
            &[t.into()],
        )
        .unwrap();
        assert_eq!(kid.as_deref(), Some("b"));
    }

    #[pg_test]
    fn check_answers_as_of_a_given_time() {
        add_hs256("k");
        let n = now();
        let t = hs256(
            r#"{"alg":"HS256","kid":"k"}"#,
            &format!(r#"{{"jti":"old","exp":{}}}"#, n - 3600),
        );
        assert_eq!(reason(&t), "expired");
        let active = Spi::get_one_with_args::<bool>(
            "SELECT active FROM revocation.jwt_check($1, at => now() - interval '2 hours')",
            &[t.into()],
        )
        .unwrap();
        assert_eq!(active, Some(true));
    }

    #[pg_test]
    fn a_key_added_in_this_session_is_seen_at_once() {
        let t = hs256(r#"{"alg":"HS256","kid":"late"}"#, &claims(""));
        assert_eq!(reason(&t), "unknown_key");
        add_hs256("late");
        assert_eq!(verdict(&t), (true, None));
        Spi::run("DELETE FROM revocation.signing_keys WHERE kid = 'late'").unwrap();
        assert_eq!(reason(&t), "unknown_key");
    }

    #[pg_test]
    fn null_token_is_refused_not_accepted() {
        let (active, reason) =
            Spi::get_two::<bool, String>("SELECT active, reason FROM revocation.jwt_check(NULL)")
                .unwrap();
        assert_eq!(
            (active, reason.as_deref()),
            (Some(false), Some("malformed"))
        );
        assert!(
            Spi::get_one::<pgrx::JsonB>("SELECT revocation.jwt_verify(NULL)")
                .unwrap()
                .is_none()
        );
    }

    #[pg_test]
    fn revoked_and_jti_required() {
        add_hs256("k");
        let h = r#"{"alg":"HS256","kid":"k"}"#;
        let t = hs256(h, &claims(""));
        let at = Spi::get_one_with_args::<pgrx::datum::TimestampWithTimeZone>(
            "SELECT revocation.jwt_revoke('j-1', 'test')",
            &[],
        )
        .unwrap();
        assert!(at.is_some());
        // In force at commit, in this session too: this test runs in one open transaction.
        assert_eq!(verdict(&t), (true, None));
        let again = Spi::get_one::<bool>(
            "SELECT revocation.jwt_revoke('j-1') = invalidated_at \
             FROM revocation.invalidated_tokens WHERE jti = 'j-1'",
        )
        .unwrap();
        assert_eq!(again, Some(true));
        let who = Spi::get_two::<String, String>(
            "SELECT revoked_by, reason FROM revocation.invalidated_tokens WHERE jti = 'j-1'",
        )
        .unwrap();
        assert_eq!(who, (Some("postgres".into()), Some("test".into())));

        let n = now();
        let bare = hs256(h, &format!(r#"{{"exp":{}}}"#, n + 600));
        assert_eq!(raised(&bare), "28J14: token has no jti claim");
        Spi::run("SET revocation.require_jti = off").unwrap();
        assert_eq!(verdict(&bare), (true, None));
    }

    #[pg_test]
    fn revocation_audit_columns_never_change() {
        Spi::run("SELECT revocation.jwt_revoke('fixed')").unwrap();
        assert_eq!(
            outcome(
                "UPDATE revocation.invalidated_tokens \
                 SET invalidated_at = now() - interval '1 day'",
                &[]
            ),
            "23000: column invalidated_at of a revocation cannot change"
        );
        assert_eq!(
            outcome(
                "UPDATE revocation.invalidated_tokens SET jti = 'moved'",
                &[]
            ),
            "23000: column jti of a revocation cannot change"
        );
        assert_eq!(
            outcome(
                "UPDATE revocation.invalidated_tokens SET reason = 'noted'",
                &[]
            ),
            "ok"
        );
    }

    /// A pg_test runs in one transaction: its three revocations share the one number it took.
    #[pg_test]
    fn revocations_are_numbered() {
        Spi::run(
            "SELECT revocation.jwt_revoke('a'); SELECT revocation.jwt_revoke('b'); \
             SELECT revocation.jwt_revoke_subject('c')",
        )
        .unwrap();
        let seqs = Spi::get_one::<Vec<i64>>(
            "SELECT array_agg(s ORDER BY s) FROM (SELECT seq FROM revocation.invalidated_tokens \
             UNION ALL SELECT seq FROM revocation.invalidated_subjects) AS t(s)",
        )
        .unwrap()
        .unwrap();
        let generation = Spi::get_one::<i64>("SELECT generation FROM revocation.generation")
            .unwrap()
            .unwrap();
        assert_eq!(generation, 1);
        assert_eq!(seqs, vec![1, 1, 1]);
    }

    #[pg_test(error = "token has no jti claim, so it cannot be revoked by itself")]
    fn revoke_token_needs_a_jti() {
        add_hs256("k");
        Spi::run("SET revocation.require_jti = off").unwrap();
        let t = hs256(
            r#"{"alg":"HS256","kid":"k"}"#,
            &format!(r#"{{"exp":{}}}"#, now() + 60),
        );
        Spi::run_with_args("SELECT revocation.jwt_revoke_token($1)", &[t.into()]).unwrap();
    }

    #[pg_test]
    fn database_claim_required_where_enforced() {
        add_hs256("k");
        let t = hs256(r#"{"alg":"HS256","kid":"k"}"#, &claims(""));
        assert_eq!(verdict(&t), (true, None));
        Spi::run("SELECT revocation.require_database_claim()").unwrap();
        assert_eq!(raised(&t), "28J15: token has no dbs claim");
        let scoped = hs256(
            r#"{"alg":"HS256","kid":"k"}"#,
            &claims(r#""dbs":["pgrx_tests"]"#),
        );
        assert_eq!(verdict(&scoped), (true, None));
        Spi::run("SELECT revocation.require_database_claim(required => false)").unwrap();
        assert_eq!(verdict(&t), (true, None));
    }

    // ---- key rules ----

    #[pg_test]
    fn key_rules() {
        // (alg, public key, the rule it breaks; None: accepted)
        let cases: Vec<(&str, &str, Option<&str>)> = vec![
            (
                "RS256",
                RSA1024_PUB,
                Some("an RSA key for RS256 must have at least 2048 bits, got 1024"),
            ),
            (
                "PS256",
                RSA1024_PUB,
                Some("an RSA key for PS256 must have at least 2048 bits, got 1024"),
            ),
            (
                "ES256",
                P384_PUB,
                Some("ES256 needs a P-256 key, got P-384"),
            ),
            (
                "ES384",
                P256_PUB,
                Some("ES384 needs a P-384 key, got P-256"),
            ),
            (
                "ES256",
                P521_PUB,
                Some("ES256 needs a P-256 key, got P-521"),
            ),
            (
                "ES256",
                K256_PUB,
                Some("ES256 needs a P-256 key, got an unsupported curve"),
            ),
            (
                "EdDSA",
                P256_PUB,
                Some("EdDSA needs an Ed25519 key, got an EC key"),
            ),
            (
                "EdDSA",
                ED448_PUB,
                Some("Ed448 keys are not supported; EdDSA here means Ed25519"),
            ),
            (
                "RS256",
                ED_PUB,
                Some("RS256 needs an RSA key, got an Ed25519 key"),
            ),
            (
                "RS256",
                RSA_KEY,
                Some(
                    "a \"PRIVATE KEY\" was given where a public key belongs; \
                      pass it as the private key",
                ),
            ),
            (
                "RS256",
                "not a key",
                Some("the key is not PEM text (it must start with a \"-----BEGIN ...-----\" line)"),
            ),
            (
                "none",
                RSA_PUB,
                Some(
                    "algorithm \"none\" is not supported; use one of HS256, HS384, HS512, \
                      RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA",
                ),
            ),
            (
                "HS256",
                RSA_PUB,
                Some("an HS256 key is a shared secret; it has no public or private key"),
            ),
            ("RS256", RSA_PKCS1_PUB, None),
            ("ES256", P256_PUB, None),
        ];
        for (alg, pem, rule) in cases {
            let sql = "SELECT revocation.jwt_add_key($1, $2, public_key => $3)";
            let expected = rule.map_or("ok".to_string(), |rule| refused("k-rule", rule));
            assert_eq!(outcome(sql, &["k-rule", alg, pem]), expected, "{alg}");
            // Nothing is stored for a refused key.
            assert_eq!(key_count(), i64::from(rule.is_none()), "{alg}");
            Spi::run("DELETE FROM revocation.signing_keys").unwrap();
        }
        for (alg, min) in [("HS256", 32), ("HS384", 48), ("HS512", 64)] {
            let sql = "SELECT revocation.jwt_add_key($1, $2, secret => convert_to($3, 'UTF8'))";
            let rule = format!(
                "an {alg} secret must be at least {min} bytes, got {}",
                min - 1
            );
            assert_eq!(
                outcome(sql, &["k-rule", alg, &"s".repeat(min - 1)]),
                refused("k-rule", &rule)
            );
        }
        let sql = "SELECT revocation.jwt_add_key($1, $2, secret => ''::bytea)";
        assert_eq!(
            outcome(sql, &["k-rule", "HS256"]),
            refused("k-rule", "an HS256 secret must be at least 32 bytes, got 0")
        );
        assert_eq!(key_count(), 0);
    }

    #[pg_test]
    fn private_key_must_match_public_key() {
        let sql = "SELECT revocation.jwt_add_key($1, 'RS256', public_key => $2, private_key => $3)";
        assert_eq!(
            outcome(sql, &["mismatch", RSA_PUB, RSA_OTHER_KEY]),
            refused(
                "mismatch",
                "the private key does not belong to the public key"
            )
        );
        assert_eq!(key_count(), 0);
    }

    #[pg_test]
    fn constraint_errors_never_show_the_secret() {
        let add = "SELECT revocation.jwt_add_key";
        let secret = "secret => decode(repeat('ab', 32), 'hex')";
        let cases = [
            (
                format!("{add}(repeat('k', 300), 'HS256', {secret})"),
                "23514: a kid must have between 1 and 256 bytes",
            ),
            (
                format!("{add}('', 'HS256', {secret})"),
                "23514: a kid must have between 1 and 256 bytes",
            ),
            (
                format!("{add}('k2', 'HS256', {secret}, usable_from => NULL)"),
                "23502: signing key \"k2\": usable_from must not be null",
            ),
        ];
        for (sql, expected) in cases {
            assert_eq!(outcome(&sql, &[]), expected);
        }
    }

    #[pg_test]
    fn direct_inserts_and_updates_are_checked_too() {
        add_hs256("k");
        let sql = "UPDATE revocation.signing_keys SET secret = '\\x00' WHERE kid = $1";
        assert_eq!(
            outcome(sql, &["k"]),
            "22023: signing key \"k\" is refused: an HS256 secret must be at least 32 bytes, got 1"
        );
        let secret_len = Spi::get_one::<i32>(
            "SELECT length(secret) FROM revocation.signing_keys WHERE kid = 'k'",
        )
        .unwrap();
        assert_eq!(secret_len, Some(32));
    }

    #[pg_test]
    fn the_keys_view_shows_no_secrets() {
        add_hs256("k");
        let columns = Spi::get_one::<String>(
            "SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute \
             WHERE attrelid = 'revocation.keys'::regclass AND attnum > 0",
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            columns,
            "kid,alg,public_key,can_sign,created_at,usable_from,retired_at"
        );
    }

    /// A Rust panic inside the backend becomes an ERROR, and the backend lives on.
    #[pg_test(error = "a deliberate panic inside the backend")]
    fn a_panic_becomes_an_error() {
        let _ = Spi::get_one::<i64>("SELECT 1");
        panic!("a deliberate panic inside the backend");
    }

    #[pg_test]
    fn no_verification_function_is_immutable() {
        let immutable = Spi::get_one::<i64>(
            "SELECT count(*) FROM pg_proc WHERE pronamespace = 'revocation'::regnamespace \
             AND provolatile = 'i' AND proname <> 'oauth_google_authorize_url'",
        )
        .unwrap();
        assert_eq!(immutable, Some(0));
    }
}
