package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer collects log output written from handler goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// captureStdout redirects the request log for one test.
func captureStdout(t *testing.T) *syncBuffer {
	t.Helper()
	buf := &syncBuffer{}
	stdout.SetOutput(buf)
	t.Cleanup(func() { stdout.SetOutput(io.Discard) })
	return buf
}

func do(t *testing.T, s *server, method, target string, body io.Reader, header map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, body)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	return rec
}

func TestEchoBodyHeadersAndLogLine(t *testing.T) {
	logs := captureStdout(t)
	s := newServer("pod-a")
	rec := do(t, s, "POST", "/some/path?x=1", strings.NewReader("hello"), map[string]string{
		"Content-Type": "text/plain", "X-Request-Id": "req-42",
	})
	if rec.Code != 200 || rec.Body.String() != "hello" {
		t.Fatalf("got %d %q", rec.Code, rec.Body.String())
	}
	if got := rec.Header().Get("Content-Type"); got != "text/plain" {
		t.Errorf("Content-Type = %q", got)
	}
	if got := rec.Header().Get("X-Pod-Name"); got != "pod-a" {
		t.Errorf("X-Pod-Name = %q", got)
	}
	want := "echo: POST /some/path 5 bytes from 192.0.2.1:1234 request-id=req-42\n"
	if logs.String() != want {
		t.Errorf("log = %q, want %q", logs.String(), want)
	}
}

