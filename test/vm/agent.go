package vm

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bondstrap/bondstrap/test/initrd"
)

// Result is what a command run in the guest produced.
type Result struct {
	Stdout string
	Stderr string
	Exit   int // the exit status; 137 when the guest killed it at its deadline
}

// agent is the host side of the guest's command agent (test/initrd/agent.sh)
// on the second serial port: a request is a line and the script's bytes; answers are
// lines, with the output in base64.
type agent struct {
	conn net.Conn
	log  *slog.Logger

	ready chan string // the agent's first READY line (guest uptime)
	done  chan struct{}
	err   error // why the reader stopped, once done is closed

	wmu sync.Mutex // one request line at a time

	mu      sync.Mutex
	nextID  int
	waiters map[string]chan Result
}

// defaultCommandTimeout bounds a command whose context has no deadline.
const defaultCommandTimeout = 5 * time.Minute

func newAgent(conn net.Conn, log *slog.Logger) *agent {
	a := &agent{
		conn:    conn,
		log:     log,
		ready:   make(chan string, 1),
		done:    make(chan struct{}),
		waiters: make(map[string]chan Result),
	}
	go a.read()
	return a
}

func (a *agent) read() {
	defer close(a.done)
	sc := bufio.NewScanner(a.conn)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	var (
		id       string
		inStderr bool
		out, err strings.Builder
	)
	for sc.Scan() {
		line := sc.Text()
		verb, rest, _ := strings.Cut(line, " ")
		switch {
		case verb == initrd.AgentReady:
			select {
			case a.ready <- rest:
			default:
				a.log.Warn("guest agent restarted", "uptime", rest)
			}
		case verb == "BEGIN":
			id, inStderr = rest, false
			out.Reset()
			err.Reset()
		case verb == "STDERR" && rest == id:
			inStderr = true
		case verb == "END" && id != "":
			gotID, status, _ := strings.Cut(rest, " ")
			exit, convErr := strconv.Atoi(status)
			if gotID != id || convErr != nil {
				a.log.Warn("guest agent: bad END line", "line", line, "want", id)
				exit = -1
			}
			res := Result{Exit: exit}
			res.Stdout, res.Stderr = decode(out.String()), decode(err.String())
			a.deliver(id, res)
			id = ""
		case id != "":
			if inStderr {
				err.WriteString(line)
			} else {
				out.WriteString(line)
			}
		default:
			a.log.Debug("guest agent", "line", line)
		}
	}
	a.err = sc.Err()
	if a.err == nil {
		a.err = errors.New("guest agent: connection closed")
	}
}

func decode(b64 string) string {
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return fmt.Sprintf("<undecodable output: %v>", err)
	}
	return string(b)
}

func (a *agent) deliver(id string, r Result) {
	a.mu.Lock()
	ch, ok := a.waiters[id]
	delete(a.waiters, id)
	a.mu.Unlock()
	if ok {
		ch <- r
	}
}

// run sends script to the guest and waits for its result. The guest kills the script
// a second after ctx's deadline, so that an abandoned command frees the agent.
func (a *agent) run(ctx context.Context, script string) (Result, error) {
	timeout := defaultCommandTimeout
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
	} else {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	if timeout <= 0 {
		return Result{}, fmt.Errorf("guest command: %w", context.DeadlineExceeded)
	}
	secs := int(math.Ceil(timeout.Seconds())) + 1

	a.mu.Lock()
	a.nextID++
	id := strconv.Itoa(a.nextID)
	ch := make(chan Result, 1)
	a.waiters[id] = ch
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		delete(a.waiters, id)
		a.mu.Unlock()
	}()

	// The tests read bondstrap's log from the command's stderr, as a person
	// at a shell does; by itself, bondstrap would log to the kernel's log
	// (no journald: the busybox guest) or the journal (the Debian root),
	// since the agent's stderr is a file.
	script = "export BONDSTRAP_LOG_TARGET=stderr\n" + script
	line := fmt.Sprintf("RUN %s %d %d\n%s", id, secs, len(script), script)
	a.wmu.Lock()
	if d, ok := ctx.Deadline(); ok {
		_ = a.conn.SetWriteDeadline(d)
	}
	_, err := a.conn.Write([]byte(line))
	a.wmu.Unlock()
	if err != nil {
		return Result{}, fmt.Errorf("guest command: send: %w", err)
	}
	select {
	case r := <-ch:
		return r, nil
	case <-a.done:
		return Result{}, fmt.Errorf("guest command: %w", a.err)
	case <-ctx.Done():
		return Result{}, fmt.Errorf("guest command: %w", ctx.Err())
	}
}

func (a *agent) close() error {
	err := a.conn.Close()
	<-a.done
	return err
}
