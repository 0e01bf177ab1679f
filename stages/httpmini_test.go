package stages

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestHTTPRequest runs the small HTTP client against net/http's server (in
// the test only: the binary does not link net/http).
func TestHTTPRequest(t *testing.T) {
	var posted []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/plain":
			w.Header().Set("Content-Length", "5")
			io.WriteString(w, "hello")
		case "/chunked":
			w.(http.Flusher).Flush() // no Content-Length: chunked
			for i := range 3 {
				fmt.Fprintf(w, "part%d;", i)
				w.(http.Flusher).Flush()
			}
		case "/big":
			io.WriteString(w, strings.Repeat("x", 2000))
		case "/post":
			if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
				http.Error(w, "want a JSON POST", http.StatusBadRequest)
				return
			}
			posted, _ = io.ReadAll(r.Body)
			w.WriteHeader(http.StatusNoContent)
		case "/slow":
			time.Sleep(2 * time.Second) // a server that does not answer in time
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	get := func(path string, max int64) ([]byte, error) {
		return httpRequest(ctx, nil, "GET", srv.URL+path, "", nil, max)
	}
	if b, err := get("/plain", 100); err != nil || string(b) != "hello" {
		t.Errorf("plain: %q %v", b, err)
	}
	if b, err := get("/chunked", 100); err != nil || string(b) != "part0;part1;part2;" {
		t.Errorf("chunked: %q %v", b, err)
	}
	if _, err := get("/big", 1000); !errors.Is(err, errBodyTooLarge) || !strings.Contains(err.Error(), "more than 1000") {
		t.Errorf("big body: %v", err)
	}
	var he *HTTPError
	if _, err := get("/nope", 100); !errors.As(err, &he) || he.Status != 404 {
		t.Errorf("404: %v", err)
	}
	if _, err := httpRequest(ctx, nil, "POST", srv.URL+"/post", "application/json", []byte(`{"a":1}`), 100); err != nil || string(posted) != `{"a":1}` {
		t.Errorf("post: %v, server got %q", err, posted)
	}
	short, cancelShort := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancelShort()
	if _, err := httpRequest(short, nil, "GET", srv.URL+"/slow", "", nil, 100); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("slow server: %v, want the deadline", err)
	}
	if _, err := httpRequest(ctx, nil, "GET", "https://example.invalid/x", "", nil, 100); !errors.Is(err, errHTTPS) {
		t.Errorf("https: %v", err)
	}
	for _, bad := range []string{"ftp://h/x", "http:///x", "http://u:p@h/x", "::"} {
		if _, err := httpRequest(ctx, nil, "GET", bad, "", nil, 100); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestReadHTTPResponseRefusesGarbage feeds malformed responses.
func TestReadHTTPResponseRefusesGarbage(t *testing.T) {
	for _, raw := range []string{
		"",
		"SSH-2.0-OpenSSH\r\n",
		"HTTP/1.1 abc OK\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
		"HTTP/1.1 200 OK\r\nX: " + strings.Repeat("a", maxHTTPHeader) + "\r\n\r\n",
	} {
		c1, c2 := net.Pipe()
		go func() { io.WriteString(c1, raw); c1.Close() }()
		if _, err := readHTTPResponseConn(c2); err == nil {
			t.Errorf("%.40q accepted", raw)
		}
		c2.Close()
	}
}

func readHTTPResponseConn(c net.Conn) (*httpResponse, error) {
	return readHTTPResponse(bufioReader(c), 1<<20)
}

func bufioReader(r io.Reader) *bufio.Reader { return bufio.NewReader(r) }
