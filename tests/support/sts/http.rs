//! HTTP/1.1, just enough for the SDKs: one request per connection, then close.

use std::io::{self, Read, Write};
use std::net::TcpStream;

use super::encoding::form_decode;

const MAX_HEAD: usize = 16 * 1024;
const MAX_BODY: usize = 256 * 1024;

pub(super) struct Request {
    pub(super) method: String,
    pub(super) target: String,
    headers: Vec<(String, String)>,
    pub(super) body: Vec<u8>,
}

impl Request {
    pub(super) fn path(&self) -> &str {
        self.target
            .split_once('?')
            .map_or(self.target.as_str(), |(path, _)| path)
    }

    pub(super) fn query(&self) -> &str {
        self.target.split_once('?').map_or("", |(_, query)| query)
    }

    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// All values of a header, trimmed, inner runs of spaces collapsed,
    /// joined with commas (SigV4's canonical form).
    pub(super) fn canonical_header_value(&self, name: &str) -> String {
        let values: Vec<String> = self
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        values.join(",")
    }

    /// Query parameters, then form body parameters.
    pub(super) fn params(&self) -> super::Params {
        let is_form = self
            .header("content-type")
            .is_none_or(|t| t.starts_with("application/x-www-form-urlencoded"));
        let body = if is_form {
            String::from_utf8_lossy(&self.body).into_owned()
        } else {
            String::new()
        };
        Params(form_pairs(self.query()).chain(form_pairs(&body)).collect())
    }
}

pub(super) fn form_pairs(encoded: &str) -> impl Iterator<Item = (String, String)> + '_ {
    encoded
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (form_decode(key), form_decode(value))
        })
}

pub(super) fn read_request(stream: &mut TcpStream) -> Result<Request, String> {
    let mut buffer = Vec::new();
    let head_end = loop {
        if let Some(end) = find(&buffer, b"\r\n\r\n") {
            break end;
        }
        if buffer.len() > MAX_HEAD {
            return Err("request head too large".into());
        }
        read_some(stream, &mut buffer)?;
    };
    let (head, rest) = buffer.split_at(head_end);
    let head = std::str::from_utf8(head).map_err(|_| "request head is not UTF-8".to_owned())?;
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().unwrap_or_default().split(' ');
    let (Some(method), Some(target), Some(_version)) = (
        request_line.next(),
        request_line.next(),
        request_line.next(),
    ) else {
        return Err("malformed request line".into());
    };
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
        .collect();
    let mut request = Request {
        method: method.to_owned(),
        target: target.to_owned(),
        headers,
        body: Vec::new(),
    };
    if request.header("transfer-encoding").is_some() {
        return Err("chunked bodies are not supported; send Content-Length".into());
    }
    let length: usize = match request.header("content-length") {
        Some(value) => value.parse().map_err(|_| "bad Content-Length".to_owned())?,
        None => 0,
    };
    if length > MAX_BODY {
        return Err("body too large".into());
    }
    let mut body = rest.get(4..).unwrap_or_default().to_vec();
    while body.len() < length {
        read_some(stream, &mut body)?;
    }
    body.truncate(length);
    request.body = body;
    Ok(request)
}

fn read_some(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Result<(), String> {
    let mut chunk = [0u8; 4096];
    match stream.read(&mut chunk) {
        Ok(0) => Err("connection closed mid-request".into()),
        Ok(n) => {
            buffer.extend_from_slice(chunk.get(..n).unwrap_or_default());
            Ok(())
        }
        Err(e) => Err(format!("read failed: {e}")),
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

pub(super) fn write_xml(
    stream: &mut TcpStream,
    status: u16,
    request_id: &str,
    body: &str,
) -> io::Result<()> {
    write(
        stream,
        status,
        &[
            ("Content-Type", "text/xml"),
            ("x-amzn-RequestId", request_id),
        ],
        body,
    )
}

pub(super) fn write_plain(stream: &mut TcpStream, status: u16, body: &str) -> io::Result<()> {
    write(stream, status, &[("Content-Type", "text/plain")], body)
}

fn write(
    stream: &mut TcpStream,
    status: u16,
    headers: &[(&str, &str)],
    body: &str,
) -> io::Result<()> {
    let mut response = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    for (name, value) in headers {
        response.push_str(&format!("{name}: {value}\r\n"));
    }
    response.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ));
    stream.write_all(response.as_bytes())?;
    stream.flush()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        500 => "Internal Server Error",
        _ => "Unknown",
    }
}

/// Decoded request parameters, in the order sent.
pub(super) struct Params(Vec<(String, String)>);

impl Params {
    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}
