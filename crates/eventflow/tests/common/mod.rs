//! Shared by the binary's integration tests: a real `eventflow server` on a
//! free loopback port, ready when returned, killed on drop (the tail of its
//! log printed when the test panics).

#![allow(dead_code)]

use std::{
    io::{Read, Write},
    net::{TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// The running testenv's admin kubeconfig. Panics (never skips) when
/// testenv is not up.
pub fn testenv_kubeconfig() -> PathBuf {
    let path = eventflow_testenv::kubeconfig_path();
    assert!(
        path.exists(),
        "testenv is not running ({} missing): start it with testenv/up",
        path.display()
    );
    path
}

/// `kubectl --kubeconfig KUBECONFIG ARGS…`, with `stdin` fed to it: its
/// stdout when it succeeds.
pub fn kubectl(kubeconfig: &Path, args: &[&str], stdin: Option<&str>) -> Option<String> {
    let mut child = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl is installed");
    let mut input = child.stdin.take().expect("piped stdin");
    if let Some(s) = stdin {
        input.write_all(s.as_bytes()).expect("write kubectl stdin");
    }
    drop(input);
    let out = child.wait_with_output().expect("kubectl ran");
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `script` with `bash -euo pipefail`; its stdout. Panics, with its
/// stderr, when it fails.
pub fn bash(script: &str) -> String {
    let out = Command::new("bash")
        .args(["-euo", "pipefail", "-c", script])
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "script failed: {}\n{script}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One HTTP/1.1 exchange with `Connection: close`: status (0 when the
/// server cannot be reached) and body.
pub fn http(port: u16, method: &str, path: &str, token: Option<&str>, body: &str) -> (u16, String) {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return (0, String::new());
    };
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{auth}\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    if s.write_all(req.as_bytes()).is_err() {
        return (0, String::new());
    }
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    let status = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

pub struct Server {
    pub child: Child,
    pub port: u16,
    /// Its stderr: the tail is printed when a test panics while it runs.
    log: tempfile::NamedTempFile,
}

/// Prints the last `lines` lines of a process's log to the test's stderr.
fn print_tail(what: &str, log: &Path, lines: usize) {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    let from = all.len().saturating_sub(lines);
    eprintln!(
        "---- the last {} lines of the {what}'s log ({}) ----",
        all.len() - from,
        log.display()
    );
    for l in &all[from..] {
        eprintln!("{l}");
    }
}

impl Server {
    /// `eventflow server --dev` plus `extra`.
    pub fn start(data_dir: &Path, extra: &[&str]) -> Self {
        Self::start_with(data_dir, &[&["--dev"], extra].concat())
    }

    /// `eventflow server --listen <free port> --data-dir <data_dir>` plus
    /// `args` (nothing else: no auth mode is implied).
    pub fn start_with(data_dir: &Path, args: &[&str]) -> Self {
        let port = free_port();
        let log = tempfile::NamedTempFile::new().expect("create the server log");
        let child = Command::new(env!("CARGO_BIN_EXE_eventflow"))
            .args(["server", "--listen", &format!("127.0.0.1:{port}")])
            // Any free port, unless `args` name one.
            .env("EVENTFLOW_METRICS_LISTEN", "127.0.0.1:0")
            .arg("--data-dir")
            .arg(data_dir)
            .args(args)
            .env_remove("EVENTFLOW_DATABASE_URL")
            .env_remove("EVENTFLOW_DEV")
            .env_remove("EVENTFLOW_AUTH_MODE")
            .env_remove("EVENTFLOW_JWT_SECRET")
            .env_remove("EVENTFLOW_SECRETS_KEY")
            .stdout(Stdio::null())
            .stderr(log.reopen().expect("open the server log"))
            .spawn()
            .expect("start eventflow server");
        let server = Server { child, port, log };
        let deadline = Instant::now() + Duration::from_secs(30);
        while http(port, "GET", "/readyz", None, "").0 != 200 {
            assert!(Instant::now() < deadline, "server did not become ready");
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Sends `sig` (e.g. `-TERM`, `-KILL`) and waits; SIGTERM must exit 0.
    pub fn signal(&mut self, sig: &str) {
        Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap();
        let status = self.child.wait().unwrap();
        if sig == "-TERM" {
            assert!(status.success(), "graceful shutdown exits 0, got {status}");
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            print_tail("server", self.log.path(), 80);
        }
    }
}

/// A real `eventflow operator` against testenv (`--no-leader-election`, a
/// free metrics port, only the Tenants and Functions `label_selector`
/// matches), plus `extra` flags; its log goes to `log`. Killed on drop (its
/// log's tail printed when the test panics).
pub struct Operator(Child, PathBuf);

impl Operator {
    pub fn start(kubeconfig: &Path, label_selector: &str, extra: &[&str], log: &Path) -> Self {
        let path = log.to_path_buf();
        let log = std::fs::File::create(log).expect("create the operator log");
        let child = Command::new(env!("CARGO_BIN_EXE_eventflow"))
            .arg("operator")
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .arg("--no-leader-election")
            .args(["--metrics-listen", &format!("127.0.0.1:{}", free_port())])
            .args(["--label-selector", label_selector])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start eventflow operator");
        Self(child, path)
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        if std::thread::panicking() {
            print_tail("operator", &self.1, 40);
        }
    }
}
