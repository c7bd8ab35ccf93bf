//! A small HTTP/1.1 server on `goro::net`, written the way Go's `net/http`
//! serves: one goroutine per connection, plain blocking reads and writes.
//!
//! It speaks enough HTTP/1.1 for real clients and load generators:
//! keep-alive (the default; `Connection: close` and HTTP/1.0 close after the
//! response), pipelining (every complete request already read is answered,
//! and the answers go out in one write), and request bodies framed by
//! `Content-Length` (chunked request bodies are refused with 411). Requests
//! are parsed with `httparse`.

use goro::net::{TcpListener, TcpStream};
use std::borrow::Cow;
use std::io::{self, Read, Write};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// Largest request head (request line and headers) accepted.
const MAX_HEAD: usize = 64 * 1024;
/// Largest request body accepted.
const MAX_BODY: usize = 1024 * 1024;
/// Most headers parsed per request.
const MAX_HEADERS: usize = 64;

/// A parsed request, as a handler sees it.
pub struct Request<'a> {
    /// `GET`, `POST`, ...
    pub method: &'a str,
    /// The request target, e.g. `/` or `/items?id=3`.
    pub path: &'a str,
    /// The body (empty without `Content-Length`).
    pub body: &'a [u8],
}

/// A handler's answer: a status and a `text/plain` body.
pub struct Response {
    /// The status code, e.g. 200.
    pub status: u16,
    /// The body (borrowed when it is a constant: no allocation per request).
    pub body: Cow<'static, [u8]>,
}

/// Accepts connections forever, serving each in its own goroutine with
/// `handler`. A temporary accept error (out of file descriptors, say) is
/// logged and waited out, as `net/http` does; returns only on another.
pub fn serve(listener: TcpListener, handler: fn(&Request) -> Response) -> io::Result<()> {
    crate::accept::accept_loop(&listener, |stream| {
        goro::go!(move || {
            // A client that goes away mid-request is its own business.
            let _ = serve_connection(stream, handler);
        });
    })
}

/// What reading the buffered bytes gave.
enum Parsed {
    /// A complete request, answered into the output; it was this long.
    Answered { used: usize, close: bool },
    /// More bytes are needed.
    Partial,
    /// A request we refuse; the answer is in the output, then we close.
    Refused,
}

/// Serves one connection until the client closes it or asks to.
pub fn serve_connection(
    mut stream: TcpStream,
    handler: fn(&Request) -> Response,
) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut input = vec![0u8; 4096];
    let (mut start, mut end) = (0, 0);
    let mut output = Vec::with_capacity(4096);
    loop {
        let mut close = false;
        while start < end && !close {
            match answer_one(&input[start..end], handler, &mut output) {
                Parsed::Answered { used, close: c } => {
                    start += used;
                    close = c;
                }
                Parsed::Partial => break,
                Parsed::Refused => {
                    stream.write_all(&output)?;
                    return Ok(());
                }
            }
        }
        if !output.is_empty() {
            stream.write_all(&output)?;
            output.clear();
        }
        if close {
            return Ok(());
        }
        // Keep the unparsed tail at the front, with room to read more.
        input.copy_within(start..end, 0);
        (start, end) = (0, end - start);
        if end == input.len() {
            if input.len() >= MAX_HEAD + MAX_BODY {
                return Ok(());
            }
            input.resize(input.len() * 2, 0);
        }
        let n = stream.read(&mut input[end..])?;
        if n == 0 {
            return Ok(());
        }
        end += n;
    }
}

/// Parses one request at the front of `buf` and writes its answer.
fn answer_one(buf: &[u8], handler: fn(&Request) -> Response, output: &mut Vec<u8>) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => return refuse(431, output),
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(_) => return refuse(400, output),
    };
    let mut body_len = 0;
    let mut close = req.version == Some(0);
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            match std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse().ok())
            {
                Some(n) if n <= MAX_BODY => body_len = n,
                Some(_) => return refuse(413, output),
                None => return refuse(400, output),
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return refuse(411, output);
        } else if h.name.eq_ignore_ascii_case("connection") {
            close = connection_closes(h.value, close);
        }
    }
    if buf.len() < head_len + body_len {
        return Parsed::Partial;
    }
    let request = Request {
        method: req.method.unwrap_or("GET"),
        path: req.path.unwrap_or("/"),
        body: &buf[head_len..head_len + body_len],
    };
    let response = handler(&request);
    write_response(output, response.status, &response.body, close);
    Parsed::Answered {
        used: head_len + body_len,
        close,
    }
}

/// Whether a `Connection` header value closes the connection (`keep-alive`
/// keeps an HTTP/1.0 one open).
fn connection_closes(value: &[u8], default: bool) -> bool {
    if value.eq_ignore_ascii_case(b"close") {
        true
    } else if value.eq_ignore_ascii_case(b"keep-alive") {
        false
    } else {
        default
    }
}

/// Answers an unacceptable request with `status`, then closes.
fn refuse(status: u16, output: &mut Vec<u8>) -> Parsed {
    write_response(output, status, reason(status).as_bytes(), true);
    Parsed::Refused
}

/// Appends the response: head and body, built from slices (no formatting
/// machinery on the hot path). The headers are those `net/http` sends for
/// the same handler: `Date`, `Content-Type`, `Content-Length` (and no
/// `Server`).
fn write_response(output: &mut Vec<u8>, status: u16, body: &[u8], close: bool) {
    output.extend_from_slice(b"HTTP/1.1 ");
    output.extend_from_slice(itoa::Buffer::new().format(status).as_bytes());
    output.push(b' ');
    output.extend_from_slice(reason(status).as_bytes());
    output.extend_from_slice(b"\r\nDate: ");
    write_date(output);
    output.extend_from_slice(b"\r\nContent-Type: text/plain\r\nContent-Length: ");
    output.extend_from_slice(itoa::Buffer::new().format(body.len()).as_bytes());
    if close {
        output.extend_from_slice(b"\r\nConnection: close");
    }
    output.extend_from_slice(b"\r\n\r\n");
    output.extend_from_slice(body);
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        411 => "Length Required",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        _ => "Unknown",
    }
}

/// Writes the `Date` header's value, formatted once a second.
fn write_date(output: &mut Vec<u8>) {
    static CACHE: Mutex<(u64, String)> = Mutex::new((u64::MAX, String::new()));
    let now = SystemTime::now();
    let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let mut cache = CACHE.lock().unwrap_or_else(|p| p.into_inner());
    if cache.0 != second {
        *cache = (second, httpdate::fmt_http_date(now));
    }
    output.extend_from_slice(cache.1.as_bytes());
}