func TestEchoDefaultsAndOtherMethods(t *testing.T) {
	logs := captureStdout(t)
	s := newServer("pod-a")
	rec := do(t, s, "PUT", "/", bytes.NewReader([]byte{0, 1, 2}), nil)
	if rec.Code != 200 || !bytes.Equal(rec.Body.Bytes(), []byte{0, 1, 2}) {
		t.Fatalf("got %d %v", rec.Code, rec.Body.Bytes())
	}
	if got := rec.Header().Get("Content-Type"); got != "application/octet-stream" {
		t.Errorf("Content-Type = %q", got)
	}
	// The fixed endpoints answer GET only; other methods are echoed.
	rec = do(t, s, "POST", "/crash", strings.NewReader("x"), nil)
	if rec.Code != 200 || rec.Body.String() != "x" {
		t.Fatalf("POST /crash: %d %q", rec.Code, rec.Body.String())
	}
	rec = do(t, s, "GET", "/", nil, nil)
	if rec.Code != 200 || rec.Body.Len() != 0 {
		t.Fatalf("GET /: %d %q", rec.Code, rec.Body.String())
	}
	lines := strings.Split(strings.TrimSuffix(logs.String(), "\n"), "\n")
	want := []string{
		"echo: PUT / 3 bytes from 192.0.2.1:1234 request-id=-",
		"echo: POST /crash 1 bytes from 192.0.2.1:1234 request-id=-",
		"echo: GET / 0 bytes from 192.0.2.1:1234 request-id=-",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("log lines:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

// The first chunk of the body comes back before the client has sent the
// second one: the echo is streamed, not buffered.
func TestEchoStreams(t *testing.T) {
	captureStdout(t)
	ts := httptest.NewServer(newServer("pod-s"))
	defer ts.Close()

	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", ts.URL+"/stream", pr)
	req.Header.Set("Content-Type", "application/x-test")
	type result struct {
		resp *http.Response
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		done <- result{resp, err}
	}()
	if _, err := pw.Write([]byte("first\n")); err != nil {
		t.Fatal(err)
	}
	var res result
	select {
	case res = <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("no response headers while the body is still open")
	}
	if res.err != nil {
		t.Fatal(res.err)
	}
	defer res.resp.Body.Close()
	if res.resp.Header.Get("X-Pod-Name") != "pod-s" || res.resp.Header.Get("Content-Type") != "application/x-test" {
		t.Errorf("headers: %v", res.resp.Header)
	}
	br := bufio.NewReader(res.resp.Body)
	line, err := br.ReadString('\n')
	if err != nil || line != "first\n" {
		t.Fatalf("first chunk: %q %v", line, err)
	}
	pw.Write([]byte("second\n"))
	pw.Close()
	rest, err := io.ReadAll(br)
	if err != nil || string(rest) != "second\n" {
		t.Fatalf("rest: %q %v", rest, err)
	}
}

func TestHealthzWithoutLogLine(t *testing.T) {
	logs := captureStdout(t)
	rec := do(t, newServer("p"), "GET", "/healthz", nil, nil)
	if rec.Code != 200 || rec.Body.String() != "ok" {
		t.Fatalf("got %d %q", rec.Code, rec.Body.String())
	}
	if logs.String() != "" {
		t.Errorf("log = %q", logs.String())
	}
}

func fetchJSON(t *testing.T, s *server, target string) (fetchResult, *httptest.ResponseRecorder) {
	t.Helper()
	rec := do(t, s, "GET", target, nil, nil)
	var res fetchResult
	if rec.Code == 200 {
		if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil {
			t.Fatalf("body %q: %v", rec.Body.String(), err)
		}
	}
	return res, rec
}

func TestFetch(t *testing.T) {
	logs := captureStdout(t)
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/teapot":
			w.WriteHeader(http.StatusTeapot)
		case "/redirect":
			http.Redirect(w, r, "/teapot", http.StatusFound)
		case "/slow":
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		}
	}))
	defer target.Close()
	s := newServer("pod-f")

	res, rec := fetchJSON(t, s, "/fetch?url="+target.URL+"/teapot")
	if rec.Code != 200 || res.Status != 418 || res.Error != "" || res.URL != target.URL+"/teapot" {
		t.Fatalf("teapot: %d %s", rec.Code, rec.Body.String())
	}
	if rec.Header().Get("X-Pod-Name") != "pod-f" {
		t.Errorf("X-Pod-Name = %q", rec.Header().Get("X-Pod-Name"))
	}
	if !strings.Contains(rec.Body.String(), `"status":418`) || strings.Contains(rec.Body.String(), "error") {
		t.Errorf("body = %s", rec.Body.String())
	}

	// Redirects are reported, not followed.
	res, rec = fetchJSON(t, s, "/fetch?url="+target.URL+"/redirect")
	if rec.Code != 200 || res.Status != 302 {
		t.Fatalf("redirect: %d %s", rec.Code, rec.Body.String())
	}

	// A refused connection is a 200 with the error text.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String() + "/"
	ln.Close()
	res, rec = fetchJSON(t, s, "/fetch?url="+closed)
	if rec.Code != 200 || res.Status != 0 || !strings.Contains(res.Error, "refused") {
		t.Fatalf("refused: %d %s", rec.Code, rec.Body.String())
	}
	if strings.Contains(rec.Body.String(), "status") {
		t.Errorf("body = %s", rec.Body.String())
	}

	// A timeout, with the client's timeout shortened for the test.
	s.client.Timeout = 200 * time.Millisecond
	res, rec = fetchJSON(t, s, "/fetch?url="+target.URL+"/slow")
	if rec.Code != 200 || !strings.Contains(res.Error, "Timeout") {
		t.Fatalf("timeout: %d %s", rec.Code, rec.Body.String())
	}

	for _, bad := range []string{"/fetch", "/fetch?url=", "/fetch?url=ftp://x/", "/fetch?url=/relative", "/fetch?url=http://", "/fetch?url=%zz"} {
		if rec := do(t, s, "GET", bad, nil, nil); rec.Code != 400 {
			t.Errorf("%s: %d", bad, rec.Code)
		}
	}

	lines := strings.Split(strings.TrimSuffix(logs.String(), "\n"), "\n")
	if len(lines) != 10 {
		t.Fatalf("want one line per request, got %d:\n%s", len(lines), logs.String())
	}
	if want := "echo: GET /fetch url=" + target.URL + "/teapot status=418 from 192.0.2.1:1234 request-id=-"; lines[0] != want {
		t.Errorf("line = %q, want %q", lines[0], want)
	}
}

