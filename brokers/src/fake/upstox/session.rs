//! Apps, authorization codes and tokens: the login dialog, the token exchange, the Bearer
//! check, the profile and logout.
//!
//! Tokens look like Upstox's (JWTs, `eyJ…`) with random bytes, so no test can guess one.
//! An authorization code is spent by any exchange that names it, successful or not (Upstox:
//! "valid for a single use, regardless of whether the access token generation succeeds").
//!
//! The fake's own choices, the docs listing no codes for them: a wrong or spent code and a
//! wrong secret are 401 UDAPI100016 "Invalid Credentials"; a missing field or a `grant_type`
//! other than `authorization_code` is 400 UDAPI100036; a redirect URI other than the app's is
//! 400 UDAPI100068 (as the dialog answers, documented); an extended token on an endpoint that
//! changes something (anything but a GET) is 401 UDAPI100067.

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::{json, Value};

use super::routes::{error, success, Reply};
use super::{SessionTokens, State};
use crate::secret::Secret;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum TokenState {
    Live,
    /// Past 03:30 IST (here: [`super::FakeUpstox::expire_token`]).
    Expired,
    /// Logged out.
    Revoked,
}

#[derive(Clone, Debug)]
struct App {
    user_id: String,
    api_secret: Secret,
    redirect_uri: String,
}

/// Which kind of token a request carried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum TokenKind {
    Access,
    Extended,
}

/// Who a token belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Owner {
    pub user_id: String,
    pub api_key: String,
    pub session: usize,
    pub kind: TokenKind,
}

#[derive(Debug)]
struct Session {
    user_id: String,
    api_key: String,
    access: String,
    extended: String,
    state: TokenState,
}

#[derive(Debug, Default)]
pub(super) struct Sessions {
    /// By API key.
    apps: BTreeMap<String, App>,
    /// Unspent authorization codes → API key.
    codes: BTreeMap<String, String>,
    list: Vec<Session>,
    pub logins: u64,
}

