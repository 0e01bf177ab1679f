package vm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
)

// QMP is a minimal client of QEMU's machine protocol: it negotiates capabilities,
// executes commands one at a time and logs asynchronous events.
type QMP struct {
	conn net.Conn
	log  *slog.Logger

	mu      sync.Mutex // one command in flight: replies carry our id, but keep it simple
	nextID  int
	replies chan qmpMessage
	done    chan struct{} // closed when the reader stops
	readErr error
}

type qmpMessage struct {
	Greeting json.RawMessage `json:"QMP,omitempty"`
	Return   json.RawMessage `json:"return,omitempty"`
	Error    *QMPError       `json:"error,omitempty"`
	Event    string          `json:"event,omitempty"`
	Data     json.RawMessage `json:"data,omitempty"`
	ID       json.RawMessage `json:"id,omitempty"`
}

// QMPError is an error QEMU returned for a command.
type QMPError struct {
	Class string `json:"class"`
	Desc  string `json:"desc"`
}

func (e *QMPError) Error() string { return "qmp: " + e.Class + ": " + e.Desc }

// NewQMP speaks QMP over conn: it reads the greeting and leaves capabilities
// negotiation mode. The client owns conn from here on.
func NewQMP(ctx context.Context, conn net.Conn, log *slog.Logger) (*QMP, error) {
	if log == nil {
		log = slog.Default()
	}
	q := &QMP{conn: conn, log: log, replies: make(chan qmpMessage, 1), done: make(chan struct{})}
	greeting := make(chan struct{})
	go q.read(greeting)
	select {
	case <-greeting:
	case <-q.done:
		return nil, fmt.Errorf("qmp: no greeting: %w", q.readErr)
	case <-ctx.Done():
		conn.Close()
		return nil, fmt.Errorf("qmp: no greeting: %w", ctx.Err())
	}
	if _, err := q.Execute(ctx, "qmp_capabilities", nil); err != nil {
		conn.Close()
		return nil, err
	}
	return q, nil
}

func (q *QMP) read(greeting chan struct{}) {
	defer close(q.done)
	dec := json.NewDecoder(q.conn)
	for {
		var m qmpMessage
		if err := dec.Decode(&m); err != nil {
			q.readErr = err
			return
		}
		switch {
		case m.Greeting != nil:
			close(greeting)
		case m.Event != "":
			q.log.Debug("qmp event", "event", m.Event, "data", string(m.Data))
		default:
			select {
			case q.replies <- m:
			default:
				q.log.Warn("qmp reply nobody waits for", "id", string(m.ID))
			}
		}
	}
}

// Execute runs a QMP command with optional arguments and returns its "return" value.
func (q *QMP) Execute(ctx context.Context, command string, args any) (json.RawMessage, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.nextID++
	id := fmt.Sprintf("bst-%d", q.nextID)
	req := map[string]any{"execute": command, "id": id}
	if args != nil {
		req["arguments"] = args
	}
	b, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	if d, ok := ctx.Deadline(); ok {
		_ = q.conn.SetWriteDeadline(d)
	}
	if _, err := q.conn.Write(append(b, '\n')); err != nil {
		return nil, fmt.Errorf("qmp %s: %w", command, err)
	}
	for {
		select {
		case m := <-q.replies:
			var got string
			_ = json.Unmarshal(m.ID, &got)
			if got != id {
				continue // the late reply of a command whose caller gave up
			}
			if m.Error != nil {
				return nil, fmt.Errorf("qmp %s: %w", command, m.Error)
			}
			return m.Return, nil
		case <-q.done:
			return nil, fmt.Errorf("qmp %s: connection closed: %w", command, errors.Join(q.readErr, net.ErrClosed))
		case <-ctx.Done():
			return nil, fmt.Errorf("qmp %s: %w", command, ctx.Err())
		}
	}
}

// SetLink sets the link of a NIC (its QEMU device id) up or down, as a cable would.
func (q *QMP) SetLink(ctx context.Context, id string, up bool) error {
	_, err := q.Execute(ctx, "set_link", map[string]any{"name": id, "up": up})
	return err
}

// Close closes the connection.
func (q *QMP) Close() error {
	err := q.conn.Close()
	<-q.done
	return err
}
