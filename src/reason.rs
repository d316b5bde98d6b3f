//! Why a token was refused, as plain data: the reasons, their names and SQLSTATEs, and the words
//! that explain a refusal. Nothing here touches PostgreSQL, so the verdict code and the fuzz
//! targets under `fuzz/` share it; raising a rejection is `errors`' job.

/// Why a token was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    Malformed,
    TooLarge,
    AlgorithmNotAllowed,
    UnknownKey,
    KeyInactive,
    BadSignature,
    InvalidClaim,
    Expired,
    NotYetValid,
    AudienceMismatch,
    IssuerMismatch,
    DatabaseNotAllowed,
    Revoked,
    JtiRequired,
    DatabaseClaimRequired,
}

impl Reason {
    pub const ALL: [Reason; 15] = [
        Reason::Malformed,
        Reason::TooLarge,
        Reason::AlgorithmNotAllowed,
        Reason::UnknownKey,
        Reason::KeyInactive,
        Reason::BadSignature,
        Reason::InvalidClaim,
        Reason::Expired,
        Reason::NotYetValid,
        Reason::AudienceMismatch,
        Reason::IssuerMismatch,
        Reason::DatabaseNotAllowed,
        Reason::Revoked,
        Reason::JtiRequired,
        Reason::DatabaseClaimRequired,
    ];

    /// The name `jwt_check` reports and the README documents.
    pub fn name(self) -> &'static str {
        match self {
            Reason::Malformed => "malformed",
            Reason::TooLarge => "too_large",
            Reason::AlgorithmNotAllowed => "algorithm_not_allowed",
            Reason::UnknownKey => "unknown_key",
            Reason::KeyInactive => "key_inactive",
            Reason::BadSignature => "bad_signature",
            Reason::InvalidClaim => "invalid_claim",
            Reason::Expired => "expired",
            Reason::NotYetValid => "not_yet_valid",
            Reason::AudienceMismatch => "audience_mismatch",
            Reason::IssuerMismatch => "issuer_mismatch",
            Reason::DatabaseNotAllowed => "database_not_allowed",
            Reason::Revoked => "revoked",
            Reason::JtiRequired => "jti_required",
            Reason::DatabaseClaimRequired => "database_claim_required",
        }
    }

    pub fn sqlstate(self) -> &'static str {
        match self {
            Reason::Malformed => "28J01",
            Reason::TooLarge => "28J02",
            Reason::AlgorithmNotAllowed => "28J03",
            Reason::UnknownKey => "28J04",
            Reason::KeyInactive => "28J05",
            Reason::BadSignature => "28J06",
            Reason::InvalidClaim => "28J07",
            Reason::Expired => "28J08",
            Reason::NotYetValid => "28J09",
            Reason::AudienceMismatch => "28J10",
            Reason::IssuerMismatch => "28J11",
            Reason::DatabaseNotAllowed => "28J12",
            Reason::Revoked => "28J13",
            Reason::JtiRequired => "28J14",
            Reason::DatabaseClaimRequired => "28J15",
        }
    }
}

/// A refused token: the reason and the words that explain it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    pub reason: Reason,
    pub message: String,
    pub detail: Option<String>,
    /// Raised with this SQLSTATE instead of the reason's own (for gateways that map codes).
    pub sqlstate: Option<&'static str>,
}

impl Rejection {
    pub fn new(reason: Reason, message: impl Into<String>) -> Self {
        Rejection {
            reason,
            message: message.into(),
            detail: None,
            sqlstate: None,
        }
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

/// Quotes a value taken from a token (a `kid`, a `jti`, an `alg`) for a message: at most 64
/// characters, control characters replaced, so a crafted header cannot flood or forge log lines.
pub fn quoted(value: &str) -> String {
    const LIMIT: usize = 64;
    let mut out = String::with_capacity(value.len().min(LIMIT) + 5);
    out.push('"');
    for (i, c) in value.chars().enumerate() {
        if i == LIMIT {
            out.push_str("...");
            break;
        }
        out.push(if c.is_control() { '?' } else { c });
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstates_are_distinct_and_in_class_28() {
        let mut codes: Vec<_> = Reason::ALL.iter().map(|r| r.sqlstate()).collect();
        assert!(codes.iter().all(|c| c.len() == 5 && c.starts_with("28J")));
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), Reason::ALL.len());
    }

    #[test]
    fn quoted_values_are_short_and_printable() {
        assert_eq!(quoted("k1"), "\"k1\"");
        assert_eq!(quoted("a\nb"), "\"a?b\"");
        let long = "x".repeat(100);
        assert_eq!(quoted(&long), format!("\"{}...\"", "x".repeat(64)));
    }
}
