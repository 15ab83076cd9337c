//! The listening socket and its connections, with the limits that keep a
//! slow or hostile client from holding the server: a bounded request head,
//! a time limit to send it (also when a kept-alive connection idles), a cap
//! on each connection's life, and a cap on open connections.

use std::future::Future;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::{select, Either};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

use crate::error::ServeError;
use crate::http::{handle, Shared};

/// Time to send a whole request head, from the connection's start or the
/// previous answer: also how long a kept-alive connection may idle.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(2);
/// The longest a connection lives (a request may wait for a touch).
pub const CONNECTION_MAX: Duration = Duration::from_secs(180);
/// Connections open at once; more wait in the listen backlog.
pub const MAX_CONNECTIONS: usize = 64;
/// The largest request head read (hyper's smallest buffer); larger → 431.
pub const HEAD_MAX: usize = 8192;
/// The most header lines in a request.
pub const HEADERS_MAX: usize = 32;

/// Bind `listen`, or a free port on 127.0.0.1.
pub fn bind(listen: Option<SocketAddr>) -> Result<std::net::TcpListener, ServeError> {
    let address = listen.unwrap_or_else(|| SocketAddr::from((Ipv4Addr::LOCALHOST, 0)));
    let listener = std::net::TcpListener::bind(address).map_err(|e| match e.kind() {
        std::io::ErrorKind::AddrInUse => ServeError::AddressInUse { address },
        _ => ServeError::Listen {
            address,
            message: e.to_string(),
        },
    })?;
    listener
        .set_nonblocking(true)
        .map_err(|e| ServeError::Listen {
            address,
            message: e.to_string(),
        })?;
    Ok(listener)
}

/// The address a client on this machine uses to reach `bound`: loopback
/// for a wildcard address.
pub fn client_address(bound: SocketAddr) -> SocketAddr {
    let ip = match bound.ip() {
        ip if !ip.is_unspecified() => ip,
        std::net::IpAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(_) => Ipv6Addr::LOCALHOST.into(),
    };
    SocketAddr::new(ip, bound.port())
}

/// Accept and serve connections until `stop` turns true.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Some(Ok(slot)) = until_stopped(slots.clone().acquire_owned(), &mut stop).await else {
            return;
        };
        match until_stopped(listener.accept(), &mut stop).await {
            None => return,
            Some(Ok((stream, _peer))) => {
                tokio::spawn(connection(stream, shared.clone(), slot));
            }
            // Out of descriptors, or a connection reset before accept:
            // breathe, and go on serving the others.
            Some(Err(e)) => {
                tracing::debug!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn connection(stream: TcpStream, shared: Arc<Shared>, slot: OwnedSemaphorePermit) {
    let service = service_fn(move |request| handle(request, shared.clone()));
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(HEAD_MAX)
        .max_headers(HEADERS_MAX)
        .serve_connection(TokioIo::new(stream), service);
    if let Ok(Err(e)) = tokio::time::timeout(CONNECTION_MAX, connection).await {
        tracing::debug!(error = %e, "connection ended");
    }
    drop(slot);
}

/// `work`, unless `stop` turns true first.
async fn until_stopped<F: Future>(work: F, stop: &mut watch::Receiver<bool>) -> Option<F::Output> {
    let stopped = stop.wait_for(|stopped| *stopped);
    match select(pin!(work), pin!(stopped)).await {
        Either::Left((done, _)) => Some(done),
        Either::Right(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_reaches_a_wildcard_listener_on_loopback() {
        let any: SocketAddr = "0.0.0.0:8123".parse().unwrap();
        assert_eq!(client_address(any), "127.0.0.1:8123".parse().unwrap());
        let any6: SocketAddr = "[::]:8123".parse().unwrap();
        assert_eq!(client_address(any6), "[::1]:8123".parse().unwrap());
        let lan: SocketAddr = "192.168.1.5:80".parse().unwrap();
        assert_eq!(client_address(lan), lan);
    }

    #[test]
    fn a_port_in_use_is_said_so() {
        let taken = bind(None).unwrap();
        let address = taken.local_addr().unwrap();
        let err = bind(Some(address)).unwrap_err();
        assert!(matches!(err, ServeError::AddressInUse { .. }), "{err:?}");
        assert_eq!(err.to_string(), format!("{address} is already in use"));
    }
}