/// A token shaped like Upstox's JWTs, unguessable.
fn jwt_like(user_id: &str, kind: &str) -> String {
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let jti: [u8; 16] = rand::random();
    let payload = json!({"sub": user_id, "token_type": kind, "jti": crate::hex::encode(&jti), "iss": "fake-upstox"});
    let signature: [u8; 32] = rand::random();
    format!("{}.{}.{}", b64(br#"{"typ":"JWT","alg":"HS256"}"#), b64(payload.to_string().as_bytes()), b64(&signature))
}

impl Sessions {
    pub fn add_app(&mut self, user_id: &str, api_key: &str, api_secret: Secret, redirect_uri: &str) {
        self.apps.insert(
            api_key.to_string(),
            App { user_id: user_id.to_string(), api_secret, redirect_uri: redirect_uri.to_string() },
        );
    }

    pub fn issue_code(&mut self, api_key: &str) -> Option<String> {
        self.apps.get(api_key)?;
        // Short, as Upstox's (`mk404x`), and unguessable.
        let bytes: [u8; 4] = rand::random();
        let code = crate::hex::encode(&bytes);
        self.codes.insert(code.clone(), api_key.to_string());
        Some(code)
    }

    /// A new session of app `api_key`'s user.
    pub fn open(&mut self, api_key: &str) -> Option<SessionTokens> {
        let user_id = self.apps.get(api_key)?.user_id.clone();
        let tokens = SessionTokens {
            access_token: jwt_like(&user_id, "access"),
            extended_token: jwt_like(&user_id, "extended"),
        };
        self.list.push(Session {
            user_id,
            api_key: api_key.to_string(),
            access: tokens.access_token.clone(),
            extended: tokens.extended_token.clone(),
            state: TokenState::Live,
        });
        Some(tokens)
    }

    /// The owner of a token the fake issued, and its state.
    pub fn token(&self, token: &str) -> Option<(Owner, TokenState)> {
        self.list.iter().enumerate().find_map(|(i, s)| {
            let kind = if s.access == token {
                TokenKind::Access
            } else if s.extended == token {
                TokenKind::Extended
            } else {
                return None;
            };
            let owner = Owner { user_id: s.user_id.clone(), api_key: s.api_key.clone(), session: i, kind };
            Some((owner, s.state))
        })
    }

    pub fn live_access(&self, token: &str) -> Option<Owner> {
        self.token(token).filter(|(o, state)| *state == TokenState::Live && o.kind == TokenKind::Access).map(|(o, _)| o)
    }

    pub fn expire(&mut self, token: &str) -> bool {
        match self.list.iter_mut().find(|s| s.access == token || s.extended == token) {
            Some(s) => {
                if s.state == TokenState::Live {
                    s.state = TokenState::Expired;
                }
                true
            }
            None => false,
        }
    }

    pub fn expire_all(&mut self) {
        self.list.iter_mut().filter(|s| s.state == TokenState::Live).for_each(|s| s.state = TokenState::Expired);
    }

    fn revoke(&mut self, session: usize) {
        if let Some(s) = self.list.get_mut(session) {
            s.state = TokenState::Revoked;
        }
    }
}

fn invalid_credentials() -> Reply {
    error(401, "UDAPI100016", "Invalid Credentials", None, None)
}

/// `GET /v2/login/authorization/dialog`: where the user would log in. The fake logs the app's
/// user in at once and redirects (302) to the registered URI with a fresh code and the state,
/// or answers 400 UDAPI100068 when the client id or the redirect URI is not the app's.
pub(super) fn dialog(s: &mut State, query: &[(String, String)]) -> Reply {
    let param = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    if param("response_type") != Some("code") {
        return error(400, "UDAPI100036", "Invalid Input", Some("response_type"), param("response_type"));
    }
    let (Some(client_id), Some(redirect)) = (param("client_id"), param("redirect_uri")) else {
        return error(
            400,
            "UDAPI100068",
            "Check your 'client_id' and 'redirect_uri'; one or both are incorrect.",
            None,
            None,
        );
    };
    if s.sessions.apps.get(client_id).is_none_or(|a| a.redirect_uri != redirect) {
        return error(
            400,
            "UDAPI100068",
            "Check your 'client_id' and 'redirect_uri'; one or both are incorrect.",
            None,
            None,
        );
    }
    let Some(code) = s.sessions.issue_code(client_id) else { return invalid_credentials() };
    let mut target = reqwest::Url::parse(redirect).ok();
    if let Some(url) = target.as_mut() {
        let mut pairs = url.query_pairs_mut();
        pairs.append_pair("code", &code);
        if let Some(state) = param("state") {
            pairs.append_pair("state", state);
        }
    }
    match target {
        Some(url) => Reply::Redirect(url.to_string()),
        None => error(
            400,
            "UDAPI100068",
            "Check your 'client_id' and 'redirect_uri'; one or both are incorrect.",
            None,
            None,
        ),
    }
}

/// `POST /v2/login/authorization/token`: the form's code, client id, secret and redirect URI;
/// the session's profile and tokens, flat.
pub(super) fn token(s: &mut State, form: &[(String, String)]) -> Reply {
    let field = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty());
    for name in ["code", "client_id", "client_secret", "redirect_uri", "grant_type"] {
        if field(name).is_none() {
            return error(400, "UDAPI100036", "Invalid Input", Some(name), None);
        }
    }
    if field("grant_type") != Some("authorization_code") {
        return error(400, "UDAPI100036", "Invalid Input", Some("grant_type"), field("grant_type"));
    }
    let client_id = field("client_id").unwrap_or_default();
    // Spent now, whatever follows.
    let code_owner = field("code").and_then(|c| s.sessions.codes.remove(c));
    let Some(app) = s.sessions.apps.get(client_id).cloned() else { return invalid_credentials() };
    if field("redirect_uri") != Some(app.redirect_uri.as_str()) {
        return error(
            400,
            "UDAPI100068",
            "Check your 'client_id' and 'redirect_uri'; one or both are incorrect.",
            None,
            None,
        );
    }
    if field("client_secret") != Some(app.api_secret.expose()) || code_owner.as_deref() != Some(client_id) {
        return invalid_credentials();
    }
    let Some(tokens) = s.sessions.open(client_id) else { return invalid_credentials() };
    s.sessions.logins += 1;
    let mut body = profile_json(s, &app.user_id);
    if let Some(o) = body.as_object_mut() {
        o.insert("access_token".into(), json!(tokens.access_token));
        o.insert("extended_token".into(), json!(tokens.extended_token));
    }
    Reply::Json(200, body)
}

fn profile_json(s: &State, user_id: &str) -> Value {
    let (name, email) =
        s.book.accounts.get(user_id).map(|a| (a.user_name.clone(), a.email.clone())).unwrap_or_default();
    json!({
        "email": email,
        "exchanges": ["NSE", "NFO", "BSE", "CDS", "BFO", "BCD", "MCX"],
        "products": ["D", "CO", "I", "MTF"],
        "broker": "UPSTOX",
        "user_id": user_id,
        "user_name": name,
        "order_types": ["MARKET", "LIMIT", "SL", "SL-M"],
        "user_type": "individual",
        "poa": false,
        "is_active": true,
    })
}

/// The owner of a request's `Authorization: Bearer <token>`: 401 UDAPI100050 for none, an
/// unknown, expired or logged-out token; 401 UDAPI100067 for an extended token where it may
/// not be used.
pub(super) fn authenticate(s: &State, authorization: Option<&str>, read_only: bool) -> Result<Owner, Reply> {
    let invalid = || error(401, "UDAPI100050", "Invalid token used to access API", None, None);
    let token = authorization.and_then(|v| v.strip_prefix("Bearer ")).map(str::trim).ok_or_else(invalid)?;
    match s.sessions.token(token) {
        Some((owner, TokenState::Live)) => {
            if owner.kind == TokenKind::Extended && !read_only {
                return Err(error(
                    401,
                    "UDAPI100067",
                    "The API you are trying to access is not permitted with an extended_token",
                    None,
                    None,
                ));
            }
            Ok(owner)
        }
        _ => Err(invalid()),
    }
}

pub(super) fn profile(s: &State, owner: &Owner) -> Reply {
    success(profile_json(s, &owner.user_id))
}

/// `DELETE /v2/logout`: every token of the session stops working.
pub(super) fn logout(s: &mut State, owner: &Owner) -> Reply {
    s.sessions.revoke(owner.session);
    success(json!(true))
}
