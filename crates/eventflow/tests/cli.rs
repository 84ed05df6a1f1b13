//! The `eventflow` client commands, run as a user runs them: the real binary
//! against a real `eventflow server` on loopback, one config dir per user.

mod common;

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use common::{http, testenv_kubeconfig, Server};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_eventflow");

fn dev_server(data_dir: &Path) -> Server {
    Server::start(data_dir, &["--kubernetes", "off"])
}

/// One user at a terminal: their own `XDG_CONFIG_HOME`.
struct User {
    home: tempfile::TempDir,
}

#[derive(Debug)]
struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Out {
    #[track_caller]
    fn ok(self) -> Self {
        assert_eq!(self.code, 0, "expected success: {self:#?}");
        self
    }

    #[track_caller]
    fn fails(self, code: i32, stderr_has: &str) -> Self {
        assert_eq!(self.code, code, "{self:#?}");
        assert!(
            self.stderr.starts_with("error: ") || code == 2,
            "errors start with `error: `: {self:#?}"
        );
        assert!(
            self.stderr.contains(stderr_has),
            "stderr should mention {stderr_has:?}: {self:#?}"
        );
        self
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {self:#?}"))
    }
}

impl User {
    fn new() -> Self {
        User {
            home: tempfile::tempdir().unwrap(),
        }
    }

    fn config_path(&self) -> PathBuf {
        self.home.path().join("eventflow").join("config.json")
    }

    fn config(&self) -> Value {
        serde_json::from_str(&std::fs::read_to_string(self.config_path()).unwrap()).unwrap()
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args)
            .env("XDG_CONFIG_HOME", self.home.path())
            .env("HOME", self.home.path())
            .env_remove("EVENTFLOW_URL")
            .env_remove("EVENTFLOW_TOKEN")
            .env_remove("EVENTFLOW_API_KEY")
            .stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[&str]) -> Out {
        self.run_with(args, &[])
    }

    fn run_with(&self, args: &[&str], env: &[(&str, &str)]) -> Out {
        let mut c = self.command(args);
        c.envs(env.iter().copied());
        output(c.output().unwrap())
    }

    fn run_stdin(&self, args: &[&str], stdin: &[u8]) -> Out {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        let data = stdin.to_vec();
        let writer = std::thread::spawn(move || {
            let _ = input.write_all(&data);
        });
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap();
        output(out)
    }

    fn login(&self, server: &Server, user: &str) {
        let out = self
            .run(&["login", "--url", &server.url(), "--user", user])
            .ok();
        assert!(out.stdout.contains(&format!("tenant {user}")), "{out:#?}");
    }
}

fn output(o: std::process::Output) -> Out {
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("a JSON array: {list}"))
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_string())
        .collect()
}

/// The seed's quick start (alice and bob each deploy an app and see only
/// their own), done entirely with the CLI.
#[test]
fn quick_start_with_the_cli_keeps_tenants_apart() {
    let dir = tempfile::tempdir().unwrap();
    let server = dev_server(dir.path());
    let (alice, bob) = (User::new(), User::new());

    alice.login(&server, "alice");
    let out = alice
        .run(&[
            "fn",
            "deploy",
            "alice-app",
            "--image",
            "nginx:alpine",
            "--replicas",
            "1",
        ])
        .ok();
    assert!(
        out.stderr.contains("function alice-app created"),
        "{out:#?}"
    );
    let header: Vec<&str> = out
        .stdout
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(header, ["NAME", "IMAGE", "READY", "PHASE", "REASON", "AGE"]);
    assert!(out.stdout.lines().nth(1).unwrap().starts_with("alice-app "));

    bob.login(&server, "bob");
    bob.run(&[
        "fn",
        "deploy",
        "bob-app",
        "--image",
        "nginx:alpine",
        "--replicas",
        "1",
    ])
    .ok();

    let a = alice.run(&["fn", "list", "-o", "json"]).ok().json();
    assert_eq!(names(&a), ["alice-app"]);
    assert_eq!(a[0]["tenant"], "alice");
    assert_eq!(a[0]["spec"]["image"], "nginx:alpine");
    assert_eq!(a[0]["spec"]["replicas"], 1);
    let b = bob.run(&["fn", "list", "-o", "json"]).ok().json();
    assert_eq!(names(&b), ["bob-app"]);

    // Another tenant's function does not exist for you.
    bob.run(&["fn", "get", "alice-app"]).fails(4, "not found");
    let table = alice.run(&["fn", "list"]).ok().stdout;
    assert_eq!(table.lines().count(), 2, "{table}");
    assert!(table.contains("alice-app") && !table.contains("bob-app"));
}

#[test]
fn get_scale_update_delete_with_json_and_yaml_output() {
    let dir = tempfile::tempdir().unwrap();
    let server = dev_server(dir.path());
    let u = User::new();
    u.login(&server, "carol");

    let f = u
        .run(&[
            "fn",
            "deploy",
            "hello",
            "--image",
            "nginx:alpine",
            "--replicas",
            "2",
            "--env",
            "MODE=fast",
            "-e",
            "URL=http://x?a=b",
            "--port",
            "9000",
            "--timeout",
            "12",
            "-o",
            "json",
        ])
        .ok()
        .json();
    assert_eq!(f["name"], "hello");
    assert_eq!(f["spec"]["replicas"], 2);
    assert_eq!(f["spec"]["port"], 9000);
    assert_eq!(f["spec"]["timeoutSeconds"], 12);
    assert_eq!(
        f["spec"]["env"],
        serde_json::json!([{"name":"MODE","value":"fast"},{"name":"URL","value":"http://x?a=b"}])
    );

    let got = u.run(&["fn", "get", "hello", "-o", "json"]).ok().json();
    assert_eq!(got["spec"], f["spec"]);
    assert_eq!(got["status"]["phase"], "Pending");

    let yaml = u.run(&["fn", "get", "hello", "-o", "yaml"]).ok().stdout;
    assert!(
        yaml.contains("name: hello\n") && yaml.contains("image: nginx:alpine"),
        "{yaml}"
    );

    let scaled = u
        .run(&["fn", "scale", "hello", "5", "-o", "json"])
        .ok()
        .json();
    assert_eq!(scaled["spec"]["replicas"], 5);
    assert_eq!(
        scaled["spec"]["port"], 9000,
        "scale keeps the rest of the spec"
    );
    let table = u.run(&["fn", "scale", "hello", "0"]).ok().stdout;
    assert!(table.lines().nth(1).unwrap().contains(" 0/0 "), "{table}");

    // Deploying an existing name replaces its spec (409 → PUT).
    let out = u
        .run(&[
            "fn",
            "deploy",
            "hello",
            "--image",
            "nginx:1.27",
            "-o",
            "json",
        ])
        .ok();
    assert!(out.stderr.contains("function hello updated"), "{out:#?}");
    let updated = out.json();
    assert_eq!(updated["spec"]["image"], "nginx:1.27");
    assert_eq!(
        updated["spec"]["replicas"], 1,
        "omitted flags take defaults"
    );
    assert_eq!(updated["spec"]["port"], 8080);
    assert_eq!(
        names(&u.run(&["fn", "list", "-o", "json"]).ok().json()),
        ["hello"]
    );

    let out = u.run(&["fn", "delete", "hello"]).ok();
    assert!(out.stdout.contains("hello"), "{out:#?}");
    u.run(&["fn", "get", "hello"]).fails(4, "not found");
    assert_eq!(
        u.run(&["fn", "list", "-o", "json"]).ok().json(),
        serde_json::json!([])
    );
}

