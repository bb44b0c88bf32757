//! Test support the connectors and the fakes share: a misbehaving upstream for the
//! error-path tests, and connector configurations parsed from TOML.
//!
//! Compiled only with the `test-support` feature, which the connectors enable in their
//! dev-dependencies; nothing in a release build reaches this module.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};

use serde::de::DeserializeOwned;

/// Parses a connector's configuration keys from TOML; an error names the failing key's path.
pub fn parse_toml<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    let value: toml::Value = toml::from_str(text).map_err(|e| e.to_string())?;
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        format!("{path}: {}", e.into_inner())
    })
}

/// A misbehaving upstream: it answers every request with `status` and a body that
/// `answer` makes from the request it received (head and body), as a server or proxy
/// that echoes the request would. Returns the server's base URL (`http://127.0.0.1:port`).
pub fn echo_server(status: u16, answer: fn(&str) -> String) -> std::io::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}", listener.local_addr()?);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let request = read_request(&mut stream);
            let body = answer(&String::from_utf8_lossy(&request));
            let _ = write!(
                stream,
                "HTTP/1.1 {status} Error\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
                 connection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    Ok(url)
}

/// Reads one request, head and body (as far as its `content-length` says), or up to the end
/// of the stream.
fn read_request(stream: &mut TcpStream) -> Vec<u8> {
    let mut request = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).unwrap_or(0);
        request.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&request).into_owned();
        let Some(end) = text.find("\r\n\r\n") else {
            if n == 0 {
                break;
            }
            continue;
        };
        let length: usize = text[..end]
            .lines()
            .find_map(|l| {
                let l = l.to_ascii_lowercase();
                l.strip_prefix("content-length:")
                    .and_then(|v| v.trim().parse().ok())
            })
            .unwrap_or(0);
        if n == 0 || request.len() >= end + 4 + length {
            break;
        }
    }
    request
}
