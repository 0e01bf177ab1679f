package stages

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// bondstrap speaks just enough HTTP/1.1 to fetch a config and post a report:
// one request per connection (Connection: close), a body by Content-Length
// or chunked, redirects not followed. net/http and crypto/tls would more than
// double the size of a binary that lives in every initramfs (docs/boot.md:
// integrity comes from bondstrap.config-sha256, not from TLS), so https://
// is refused with that reason.

// errHTTPS is the error for an https:// URL.
var errHTTPS = errors.New("https is not supported: bondstrap speaks plain HTTP to stay small in the initramfs; " +
	"serve the config over http:// and pin it with bondstrap.config-sha256=")

// errBodyTooLarge is wrapped by the error of a response body over the
// caller's bound.
var errBodyTooLarge = errors.New("response body too large")

// maxHTTPHeader bounds a response's status line and headers.
const maxHTTPHeader = 64 << 10

// HTTPError is a response whose status is not 2xx.
type HTTPError struct {
	URL    string
	Status int
	Reason string
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("%s: HTTP %d %s", e.URL, e.Status, e.Reason)
}

// httpRequest sends one request and reads the response body, at most
// maxBody bytes (more is an error). dial opens the connection (a dialer
// bound to an interface, say); nil dials with a net.Dialer. ctx bounds the
// whole exchange.
func httpRequest(ctx context.Context, dial func(ctx context.Context, network, addr string) (net.Conn, error),
	method, rawURL, contentType string, body []byte, maxBody int64) ([]byte, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("URL %q: %w", rawURL, err)
	}
	switch {
	case u.Scheme == "https":
		return nil, fmt.Errorf("%s: %w", rawURL, errHTTPS)
	case u.Scheme != "http":
		return nil, fmt.Errorf("URL %q: expected http://", rawURL)
	case u.Host == "" || u.User != nil:
		return nil, fmt.Errorf("URL %q: expected http://host[:port]/path", rawURL)
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "80")
	}
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	conn, err := dial(ctx, "tcp", host)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", rawURL, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	// A cancelled ctx ends a blocked read or write.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	var req bytes.Buffer
	path := u.RequestURI()
	fmt.Fprintf(&req, "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: bondstrap\r\nConnection: close\r\n", method, path, u.Host)
	if body != nil {
		fmt.Fprintf(&req, "Content-Type: %s\r\nContent-Length: %d\r\n", contentType, len(body))
	}
	req.WriteString("\r\n")
	req.Write(body)
	if _, err := conn.Write(req.Bytes()); err != nil {
		return nil, fmt.Errorf("%s: send: %w", rawURL, ctxErr(ctx, err))
	}
	resp, err := readHTTPResponse(bufio.NewReader(conn), maxBody)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", rawURL, ctxErr(ctx, err))
	}
	if resp.status < 200 || resp.status > 299 {
		return nil, &HTTPError{URL: rawURL, Status: resp.status, Reason: resp.reason}
	}
	return resp.body, nil
}

// ctxErr prefers the context's error to the I/O error it caused.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	// The connection's deadline is the context's: it may fire first.
	if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
		return fmt.Errorf("%w (%v)", context.DeadlineExceeded, err)
	}
	return err
}

type httpResponse struct {
	status int
	reason string
	body   []byte
}

// readHTTPResponse reads an HTTP/1.x response: the status line, headers,
// and the body by Content-Length, chunked encoding, or to the end.
func readHTTPResponse(r *bufio.Reader, maxBody int64) (*httpResponse, error) {
	hr := &headerReader{r: r, left: maxHTTPHeader}
	line, err := hr.line()
	if err != nil {
		return nil, fmt.Errorf("status line: %w", err)
	}
	proto, rest, _ := strings.Cut(line, " ")
	code, reason, _ := strings.Cut(rest, " ")
	status, err := strconv.Atoi(code)
	if !strings.HasPrefix(proto, "HTTP/1.") || err != nil || status < 100 || status > 999 {
		return nil, fmt.Errorf("not an HTTP/1 response: %q", line)
	}
	resp := &httpResponse{status: status, reason: reason}
	length := int64(-1)
	chunked := false
	for {
		h, err := hr.line()
		if err != nil {
			return nil, fmt.Errorf("headers: %w", err)
		}
		if h == "" {
			break
		}
		k, v, ok := strings.Cut(h, ":")
		if !ok {
			return nil, fmt.Errorf("bad header line %q", h)
		}
		v = strings.TrimSpace(v)
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "content-length":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("bad Content-Length %q", v)
			}
			length = n
		case "transfer-encoding":
			chunked = strings.EqualFold(v, "chunked")
			if !chunked {
				return nil, fmt.Errorf("unsupported Transfer-Encoding %q", v)
			}
		}
	}
	if status < 200 || status > 299 {
		return resp, nil // the body of an error is not needed
	}
	switch {
	case chunked:
		resp.body, err = readChunked(r, hr, maxBody)
	case length >= 0:
		if length > maxBody {
			return nil, fmt.Errorf("%w: %d bytes, more than %d", errBodyTooLarge, length, maxBody)
		}
		resp.body = make([]byte, length)
		_, err = io.ReadFull(r, resp.body)
	default:
		resp.body, err = readAtMost(r, maxBody)
	}
	if err != nil {
		return nil, fmt.Errorf("body: %w", err)
	}
	return resp, nil
}

// headerReader reads CRLF lines, bounded in total.
type headerReader struct {
	r    *bufio.Reader
	left int
}

func (h *headerReader) line() (string, error) {
	var b []byte
	for {
		frag, err := h.r.ReadSlice('\n')
		h.left -= len(frag)
		if h.left < 0 {
			return "", errors.New("headers too long")
		}
		b = append(b, frag...)
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return "", err
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
}

func readChunked(r *bufio.Reader, hr *headerReader, maxBody int64) ([]byte, error) {
	var body []byte
	for {
		line, err := hr.line()
		if err != nil {
			return nil, err
		}
		sizeText, _, _ := strings.Cut(line, ";")
		size, err := strconv.ParseInt(strings.TrimSpace(sizeText), 16, 64)
		if err != nil || size < 0 {
			return nil, fmt.Errorf("bad chunk size %q", line)
		}
		if size == 0 {
			for { // trailers, up to the empty line
				t, err := hr.line()
				if err != nil || t == "" {
					return body, err
				}
			}
		}
		if int64(len(body))+size > maxBody {
			return nil, fmt.Errorf("%w: more than %d bytes", errBodyTooLarge, maxBody)
		}
		chunk := make([]byte, size)
		if _, err := io.ReadFull(r, chunk); err != nil {
			return nil, err
		}
		body = append(body, chunk...)
		if crlf, err := hr.line(); err != nil || crlf != "" {
			return nil, fmt.Errorf("chunk not followed by CRLF: %q %v", crlf, err)
		}
	}
}

func readAtMost(r io.Reader, maxBody int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxBody+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > maxBody {
		return nil, fmt.Errorf("%w: more than %d bytes", errBodyTooLarge, maxBody)
	}
	return b, nil
}
