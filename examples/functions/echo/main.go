// Command echo is a sample EventFlow function: an HTTP server that echoes
// request bodies back and offers a few endpoints for testing the platform
// (egress from the pod, crashes, memory limits, environment updates,
// mounted secrets).
//
// It listens on :$PORT (default 8080), writes nothing to disk, and shuts
// down gracefully on SIGTERM. See docs/FUNCTIONS.md for the endpoints.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	// fetchTimeout bounds a whole /fetch request (connect, headers, body).
	fetchTimeout = 3 * time.Second
	// shutdownTimeout bounds http.Server.Shutdown after SIGTERM.
	shutdownTimeout = 10 * time.Second
	// defaultShutdownDelay is how long the server keeps accepting after
	// SIGTERM ($SHUTDOWN_DELAY_SECONDS overrides it).
	defaultShutdownDelay = 2 * time.Second
	// maxAllocMB is the largest N /alloc accepts.
	maxAllocMB = 65536
	// pageSize is the stride at which /alloc touches its memory.
	pageSize = 4096
)

// stdout carries exactly one line per request (except /healthz). log.Logger
// serialises concurrent writers and writes each line with one unbuffered
// write, so every line reaches the container runtime at once.
var stdout = log.New(os.Stdout, "", 0)

// stderr carries lifecycle messages (listening, shutting down, crashing).
var stderr = log.New(os.Stderr, "", 0)

// server holds what the handlers share.
type server struct {
	podName string
	client  *http.Client
	lookup  func(string) (string, bool)
	// secretsDir is where EventFlow mounts secrets; /secret reads only
	// below it.
	secretsDir string

	mu    sync.Mutex
	held  [][]byte // memory allocated by /alloc, kept referenced
	total int      // MiB in held
}

func newServer(podName string) *server {
	return &server{
		podName: podName,
		client: &http.Client{
			Timeout: fetchTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
		lookup:     os.LookupEnv,
		secretsDir: "/var/eventflow/secrets",
	}
}

// podName is $POD_NAME, or the host name (which Kubernetes sets to the pod
// name).
func podName() string {
	if n := os.Getenv("POD_NAME"); n != "" {
		return n
	}
	if n, err := os.Hostname(); err == nil {
		return n
	}
	return "unknown"
}

func requestID(r *http.Request) string {
	if id := r.Header.Get("X-Request-Id"); id != "" {
		return id
	}
	return "-"
}

// ServeHTTP routes GET on the fixed paths to their endpoints; everything else
// is echoed.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Pod-Name", s.podName)
	if r.Method == http.MethodGet {
		switch r.URL.Path {
		case "/healthz":
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			io.WriteString(w, "ok")
			return
		case "/fetch":
			s.fetch(w, r)
			return
		case "/crash":
			stderr.Print("echo: crashing on request")
			os.Exit(1)
		case "/alloc":
			s.alloc(w, r)
			return
		case "/env":
			s.env(w, r)
			return
		case "/secret":
			s.secret(w, r)
			return
		case "/sleep":
			s.sleep(w, r)
			return
		}
	}
	s.echo(w, r)
}

// echo streams the request body back: each chunk read is written and flushed
// at once, so the body is never held whole.
func (s *server) echo(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	// HTTP/1.x: without full duplex, writing the response headers would make
	// the server discard (or refuse) the unread rest of the request body.
	_ = rc.EnableFullDuplex()

	ct := r.Header.Get("Content-Type")
	if ct == "" {
		ct = "application/octet-stream"
	}
	w.Header().Set("Content-Type", ct)
	if r.ContentLength >= 0 {
		w.Header().Set("Content-Length", strconv.FormatInt(r.ContentLength, 10))
	}
	w.WriteHeader(http.StatusOK)

	var n int64
	var err error
	buf := make([]byte, 32*1024)
	for {
		k, rerr := r.Body.Read(buf)
		if k > 0 {
			if _, werr := w.Write(buf[:k]); werr != nil {
				err = werr
				break
			}
			n += int64(k)
			if ferr := rc.Flush(); ferr != nil {
				err = ferr
				break
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			err = rerr
			break
		}
	}
	suffix := ""
	if err != nil {
		suffix = fmt.Sprintf(" error=%q", err.Error())
	}
	stdout.Printf("echo: %s %s %d bytes from %s request-id=%s%s",
		r.Method, r.URL.Path, n, r.RemoteAddr, requestID(r), suffix)
}

type fetchResult struct {
	URL    string `json:"url"`
	Status int    `json:"status,omitempty"`
	Error  string `json:"error,omitempty"`
}

// fetch GETs ?url= from inside the pod and reports the status code or the
// network error, both with 200.
func (s *server) fetch(w http.ResponseWriter, r *http.Request) {
	raw := r.URL.Query().Get("url")
	u, err := url.Parse(raw)
	if raw == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		stdout.Printf("echo: GET /fetch bad url %q from %s request-id=%s", raw, r.RemoteAddr, requestID(r))
		http.Error(w, "url: an absolute http:// or https:// URL is required", http.StatusBadRequest)
		return
	}
	res := fetchResult{URL: raw}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, raw, nil)
	if err == nil {
		var resp *http.Response
		resp, err = s.client.Do(req)
		if err == nil {
			res.Status = resp.StatusCode
			io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
		}
	}
	outcome := ""
	if err != nil {
		res.Error = err.Error()
		outcome = fmt.Sprintf("error=%q", res.Error)
	} else {
		outcome = fmt.Sprintf("status=%d", res.Status)
	}
	stdout.Printf("echo: GET /fetch url=%s %s from %s request-id=%s", raw, outcome, r.RemoteAddr, requestID(r))
	writeJSON(w, res)
}

