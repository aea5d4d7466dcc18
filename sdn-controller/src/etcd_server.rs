//! A throwaway single-member etcd server for tests and benchmarks.
//!
//! Starts `etcd` (3.4+, on `PATH` or `$ETCD_BIN`) with its data directory under `/dev/shm`, on free
//! loopback ports, with `--heartbeat-interval=10 --election-timeout=100` (ready in about 0.1 s). The
//! guard kills it with SIGKILL and removes the data directory on drop, also when a test panics; the
//! child also gets SIGKILL if the thread that started it dies (`PR_SET_PDEATHSIG`), so an aborted test
//! run leaves no server behind.

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// A running throwaway etcd; dropped = killed and wiped.
#[derive(Debug)]
pub struct EtcdServer {
    child: Child,
    data_dir: PathBuf,
    endpoint: String,
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind an ephemeral loopback port")
}

impl EtcdServer {
    /// Starts etcd and waits until it accepts connections (panics with advice when it cannot).
    pub fn start() -> EtcdServer {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let bin = std::env::var("ETCD_BIN").unwrap_or_else(|_| "etcd".into());
        let data_dir = PathBuf::from(format!(
            "/dev/shm/sdn-etcd-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&data_dir);
        let (client, peer) = (free_port(), free_port());
        let endpoint = format!("http://127.0.0.1:{client}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let mut cmd = Command::new(&bin);
        cmd.arg("--name=t")
            .arg(format!("--data-dir={}", data_dir.display()))
            .arg(format!("--listen-client-urls={endpoint}"))
            .arg(format!("--advertise-client-urls={endpoint}"))
            .arg(format!("--listen-peer-urls={peer_url}"))
            .arg(format!("--initial-advertise-peer-urls={peer_url}"))
            .arg(format!("--initial-cluster=t={peer_url}"))
            .arg("--heartbeat-interval=10")
            .arg("--election-timeout=100")
            .arg("--logger=zap")
            .arg("--log-level=error")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().unwrap_or_else(|e| {
            panic!("start {bin}: {e}; install etcd with `cargo xtask deps` or set ETCD_BIN")
        });
        let mut server = EtcdServer {
            child,
            data_dir,
            endpoint,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect((Ipv4Addr::LOCALHOST, client)).is_err() {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("etcd exited during start-up ({status}); is port {client} or {peer} taken?");
            }
            assert!(
                Instant::now() < deadline,
                "etcd did not listen on {} within 10 s",
                server.endpoint
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        server
    }

    /// The client URL (`http://127.0.0.1:PORT`).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }
}

impl Drop for EtcdServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}
