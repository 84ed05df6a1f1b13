//! A real Prometheus for tests (Debian's `prometheus` package, installed by
//! `scripts/install-deps`; `EVENTFLOW_PROMETHEUS_BIN` names another): on a
//! free loopback port, its data in a temporary directory, killed on drop.
//! A missing binary fails loudly.

use std::{
    io::{Read, Write},
    net::TcpStream,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

pub struct Prometheus {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    dir: PathBuf,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// `GET path` on loopback `port`: whether it answered 200.
fn ok(port: u16, path: &str) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    s.read_exact(&mut head).is_ok() && head.ends_with(b"200")
}

impl Prometheus {
    /// Starts Prometheus with `config` (its YAML) and waits until it is
    /// ready (at most 60 s).
    pub fn start(config: &str) -> Self {
        let bin = std::env::var("EVENTFLOW_PROMETHEUS_BIN").unwrap_or_else(|_| "prometheus".into());
        let port = free_port();
        let dir = std::env::temp_dir().join(format!(
            "eventflow-prometheus-{}-{port}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("Prometheus' directory");
        std::fs::write(dir.join("prometheus.yml"), config).expect("Prometheus' config");
        let log = std::fs::File::create(dir.join("prometheus.log")).expect("Prometheus' log");
        let child = Command::new(&bin)
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start Prometheus ({bin}: {e}): install Debian's `prometheus` package \
                     (scripts/install-deps) or set EVENTFLOW_PROMETHEUS_BIN"
                )
            });
        let p = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !ok(port, "/-/ready") {
            assert!(
                Instant::now() < deadline,
                "Prometheus did not become ready: {}",
                p.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        p
    }

    /// What Prometheus logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default()
    }

    /// Its working directory (config, data, log).
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}
