//! One HTTP request: refused unless it is a `GET` of the one path, to one
//! of our own host names, with the token; answered otherwise by the
//! [`Issuer`]. A refusal closes its connection, so that refused clients
//! cannot keep the server's few connection slots.
//!
//! Nothing of a request is logged but its method and the status it got:
//! never the token, never a header, never the credentials.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{
    HeaderMap, HeaderValue, ALLOW, AUTHORIZATION, CACHE_CONTROL, CONNECTION, CONTENT_TYPE, HOST,
};
use hyper::{Method, Request, Response, StatusCode};

use crate::answer::Answer;
use crate::issuer::Issuer;
use crate::token::Token;

/// The one path credentials are served on.
pub const CREDENTIALS_PATH: &str = "/credentials";

/// What every connection shares.
pub struct Shared {
    pub token: Token,
    pub issuer: Arc<Issuer>,
    /// The `Host` values a request may carry (see [`hosts`]).
    pub hosts: Vec<String>,
}

/// The host names a client of ours uses for `port`: the loopback names,
/// and the address listened on. Anything else in `Host` is a page in a
/// browser that was pointed here by DNS rebinding, or a misdirected proxy.
pub fn hosts(listening: std::net::SocketAddr) -> Vec<String> {
    let port = listening.port();
    let mut hosts = vec![
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
        listening.to_string(),
    ];
    hosts.dedup();
    hosts
}

/// The hyper service: every request gets an answer, never an error.
pub async fn handle(
    request: Request<Incoming>,
    shared: Arc<Shared>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let started = Instant::now();
    let method = request.method().clone();
    let refused = refusal(
        &method,
        request.uri().path(),
        request.headers(),
        &shared.hosts,
        &shared.token,
    );
    let (answer, close) = match refused {
        Some(refused) => (Arc::new(refused), true),
        None => (shared.issuer.answer().await, false),
    };
    tracing::debug!(
        %method,
        status = answer.status.as_u16(),
        elapsed_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        "request answered"
    );
    Ok(response(&answer, close))
}

/// Why a request gets no credentials, if it does not: a path other than
/// [`CREDENTIALS_PATH`], a method other than `GET`, a body, a `Host` not in
/// `hosts` (400 when missing, 403), or no token (401) or the wrong one (403).
pub fn refusal(
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    hosts: &[String],
    token: &Token,
) -> Option<Answer> {
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
    let host = headers.get(HOST).map(HeaderValue::as_bytes);
    match host {
        None => {
            return Some(Answer::error(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "no Host header",
            ))
        }
        Some(host) if !hosts.iter().any(|h| h.as_bytes().eq_ignore_ascii_case(host)) => {
            return Some(Answer::error(
                StatusCode::FORBIDDEN,
                "WrongHost",
                "vegas serves only clients that name it by a loopback address or the address it listens on",
            ))
        }
        Some(_) => {}
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

/// `answer` as a response; `close`: and the connection closed after it.
fn response(answer: &Answer, close: bool) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::copy_from_slice(answer.body.as_bytes())));
    *response.status_mut() = answer.status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if close {
        headers.insert(CONNECTION, HeaderValue::from_static("close"));
    }
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
        let hosts = hosts("127.0.0.1:4321".parse().unwrap());
        refusal(&method, path, &headers(&pairs), &hosts, &token).map(|a| a.status.as_u16())
    }

    #[test]
    fn only_an_authorised_get_of_the_one_path_is_let_through() {
        let auth = [("host", "127.0.0.1:4321"), ("authorization", "GOOD")];
        assert_eq!(status(Method::GET, CREDENTIALS_PATH, &auth), None);
        let host = [("host", "127.0.0.1:4321")];
        assert_eq!(status(Method::GET, CREDENTIALS_PATH, &host), Some(401));
        let wrong = [("host", "127.0.0.1:4321"), ("authorization", "0000")];
        assert_eq!(status(Method::GET, CREDENTIALS_PATH, &wrong), Some(403));
        assert_eq!(status(Method::POST, CREDENTIALS_PATH, &auth), Some(405));
        assert_eq!(status(Method::HEAD, CREDENTIALS_PATH, &auth), Some(405));
        assert_eq!(status(Method::GET, "/", &auth), Some(404));
        assert_eq!(status(Method::GET, "/credentials/", &auth), Some(404));
        let body = [("authorization", "GOOD"), ("content-length", "5")];
        assert_eq!(status(Method::GET, CREDENTIALS_PATH, &body), Some(413));
        let empty = [
            ("host", "localhost:4321"),
            ("authorization", "GOOD"),
            ("content-length", "0"),
        ];
        assert_eq!(status(Method::GET, CREDENTIALS_PATH, &empty), None);
    }

    #[test]
    fn a_refusal_says_why_and_carries_no_token() {
        let token = Token::generate().unwrap();
        let presented = format!("{}x", token.expose());
        let map = headers(&[("host", "[::1]:9"), ("authorization", &presented)]);
        let hosts = hosts("[::1]:9".parse().unwrap());
        let answer = refusal(&Method::GET, CREDENTIALS_PATH, &map, &hosts, &token).unwrap();
        assert!(!answer.body.contains(token.expose()));
        let json: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
        assert_eq!(json["code"], "Forbidden");
    }

    #[test]
    fn only_our_own_host_names_are_served_and_checked_before_the_token() {
        let ours = [("host", "LOCALHOST:4321"), ("authorization", "GOOD")];
        assert_eq!(status(Method::GET, CREDENTIALS_PATH, &ours), None);
        let ipv6 = [("host", "[::1]:4321"), ("authorization", "GOOD")];
        assert_eq!(status(Method::GET, CREDENTIALS_PATH, &ipv6), None);
        let rebound = [("host", "attacker.example:4321"), ("authorization", "GOOD")];
        assert_eq!(status(Method::GET, CREDENTIALS_PATH, &rebound), Some(403));
        let other_port = [("host", "127.0.0.1:80"), ("authorization", "GOOD")];
        assert_eq!(
            status(Method::GET, CREDENTIALS_PATH, &other_port),
            Some(403)
        );
        let none = [("authorization", "GOOD")];
        assert_eq!(status(Method::GET, CREDENTIALS_PATH, &none), Some(400));
        let lan = hosts("192.168.1.5:8123".parse().unwrap());
        assert!(lan.contains(&"192.168.1.5:8123".to_string()), "{lan:?}");
    }

    #[test]
    fn a_refusal_closes_its_connection_and_an_answer_keeps_it() {
        let refused = Answer::error(StatusCode::FORBIDDEN, "Forbidden", "no");
        assert_eq!(response(&refused, true).headers()[CONNECTION], "close");
        let answered = Answer::error(StatusCode::OK, "x", "y");
        assert!(response(&answered, false)
            .headers()
            .get(CONNECTION)
            .is_none());
    }
}
