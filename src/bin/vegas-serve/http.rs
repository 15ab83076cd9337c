//! One HTTP request: refused unless it is a `GET` of the one path with the
//! token, answered otherwise by the [`Issuer`] on a blocking thread.
//!
//! Nothing of a request is logged but its method and the status it got:
//! never the token, never a header, never the credentials.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderMap, HeaderValue, ALLOW, AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};

use crate::answer::Answer;
use crate::issuer::Issuer;
use crate::token::Token;

/// The one path credentials are served on.
pub const CREDENTIALS_PATH: &str = "/credentials";

/// What every connection shares.
pub struct Shared {
    pub token: Token,
    pub issuer: Issuer,
}

/// The hyper service: every request gets an answer, never an error.
pub async fn handle(
    request: Request<Incoming>,
    shared: Arc<Shared>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let started = Instant::now();
    let method = request.method().clone();
    let answer = match refusal(
        &method,
        request.uri().path(),
        request.headers(),
        &shared.token,
    ) {
        Some(refused) => refused,
        None => issue(shared).await,
    };
    tracing::debug!(
        %method,
        status = answer.status.as_u16(),
        elapsed_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        "request answered"
    );
    Ok(response(answer))
}

/// Why a request gets no credentials, if it does not: a path other than
/// [`CREDENTIALS_PATH`], a method other than `GET`, a body, or no token
/// (401) or the wrong one (403).
pub fn refusal(method: &Method, path: &str, headers: &HeaderMap, token: &Token) -> Option<Answer> {
    if path != CREDENTIALS_PATH {
        return Some(Answer::error(
            StatusCode::NOT_FOUND,
            "NotFound",
            "vegas serves credentials on one path only",
        ));
    }
    if method != Method::GET {
        return Some(Answer::error(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "only GET is served",
        ));
    }
    let has_body = headers.contains_key(hyper::header::TRANSFER_ENCODING)
        || headers
            .get(hyper::header::CONTENT_LENGTH)
            .is_some_and(|length| length.as_bytes() != b"0");
    if has_body {
        return Some(Answer::error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PayloadTooLarge",
            "a credentials request has no body",
        ));
    }
    match headers.get(AUTHORIZATION) {
        None => Some(Answer::error(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "no Authorization header: set AWS_CONTAINER_AUTHORIZATION_TOKEN or _TOKEN_FILE as vegas serve printed",
        )),
        Some(presented) if !token.matches(presented.as_bytes()) => Some(Answer::error(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "wrong authorization token (each vegas serve run has a new one)",
        )),
        Some(_) => None,
    }
}

/// The issuer's answer, from a blocking thread (it may wait for a touch).
async fn issue(shared: Arc<Shared>) -> Answer {
    match tokio::task::spawn_blocking(move || shared.issuer.answer()).await {
        Ok(answer) => answer,
        Err(_) => Answer::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "VegasError",
            "the request was dropped while credentials were fetched",
        ),
    }
}

fn response(answer: Answer) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::copy_from_slice(answer.body.as_bytes())));
    *response.status_mut() = answer.status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if answer.status == StatusCode::METHOD_NOT_ALLOWED {
        headers.insert(ALLOW, HeaderValue::from_static("GET"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn status(method: Method, path: &str, pairs: &[(&'static str, &str)]) -> Option<u16> {
        let token = Token::generate().unwrap();
        let mut pairs = pairs.to_vec();
        let good = token.expose().to_string();
        for pair in &mut pairs {
            if pair.1 == "GOOD" {
                pair.1 = &good;
            }
        }
        refusal(&method, path, &headers(&pairs), &token).map(|a| a.status.as_u16())
    }

    #[test]
    fn only_an_authorised_get_of_the_one_path_is_let_through() {
        let auth = [("authorization", "GOOD")];
        assert_eq!(status(Method::GET, CREDENTIALS_PATH, &auth), None);
        assert_eq!(status(Method::GET, CREDENTIALS_PATH, &[]), Some(401));
        let wrong = [("authorization", "0000")];
        assert_eq!(status(Method::GET, CREDENTIALS_PATH, &wrong), Some(403));
        assert_eq!(status(Method::POST, CREDENTIALS_PATH, &auth), Some(405));
        assert_eq!(status(Method::HEAD, CREDENTIALS_PATH, &auth), Some(405));
        assert_eq!(status(Method::GET, "/", &auth), Some(404));
        assert_eq!(status(Method::GET, "/credentials/", &auth), Some(404));
        let body = [("authorization", "GOOD"), ("content-length", "5")];
        assert_eq!(status(Method::GET, CREDENTIALS_PATH, &body), Some(413));
        let empty = [("authorization", "GOOD"), ("content-length", "0")];
        assert_eq!(status(Method::GET, CREDENTIALS_PATH, &empty), None);
    }

    #[test]
    fn a_refusal_says_why_and_carries_no_token() {
        let token = Token::generate().unwrap();
        let presented = format!("{}x", token.expose());
        let map = headers(&[("authorization", &presented)]);
        let answer = refusal(&Method::GET, CREDENTIALS_PATH, &map, &token).unwrap();
        assert!(!answer.body.contains(token.expose()));
        let json: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
        assert_eq!(json["code"], "Forbidden");
    }
}
