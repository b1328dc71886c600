//! The control protocol between `ikectl` / `ipsec` and `iked`: one JSON object
//! per line over a Unix stream socket (root-only). The client sends one
//! request line, the daemon answers with one response line and closes.
//!
//! ```text
//! -> {"cmd":"status"}                 <- {"ok":true,"message":"","status":{...}}
//! -> {"cmd":"statusall"}              <- the same, with kernel counters
//! -> {"cmd":"up","conn":"net-net"}    <- {"ok":true,"message":"connection 'net-net' established successfully"}
//! -> {"cmd":"down","conn":"net-net"}  <- {"ok":true,"message":"closed 1 IKE_SA of 'net-net'"}
//! -> {"cmd":"down-ike","ike_id":3}    <- {"ok":true,"message":"IKE_SA net-net[3] closed successfully"}
//! -> {"cmd":"down-child","child_id":7,"conn":"net-net"} <- {"ok":true,"message":"CHILD_SA net-net{7} closed successfully"}
//! -> {"cmd":"route","conn":"net-net"} <- {"ok":true,"message":"'net-net' routed"}
//! -> {"cmd":"unroute","conn":"net-net"} <- {"ok":true,"message":"configuration 'net-net' unrouted"}
//! -> {"cmd":"reload"}                 <- {"ok":false,"message":"...","errors":["file:line:col: ..."]}
//! -> {"cmd":"stop"}                   <- {"ok":true,"message":"stopping"}
//! ```

use super::status::StatusReport;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// Default control socket.
pub const DEFAULT_CTL: &str = "/run/iked.ctl";
/// Longest request line the daemon reads.
pub const MAX_REQUEST: usize = 4096;

/// A command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "lowercase")]
pub enum Request {
    Status,
    Statusall,
    Up {
        conn: String,
    },
    Down {
        conn: String,
    },
    /// Close one IKE_SA by its unique id (`ipsec down name[N]`); with
    /// `conn`, only if the IKE_SA belongs to that conn.
    #[serde(rename = "down-ike")]
    DownIke {
        ike_id: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        conn: Option<String>,
    },
    /// Close one CHILD_SA by its unique id (`ipsec down name{N}`); its
    /// IKE_SA stays. With `conn`, only if the CHILD_SA belongs to that conn.
    #[serde(rename = "down-child")]
    DownChild {
        child_id: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        conn: Option<String>,
    },
    /// Install a conn's trap (or shunt) policies, like `ipsec route`.
    Route {
        conn: String,
    },
    /// Remove them, like `ipsec unroute`.
    Unroute {
        conn: String,
    },
    Reload,
    Stop,
    /// The virtual-IP pools' leases, like `ipsec leases [POOL [ADDRESS]]`.
    Leases {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pool: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        addr: Option<std::net::IpAddr>,
    },
}

/// The answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Response {
    pub ok: bool,
    #[serde(default)]
    pub message: String,
    /// Configuration errors of a failed reload, one per line.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Box<StatusReport>>,
}

impl Response {
    pub fn ok(message: impl Into<String>) -> Self {
        Response {
            ok: true,
            message: message.into(),
            ..Default::default()
        }
    }
    pub fn err(message: impl Into<String>) -> Self {
        Response {
            ok: false,
            message: message.into(),
            ..Default::default()
        }
    }
}

/// The request for `down ARG`, with strongSwan's `ipsec down` syntax:
/// `name` closes every IKE_SA of a conn, `name[N]` (or `[N]`) one IKE_SA by
/// its unique id, `name{N}` (or `{N}`) one CHILD_SA; `name[*]` is `name`.
pub fn down_request(arg: &str) -> Result<Request, String> {
    let bad = || format!("'{arg}': expected NAME, NAME[N] or NAME{{N}} (N a unique id)");
    let split = |open: char, close: char| -> Option<(&str, &str)> {
        let inner = arg.strip_suffix(close)?;
        let (name, id) = inner.split_once(open)?;
        Some((name, id))
    };
    let name_of = |n: &str| (!n.is_empty()).then(|| n.to_owned());
    if let Some((name, id)) = split('[', ']') {
        if id == "*" && !name.is_empty() {
            return Ok(Request::Down { conn: name.into() });
        }
        let ike_id = id.parse().map_err(|_| bad())?;
        return Ok(Request::DownIke {
            ike_id,
            conn: name_of(name),
        });
    }
    if let Some((name, id)) = split('{', '}') {
        let child_id = id.parse().map_err(|_| bad())?;
        return Ok(Request::DownChild {
            child_id,
            conn: name_of(name),
        });
    }
    if arg.is_empty() || arg.contains(['[', ']', '{', '}']) {
        return Err(bad());
    }
    Ok(Request::Down { conn: arg.into() })
}

/// Parses a request line; the error is the answer to send back.
pub fn parse_request(line: &[u8]) -> Result<Request, Response> {
    if line.len() > MAX_REQUEST {
        return Err(Response::err("request too long"));
    }
    serde_json::from_slice(line).map_err(|e| Response::err(format!("bad request: {e}")))
}

/// One line of JSON, newline-terminated.
pub fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    let mut s = serde_json::to_vec(v).unwrap_or_else(|_| b"{\"ok\":false}".to_vec());
    s.push(b'\n');
    s
}

