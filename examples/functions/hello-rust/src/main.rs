//! hello-rust: a sample EventFlow function using the standard library only.
//!
//! An HTTP/1.1 server on `:$PORT` (default 8080). Every request, on any path
//! and with any method, is answered `200 hello from rust, <name>` where
//! `<name>` is the `name` query parameter (percent-decoded) or `world`. Each
//! connection gets its own thread and carries one request (`Connection:
//! close`). One line per request goes to stdout. On SIGTERM (or SIGINT) the
//! server stops accepting, lets the requests in flight finish (at most 10 s)
//! and exits 0.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::IntoRawFd;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// Largest request head (request line and headers) accepted.
const MAX_HEAD: usize = 8 * 1024;
/// How long a client may take to send its request head.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long requests in flight may take after SIGTERM.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

// --- SIGTERM: the handler writes one byte to a pipe; a thread waits on it.

const SIGINT: i32 = 2;
const SIGTERM: i32 = 15;

extern "C" {
    // glibc's signal() installs a persistent handler with SA_RESTART.
    fn signal(signum: i32, handler: extern "C" fn(i32)) -> usize;
    fn write(fd: i32, buf: *const u8, count: usize) -> isize;
}

/// Write end of the signal pipe (-1 until installed).
static SIGNAL_FD: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(_: i32) {
    // Only async-signal-safe calls here: an atomic load and write(2).
    let fd = SIGNAL_FD.load(Ordering::Relaxed);
    if fd >= 0 {
        let b = 1u8;
        // SAFETY: writes one byte from a valid local to a pipe fd we own.
        unsafe { write(fd, &b, 1) };
    }
}

/// Installs the SIGTERM/SIGINT handler; the returned reader yields a byte
/// per signal. As PID 1 in a container the process gets SIGTERM only if it
/// has a handler for it.
fn install_signal_pipe() -> io::Result<io::PipeReader> {
    let (reader, writer) = io::pipe()?;
    SIGNAL_FD.store(writer.into_raw_fd(), Ordering::Relaxed);
    // SAFETY: on_signal is async-signal-safe (see above).
    unsafe {
        signal(SIGTERM, on_signal);
        signal(SIGINT, on_signal);
    }
    Ok(reader)
}

// --- HTTP

/// Decodes `%XX` escapes and `+` (space) of a query component; invalid
/// escapes are kept as they are, invalid UTF-8 is replaced.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (hex(b[i + 1]), hex(b[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The `name` query parameter of a request target, or "world" when it is
/// missing or empty.
fn name_of(target: &str) -> String {
    let query = target.split_once('?').map(|(_, q)| q).unwrap_or("");
    let query = query.split('#').next().unwrap_or("");
    query
        .split('&')
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k) == "name").then(|| percent_decode(v))
        })
        .next()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "world".to_string())
}

/// Reads the request head; returns the method and target of the request line.
fn read_head(stream: &TcpStream) -> Result<(String, String), &'static str> {
    let mut reader = BufReader::new(stream.take(MAX_HEAD as u64));
    let mut line = String::new();
    let mut request_line = None;
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) => return Err("incomplete request head"),
            Ok(_) => {}
            Err(_) => return Err("unreadable request head"),
        }
        if !line.ends_with('\n') {
            return Err("request head too large");
        }
        let trimmed = line.trim_end_matches(['\r', '\n']);
        if request_line.is_none() {
            if trimmed.is_empty() {
                continue; // tolerate leading empty lines (RFC 9112 2.2)
            }
            request_line = Some(trimmed.to_string());
        } else if trimmed.is_empty() {
            break;
        }
    }
    let request_line = request_line.unwrap_or_default();
    let mut parts = request_line.split(' ');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(m), Some(t), Some(v), None)
            if !m.is_empty() && !t.is_empty() && v.starts_with("HTTP/1.") =>
        {
            Ok((m.to_string(), t.to_string()))
        }
        _ => Err("malformed request line"),
    }
}

fn respond(stream: &mut TcpStream, status: &str, body: &str, head_only: bool) -> io::Result<()> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    if !head_only {
        out.push_str(body);
    }
    stream.write_all(out.as_bytes())?;
    stream.flush()
}