func TestAlloc(t *testing.T) {
	captureStdout(t)
	s := newServer("p")
	for _, bad := range []string{"", "0", "-1", "abc", "1.5", "65537"} {
		rec := do(t, s, "GET", "/alloc?mb="+bad, nil, nil)
		if rec.Code != 400 {
			t.Errorf("mb=%q: %d", bad, rec.Code)
		}
	}
	rec := do(t, s, "GET", "/alloc?mb=2", nil, nil)
	if rec.Code != 200 || strings.TrimSpace(rec.Body.String()) != `{"allocated_mb":2}` {
		t.Fatalf("got %d %q", rec.Code, rec.Body.String())
	}
	do(t, s, "GET", "/alloc?mb=1", nil, nil)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.total != 3 || len(s.held) != 2 || len(s.held[0]) != 2<<20 || s.held[0][pageSize] != 1 {
		t.Errorf("held %d MiB in %d blocks", s.total, len(s.held))
	}
}

func TestSleep(t *testing.T) {
	captureStdout(t)
	s := newServer("p")
	for _, bad := range []string{"", "-1", "abc", "60001"} {
		if rec := do(t, s, "GET", "/sleep?ms="+bad, nil, nil); rec.Code != 400 {
			t.Errorf("ms=%q: %d", bad, rec.Code)
		}
	}
	start := time.Now()
	rec := do(t, s, "GET", "/sleep?ms=50", nil, nil)
	if rec.Code != 200 || strings.TrimSpace(rec.Body.String()) != `{"slept_ms":50}` {
		t.Fatalf("got %d %q", rec.Code, rec.Body.String())
	}
	if took := time.Since(start); took < 50*time.Millisecond {
		t.Errorf("answered after %v", took)
	}
}

func TestEnv(t *testing.T) {
	captureStdout(t)
	t.Setenv("ECHO_TEST_MODE", "fast")
	s := newServer("p")
	rec := do(t, s, "GET", "/env?name=ECHO_TEST_MODE", nil, nil)
	if rec.Code != 200 || rec.Body.String() != "fast" {
		t.Fatalf("got %d %q", rec.Code, rec.Body.String())
	}
	t.Setenv("ECHO_TEST_EMPTY", "")
	if rec := do(t, s, "GET", "/env?name=ECHO_TEST_EMPTY", nil, nil); rec.Code != 200 || rec.Body.Len() != 0 {
		t.Errorf("empty: %d %q", rec.Code, rec.Body.String())
	}
	if rec := do(t, s, "GET", "/env?name=ECHO_TEST_UNSET_VARIABLE", nil, nil); rec.Code != 404 {
		t.Errorf("unset: %d", rec.Code)
	}
	if rec := do(t, s, "GET", "/env", nil, nil); rec.Code != 400 {
		t.Errorf("no name: %d", rec.Code)
	}
}

func TestSecret(t *testing.T) {
	captureStdout(t)
	s := newServer("p")
	s.secretsDir = t.TempDir()
	if err := os.MkdirAll(filepath.Join(s.secretsDir, "db"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.secretsDir, "db", "password"), []byte("pw"), 0o440); err != nil {
		t.Fatal(err)
	}
	if rec := do(t, s, "GET", "/secret?name=db&key=password", nil, nil); rec.Code != 200 || rec.Body.String() != "pw" {
		t.Fatalf("got %d %q", rec.Code, rec.Body.String())
	}
	if rec := do(t, s, "GET", "/secret?name=db&key=nope", nil, nil); rec.Code != 404 {
		t.Errorf("missing key: %d", rec.Code)
	}
	for _, q := range []string{"", "?name=db", "?name=..&key=passwd", "?name=db&key=../../etc/passwd", "?name=.&key=x"} {
		if rec := do(t, s, "GET", "/secret"+q, nil, nil); rec.Code != 400 {
			t.Errorf("%q: %d", q, rec.Code)
		}
	}
}

func TestShutdownDelay(t *testing.T) {
	stderr.SetOutput(io.Discard)
	t.Cleanup(func() { stderr.SetOutput(io.Discard) })
	for raw, want := range map[string]time.Duration{
		"": defaultShutdownDelay, "0": 0, "0.5": 500 * time.Millisecond, "5": 5 * time.Second,
		"-1": defaultShutdownDelay, "x": defaultShutdownDelay, "61": defaultShutdownDelay,
	} {
		t.Setenv("SHUTDOWN_DELAY_SECONDS", raw)
		if got := shutdownDelay(); got != want {
			t.Errorf("%q: %s, want %s", raw, got, want)
		}
	}
}
