//! `oauth_google_authorize_url`: the URL that starts Google's OAuth 2.0 authorization code flow
//! for a web server application, built so that Google returns a refresh token every time.
//!
//! Google gives out a refresh token only with `access_type=offline`, and on a later
//! authorization only when the user is asked again; `prompt=consent` makes it ask every time,
//! so a login after the first never comes back without one. Both are always present.

use pgrx::prelude::*;

const ENDPOINT: &str = "https://accounts.google.com/o/oauth2/v2/auth";

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

fn invalid(message: &'static str) -> ! {
    ereport!(
        ERROR,
        PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
        message
    );
}

/// The authorize URL for the given client; `state` is the caller's anti-forgery value and must
/// not be empty.
pub fn authorize_url(
    client_id: &str,
    redirect_uri: &str,
    scopes: &[String],
    state: &str,
    login_hint: Option<&str>,
) -> Result<String, &'static str> {
    if client_id.trim().is_empty() {
        return Err("client_id must not be empty");
    }
    let local = ["http://localhost", "http://127.0.0.1", "http://[::1]"];
    let redirect_ok = redirect_uri.starts_with("https://")
        || local.iter().any(|l| {
            redirect_uri.strip_prefix(l).is_some_and(|rest| {
                rest.is_empty() || rest.starts_with('/') || rest.starts_with(':')
            })
        });
    if !redirect_ok {
        return Err("redirect_uri must be https, or http on localhost");
    }
    let scopes: Vec<&str> = scopes
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect();
    if scopes.is_empty() {
        return Err("at least one scope is needed");
    }
    if state.is_empty() {
        return Err("state must not be empty; it protects the redirect against forgery");
    }
    let mut params = vec![
        ("response_type", "code".to_string()),
        ("client_id", client_id.to_string()),
        ("redirect_uri", redirect_uri.to_string()),
        ("scope", scopes.join(" ")),
        ("state", state.to_string()),
        ("access_type", "offline".to_string()),
        ("prompt", "consent".to_string()),
        ("include_granted_scopes", "true".to_string()),
    ];
    if let Some(hint) = login_hint.filter(|h| !h.is_empty()) {
        params.push(("login_hint", hint.to_string()));
    }
    let query: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{k}={}", percent_encode(v)))
        .collect();
    Ok(format!("{ENDPOINT}?{}", query.join("&")))
}

/// `revocation.oauth_google_authorize_url(client_id, redirect_uri, scopes, state, login_hint)`
#[pg_extern(immutable, parallel_safe, sql = false)]
fn oauth_google_authorize_url(
    client_id: &str,
    redirect_uri: &str,
    scopes: Vec<String>,
    state: &str,
    login_hint: Option<&str>,
) -> String {
    authorize_url(client_id, redirect_uri, &scopes, state, login_hint)
        .unwrap_or_else(|why| invalid(why))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_every_value() {
        assert_eq!(percent_encode("a b&c=d/é~"), "a%20b%26c%3Dd%2F%C3%A9~");
    }

    #[test]
    fn always_asks_for_consent_and_offline_access() {
        let url = authorize_url(
            "123.apps.googleusercontent.com",
            "https://app.example/cb?x=1",
            &["openid".into(), "email".into()],
            "s&t=1",
            None,
        )
        .unwrap();
        assert_eq!(
            url,
            "https://accounts.google.com/o/oauth2/v2/auth?response_type=code\
             &client_id=123.apps.googleusercontent.com\
             &redirect_uri=https%3A%2F%2Fapp.example%2Fcb%3Fx%3D1&scope=openid%20email\
             &state=s%26t%3D1&access_type=offline&prompt=consent&include_granted_scopes=true"
        );
    }

    #[test]
    fn refuses_what_google_would_refuse() {
        let scopes = ["openid".to_string()];
        assert_eq!(
            authorize_url("c", "http://evil.example/cb", &scopes, "s", None),
            Err("redirect_uri must be https, or http on localhost")
        );
        assert_eq!(
            authorize_url("c", "http://localhost.evil.example/", &scopes, "s", None),
            Err("redirect_uri must be https, or http on localhost")
        );
        assert!(authorize_url("c", "http://localhost:8080/cb", &scopes, "s", None).is_ok());
        assert_eq!(
            authorize_url("c", "https://a/cb", &scopes, "", None),
            Err("state must not be empty; it protects the redirect against forgery")
        );
        assert_eq!(
            authorize_url("c", "https://a/cb", &[], "s", None),
            Err("at least one scope is needed")
        );
    }
}