/// Errors of the client side.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to iked at {path}: {source} (is iked running?)")]
    Connect {
        path: String,
        source: std::io::Error,
    },
    #[error("control socket {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("bad answer from iked: {0}")]
    Decode(String),
}

/// Sends one request and waits (up to `timeout`) for the answer.
pub fn request(path: &Path, req: &Request, timeout: Duration) -> Result<Response, ClientError> {
    let p = path.display().to_string();
    let mut s = UnixStream::connect(path).map_err(|source| ClientError::Connect {
        path: p.clone(),
        source,
    })?;
    let io = |source| ClientError::Io {
        path: p.clone(),
        source,
    };
    s.set_read_timeout(Some(timeout)).map_err(io)?;
    s.set_write_timeout(Some(Duration::from_secs(5)))
        .map_err(io)?;
    s.write_all(&encode(req)).map_err(io)?;
    let mut line = Vec::new();
    BufReader::new(&s)
        .read_until(b'\n', &mut line)
        .map_err(io)?;
    if line.is_empty() {
        return Err(ClientError::Decode(
            "connection closed without an answer".into(),
        ));
    }
    serde_json::from_slice(&line).map_err(|e| ClientError::Decode(e.to_string()))
}

/// True when a daemon answers on `path`.
pub fn is_running(path: &Path) -> bool {
    request(path, &Request::Status, Duration::from_secs(2)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_format() {
        assert_eq!(encode(&Request::Status), b"{\"cmd\":\"status\"}\n");
        assert_eq!(
            encode(&Request::Up {
                conn: "net-net".into()
            }),
            b"{\"cmd\":\"up\",\"conn\":\"net-net\"}\n"
        );
        assert_eq!(
            parse_request(b"{\"cmd\":\"down\",\"conn\":\"x\"}\n").unwrap(),
            Request::Down { conn: "x".into() }
        );
        assert_eq!(
            parse_request(b"{\"cmd\":\"reload\"}").unwrap(),
            Request::Reload
        );
        assert_eq!(
            encode(&Response::ok("fine")),
            b"{\"ok\":true,\"message\":\"fine\"}\n"
        );
    }

    #[test]
    fn down_takes_strongswans_unique_id_syntax() {
        let d = |a: &str| down_request(a);
        assert_eq!(d("gw"), Ok(Request::Down { conn: "gw".into() }));
        assert_eq!(d("gw[*]"), Ok(Request::Down { conn: "gw".into() }));
        assert_eq!(
            d("gw[3]"),
            Ok(Request::DownIke {
                ike_id: 3,
                conn: Some("gw".into())
            })
        );
        assert_eq!(
            d("[3]"),
            Ok(Request::DownIke {
                ike_id: 3,
                conn: None
            })
        );
        assert_eq!(
            d("net-2{12}"),
            Ok(Request::DownChild {
                child_id: 12,
                conn: Some("net-2".into())
            })
        );
        assert_eq!(
            d("{12}"),
            Ok(Request::DownChild {
                child_id: 12,
                conn: None
            })
        );
        for bad in ["", "gw[", "gw[x]", "gw{*}", "gw[-1]", "g]w", "gw{1", "[*]"] {
            assert!(d(bad).is_err(), "{bad}");
        }
        assert_eq!(
            encode(&Request::DownIke {
                ike_id: 3,
                conn: None
            }),
            b"{\"cmd\":\"down-ike\",\"ike_id\":3}\n"
        );
        assert_eq!(
            parse_request(b"{\"cmd\":\"down-child\",\"child_id\":7,\"conn\":\"gw\"}").unwrap(),
            Request::DownChild {
                child_id: 7,
                conn: Some("gw".into())
            }
        );
    }

    #[test]
    fn bad_requests_are_answers_not_panics() {
        for bad in [
            &b""[..],
            b"{",
            b"null",
            b"{\"cmd\":\"up\"}",
            b"{\"cmd\":\"format-disk\"}",
            b"\xff\xfe",
            b"[1,2,3]",
        ] {
            let e = parse_request(bad).unwrap_err();
            assert!(!e.ok);
            assert!(e.message.starts_with("bad request"), "{}", e.message);
        }
        assert!(!parse_request(&vec![b' '; MAX_REQUEST + 1]).unwrap_err().ok);
    }

    #[test]
    fn client_against_a_scripted_server() {
        let dir = std::env::temp_dir().join(format!("iked-ctl-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ctl");
        let _ = std::fs::remove_file(&path);
        let l = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let t = std::thread::spawn(move || {
            let (s, _) = l.accept().unwrap();
            let mut line = Vec::new();
            BufReader::new(&s).read_until(b'\n', &mut line).unwrap();
            let req = parse_request(&line).unwrap();
            let mut w = &s;
            w.write_all(&encode(&Response::ok(format!("{req:?}"))))
                .unwrap();
        });
        let r = request(
            &path,
            &Request::Up { conn: "a".into() },
            Duration::from_secs(5),
        )
        .unwrap();
        t.join().unwrap();
        assert!(r.ok);
        assert_eq!(r.message, "Up { conn: \"a\" }");
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(matches!(
            request(&path, &Request::Status, Duration::from_secs(1)),
            Err(ClientError::Connect { .. })
        ));
    }
}