#[test]
fn login_keeps_the_token_private() {
    let dir = tempfile::tempdir().unwrap();
    let server = dev_server(dir.path());
    let u = User::new();
    let out = u
        .run(&[
            "login",
            "--url",
            &format!("{}/", server.url()),
            "--user",
            "dave",
        ])
        .ok();
    let cfg = u.config();
    let token = cfg["token"].as_str().unwrap();
    assert!(token.len() > 20);
    assert!(!out.stdout.contains(token) && !out.stderr.contains(token));
    assert_eq!(cfg["url"], server.url(), "trailing slash dropped");
    assert_eq!(cfg["tenant"], "dave");
    assert!(cfg["expiresAt"].as_str().is_some());
    assert!(cfg.get("apiKey").is_none());
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&u.config_path()), 0o600);
    assert_eq!(mode(u.config_path().parent().unwrap()), 0o700);

    // Logging in again replaces the file and keeps it private.
    u.run(&["login", "--user", "erin"]).ok();
    assert_eq!(u.config()["tenant"], "erin");
    assert_eq!(mode(&u.config_path()), 0o600);

    // Without --user / --api-key there is nothing to log in with.
    u.run(&["login", "--url", &server.url()]).fails(2, "--user");
    // An invalid user id is refused before anything is sent.
    u.run(&["login", "--url", &server.url(), "--user", "Not_Valid"])
        .fails(5, "user: ");
}

#[test]
fn environment_overrides_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let server = dev_server(dir.path());
    let alice = User::new();
    alice.login(&server, "alice");
    alice
        .run(&["fn", "deploy", "from-file", "--image", "nginx"])
        .ok();
    let token = alice.config()["token"].as_str().unwrap().to_string();

    // No config file at all: URL and token from the environment.
    let script = User::new();
    let env = [
        ("EVENTFLOW_URL", server.url()),
        ("EVENTFLOW_TOKEN", token.clone()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let list = script
        .run_with(&["fn", "list", "-o", "json"], &env)
        .ok()
        .json();
    assert_eq!(names(&list), ["from-file"]);

    // A token in the environment wins over the stored one.
    let bob = User::new();
    bob.login(&server, "bob");
    let list = bob
        .run_with(
            &["fn", "list", "-o", "json"],
            &[("EVENTFLOW_TOKEN", &token)],
        )
        .ok()
        .json();
    assert_eq!(names(&list), ["from-file"]);
}

#[test]
fn server_down_is_exit_6() {
    let dir = tempfile::tempdir().unwrap();
    let server = dev_server(dir.path());
    let u = User::new();
    u.login(&server, "alice");
    let url = server.url();
    drop(server);
    for args in [
        &["fn", "list"][..],
        &["fn", "get", "x"],
        &["fn", "deploy", "x", "--image", "nginx"],
        &["fn", "invoke", "x"],
        &["fn", "logs", "x"],
    ] {
        u.run(args)
            .fails(6, &format!("cannot reach the EventFlow server at {url}"));
    }
    let fresh = User::new();
    fresh
        .run(&["login", "--url", &url, "--user", "alice"])
        .fails(6, "Connection refused");
    assert!(!fresh.config_path().exists());
}

#[test]
fn bad_or_expired_token_is_exit_3() {
    let dir = tempfile::tempdir().unwrap();
    let server = dev_server(dir.path());
    let u = User::new();
    u.run(&["fn", "list"]).fails(3, "not logged in");

    u.login(&server, "alice");
    let mut cfg = u.config();
    cfg["token"] = "garbage.not.a-jwt".into();
    std::fs::write(u.config_path(), cfg.to_string()).unwrap();
    u.run(&["fn", "list"]).fails(3, "unauthorized");
    u.run(&["fn", "deploy", "x", "--image", "nginx"])
        .fails(3, "unauthorized");

    cfg["expiresAt"] = "2020-01-01T00:00:00Z".into();
    std::fs::write(u.config_path(), cfg.to_string()).unwrap();
    u.run(&["fn", "list"]).fails(3, "expired");

    std::fs::write(u.config_path(), "{ not json").unwrap();
    u.run(&["fn", "list"]).fails(3, "login");

    // Logging in to another server than the stored one.
    u.login(&server, "alice");
    u.run_with(&["fn", "list"], &[("EVENTFLOW_URL", "http://127.0.0.1:9")])
        .fails(3, "not logged in to http://127.0.0.1:9");
}

#[test]
fn unknown_function_is_exit_4() {
    let dir = tempfile::tempdir().unwrap();
    let server = dev_server(dir.path());
    let u = User::new();
    u.login(&server, "alice");
    for args in [
        &["fn", "get", "nope"][..],
        &["fn", "scale", "nope", "2"],
        &["fn", "delete", "nope"],
        &["fn", "invoke", "nope"],
    ] {
        let out = u.run(args).fails(4, "\"nope\" not found");
        assert!(out.stdout.is_empty(), "{out:#?}");
    }
}

#[test]
fn invalid_input_is_exit_5_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let server = dev_server(dir.path());
    let u = User::new();
    u.login(&server, "alice");
    // Checked client-side with the server's own rules…
    u.run(&["fn", "deploy", "Bad_Name", "--image", "nginx"])
        .fails(5, "error: name: ");
    u.run(&["fn", "get", "trailing-"]).fails(5, "error: name: ");
    u.run(&["fn", "deploy", "ok", "--image", "nginx", "-e", "1BAD=x"])
        .fails(5, "error: env[0].name: ");
    u.run(&["fn", "deploy", "ok", "--image", "NGINX"])
        .fails(5, "error: image: ");
    u.run(&["fn", "deploy", "ok", "--image", "nginx", "--port", "70000"])
        .fails(5, "error: port: ");
    // …and by the server (the tenant's replica maximum is the server's business).
    u.run(&[
        "fn",
        "deploy",
        "ok",
        "--image",
        "nginx",
        "--replicas",
        "500",
    ])
    .fails(5, "error: replicas: ");
    u.run(&["fn", "scale", "ok", "500"]).fails(4, "not found");
    u.run(&["fn", "deploy", "ok", "--image", "nginx"]).ok();
    u.run(&["fn", "scale", "ok", "500"])
        .fails(5, "error: replicas: ");
    assert_eq!(
        names(&u.run(&["fn", "list", "-o", "json"]).ok().json()),
        ["ok"]
    );
}

