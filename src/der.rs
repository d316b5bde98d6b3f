//! Just enough PEM and DER to read public keys: the SubjectPublicKeyInfo of RFC 5280 and the
//! PKCS#1 `RSAPublicKey` of RFC 8017.
//!
//! We read keys ourselves, rather than handing PEM text to the crypto backend, because the size
//! and curve rules of `jwt_add_key` need the modulus length and the curve name, and because one
//! strict reader means a key is accepted at insert exactly when it is accepted at load. The reader
//! is strict on purpose: definite lengths only, minimal length encodings, no trailing bytes.

use base64::Engine;

/// A public key, reduced to the parts a verifier needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PublicKey {
    /// Big-endian modulus and exponent, leading zero bytes removed.
    Rsa { n: Vec<u8>, e: Vec<u8> },
    /// An uncompressed SEC1 point (`04 || x || y`).
    Ec { curve: Curve, point: Vec<u8> },
    /// The 32 raw bytes of an Ed25519 key.
    Ed25519 { x: Vec<u8> },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Curve {
    P256,
    P384,
    P521,
    /// A curve we do not support, by its OID, so that the key still writes out as it came.
    Other(Vec<u8>),
}

impl Curve {
    pub fn name(&self) -> &'static str {
        match self {
            Curve::P256 => "P-256",
            Curve::P384 => "P-384",
            Curve::P521 => "P-521",
            Curve::Other(_) => "an unsupported curve",
        }
    }

    /// Length in bytes of one coordinate.
    pub fn coordinate_len(&self) -> usize {
        match self {
            Curve::P256 => 32,
            Curve::P384 => 48,
            Curve::P521 => 66,
            Curve::Other(_) => 0,
        }
    }

    fn oid(&self) -> &[u8] {
        match self {
            Curve::P256 => OID_P256,
            Curve::P384 => OID_P384,
            Curve::P521 => OID_P521,
            Curve::Other(oid) => oid,
        }
    }
}

impl PublicKey {
    /// The RSA modulus length in bits, as the size rules count it.
    pub fn rsa_bits(&self) -> Option<usize> {
        match self {
            PublicKey::Rsa { n, .. } => Some(match n.first() {
                None => 0,
                Some(first) => n.len() * 8 - first.leading_zeros() as usize,
            }),
            _ => None,
        }
    }
}

const OID_RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const OID_RSASSA_PSS: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a];
const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
const OID_P521: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x23];
const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];
const OID_ED448: &[u8] = &[0x2b, 0x65, 0x71];

const TAG_INTEGER: u8 = 0x02;
const TAG_BIT_STRING: u8 = 0x03;
const TAG_NULL: u8 = 0x05;
const TAG_OID: u8 = 0x06;
const TAG_SEQUENCE: u8 = 0x30;

/// Decodes the single PEM block in `text` and returns its label and DER bytes.
///
/// Text around the block is refused, so that a pasted key with junk after it is caught here and
/// not half-read.
pub fn pem_decode(text: &str) -> Result<(String, Vec<u8>), String> {
    let text = text.trim();
    let first_line = text.lines().next().unwrap_or("");
    let label = first_line
        .strip_prefix("-----BEGIN ")
        .and_then(|rest| rest.strip_suffix("-----"))
        .ok_or("the key is not PEM text (it must start with a \"-----BEGIN ...-----\" line)")?
        .to_string();
    let end_line = format!("-----END {label}-----");
    let body_and_end = text[first_line.len()..].trim_start();
    let body = body_and_end
        .strip_suffix(end_line.as_str())
        .ok_or_else(|| format!("the PEM block has no matching \"{end_line}\" line"))?;
    let b64: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64.as_bytes())
        .map_err(|_| "the PEM block is not valid base64".to_string())?;
    Ok((label, der))
}

/// Reads a public key from PEM text: `PUBLIC KEY` (SubjectPublicKeyInfo) or
/// `RSA PUBLIC KEY` (PKCS#1).
pub fn public_key_from_pem(text: &str) -> Result<PublicKey, String> {
    let (label, der) = pem_decode(text)?;
    match label.as_str() {
        "PUBLIC KEY" => public_key_from_spki(&der),
        "RSA PUBLIC KEY" => rsa_public_key(&der),
        other if other.contains("PRIVATE") => Err(format!(
            "a \"{other}\" was given where a public key belongs; pass it as the private key"
        )),
        other => Err(format!("PEM label \"{other}\" is not a public key")),
    }
}

