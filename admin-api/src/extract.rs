//! Request extractors that answer in the API's own terms.
//!
//! Axum's stock extractors reject with plain-text bodies and parse the body before a handler
//! can look at the caller. These wrap them so that every rejection (400, 413, 415, 422) is the
//! JSON `Error` body the OpenAPI document promises, and so that [`Caller`], which every
//! authenticated handler takes first, refuses an unauthenticated request before its query or
//! body is read: a stranger learns nothing about what a body should look like.

use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;

use crate::server::{who, ApiError, App, Principal};

/// The authenticated, rate-limited caller.
pub(crate) struct Caller(pub Principal);

impl FromRequestParts<Arc<App>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiError> {
        who(app, &parts.headers).await.map(Caller)
    }
}

/// The client's address, as throttling counts it ([`crate::server::client_ip`]).
pub(crate) struct Client(pub std::net::IpAddr);

impl FromRequestParts<Arc<App>> for Client {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiError> {
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip())
            .ok_or_else(|| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "no peer address"))?;
        Ok(Client(crate::server::client_ip(&app.cfg.trusted_proxies, peer, &parts.headers)))
    }
}

/// A JSON body; unknown fields are refused by the request types themselves
/// (`deny_unknown_fields`).
pub(crate) struct Body<T>(pub T);

fn json_rejection(r: JsonRejection) -> ApiError {
    let status = r.status();
    let msg = match &r {
        JsonRejection::MissingJsonContentType(_) => "expected Content-Type: application/json".to_string(),
        JsonRejection::BytesRejection(_) if status == StatusCode::PAYLOAD_TOO_LARGE => {
            "request body too large".to_string()
        }
        _ => r.body_text(),
    };
    ApiError::new(status, msg)
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    /// Every request body is a JSON object: serde would otherwise read a struct from an array
    /// (`[]` taking every default).
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let axum::Json(v) = axum::Json::<serde_json::Value>::from_request(req, state).await.map_err(json_rejection)?;
        if !v.is_object() {
            return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "expected a JSON object"));
        }
        serde_json::from_value(v).map(Body).map_err(|e| {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, format!("Failed to deserialize the JSON body: {e}"))
        })
    }
}

/// A JSON body that may be absent (no bytes at all); when present it must be JSON.
pub(crate) struct OptBody<T>(pub Option<T>);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for OptBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let empty =
            req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).is_some_and(|v| v.trim() == "0")
                || (!req.headers().contains_key(header::CONTENT_LENGTH)
                    && !req.headers().contains_key(header::TRANSFER_ENCODING));
        if empty {
            return Ok(OptBody(None));
        }
        Body::<T>::from_request(req, state).await.map(|Body(v)| OptBody(Some(v)))
    }
}

/// A query string.
pub(crate) struct Q<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Q<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(v)| Q(v))
            .map_err(|r: QueryRejection| ApiError::new(StatusCode::BAD_REQUEST, r.body_text()))
    }
}

/// Path parameters (ids are integers: anything else is a 400).
pub(crate) struct P<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for P<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state).await.map(|axum::extract::Path(v)| P(v)).map_err(
            |r: PathRejection| {
                let status = if r.status().is_server_error() {
                    StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    StatusCode::BAD_REQUEST
                };
                ApiError::new(status, r.body_text())
            },
        )
    }
}
