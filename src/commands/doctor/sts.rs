//! The STS links: `vegas-sts` beside this binary (`sts::helper::locate`,
//! the same probe `assume` makes before asking for a code), and a TCP
//! connection to each endpoint the profiles use (skipped with `--offline`).

use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use super::Check;
use crate::config::Profile;

/// How long the STS endpoint gets to accept a TCP connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// `vegas-sts`, which makes the STS calls on a cache miss.
pub(super) fn helper_check() -> Check {
    const LABEL: &str = "STS helper";
    match crate::sts::helper::locate() {
        Ok(path) => Check::pass(LABEL, path.display().to_string()),
        Err(e) => Check::from_error(LABEL, &e),
    }
}

pub(super) fn endpoint_checks(profiles: &[Profile], offline: bool, report: &mut Vec<Check>) {
    if profiles.is_empty() {
        return;
    }
    if offline {
        report.push(Check::pass("STS endpoint", "not checked (--offline)"));
        return;
    }
    let mut endpoints: Vec<String> = profiles.iter().map(sts_endpoint).collect();
    endpoints.sort();
    endpoints.dedup();
    for endpoint in endpoints {
        report.push(sts_check(&endpoint));
    }
}

/// The STS URL a profile's AssumeRole goes to.
fn sts_endpoint(profile: &Profile) -> String {
    match &profile.endpoint_url {
        Some(url) => url.value.clone(),
        None => format!("https://sts.{}.amazonaws.com", profile.region.value),
    }
}

fn sts_check(endpoint: &str) -> Check {
    let label = format!("STS endpoint {endpoint}");
    let fix = "check the network (and any proxy or firewall), and region / endpoint_url in \
               the profile; --offline skips this check";
    let Some(address) = host_port(endpoint) else {
        return Check::fail(label, "not an http(s) URL with a host", fix);
    };
    let started = Instant::now();
    match connect(&address) {
        Ok(()) => Check::pass(
            label,
            format!(
                "{address} accepts connections ({} ms)",
                started.elapsed().as_millis()
            ),
        ),
        Err(why) => Check::fail(label, format!("cannot connect to {address}: {why}"), fix),
    }
}

/// `host:port` of an http(s) URL (default ports 443 and 80).
fn host_port(url: &str) -> Option<String> {
    let (default_port, rest) = if let Some(rest) = url.strip_prefix("https://") {
        (443, rest)
    } else {
        (80, url.strip_prefix("http://")?)
    };
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit('@').next()?;
    if authority.is_empty() {
        return None;
    }
    let has_port = match authority.rfind(']') {
        Some(close) => authority.get(close..)?.contains(':'),
        None => authority.contains(':'),
    };
    Some(if has_port {
        authority.to_string()
    } else {
        format!("{authority}:{default_port}")
    })
}

fn connect(address: &str) -> Result<(), String> {
    let addresses: Vec<_> = address
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve: {e}"))?
        .collect();
    let mut last = "no address".to_string();
    for socket in addresses {
        match TcpStream::connect_timeout(&socket, CONNECT_TIMEOUT) {
            Ok(_) => return Ok(()),
            Err(e) => last = e.to_string(),
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_port_come_from_the_url_with_scheme_defaults() {
        assert_eq!(
            host_port("https://sts.eu-west-1.amazonaws.com").as_deref(),
            Some("sts.eu-west-1.amazonaws.com:443")
        );
        assert_eq!(
            host_port("http://127.0.0.1:4566/path?x").as_deref(),
            Some("127.0.0.1:4566")
        );
        assert_eq!(host_port("http://[::1]/").as_deref(), Some("[::1]:80"));
        assert_eq!(
            host_port("http://[::1]:8080").as_deref(),
            Some("[::1]:8080")
        );
        assert_eq!(host_port("ftp://example.com"), None);
        assert_eq!(host_port("https://"), None);
    }
}