/// Reads a DER-encoded SubjectPublicKeyInfo.
pub fn public_key_from_spki(der: &[u8]) -> Result<PublicKey, String> {
    let mut outer = Reader::new(der);
    let spki = outer.expect(TAG_SEQUENCE)?;
    outer.finish()?;

    let mut spki = Reader::new(spki);
    let mut alg_id = Reader::new(spki.expect(TAG_SEQUENCE)?);
    let key_bits = spki.expect(TAG_BIT_STRING)?;
    spki.finish()?;
    let key = match key_bits.split_first() {
        Some((0, rest)) => rest,
        _ => return Err("the public key bit string is malformed".into()),
    };

    let oid = alg_id.expect(TAG_OID)?;
    if oid == OID_RSA_ENCRYPTION {
        // The parameters are an explicit NULL, or absent in some encoders.
        if !alg_id.is_empty() {
            let null = alg_id.expect(TAG_NULL)?;
            if !null.is_empty() {
                return Err("the RSA algorithm parameters must be NULL".into());
            }
        }
        alg_id.finish()?;
        rsa_public_key(key)
    } else if oid == OID_EC_PUBLIC_KEY {
        let curve_oid = alg_id
            .expect(TAG_OID)
            .map_err(|_| "the EC key does not name its curve (explicit parameters are refused)")?;
        alg_id.finish()?;
        let curve = match curve_oid {
            c if c == OID_P256 => Curve::P256,
            c if c == OID_P384 => Curve::P384,
            c if c == OID_P521 => Curve::P521,
            other => Curve::Other(other.to_vec()),
        };
        let expected = 1 + 2 * curve.coordinate_len();
        if !matches!(curve, Curve::Other(_)) && (key.len() != expected || key[0] != 0x04) {
            return Err(format!("the {} point must be uncompressed", curve.name()));
        }
        Ok(PublicKey::Ec {
            curve,
            point: key.to_vec(),
        })
    } else if oid == OID_ED25519 {
        alg_id.finish()?;
        if key.len() != 32 {
            return Err("an Ed25519 public key must be 32 bytes".into());
        }
        Ok(PublicKey::Ed25519 { x: key.to_vec() })
    } else if oid == OID_ED448 {
        Err("Ed448 keys are not supported; EdDSA here means Ed25519".into())
    } else if oid == OID_RSASSA_PSS {
        Err("RSASSA-PSS restricted keys are not supported; use a plain rsaEncryption key".into())
    } else {
        Err("the key type is not RSA, EC or Ed25519".into())
    }
}

/// Reads a PKCS#1 `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }`.
pub fn public_key_from_pkcs1(der: &[u8]) -> Result<PublicKey, String> {
    rsa_public_key(der)
}

fn rsa_public_key(der: &[u8]) -> Result<PublicKey, String> {
    let mut outer = Reader::new(der);
    let mut seq = Reader::new(outer.expect(TAG_SEQUENCE)?);
    outer.finish()?;
    let n = positive_integer(seq.expect(TAG_INTEGER)?)?;
    let e = positive_integer(seq.expect(TAG_INTEGER)?)?;
    seq.finish()?;
    Ok(PublicKey::Rsa { n, e })
}

fn positive_integer(bytes: &[u8]) -> Result<Vec<u8>, String> {
    match bytes {
        [] => Err("an RSA integer is empty".into()),
        [first, ..] if first & 0x80 != 0 => Err("an RSA integer is negative".into()),
        [0, second, ..] if second & 0x80 == 0 => {
            Err("an RSA integer is not minimally encoded".into())
        }
        [0, rest @ ..] => Ok(rest.to_vec()),
        _ => Ok(bytes.to_vec()),
    }
}

impl PublicKey {
    /// The SubjectPublicKeyInfo of this key, DER-encoded: what `public_key_from_spki` reads.
    pub fn to_spki(&self) -> Vec<u8> {
        let (algorithm, key) = match self {
            PublicKey::Rsa { n, e } => {
                let body = [integer(n), integer(e)].concat();
                (
                    [element(TAG_OID, OID_RSA_ENCRYPTION), element(TAG_NULL, &[])].concat(),
                    element(TAG_SEQUENCE, &body),
                )
            }
            PublicKey::Ec { curve, point } => (
                [
                    element(TAG_OID, OID_EC_PUBLIC_KEY),
                    element(TAG_OID, curve.oid()),
                ]
                .concat(),
                point.clone(),
            ),
            PublicKey::Ed25519 { x } => (element(TAG_OID, OID_ED25519), x.clone()),
        };
        let bits = [&[0u8][..], &key].concat();
        element(
            TAG_SEQUENCE,
            &[
                element(TAG_SEQUENCE, &algorithm),
                element(TAG_BIT_STRING, &bits),
            ]
            .concat(),
        )
    }

    /// The same key as PEM text.
    pub fn to_pem(&self) -> String {
        let b64 = base64::engine::general_purpose::STANDARD.encode(self.to_spki());
        let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
        for line in b64.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
            pem.push('\n');
        }
        pem.push_str("-----END PUBLIC KEY-----\n");
        pem
    }
}

