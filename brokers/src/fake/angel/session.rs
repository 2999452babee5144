//! Sessions: the tokens a login issues and their life (live, expired at midnight or by a
//! test, revoked by a logout), and the login, refresh, profile and logout endpoints.
//!
//! Tokens look like Angel's: JWTs (`eyJ…`, HS512 header, a payload naming the client code)
//! with random bytes, so no test can guess one and a client that logs them shows what a real
//! leak would. A refresh keeps the session's older JWTs and feed tokens valid (Angel's stay
//! valid until midnight) and keeps its refresh token.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use serde_json::{json, Value};

use super::routes::{business, success, text_field, Reply};
use super::{SessionTokens, State};
use crate::totp;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum TokenState {
    Live,
    /// Past its expiry (Angel: midnight; here: [`super::FakeAngel::expire_token`]).
    Expired,
    /// Logged out.
    Revoked,
}

/// Who a token belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Owner {
    pub client_code: String,
    pub api_key: String,
    /// The session's index, for its other tokens.
    pub session: usize,
}

#[derive(Debug)]
struct Session {
    client_code: String,
    api_key: String,
    refresh: (String, TokenState),
    feeds: Vec<(String, TokenState)>,
}

/// Every session the fake opened, and its JWTs by token.
#[derive(Debug, Default)]
pub(super) struct Sessions {
    list: Vec<Session>,
    jwts: BTreeMap<String, (usize, TokenState)>,
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

/// A token shaped like Angel's JWTs, unguessable.
fn jwt_like(kind: &str, client_code: &str) -> String {
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let iat = unix_now();
    let jti: [u8; 16] = rand::random();
    let payload = json!({
        "username": client_code,
        "token_type": kind,
        "iat": iat,
        "exp": iat + 86_400,
        "jti": crate::hex::encode(&jti),
    });
    let signature: [u8; 32] = rand::random();
    format!("{}.{}.{}", b64(br#"{"alg":"HS512"}"#), b64(payload.to_string().as_bytes()), b64(&signature))
}

impl Sessions {
    /// A new session of `client_code` with fresh tokens.
    pub fn open(&mut self, client_code: &str, api_key: &str) -> SessionTokens {
        let tokens = SessionTokens {
            jwt_token: jwt_like("trade_access_token", client_code),
            refresh_token: jwt_like("trade_refresh_token", client_code),
            feed_token: jwt_like("feed_token", client_code),
        };
        self.list.push(Session {
            client_code: client_code.to_string(),
            api_key: api_key.to_string(),
            refresh: (tokens.refresh_token.clone(), TokenState::Live),
            feeds: vec![(tokens.feed_token.clone(), TokenState::Live)],
        });
        self.jwts.insert(tokens.jwt_token.clone(), (self.list.len() - 1, TokenState::Live));
        tokens
    }

    fn owner(&self, session: usize) -> Option<Owner> {
        self.list.get(session).map(|s| Owner {
            client_code: s.client_code.clone(),
            api_key: s.api_key.clone(),
            session,
        })
    }

    /// The owner of a JWT the fake issued, and the JWT's state.
    pub fn jwt(&self, jwt: &str) -> Option<(Owner, TokenState)> {
        let &(session, state) = self.jwts.get(jwt)?;
        Some((self.owner(session)?, state))
    }

    pub fn live_jwt(&self, jwt: &str) -> Option<Owner> {
        self.jwt(jwt).filter(|(_, state)| *state == TokenState::Live).map(|(o, _)| o)
    }

    /// The session a refresh token belongs to, and the token's state.
    pub fn refresh_token(&self, refresh: &str) -> Option<(Owner, TokenState)> {
        let (i, s) = self.list.iter().enumerate().find(|(_, s)| s.refresh.0 == refresh)?;
        Some((self.owner(i)?, s.refresh.1))
    }

    /// The session a feed token belongs to, and the token's state.
    pub fn feed_token(&self, feed: &str) -> Option<(Owner, TokenState)> {
        self.list.iter().enumerate().find_map(|(i, s)| {
            let &(_, state) = s.feeds.iter().find(|(f, _)| f == feed)?;
            Some((self.owner(i)?, state))
        })
    }

    /// A new JWT and feed token for `session` (its refresh token stays).
    pub fn renew(&mut self, session: usize) -> Option<SessionTokens> {
        let s = self.list.get_mut(session)?;
        let tokens = SessionTokens {
            jwt_token: jwt_like("trade_access_token", &s.client_code),
            refresh_token: s.refresh.0.clone(),
            feed_token: jwt_like("feed_token", &s.client_code),
        };
        s.feeds.push((tokens.feed_token.clone(), TokenState::Live));
        self.jwts.insert(tokens.jwt_token.clone(), (session, TokenState::Live));
        Some(tokens)
    }

    /// Logs `session` out: every token of it stops working.
    pub fn revoke(&mut self, session: usize) {
        if let Some(s) = self.list.get_mut(session) {
            s.refresh.1 = TokenState::Revoked;
            s.feeds.iter_mut().for_each(|f| f.1 = TokenState::Revoked);
        }
        self.jwts.values_mut().filter(|(i, _)| *i == session).for_each(|(_, state)| *state = TokenState::Revoked);
    }

    /// Expires one token of any kind; false when the fake never issued it.
    pub fn expire(&mut self, token: &str) -> bool {
        if let Some((_, state)) = self.jwts.get_mut(token) {
            *state = TokenState::Expired;
            return true;
        }
        for s in &mut self.list {
            if s.refresh.0 == token {
                s.refresh.1 = TokenState::Expired;
                return true;
            }
            if let Some(f) = s.feeds.iter_mut().find(|(f, _)| f == token) {
                f.1 = TokenState::Expired;
                return true;
            }
        }
        false
    }
}

/// `loginByPassword`: the API key's user, the MPIN, then the TOTP of the fake's TOTP clock.
/// The codes: AB1007 for a client code the API key does not belong to, AB1000 for a wrong
/// MPIN (Angel answers bad credentials with AB1000/AB1007), AB1050 for a wrong TOTP.
pub(super) fn login(s: &mut State, api_key: &str, body: &Value) -> Reply {
    let (Some(client_code), Some(mpin), Some(code)) =
        (text_field(body, "clientcode"), text_field(body, "password"), text_field(body, "totp"))
    else {
        return business("AB2000", "clientcode, password and totp are required");
    };
    let Some(user) = s.users.get(&client_code).filter(|u| u.api_key == api_key).cloned() else {
        return business("AB1007", "Invalid client code or API key");
    };
    if user.mpin != mpin {
        return business("AB1000", "Invalid clientcode or MPIN");
    }
    let now = s.totp_time.unwrap_or_else(unix_now);
    match totp::accepts(&user.totp_seed, &code, now) {
        Ok(true) => {}
        Ok(false) => return business("AB1050", "Invalid totp"),
        Err(_) => return business("AB2001", "Internal error: the user's TOTP seed is not base32"),
    }
    s.logins += 1;
    let tokens = s.sessions.open(&client_code, api_key);
    let login_time = s.book.stamp();
    if let Some(a) = s.book.accounts.get_mut(&client_code) {
        a.last_login = login_time;
    }
    let mut data = json!({
        "jwtToken": tokens.jwt_token,
        "refreshToken": tokens.refresh_token,
        "feedToken": tokens.feed_token,
    });
    if let (Some(state), Some(o)) = (body.get("state"), data.as_object_mut()) {
        o.insert("state".into(), state.clone());
    }
    success(data)
}

/// `generateTokens`: a new JWT and feed token for the session of a live refresh token.
pub(super) fn generate_tokens(s: &mut State, api_key: &str, body: &Value) -> Reply {
    let Some(refresh) = text_field(body, "refreshToken") else {
        return business("AB8050", "Invalid refresh token");
    };
    let Some((owner, state)) = s.sessions.refresh_token(&refresh).filter(|(o, _)| o.api_key == api_key) else {
        return business("AB8050", "Invalid refresh token");
    };
    match state {
        TokenState::Live => {}
        TokenState::Expired => return business("AB8051", "Refresh token expired"),
        TokenState::Revoked => return business("AB8050", "Invalid refresh token"),
    }
    match s.sessions.renew(owner.session) {
        Some(t) => {
            success(json!({"jwtToken": t.jwt_token, "refreshToken": t.refresh_token, "feedToken": t.feed_token}))
        }
        None => business("AB8050", "Invalid refresh token"),
    }
}

pub(super) fn profile(s: &State, owner: &Owner) -> Reply {
    let Some(a) = s.book.accounts.get(&owner.client_code) else { return business("AB1011", "Client not logged in") };
    success(json!({
        "clientcode": a.client_code,
        "name": a.name,
        "email": a.email,
        "mobileno": "",
        "exchanges": ["NSE", "BSE", "NFO", "BFO", "CDS", "MCX"],
        "products": ["MARGIN", "MIS", "NRML", "CNC", "CO", "BO"],
        "lastlogintime": a.last_login,
        "brokerid": "B2C",
    }))
}

/// `logout`: the body's client code must be the session's; every token of it stops working.
pub(super) fn logout(s: &mut State, owner: &Owner, body: &Value) -> Reply {
    if text_field(body, "clientcode").as_deref() != Some(owner.client_code.as_str()) {
        return business("AB2000", "clientcode does not match the session");
    }
    s.sessions.revoke(owner.session);
    success(json!(""))
}
