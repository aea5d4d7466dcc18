//! Health probes on tokio, the thin shell around [`crate::health`]:
//! - [`probe`]: one TCP connect, or one minimal HTTP/1.1 `GET` whose status line is compared with
//!   the expected status, bounded by the check's timeout;
//! - [`monitor`]: probes one backend on its schedule, feeds a [`HealthTracker`] and sends every
//!   change of health (with its reason) on a channel.
//!
//! Where probes run (issue 5: "as far as possible the path real traffic takes") is the caller's
//! choice: the agent of the backend's hypervisor probes the instance's address and target port.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use crate::health::{HealthConfig, HealthEvent, HealthTracker, Millis, ProbeFailure, ProbeResult};

/// What a probe checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeSpec {
    /// The TCP handshake completes.
    Tcp,
    /// `GET path` answers with `expected_status`.
    Http {
        /// The request path, e.g. `/healthz`.
        path: String,
        /// The status that counts as healthy.
        expected_status: u16,
    },
}

/// The longest status line read; the rest of the answer is ignored.
const MAX_STATUS_LINE: usize = 1024;

/// Runs one probe against `addr` within `timeout`.
pub async fn probe(addr: SocketAddr, spec: &ProbeSpec, timeout: Duration) -> ProbeResult {
    match tokio::time::timeout(timeout, probe_unbounded(addr, spec)).await {
        Ok(result) => result,
        Err(_) => Err(ProbeFailure::Timeout),
    }
}