/// A DER element: tag, minimal length, contents.
fn element(tag: u8, contents: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = contents.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .iter()
            .copied()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(contents);
    out
}

/// A non-negative INTEGER from big-endian magnitude bytes.
fn integer(magnitude: &[u8]) -> Vec<u8> {
    let trimmed: Vec<u8> = magnitude.iter().copied().skip_while(|b| *b == 0).collect();
    let mut body = Vec::with_capacity(trimmed.len() + 1);
    if trimmed.first().is_none_or(|b| b & 0x80 != 0) {
        body.push(0);
    }
    body.extend(trimmed);
    element(TAG_INTEGER, &body)
}

/// A cursor over DER bytes.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Reader { rest: bytes }
    }

    fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    fn finish(&self) -> Result<(), String> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err("the key has trailing bytes".into())
        }
    }

    /// Reads one element with the given tag and returns its contents.
    fn expect(&mut self, tag: u8) -> Result<&'a [u8], String> {
        let malformed = || "the key is not well-formed DER".to_string();
        let (&found, after_tag) = self.rest.split_first().ok_or_else(malformed)?;
        if found != tag {
            return Err(malformed());
        }
        let (&first, mut after_len) = after_tag.split_first().ok_or_else(malformed)?;
        let len = if first < 0x80 {
            first as usize
        } else {
            let count = (first & 0x7f) as usize;
            // 0x80 is the indefinite form, which DER forbids; four length bytes are plenty.
            if count == 0 || count > 4 || after_len.len() < count || after_len[0] == 0 {
                return Err(malformed());
            }
            let len = after_len[..count]
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | *b as usize);
            if len < 0x80 {
                return Err(malformed());
            }
            after_len = &after_len[count..];
            len
        };
        if after_len.len() < len {
            return Err(malformed());
        }
        let (contents, rest) = after_len.split_at(len);
        self.rest = rest;
        Ok(contents)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_must_be_minimal() {
        // SEQUENCE with a long-form length for 3 bytes.
        assert!(Reader::new(&[0x30, 0x81, 0x03, 1, 2, 3])
            .expect(TAG_SEQUENCE)
            .is_err());
        assert_eq!(
            Reader::new(&[0x30, 0x03, 1, 2, 3])
                .expect(TAG_SEQUENCE)
                .unwrap(),
            &[1, 2, 3]
        );
        // Indefinite length.
        assert!(Reader::new(&[0x30, 0x80, 0, 0])
            .expect(TAG_SEQUENCE)
            .is_err());
        // Truncated.
        assert!(Reader::new(&[0x30, 0x05, 1]).expect(TAG_SEQUENCE).is_err());
    }

    #[test]
    fn integers_are_positive_and_minimal() {
        assert_eq!(positive_integer(&[0x00, 0x80]).unwrap(), vec![0x80]);
        assert_eq!(positive_integer(&[0x01, 0x00]).unwrap(), vec![0x01, 0x00]);
        assert!(positive_integer(&[0x80]).is_err());
        assert!(positive_integer(&[0x00, 0x01]).is_err());
        assert!(positive_integer(&[]).is_err());
    }

    #[test]
    fn rsa_bits_counts_from_the_top_bit() {
        let key = PublicKey::Rsa {
            n: vec![0x01, 0, 0],
            e: vec![1, 0, 1],
        };
        assert_eq!(key.rsa_bits(), Some(17));
    }

    #[test]
    fn encoding_round_trips() {
        let keys = [
            PublicKey::Rsa {
                n: vec![0x80; 256],
                e: vec![1, 0, 1],
            },
            PublicKey::Ec {
                curve: Curve::P256,
                point: [vec![4], vec![7; 64]].concat(),
            },
            PublicKey::Ed25519 { x: vec![9; 32] },
            // secp256k1: refused by the key rules, but it must not come back as another curve.
            PublicKey::Ec {
                curve: Curve::Other(vec![0x2b, 0x81, 0x04, 0x00, 0x0a]),
                point: [vec![4], vec![7; 64]].concat(),
            },
        ];
        for key in keys {
            assert_eq!(public_key_from_spki(&key.to_spki()).unwrap(), key);
            assert_eq!(public_key_from_pem(&key.to_pem()).unwrap(), key);
        }
    }

    #[test]
    fn pem_needs_its_end_line() {
        assert!(pem_decode("-----BEGIN PUBLIC KEY-----\nAAAA\n").is_err());
        assert!(pem_decode("hello").is_err());
        let (label, der) =
            pem_decode("  -----BEGIN PUBLIC KEY-----\r\nAAEC\r\n-----END PUBLIC KEY-----\n")
                .unwrap();
        assert_eq!(label, "PUBLIC KEY");
        assert_eq!(der, vec![0, 1, 2]);
    }
}