#[test]
fn usage_errors_are_exit_2() {
    let u = User::new();
    for args in [
        &["fn", "deploy", "x"][..],
        &["fn", "scale", "x", "-1"],
        &["fn", "list", "-o", "xml"],
        &["fn", "deploy", "x", "--image", "nginx", "--env", "NOEQUALS"],
        &["fn", "logs", "x", "--since", "5 parsecs"],
        &["login", "--user", "a", "--api-key", "k"],
        &["fn", "frobnicate"],
    ] {
        let out = u.run(args);
        assert_eq!(out.code, 2, "{args:?}: {out:#?}");
    }
    u.run_with(
        &["fn", "list"],
        &[("EVENTFLOW_URL", "ftp://x"), ("EVENTFLOW_TOKEN", "t")],
    )
    .fails(2, "invalid server URL");
}

#[test]
fn completions_for_every_shell() {
    let u = User::new();
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let out = u.run(&["completions", shell]).ok();
        assert!(out.stdout.contains("eventflow"), "{shell}");
        assert!(
            out.stdout.contains("deploy"),
            "{shell}: subcommands are completed"
        );
    }
    assert_eq!(u.run(&["completions", "tcsh"]).code, 2);
}

/// Production mode: an admin issues an API key; the CLI logs in with it
/// (from EVENTFLOW_API_KEY), stores it, and renews an expired token by itself.
#[test]
fn api_key_login_renews_an_expired_token() {
    let dir = tempfile::tempdir().unwrap();
    let (server, admin_key) = production_server(dir.path());
    let admin = User::new();
    let out = admin
        .run(&["login", "--url", &server.url(), "--api-key", admin_key])
        .ok();
    assert!(!out.stdout.contains(admin_key));
    let admin_token = admin.config()["token"].as_str().unwrap().to_string();
    let (status, body) = http(
        server.port,
        "POST",
        "/v1/admin/tenants",
        Some(&admin_token),
        r#"{"id":"team-a"}"#,
    );
    assert_eq!(status, 201, "{body}");
    let (status, body) = http(
        server.port,
        "POST",
        "/v1/admin/api-keys",
        Some(&admin_token),
        r#"{"tenant":"team-a","role":"tenant","name":"cli-test"}"#,
    );
    assert_eq!(status, 201, "{body}");
    let key: Value = serde_json::from_str(&body).unwrap();
    let key = key["key"].as_str().unwrap();

    let u = User::new();
    // Dev login is refused by a production server.
    u.run(&["login", "--url", &server.url(), "--user", "team-a"])
        .fails(5, "api_key");
    u.run(&["login", "--url", &server.url(), "--api-key", "efk_wrong"])
        .fails(3, "unauthorized");
    let out = u
        .run_with(
            &["login", "--url", &server.url()],
            &[("EVENTFLOW_API_KEY", key)],
        )
        .ok();
    assert!(out.stdout.contains("tenant team-a"), "{out:#?}");
    assert_eq!(u.config()["apiKey"], key);
    u.run(&["fn", "deploy", "svc", "--image", "nginx"]).ok();

    let mut cfg = u.config();
    cfg["token"] = "expired-token".into();
    cfg["expiresAt"] = "2020-01-01T00:00:00Z".into();
    std::fs::write(u.config_path(), cfg.to_string()).unwrap();
    let list = u.run(&["fn", "list", "-o", "json"]).ok().json();
    assert_eq!(names(&list), ["svc"]);
    let renewed = u.config();
    assert_ne!(renewed["token"], "expired-token");
    assert_ne!(renewed["expiresAt"], "2020-01-01T00:00:00Z");

    // A token the server rejects although it looks valid (e.g. the signing
    // secret was rotated): renewed on the 401, and the call repeated once.
    let mut cfg = u.config();
    cfg["token"] = "rejected-token".into();
    std::fs::write(u.config_path(), cfg.to_string()).unwrap();
    let f = u
        .run(&["fn", "deploy", "svc", "--image", "nginx:1.27", "-o", "json"])
        .ok()
        .json();
    assert_eq!(f["spec"]["image"], "nginx:1.27");
    assert_ne!(u.config()["token"], "rejected-token");
    // Streams renew too (logs: the server checks the token first; without a
    // cluster it then answers 503).
    let mut cfg = u.config();
    cfg["token"] = "rejected-token".into();
    std::fs::write(u.config_path(), cfg.to_string()).unwrap();
    u.run(&["fn", "logs", "svc"])
        .fails(1, "Kubernetes is not reachable");
    assert_ne!(u.config()["token"], "rejected-token");
    // A revoked key cannot renew: exit 3.
    let key_id = {
        let (_, body) = http(
            server.port,
            "GET",
            "/v1/admin/api-keys",
            Some(&admin_token),
            "",
        );
        let keys: Value = serde_json::from_str(&body).unwrap();
        let list = keys
            .get("items")
            .unwrap_or(&keys)
            .as_array()
            .unwrap()
            .clone();
        list.iter()
            .find(|k| k["name"] == "cli-test")
            .map(|k| {
                k["id"]
                    .as_str()
                    .map(String::from)
                    .unwrap_or_else(|| k["id"].to_string())
            })
            .unwrap()
    };
    let (status, body) = http(
        server.port,
        "DELETE",
        &format!("/v1/admin/api-keys/{key_id}"),
        Some(&admin_token),
        "",
    );
    assert_eq!(status, 204, "{body}");
    let mut cfg = u.config();
    cfg["token"] = "rejected-token".into();
    std::fs::write(u.config_path(), cfg.to_string()).unwrap();
    u.run(&["fn", "list"]).fails(3, "unauthorized");

    // The admin token cannot act as a tenant.
    admin.run(&["fn", "list"]).fails(3, "forbidden");
}