async fn probe_unbounded(addr: SocketAddr, spec: &ProbeSpec) -> ProbeResult {
    let mut stream = TcpStream::connect(addr).await.map_err(io_failure)?;
    let (path, expected) = match spec {
        ProbeSpec::Tcp => return Ok(()),
        ProbeSpec::Http {
            path,
            expected_status,
        } => (path, *expected_status),
    };
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: sdn-nlb-health\r\nAccept: */*\r\n\
         Connection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(io_failure)?;
    let mut buf = Vec::with_capacity(128);
    let mut chunk = [0u8; 256];
    while !buf.windows(2).any(|w| w == b"\r\n") && buf.len() < MAX_STATUS_LINE {
        let n = stream.read(&mut chunk).await.map_err(io_failure)?;
        if n == 0 {
            return Err(if buf.is_empty() {
                ProbeFailure::Reset
            } else {
                ProbeFailure::Malformed
            });
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let got = status_of(&buf).ok_or(ProbeFailure::Malformed)?;
    if got == expected {
        Ok(())
    } else {
        Err(ProbeFailure::Status { got, expected })
    }
}

/// The status code of an `HTTP/1.x NNN ...` status line at the start of `answer`.
fn status_of(answer: &[u8]) -> Option<u16> {
    let end = answer.windows(2).position(|w| w == b"\r\n")?;
    let line = std::str::from_utf8(&answer[..end]).ok()?;
    let mut words = line.split(' ');
    let version = words.next()?;
    if !matches!(version, "HTTP/1.0" | "HTTP/1.1") {
        return None;
    }
    let code = words.next()?;
    if code.len() != 3 {
        return None;
    }
    code.parse().ok().filter(|c| (100..600).contains(c))
}

fn io_failure(e: std::io::Error) -> ProbeFailure {
    use std::io::ErrorKind;
    match e.kind() {
        ErrorKind::ConnectionRefused => ProbeFailure::Refused,
        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe => {
            ProbeFailure::Reset
        }
        ErrorKind::UnexpectedEof => ProbeFailure::Reset,
        kind => ProbeFailure::Io(kind.to_string()),
    }
}

/// A health change of one backend, as [`monitor`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendEvent<K> {
    /// The caller's name for the backend.
    pub backend: K,
    /// The change.
    pub event: HealthEvent,
}

/// Probes `addr` on the schedule of `config` until `events` is closed, sending every change of
/// health. Times in events are milliseconds since the monitor started.
pub async fn monitor<K: Clone>(
    backend: K,
    addr: SocketAddr,
    spec: ProbeSpec,
    config: HealthConfig,
    draining: bool,
    events: mpsc::Sender<BackendEvent<K>>,
) {
    let origin = Instant::now();
    let now = || origin.elapsed().as_millis() as Millis;
    let mut tracker = HealthTracker::new(config, draining, now());
    loop {
        let wait = tracker.next_probe_at().saturating_sub(now());
        tokio::time::sleep(Duration::from_millis(wait)).await;
        if events.is_closed() {
            return;
        }
        let started = now();
        let result = probe(addr, &spec, config.timeout).await;
        if let Some(event) = tracker.on_probe(started, now(), result) {
            let sent = events.send(BackendEvent {
                backend: backend.clone(),
                event,
            });
            if sent.await.is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::Health;
    use tokio::net::TcpListener;

    #[test]
    fn status_lines_are_parsed_strictly() {
        assert_eq!(status_of(b"HTTP/1.1 200 OK\r\n"), Some(200));
        assert_eq!(
            status_of(b"HTTP/1.0 503 Service Unavailable\r\nx"),
            Some(503)
        );
        assert_eq!(status_of(b"HTTP/1.1 204\r\n"), Some(204));
        for bad in [
            &b"HTTP/2 200 OK\r\n"[..],
            b"HTTP/1.1 20 OK\r\n",
            b"HTTP/1.1 999 OK\r\n",
            b"SSH-2.0-OpenSSH\r\n",
            b"HTTP/1.1 200 OK",
        ] {
            assert_eq!(status_of(bad), None, "{bad:?}");
        }
    }

    /// A local HTTP server that answers every request with `status` (loopback only).
    async fn http_server(status: &'static str) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    let mut seen = Vec::new();
                    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                        match s.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => seen.extend_from_slice(&buf[..n]),
                        }
                    }
                    assert!(seen.starts_with(b"GET /healthz HTTP/1.1\r\n"));
                    let answer = format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n");
                    let _ = s.write_all(answer.as_bytes()).await;
                });
            }
        });
        addr
    }

    fn http(expected_status: u16) -> ProbeSpec {
        ProbeSpec::Http {
            path: "/healthz".into(),
            expected_status,
        }
    }

    /// An address on loopback where nothing listens.
    async fn closed_port() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap()
    }

    const T: Duration = Duration::from_millis(500);

    #[tokio::test]
    async fn tcp_probe_passes_on_a_listener_and_fails_on_a_closed_port() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let up = listener.local_addr().unwrap();
        assert_eq!(probe(up, &ProbeSpec::Tcp, T).await, Ok(()));
        let down = closed_port().await;
        assert_eq!(
            probe(down, &ProbeSpec::Tcp, T).await,
            Err(ProbeFailure::Refused)
        );
    }

    #[tokio::test]
    async fn http_probe_compares_the_status() {
        let ok = http_server("200 OK").await;
        assert_eq!(probe(ok, &http(200), T).await, Ok(()));
        let unavailable = http_server("503 Service Unavailable").await;
        assert_eq!(
            probe(unavailable, &http(200), T).await,
            Err(ProbeFailure::Status {
                got: 503,
                expected: 200
            })
        );
        assert_eq!(probe(unavailable, &http(503), T).await, Ok(()));
    }

    #[tokio::test]
    async fn http_probe_times_out_on_a_silent_server_and_sees_garbage() {
        let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = silent.local_addr().unwrap();
        let hold = tokio::spawn(async move {
            let (_s, _) = silent.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(5)).await;
        });
        let short = Duration::from_millis(100);
        assert_eq!(
            probe(addr, &http(200), short).await,
            Err(ProbeFailure::Timeout)
        );
        hold.abort();

        let garbage = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = garbage.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = garbage.accept().await.unwrap();
            let _ = s.write_all(b"SSH-2.0-OpenSSH_9\r\n").await;
        });
        assert_eq!(
            probe(addr, &http(200), T).await,
            Err(ProbeFailure::Malformed)
        );
    }

    #[tokio::test]
    async fn monitor_reports_up_then_down_when_the_server_stops() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let config =
            HealthConfig::new(Duration::from_millis(20), Duration::from_millis(15), 2, 2).unwrap();
        let (tx, mut rx) = mpsc::channel(8);
        let task = tokio::spawn(monitor("b1", addr, ProbeSpec::Tcp, config, false, tx));
        let up = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(up.backend, "b1");
        assert_eq!(
            (up.event.from, up.event.to),
            (Health::Unknown, Health::Healthy)
        );
        drop(listener);
        let down = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (down.event.from, down.event.to),
            (Health::Healthy, Health::Unhealthy)
        );
        assert!(
            down.event.at - up.event.at <= config.detection_bound().as_millis() as u64 + 200,
            "detected within interval x retries + timeout (and scheduling slack)"
        );
        drop(rx);
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .unwrap()
            .unwrap();
    }
}