// alloc allocates ?mb= MiB, writes one byte per page so the memory is
// resident, and keeps it referenced until the process ends.
func (s *server) alloc(w http.ResponseWriter, r *http.Request) {
	raw := r.URL.Query().Get("mb")
	mb, err := strconv.Atoi(raw)
	if err != nil || mb < 1 || mb > maxAllocMB {
		stdout.Printf("echo: GET /alloc bad mb %q from %s request-id=%s", raw, r.RemoteAddr, requestID(r))
		http.Error(w, fmt.Sprintf("mb: an integer from 1 to %d is required", maxAllocMB), http.StatusBadRequest)
		return
	}
	b := make([]byte, mb<<20)
	for i := 0; i < len(b); i += pageSize {
		b[i] = 1
	}
	s.mu.Lock()
	s.held = append(s.held, b)
	s.total += mb
	total := s.total
	s.mu.Unlock()
	stdout.Printf("echo: GET /alloc %d MiB (%d MiB held) from %s request-id=%s", mb, total, r.RemoteAddr, requestID(r))
	writeJSON(w, map[string]int{"allocated_mb": mb})
}

// maxSleepMS bounds /sleep.
const maxSleepMS = 60_000

// sleep answers after ?ms= milliseconds (a slow request, for tests of
// in-flight counts and draining); it ends early if the caller goes away.
func (s *server) sleep(w http.ResponseWriter, r *http.Request) {
	raw := r.URL.Query().Get("ms")
	ms, err := strconv.Atoi(raw)
	if err != nil || ms < 0 || ms > maxSleepMS {
		http.Error(w, fmt.Sprintf("ms: an integer from 0 to %d is required", maxSleepMS), http.StatusBadRequest)
		return
	}
	select {
	case <-time.After(time.Duration(ms) * time.Millisecond):
	case <-r.Context().Done():
		return
	}
	stdout.Printf("echo: GET /sleep %d ms from %s request-id=%s", ms, r.RemoteAddr, requestID(r))
	writeJSON(w, map[string]int{"slept_ms": ms})
}

// env answers the value of the environment variable ?name=.
func (s *server) env(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("name")
	if name == "" {
		stdout.Printf("echo: GET /env no name from %s request-id=%s", r.RemoteAddr, requestID(r))
		http.Error(w, "name: required", http.StatusBadRequest)
		return
	}
	v, ok := s.lookup(name)
	stdout.Printf("echo: GET /env name=%s set=%t from %s request-id=%s", name, ok, r.RemoteAddr, requestID(r))
	if !ok {
		http.Error(w, fmt.Sprintf("%s is not set", name), http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, v)
}

// secret answers the content of the mounted secret file ?name=SECRET&key=KEY
// (at secretsDir/SECRET/KEY). Both are checked to be single path elements,
// so nothing outside secretsDir can be read.
func (s *server) secret(w http.ResponseWriter, r *http.Request) {
	name, key := r.URL.Query().Get("name"), r.URL.Query().Get("key")
	element := func(v string) bool {
		return v != "" && v != "." && v != ".." && !strings.ContainsAny(v, "/\\\x00")
	}
	if !element(name) || !element(key) {
		stdout.Printf("echo: GET /secret bad name or key from %s request-id=%s", r.RemoteAddr, requestID(r))
		http.Error(w, "name and key: required, one path element each", http.StatusBadRequest)
		return
	}
	b, err := os.ReadFile(filepath.Join(s.secretsDir, name, key))
	stdout.Printf("echo: GET /secret name=%s key=%s found=%t from %s request-id=%s", name, key, err == nil, r.RemoteAddr, requestID(r))
	if err != nil {
		http.Error(w, fmt.Sprintf("%s/%s is not mounted", name, key), http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write(b)
}

// shutdownDelay is $SHUTDOWN_DELAY_SECONDS (a non-negative number, 0 turns
// the delay off) or defaultShutdownDelay.
func shutdownDelay() time.Duration {
	raw := os.Getenv("SHUTDOWN_DELAY_SECONDS")
	if raw == "" {
		return defaultShutdownDelay
	}
	f, err := strconv.ParseFloat(raw, 64)
	if err != nil || f < 0 || f > 60 {
		stderr.Printf("echo: ignoring SHUTDOWN_DELAY_SECONDS=%q (want 0 to 60)", raw)
		return defaultShutdownDelay
	}
	return time.Duration(f * float64(time.Second))
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	addr := ":" + port
	s := newServer(podName())
	srv := &http.Server{
		Addr:              addr,
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       90 * time.Second,
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		stderr.Printf("echo: %v", err)
		os.Exit(1)
	}
	stderr.Printf("echo: listening on %s as pod %s", addr, s.podName)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	select {
	case err := <-served:
		stderr.Printf("echo: %v", err)
		os.Exit(1)
	case <-ctx.Done():
	}
	// Kubernetes sends SIGTERM while the pod is being removed from the
	// Service's endpoints; for a moment new requests may still arrive, also
	// on idle keep-alive connections a proxy holds. Keep serving for the
	// delay: closing idle connections now (as turning keep-alive
	// off does) races a request just sent on one, which then fails. Then stop
	// accepting, answer what is in flight, close idle connections; give up
	// after shutdownTimeout.
	delay := shutdownDelay()
	stderr.Printf("echo: SIGTERM, draining for %s, then shutting down (at most %s)", delay, shutdownTimeout)
	time.Sleep(delay)
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		stderr.Printf("echo: shutdown: %v", err)
		os.Exit(1)
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		stderr.Printf("echo: %v", err)
	}
	stderr.Print("echo: stopped")
}