/// What the loopback upstream saw of one request.
#[derive(Debug)]
struct Seen {
    request_line: String,
    headers: Vec<(String, String)>,
    body_len: usize,
    body_head: String,
}

/// A one-thread HTTP/1.1 upstream: records each request, answers with a
/// status chosen by the path (`/status/NNN`) and a body naming what it saw.
fn upstream() -> (u16, mpsc::Receiver<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let tx = tx.clone();
            std::thread::spawn(move || serve_one(conn, tx));
        }
    });
    (port, rx)
}

fn serve_one(conn: TcpStream, tx: mpsc::Sender<Seen>) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut conn = conn;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let (k, v) = line.split_once(':').unwrap();
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
        let header = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let mut body = Vec::new();
        if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
            loop {
                let mut size = String::new();
                reader.read_line(&mut size).unwrap();
                let n = usize::from_str_radix(size.trim().split(';').next().unwrap(), 16).unwrap();
                let mut chunk = vec![0; n + 2];
                reader.read_exact(&mut chunk).unwrap();
                if n == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..n]);
            }
        } else if let Some(n) = header("content-length").and_then(|v| v.parse().ok()) {
            body.resize(n, 0);
            reader.read_exact(&mut body).unwrap();
        }
        let path = request_line
            .split_whitespace()
            .nth(1)
            .unwrap_or("")
            .to_string();
        let status = path
            .split("/status/")
            .nth(1)
            .and_then(|s| s.get(..3))
            .and_then(|s| s.parse::<u16>().ok())
            .unwrap_or(200);
        let answer = format!(
            "{} {} bytes={} x-test={}",
            request_line.split_whitespace().next().unwrap_or(""),
            path,
            body.len(),
            header("x-test").unwrap_or_default()
        );
        let seen = Seen {
            request_line: request_line.trim_end().to_string(),
            headers: headers.clone(),
            body_len: body.len(),
            body_head: String::from_utf8_lossy(&body[..body.len().min(64)]).into_owned(),
        };
        let _ = tx.send(seen);
        let resp = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nX-Upstream: yes\r\n\r\n{answer}",
            answer.len()
        );
        if conn.write_all(resp.as_bytes()).is_err() {
            return;
        }
    }
}

#[test]
fn invoke_streams_request_and_response_bodies() {
    let (up, seen) = upstream();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        dir.path(),
        &[
            "--kubernetes",
            "off",
            "--invoke-static",
            &format!("alice/echo=http://127.0.0.1:{up}"),
        ],
    );
    let u = User::new();
    u.login(&server, "alice");
    u.run(&["fn", "deploy", "echo", "--image", "nginx"]).ok();

    // No body: GET.
    let out = u.run(&["fn", "invoke", "echo"]).ok();
    assert_eq!(out.stdout, "GET / bytes=0 x-test=");
    let s = seen.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(
        !s.headers.iter().any(|(k, _)| k == "authorization"),
        "the platform token is not forwarded: {s:?}"
    );

    // A string body, method, path with query, headers; -v shows the status.
    let out = u
        .run(&[
            "fn",
            "invoke",
            "echo",
            "-X",
            "put",
            "--path",
            "/a/b?q=1",
            "-H",
            "X-Test: yes",
            "--data",
            "hello",
            "-v",
        ])
        .ok();
    assert_eq!(out.stdout, "PUT /a/b?q=1 bytes=5 x-test=yes");
    assert!(out.stderr.contains("< HTTP/1.1 200"), "{out:#?}");
    assert!(out.stderr.contains("x-upstream: yes"), "{out:#?}");
    let s = seen.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(s.request_line, "PUT /a/b?q=1 HTTP/1.1");
    assert_eq!(s.body_head, "hello");

    // A file body (5 MiB) and stdin are streamed through.
    let file = dir.path().join("payload.bin");
    std::fs::write(&file, vec![b'z'; 5 * 1024 * 1024]).unwrap();
    let out = u
        .run(&[
            "fn",
            "invoke",
            "echo",
            "--path",
            "upload",
            "--data",
            &format!("@{}", file.display()),
        ])
        .ok();
    assert_eq!(
        out.stdout,
        format!("POST /upload bytes={} x-test=", 5 * 1024 * 1024)
    );
    let s = seen.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(s.body_len, 5 * 1024 * 1024);
    let out = u
        .run_stdin(&["fn", "invoke", "echo", "--data", "-"], b"from stdin")
        .ok();
    assert_eq!(out.stdout, "POST / bytes=10 x-test=");
    while seen.try_recv().is_ok() {}

    // The function's own error response is passed through, exit 1.
    let out = u.run(&["fn", "invoke", "echo", "--path", "/status/500"]);
    assert_eq!(out.code, 1, "{out:#?}");
    assert_eq!(out.stdout, "GET /status/500 bytes=0 x-test=");
    assert!(
        out.stderr.contains("error: the function answered 500"),
        "{out:#?}"
    );

    // No upstream for this function: the gateway's 502 (error envelope), exit 1.
    u.run(&["fn", "deploy", "dark", "--image", "nginx"]).ok();
    let out = u.run(&["fn", "invoke", "dark"]);
    assert_eq!(out.code, 1, "{out:#?}");
    assert!(out.stdout.is_empty(), "{out:#?}");
    // Scaled to zero: 503 from the gateway.
    u.run(&["fn", "scale", "echo", "0"]).ok();
    let out = u.run(&["fn", "invoke", "echo"]);
    assert_eq!(out.code, 1, "{out:#?}");
    assert!(out.stderr.contains("no ready replicas"), "{out:#?}");
    u.run(&["fn", "invoke", "echo", "--data", "@/nonexistent/file"])
        .fails(2, "/nonexistent/file");
}