fn handle(mut stream: TcpStream, peer: SocketAddr) {
    let _ = stream.set_read_timeout(Some(READ_TIMEOUT));
    let _ = stream.set_write_timeout(Some(READ_TIMEOUT));
    match read_head(&stream) {
        Ok((method, target)) => {
            let name = name_of(&target);
            let body = format!("hello from rust, {name}");
            let result = respond(&mut stream, "200 OK", &body, method == "HEAD");
            let note = match result {
                Ok(()) => String::new(),
                Err(e) => format!(" error={e}"),
            };
            println!("hello-rust: {method} {target} 200 name={name:?} from {peer}{note}");
        }
        Err(why) => {
            let _ = respond(&mut stream, "400 Bad Request", why, false);
            println!("hello-rust: 400 {why} from {peer}");
        }
    }
    // Close gracefully: signal end of response, then read what the client
    // still sends (a request body) so the close does not reset the
    // connection before the client has read the response.
    let _ = stream.shutdown(Shutdown::Write);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let _ = io::copy(&mut (&stream).take(1 << 20), &mut io::sink());
}

fn bind(port: u16) -> io::Result<TcpListener> {
    // [::] accepts IPv4 too (unless the kernel has IPv6 off); else 0.0.0.0.
    TcpListener::bind(SocketAddr::from((Ipv6Addr::UNSPECIFIED, port)))
        .or_else(|_| TcpListener::bind(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port))))
}

fn main() {
    let port = match std::env::var("PORT") {
        Ok(p) if !p.is_empty() => match p.parse::<u16>() {
            Ok(p) => p,
            Err(_) => {
                eprintln!("hello-rust: PORT={p:?} is not a port number");
                std::process::exit(2);
            }
        },
        _ => 8080,
    };
    let listener = match bind(port) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("hello-rust: cannot listen on :{port}: {e}");
            std::process::exit(1);
        }
    };
    let stopping = Arc::new(AtomicBool::new(false));
    let active = Arc::new(AtomicUsize::new(0));

    match install_signal_pipe() {
        Ok(mut signals) => {
            let stopping = stopping.clone();
            thread::spawn(move || {
                let mut b = [0u8; 1];
                if signals.read_exact(&mut b).is_ok() {
                    stopping.store(true, Ordering::SeqCst);
                    // Wake the blocked accept() with a connection of our own.
                    let _ = TcpStream::connect((Ipv4Addr::LOCALHOST, port))
                        .or_else(|_| TcpStream::connect((Ipv6Addr::LOCALHOST, port)));
                }
            });
        }
        Err(e) => eprintln!("hello-rust: no SIGTERM handling: {e}"),
    }
    eprintln!("hello-rust: listening on :{port}");

    for conn in listener.incoming() {
        if stopping.load(Ordering::SeqCst) {
            break;
        }
        let stream = match conn {
            Ok(s) => s,
            Err(e) => {
                eprintln!("hello-rust: accept: {e}");
                thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        let peer = match stream.peer_addr() {
            // Show IPv4 clients of the [::] socket as IPv4.
            Ok(SocketAddr::V6(a)) if a.ip().to_ipv4_mapped().is_some() => SocketAddr::from((
                a.ip().to_ipv4_mapped().unwrap_or(Ipv4Addr::UNSPECIFIED),
                a.port(),
            )),
            Ok(p) => p,
            Err(_) => continue,
        };
        active.fetch_add(1, Ordering::SeqCst);
        let done = active.clone();
        let spawned = thread::Builder::new().spawn(move || {
            handle(stream, peer);
            done.fetch_sub(1, Ordering::SeqCst);
        });
        if let Err(e) = spawned {
            active.fetch_sub(1, Ordering::SeqCst);
            eprintln!("hello-rust: cannot start a thread: {e}");
        }
    }
    drop(listener);
    eprintln!(
        "hello-rust: SIGTERM, finishing requests in flight (at most {}s)",
        SHUTDOWN_TIMEOUT.as_secs()
    );
    let deadline = Instant::now() + SHUTDOWN_TIMEOUT;
    while active.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    eprintln!("hello-rust: stopped");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(name_of("/"), "world");
        assert_eq!(name_of("/?name="), "world");
        assert_eq!(name_of("/x?a=1&name=ada"), "ada");
        assert_eq!(name_of("/?name=J%C3%BCrgen+K"), "Jürgen K");
        assert_eq!(name_of("/?name=100%"), "100%");
        assert_eq!(name_of("/?name=a%zz"), "a%zz");
        assert_eq!(name_of("/?name=first&name=second"), "first");
        assert_eq!(name_of("/?name=x#frag"), "x");
    }
}
