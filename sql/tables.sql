-- The tables of the revocation extension. They are extension configuration tables, so pg_dump
-- dumps their rows and a restore brings every key back.

-- One row per signing key. HMAC keys keep their secret in `secret`; RSA, EC and Ed25519 keys keep
-- a PEM public key and, when this database also signs, a PEM private key. A key verifies tokens
-- from `usable_from` until `retired_at`; the newest key in use that can sign is the one jwt_sign
-- picks. Only the owner (and whoever the owner grants) can read the rows: they hold secrets.
CREATE TABLE revocation.signing_keys (
    kid          text PRIMARY KEY
                 CHECK (kid <> '' AND octet_length(kid) <= 256),
    alg          text NOT NULL,
    secret       bytea,
    public_key   text,
    private_key  text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    usable_from  timestamptz NOT NULL DEFAULT now(),
    retired_at   timestamptz
);
REVOKE ALL ON revocation.signing_keys FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('revocation.signing_keys', '');