/// `fn logs` against a loopback stand-in for the server's logs endpoint
/// (the real one is exercised by the server's own log-streaming tests): the
/// flags become `follow`, `tailLines` and `sinceSeconds`, the token is sent,
/// and the `text/plain` body is written to stdout as it comes.
#[test]
fn logs_passes_follow_tail_since_and_streams_the_body() {
    let (up, seen) = upstream();
    let u = User::new();
    let env = [
        ("EVENTFLOW_URL", format!("http://127.0.0.1:{up}")),
        ("EVENTFLOW_TOKEN", "test-token".to_string()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = u
        .run_with(
            &["fn", "logs", "web", "-f", "--tail", "5", "--since", "10m"],
            &env,
        )
        .ok();
    assert_eq!(
        out.stdout,
        "GET /v1/functions/web/logs?follow=true&tailLines=5&sinceSeconds=600 bytes=0 x-test="
    );
    let s = seen.recv_timeout(Duration::from_secs(5)).unwrap();
    let header = |name: &str| {
        s.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(header("authorization"), Some("Bearer test-token"));
    assert_eq!(header("accept"), Some("text/plain"));
    let out = u.run_with(&["fn", "logs", "web"], &env).ok();
    assert_eq!(out.stdout, "GET /v1/functions/web/logs bytes=0 x-test=");
}

/// `fn logs` against the real server without a cluster: the errors a
/// script sees (the streaming itself is tested above and, against testenv,
/// by the server's own log tests).
#[test]
fn logs_errors_from_a_real_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = dev_server(dir.path());
    let u = User::new();
    u.login(&server, "alice");
    u.run(&["fn", "deploy", "app", "--image", "nginx"]).ok();
    u.run(&["fn", "logs", "nope"]).fails(4, "not found");
    u.run(&["fn", "logs", "app", "--tail", "99999999"])
        .fails(5, "tailLines");
    let out = u
        .run(&["fn", "logs", "app", "-f", "--since", "1h"])
        .fails(1, "Kubernetes is not reachable");
    assert!(out.stdout.is_empty());
}

/// `fn logs` end to end against the testenv control plane: the server lists
/// the function's pods and streams their logs, the CLI prints them. The
/// operator is not running, so the test creates the namespace and pods
/// itself, on testenv's simulated node (the real node could not pull the
/// image); kwok's pods have no container runtime, so each pod contributes
/// the server's per-pod error line — enough to show the pod discovery, the
/// `[pod]` framing and the stream reaching stdout.
#[test]
fn logs_through_the_cli_from_testenv() {
    let kubeconfig = testenv_kubeconfig();
    let kc = kubeconfig.to_string_lossy().into_owned();
    let tenant = format!("cli-{}", std::process::id());
    let ns = format!("tenant-{tenant}");
    let kubectl =
        |args: &[&str], stdin: Option<&str>| common::kubectl(&kubeconfig, args, stdin).is_some();
    struct Cleanup<F: Fn()>(F);
    impl<F: Fn()> Drop for Cleanup<F> {
        fn drop(&mut self) {
            (self.0)()
        }
    }
    let _cleanup = Cleanup(|| {
        kubectl(&["delete", "namespace", &ns, "--wait=false"], None);
    });

    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        dir.path(),
        &[
            "--kubeconfig",
            &kc,
            "--install-crds",
            "--resync-seconds",
            "1",
        ],
    );
    let u = User::new();
    u.login(&server, &tenant);
    u.run(&["fn", "deploy", "talker", "--image", "nginx"]).ok();
    assert!(kubectl(&["create", "namespace", &ns], None));
    let deadline = Instant::now() + Duration::from_secs(60);
    for (pod, function) in [
        ("talker-a", "talker"),
        ("talker-b", "talker"),
        ("other-c", "other"),
    ] {
        let manifest = serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": pod, "namespace": ns, "labels": {"eventflow.io/function": function}},
            "spec": {"automountServiceAccountToken": false,
                     "containers": [{"name": "function", "image": "nginx"}],
                     "tolerations": [eventflow_testenv::simulated_node_toleration()],
                     "nodeSelector": eventflow_testenv::simulated_node_selector()}
        });
        // The default ServiceAccount appears shortly after the namespace.
        while !kubectl(&["apply", "-f", "-"], Some(&manifest.to_string())) {
            assert!(Instant::now() < deadline, "cannot create pod {pod}");
            std::thread::sleep(Duration::from_millis(250));
        }
    }
    let out = loop {
        let out = u.run(&["fn", "logs", "talker", "--tail", "10"]);
        if out.code == 0 && out.stdout.contains("[talker-b] ") {
            break out;
        }
        assert!(Instant::now() < deadline, "logs never served: {out:#?}");
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(out.stdout.contains("[talker-a] "), "{out:#?}");
    assert!(
        !out.stdout.contains("[other-c]"),
        "only the function's pods: {out:#?}"
    );
    assert!(
        out.stdout.lines().all(|l| l.starts_with("[talker-")),
        "{out:#?}"
    );
}

/// A production-mode server without a cluster, and its bootstrap admin key.
fn production_server(data_dir: &Path) -> (Server, &'static str) {
    let admin_key = "efk_admin_0123456789abcdefghijklmnopqrstuv";
    let server = Server::start_with(
        data_dir,
        &[
            "--kubernetes",
            "off",
            "--jwt-secret",
            "0123456789abcdef0123456789abcdef-test",
            "--secrets-key",
            "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
            "--admin-key",
            admin_key,
        ],
    );
    (server, admin_key)
}

/// `eventflow admin …` against a production-mode server: tenants with
/// overrides, keys issued once and revoked, and what a tenant then sees.
#[test]
fn admin_manages_tenants_and_keys() {
    let dir = tempfile::tempdir().unwrap();
    let (server, admin_key) = production_server(dir.path());
    let admin = User::new();
    admin
        .run(&["login", "--url", &server.url(), "--api-key", admin_key])
        .ok();
    // Client-side checks: a misspelt quota key never reaches the server.
    admin
        .run(&["admin", "tenant", "create", "acme", "--quota", "podz=5"])
        .fails(2, "unknown key \"podz\"");
    admin
        .run(&["admin", "tenant", "create", "Bad_Id"])
        .fails(5, "id");
    let t = admin
        .run(&[
            "admin",
            "tenant",
            "create",
            "acme",
            "--quota",
            "functions=1",
            "--quota",
            "requestsCpu=2",
            "--max-replicas",
            "3",
            "-o",
            "json",
        ])
        .ok()
        .json();
    assert_eq!(t["namespace"], "tenant-acme");
    assert_eq!(t["spec"]["quota"]["functions"], 1);
    assert_eq!(t["spec"]["quota"]["requestsCpu"], "2");
    admin
        .run(&["admin", "tenant", "create", "acme"])
        .fails(5, "already exists");
    let table = admin.run(&["admin", "tenant", "list"]).ok().stdout;
    assert!(table.starts_with("ID"), "{table}");
    assert!(
        table.contains("tenant-acme") && table.contains("functions=1"),
        "{table}"
    );

    // A key is printed once, alone on stdout.
    let out = admin
        .run(&["admin", "key", "issue", "--tenant", "acme", "--name", "ci"])
        .ok();
    let key = out.stdout.trim().to_string();
    assert!(key.starts_with("efk_") && !key.contains(' '), "{out:#?}");
    let keys = admin
        .run(&["admin", "key", "list", "-o", "json"])
        .ok()
        .json();
    assert!(
        !keys.to_string().contains(&key),
        "listing never shows a key"
    );
    let id = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "ci")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();

    let acme = User::new();
    acme.run(&["login", "--url", &server.url(), "--api-key", &key])
        .ok();
    acme.run(&["fn", "deploy", "one", "--image", "nginx"]).ok();
    acme.run(&["fn", "deploy", "two", "--image", "nginx"])
        .fails(5, "function quota used up: the tenant may have 1 function ");
    // A tenant is not an admin.
    acme.run(&["admin", "tenant", "list"]).fails(3, "admin");
    // Raising the quota lets the tenant go on at once.
    admin
        .run(&[
            "admin",
            "tenant",
            "update",
            "acme",
            "--quota",
            "functions=2",
        ])
        .ok();
    acme.run(&["fn", "deploy", "two", "--image", "nginx"]).ok();

    // Revoking the key ends the tenant's session (the stored key cannot
    // renew it either).
    admin.run(&["admin", "key", "revoke", &id]).ok();
    acme.run(&["fn", "list"]).fails(3, "revoked");
    admin
        .run(&["admin", "key", "revoke", &id])
        .fails(4, "no active API key");
    let keys = admin.run(&["admin", "key", "list"]).ok().stdout;
    assert!(keys.contains("revoked"), "{keys}");

    admin.run(&["admin", "tenant", "delete", "acme"]).ok();
    admin
        .run(&["admin", "tenant", "delete", "acme"])
        .fails(4, "not found");
}

/// `eventflow registry`: the password goes in on stdin (or from the
/// environment) and never comes out; list, remove; errors with their exit
/// codes.
#[test]
fn registry_logins_are_stored_listed_and_removed_without_showing_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let server = dev_server(dir.path());
    let u = User::new();
    u.login(&server, "alice");
    let out = u
        .run_stdin(
            &[
                "registry",
                "login",
                "ghcr.io",
                "-u",
                "robot",
                "--password-stdin",
            ],
            b"s3cret-pw\n",
        )
        .ok();
    assert!(out.stdout.contains("ghcr.io"), "{out:#?}");
    assert!(!format!("{out:?}").contains("s3cret"), "{out:#?}");
    u.run_with(
        &["registry", "login", "quay.io", "-u", "bot"],
        &[("EVENTFLOW_REGISTRY_PASSWORD", "other-s3cret")],
    )
    .ok();
    let out = u.run(&["registry", "ls", "-o", "json"]).ok();
    let list = out.json();
    let registries: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["registry"].as_str().unwrap())
        .collect();
    assert_eq!(registries, ["ghcr.io", "quay.io"]);
    assert_eq!(list[0]["username"], "robot");
    assert!(!out.stdout.contains("s3cret"), "{out:#?}");
    let out = u.run(&["registry", "ls"]).ok();
    assert!(out.stdout.starts_with("REGISTRY"), "{out:#?}");
    assert!(out.stdout.contains("robot"), "{out:#?}");

    u.run(&["registry", "login", "ghcr.io", "-u", "robot"])
        .fails(2, "--password-stdin");
    u.run_with(
        &["registry", "login", "https://ghcr.io", "-u", "robot"],
        &[("EVENTFLOW_REGISTRY_PASSWORD", "x")],
    )
    .fails(5, "registry");
    u.run(&["registry", "rm", "ghcr.io"]).ok();
    u.run(&["registry", "rm", "ghcr.io"])
        .fails(4, "no registry credential");
}

/// `eventflow secret …` and `fn deploy --secret-env/--secret-file`: values
/// from stdin, the environment and files, never printed; deleting one in
/// use is refused naming the function.
#[test]
fn secrets_are_set_listed_used_and_deleted_without_showing_values() {
    let dir = tempfile::tempdir().unwrap();
    let server = dev_server(dir.path());
    let u = User::new();
    u.login(&server, "sam");
    let file = dir.path().join("cert.pem");
    std::fs::write(&file, "cert-s3cret-body\n").unwrap();
    let out = u
        .run_stdin(
            &[
                "secret",
                "set",
                "db",
                "--from-stdin",
                "password",
                "--from-file",
                &format!("tls.crt={}", file.display()),
            ],
            b"pw-s3cret\n",
        )
        .ok();
    assert!(
        out.stdout.contains("secret db stored (version 1"),
        "{out:#?}"
    );
    u.run_with(
        &["secret", "set", "api", "--from-env", "token=EF_TOKEN"],
        &[("EF_TOKEN", "tok-s3cret")],
    )
    .ok();
    let out = u.run(&["secret", "ls"]).ok();
    assert!(out.stdout.starts_with("NAME"), "{out:#?}");
    assert!(out.stdout.contains("password,tls.crt"), "{out:#?}");
    let list = u.run(&["secret", "ls", "-o", "json"]).ok();
    let listed = list.json();
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["api", "db"]);
    assert!(!list.stdout.contains("s3cret"), "{list:#?}");

    let f = u
        .run(&[
            "fn",
            "deploy",
            "web",
            "--image",
            "nginx:alpine",
            "--secret-env",
            "DB_PASSWORD=db:password",
            "--secret-file",
            "db",
            "-o",
            "json",
        ])
        .ok()
        .json();
    assert_eq!(f["spec"]["secretEnv"][0]["key"], "password", "{f}");
    assert_eq!(f["spec"]["secretFiles"], serde_json::json!(["db"]), "{f}");
    u.run(&[
        "fn",
        "deploy",
        "bad",
        "--image",
        "nginx:alpine",
        "--secret-env",
        "X=db:nope",
    ])
    .fails(5, "secretEnv[0].key");
    u.run(&[
        "fn",
        "deploy",
        "bad",
        "--image",
        "nginx:alpine",
        "--secret-env",
        "X=db",
    ])
    .fails(2, "VAR=SECRET:KEY");
    let out = u.run(&["secret", "get", "db"]).ok();
    assert!(out.stdout.contains("USED BY: web"), "{out:#?}");
    u.run(&["secret", "rm", "db"])
        .fails(5, "used by function web");
    u.run(&["fn", "delete", "web"]).ok();
    u.run(&["secret", "rm", "db"]).ok();
    u.run(&["secret", "rm", "db"]).fails(4, "no secret");
    u.run(&["secret", "set", "db"]).fails(2, "--from-file");
}

/// `fn deploy` with autoscaling flags: request-based scaling down to zero,
/// checked before sending (exit 5 naming the field).
#[test]
fn deploy_with_scale_to_zero_flags() {
    let dir = tempfile::tempdir().unwrap();
    let server = dev_server(dir.path());
    let u = User::new();
    u.login(&server, "dora");
    let f = u
        .run(&[
            "fn",
            "deploy",
            "lazy",
            "--image",
            "nginx:alpine",
            "--min-replicas",
            "0",
            "--max-replicas",
            "3",
            "--idle-seconds",
            "60",
            "-o",
            "json",
        ])
        .ok()
        .json();
    let a = &f["spec"]["autoscaling"];
    assert_eq!(a["minReplicas"], 0, "{f}");
    assert_eq!(a["maxReplicas"], 3, "{f}");
    assert_eq!(a["targetConcurrency"], 10, "{f}");
    assert_eq!(a["idleSeconds"], 60, "{f}");
    assert!(f["status"]["scaling"].is_object(), "{f}");
    u.run(&[
        "fn",
        "deploy",
        "lazy",
        "--image",
        "nginx:alpine",
        "--min-replicas",
        "0",
        "--max-replicas",
        "3",
        "--target-cpu",
        "50",
    ])
    .fails(5, "autoscaling.minReplicas");
    u.run(&[
        "fn",
        "deploy",
        "lazy",
        "--image",
        "nginx:alpine",
        "--min-replicas",
        "0",
    ])
    .fails(2, "--max-replicas");
}

#[test]
fn async_invocations_from_the_cli() {
    let (up, _seen) = upstream();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        dir.path(),
        &[
            "--kubernetes",
            "off",
            "--invoke-static",
            &format!("alice/echo=http://127.0.0.1:{up}"),
            "--async-retry-base-ms",
            "20",
        ],
    );
    let u = User::new();
    u.login(&server, "alice");
    let f = u
        .run(&[
            "fn",
            "deploy",
            "echo",
            "--image",
            "nginx",
            "--max-attempts",
            "2",
            "-o",
            "json",
        ])
        .ok()
        .json();
    assert_eq!(f["spec"]["retry"]["maxAttempts"], 2, "{f}");
    // Schedules from flags; the server checks them and names the field.
    let f = u
        .run(&[
            "fn",
            "deploy",
            "nightly",
            "--image",
            "nginx",
            "--schedule",
            "report=0 3 * * *;tz=Europe/Paris;body={\"full\":true}",
            "-o",
            "json",
        ])
        .ok()
        .json();
    assert_eq!(f["spec"]["schedules"][0]["timeZone"], "Europe/Paris", "{f}");
    assert_eq!(f["spec"]["schedules"][0]["body"], "{\"full\":true}", "{f}");
    assert!(
        f["status"]["schedules"][0]["nextRunTime"].is_string(),
        "{f}"
    );
    u.run(&[
        "fn",
        "deploy",
        "nightly",
        "--image",
        "nginx",
        "--schedule",
        "fast=* * * * * *",
    ])
    .fails(5, "schedules[0].cron");
    // --wait: the function's answer on stdout, as for a synchronous call.
    let out = u
        .run(&[
            "fn", "invoke", "echo", "--async", "--wait", "-d", "hello", "-H", "x-test:1",
        ])
        .ok();
    assert_eq!(out.stdout, "POST / bytes=5 x-test=1");
    // Without --wait: the id only, to poll later.
    let out = u
        .run(&["fn", "invoke", "echo", "--async", "--path", "/status/503"])
        .ok();
    let id = out.stdout.trim().to_string();
    assert_eq!(id.len(), 36, "{out:#?}");
    assert!(out.stderr.contains("fn invocation"), "{out:#?}");
    // It answers 503 every time: dead after 2 attempts.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let dead = loop {
        let v = u.run(&["fn", "invocation", &id, "-o", "json"]).ok().json();
        if v["status"] == "dead" {
            break v;
        }
        assert!(std::time::Instant::now() < deadline, "{v}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(dead["attempts"], 2, "{dead}");
    assert_eq!(dead["attemptLog"].as_array().unwrap().len(), 2, "{dead}");
    let table = u.run(&["fn", "invocation", &id]).ok().stdout;
    assert!(
        table.contains("dead") && table.contains("ATTEMPT"),
        "{table}"
    );
    // --wait on a failing call exits non-zero with the reason.
    u.run(&[
        "fn",
        "invoke",
        "echo",
        "--async",
        "--wait",
        "--path",
        "/status/404",
    ])
    .fails(1, "ended failed after 1 attempt");
    // The list, newest first, filtered.
    let all = u
        .run(&["fn", "invocations", "echo", "-o", "json"])
        .ok()
        .json();
    let statuses: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["failed", "dead", "succeeded"]);
    let dead_only = u
        .run(&[
            "fn",
            "invocations",
            "echo",
            "--status",
            "dead",
            "-o",
            "json",
        ])
        .ok()
        .json();
    assert_eq!(dead_only.as_array().unwrap().len(), 1);
    // Re-drive: queued again with two more attempts (it fails again).
    let v = u.run(&["fn", "redrive", &id, "-o", "json"]).ok().json();
    assert_eq!(v["status"], "queued", "{v}");
    assert_eq!(v["maxAttempts"], 4, "{v}");
    u.run(&["fn", "redrive", "not-an-id!"])
        .fails(2, "not an invocation id");
    u.run(&["fn", "invoke", "echo", "--wait"])
        .fails(2, "--async");
}

#[test]
fn revisions_and_rollback_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let server = dev_server(dir.path());
    let u = User::new();
    u.login(&server, "rita");
    u.run(&["fn", "deploy", "app", "--image", "echo:1"]).ok();
    u.run(&[
        "fn",
        "deploy",
        "app",
        "--image",
        "echo:2",
        "-e",
        "MODE=fast",
    ])
    .ok();
    let table = u.run(&["fn", "revisions", "app"]).ok().stdout;
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("REVISION"), "{table}");
    assert!(
        lines[1].starts_with('2') && lines[1].contains('*') && lines[1].contains("echo:2"),
        "{table}"
    );
    assert!(
        lines[2].starts_with('1') && lines[2].contains("echo:1"),
        "{table}"
    );
    let diff = u
        .run(&["fn", "revisions", "app", "--diff", "2"])
        .ok()
        .stdout;
    assert!(
        diff.contains("image") && diff.contains("echo:1") && diff.contains("echo:2"),
        "{diff}"
    );
    let out = u.run(&["fn", "rollback", "app", "1"]).ok().stdout;
    assert!(out.contains("now revision 3, image echo:1"), "{out}");
    let f = u.run(&["fn", "get", "app", "-o", "json"]).ok().json();
    assert_eq!(f["spec"]["image"], "echo:1");
    assert_eq!(f["spec"]["env"], serde_json::json!([]));
    u.run(&["fn", "rollback", "app", "42"])
        .fails(4, "no revision 42");
    u.run(&["fn", "revisions", "app", "--against", "1"])
        .fails(2, "--diff");
}

#[test]
fn invoke_keys_from_the_cli() {
    let (up, _seen) = upstream();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        dir.path(),
        &[
            "--kubernetes",
            "off",
            "--invoke-static",
            &format!("kim/hook=http://127.0.0.1:{up}"),
        ],
    );
    let u = User::new();
    u.login(&server, "kim");
    u.run(&["fn", "deploy", "hook", "--image", "nginx"]).ok();
    let out = u
        .run(&[
            "fn",
            "keys",
            "create",
            "hook",
            "--key-name",
            "ci",
            "--expires",
            "30d",
        ])
        .ok();
    let key = out.stdout.trim().to_string();
    assert!(key.starts_with("efi_"), "{out:#?}");
    assert!(out.stderr.contains("shown only now"), "{out:#?}");
    // The key invokes the function, and only that.
    let web = User::new();
    let invoked = web
        .run_with(
            &["fn", "invoke", "hook", "--data", "x"],
            &[("EVENTFLOW_URL", &server.url()), ("EVENTFLOW_TOKEN", &key)],
        )
        .ok();
    assert!(invoked.stdout.starts_with("POST / bytes=1"), "{invoked:#?}");
    web.run_with(
        &["fn", "list"],
        &[("EVENTFLOW_URL", &server.url()), ("EVENTFLOW_TOKEN", &key)],
    )
    .fails(3, "invoke key");
    let list = u
        .run(&["fn", "keys", "list", "hook", "-o", "json"])
        .ok()
        .json();
    let id = list[0]["id"].as_str().unwrap().to_string();
    assert!(!list.to_string().contains(&key));
    let table = u.run(&["fn", "keys", "ls", "hook"]).ok().stdout;
    assert!(table.contains("ci") && table.contains("active"), "{table}");
    u.run(&["fn", "keys", "revoke", "hook", &id]).ok();
    let table = u.run(&["fn", "keys", "ls", "hook"]).ok().stdout;
    assert!(table.contains("revoked"), "{table}");
    web.run_with(
        &["fn", "invoke", "hook"],
        &[("EVENTFLOW_URL", &server.url()), ("EVENTFLOW_TOKEN", &key)],
    )
    .fails(3, "revoked");
}

/// `fn stats`: the calls just made, by outcome, with percentiles.
#[test]
fn fn_stats_prints_the_calls_just_made() {
    let (up, _seen) = upstream();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        dir.path(),
        &[
            "--kubernetes",
            "off",
            "--invoke-static",
            &format!("sid/api=http://127.0.0.1:{up}"),
        ],
    );
    let u = User::new();
    u.login(&server, "sid");
    u.run(&["fn", "deploy", "api", "--image", "nginx"]).ok();
    for _ in 0..4 {
        u.run(&["fn", "invoke", "api", "--data", "x"]).ok();
    }
    let out = u.run(&["fn", "stats", "api"]).ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(
        lines[0].starts_with("FUNCTION") && lines[0].contains("P99"),
        "{out:#?}"
    );
    let row: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(&row[..4], ["api", "15m", "0.004", "4"], "{out:#?}");
    assert!(row[9].ends_with("ms"), "p50: {out:#?}");
    let j = u
        .run(&["fn", "stats", "api", "--range", "1h", "-o", "json"])
        .ok()
        .json();
    assert_eq!(j["calls"]["2xx"], 4, "{j}");
    assert_eq!(j["rangeSeconds"], 3600, "{j}");
    u.run(&["fn", "stats", "api", "--range", "1m"])
        .fails(5, "range");
    u.run(&["fn", "stats", "nope"]).fails(4, "nope");
}
