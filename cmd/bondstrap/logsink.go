package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/coreos/go-systemd/v22/journal"
	"golang.org/x/sys/unix"
)

// Where the log goes (BONDSTRAP_LOG_TARGET, bondstrap.log-target=).
const (
	// logAuto chooses: the journal when journald runs, the kernel's log in
	// an initramfs without it, else stderr.
	logAuto    = "auto"
	logJournal = "journal"
	logKmsg    = "kmsg"
	logStderr  = "stderr"
)

// logTag names bondstrap's lines in the kernel's log and the journal
// (SYSLOG_IDENTIFIER).
const logTag = "bondstrap"

// kmsgMaxText is the most text one record written to /dev/kmsg carries:
// the kernel refuses writes beyond about 1000 bytes (LOG_LINE_MAX 992 until
// 5.x, PRINTKRB_RECORD_MAX 1024 since), prefix included. Longer lines
// continue in further records.
const kmsgMaxText = 900

// syslogDaemon is the syslog facility of bondstrap's kernel log lines
// (LOG_DAEMON), as systemd's own: the kernel keeps "kernel" for itself.
const syslogDaemon = 3

// logEnv is what choosing a log target looks at: the process's paths and
// stderr, or a test's.
type logEnv struct {
	// JournalSocket is journald's native socket; SystemdDir exists when
	// systemd runs as PID 1 (sd_booted); Kmsg is the kernel log device.
	JournalSocket, SystemdDir, Kmsg string
	// StderrIsJournal: stderr is a unit's journal stream (JOURNAL_STREAM);
	// StderrIsTerminal: a person is watching it.
	StderrIsJournal, StderrIsTerminal func() bool
	// Send sends to the journal (journal.Send).
	Send journalSender
}

// journalSender sends one entry to the journal, as journal.Send does.
type journalSender func(message string, priority journal.Priority, vars map[string]string) error

func processLogEnv() logEnv {
	return logEnv{
		JournalSocket: "/run/systemd/journal/socket",
		SystemdDir:    "/run/systemd/system",
		Kmsg:          "/dev/kmsg",
		StderrIsJournal: func() bool {
			ok, err := journal.StderrIsJournalStream()
			return err == nil && ok
		},
		StderrIsTerminal: func() bool {
			_, err := unix.IoctlGetTermios(int(os.Stderr.Fd()), unix.TCGETS)
			return err == nil
		},
		Send: journal.Send,
	}
}

// newLogHandler returns the slog.Handler bondstrap logs through, logging
// level and above, and the target it chose. target is logAuto (or ""),
// logJournal, logKmsg or logStderr:
//
//   - journal: to journald's native socket (go-systemd's journal), one entry a
//     line with PRIORITY from the level, SYSLOG_IDENTIFIER=bondstrap, and
//     the attributes as fields, upper-cased (OP=, STAGE=, NIC=, ...); the
//     message keeps them as text too, for journalctl's default view.
//   - kmsg: each line a record of the kernel's log, "<PRI>bondstrap: msg
//     key=value ...", so an initramfs's console shows the transcript (as far
//     as the console log level lets through: "quiet" keeps warnings and
//     errors) and the journal of the booted system takes it over from the
//     kernel's buffer.
//   - stderr: text to stderr, as before.
//
// auto takes the journal when stderr is a unit's journal stream, or when
// journald's socket is there and stderr is not a terminal (someone at a
// shell reads stderr); the kernel's log when neither journald nor systemd
// runs and /dev/kmsg can be written (an initramfs without systemd); stderr
// otherwise. auto considers journal and kmsg only when stderr is the
// process's own (os.Stderr): a caller that passes another writer (a test)
// gets its text there.
//
// A target that cannot be used gives the stderr handler and an error that
// says why; so does an unknown target. A line the journal refuses goes to
// stderr.
func newLogHandler(target string, level slog.Leveler, stderr io.Writer) (slog.Handler, string, error) {
	return newLogHandlerIn(processLogEnv(), target, level, stderr, stderr == io.Writer(os.Stderr))
}

func newLogHandlerIn(env logEnv, target string, level slog.Leveler, stderr io.Writer, ownStderr bool) (slog.Handler, string, error) {
	text := slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})
	if target == "" {
		target = logAuto
	}
	if target == logAuto {
		target = logStderr
		if ownStderr {
			target = chooseLogTarget(env)
		}
	}
	switch target {
	case logStderr:
		return text, logStderr, nil
	case logJournal:
		if !pathExists(env.JournalSocket) {
			return text, logStderr, fmt.Errorf("log target journal: no journald socket at %s", env.JournalSocket)
		}
		return newFlatHandler(level, &journalEmitter{send: env.Send, fallback: stderr}), logJournal, nil
	case logKmsg:
		if err := canWrite(env.Kmsg); err != nil {
			return text, logStderr, fmt.Errorf("log target kmsg: %w", err)
		}
		return newFlatHandler(level, &kmsgEmitter{path: env.Kmsg, fallback: stderr}), logKmsg, nil
	}
	return text, logStderr, fmt.Errorf("log target %q: want auto, journal, kmsg or stderr", target)
}

// chooseLogTarget is auto's choice for the process's own stderr.
func chooseLogTarget(env logEnv) string {
	journald := pathExists(env.JournalSocket)
	switch {
	case env.StderrIsJournal():
		return logJournal
	case journald && !env.StderrIsTerminal():
		return logJournal
	case !journald && !pathExists(env.SystemdDir) && canWrite(env.Kmsg) == nil:
		return logKmsg
	}
	return logStderr
}

func pathExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func canWrite(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	return f.Close()
}

// flatAttr is one attribute of a line: its key with the groups before it
// ("group.key"), and its value as text.
type flatAttr struct{ key, value string }

// emitter writes one line: the record's level and message, and its
// attributes flattened.
type emitter interface {
	emit(r slog.Record, attrs []flatAttr) error
}

// flatHandler is a slog.Handler that flattens attributes (groups become
// dotted keys) and hands each line to an emitter.
type flatHandler struct {
	level  slog.Leveler
	prefix string // the groups opened, "g1.g2."
	attrs  []flatAttr
	out    emitter
}

func newFlatHandler(level slog.Leveler, out emitter) *flatHandler {
	if level == nil {
		level = slog.LevelInfo
	}
	return &flatHandler{level: level, out: out}
}

func (h *flatHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level.Level() }

func (h *flatHandler) Handle(_ context.Context, r slog.Record) error {
	attrs := slices.Clone(h.attrs)
	r.Attrs(func(a slog.Attr) bool {
		attrs = flatten(attrs, h.prefix, a)
		return true
	})
	return h.out.emit(r, attrs)
}

func (h *flatHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = slices.Clone(h.attrs)
	for _, a := range as {
		c.attrs = flatten(c.attrs, h.prefix, a)
	}
	return &c
}

func (h *flatHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.prefix += name + "."
	return &c
}

// flatten appends a, and a group's attributes under its key, as slog's
// handlers treat them: no empty attributes or groups; a group without a
// key inlined.
func flatten(out []flatAttr, prefix string, a slog.Attr) []flatAttr {
	v := a.Value.Resolve()
	if a.Key == "" && v.Kind() != slog.KindGroup || a.Equal(slog.Attr{}) {
		return out
	}
	if v.Kind() == slog.KindGroup {
		if a.Key != "" {
			prefix += a.Key + "."
		}
		for _, g := range v.Group() {
			out = flatten(out, prefix, g)
		}
		return out
	}
	var s string
	switch v.Kind() {
	case slog.KindTime:
		s = v.Time().Format(time.RFC3339Nano)
	case slog.KindDuration:
		s = v.Duration().String()
	default:
		s = v.String()
	}
	return append(out, flatAttr{key: prefix + a.Key, value: s})
}

// logLineText is a line as the console shows it: the message (on one line),
// then key=value for every attribute, quoted where needed.
func logLineText(msg string, attrs []flatAttr) string {
	var b strings.Builder
	b.WriteString(flatMessage(msg))
	for _, a := range attrs {
		b.WriteByte(' ')
		b.WriteString(a.key)
		b.WriteByte('=')
		if logNeedsQuote(a.value) {
			b.WriteString(strconv.Quote(a.value))
		} else {
			b.WriteString(a.value)
		}
	}
	return b.String()
}

// flatMessage joins the lines of a message (errors.Join's, say) with "; ".
func flatMessage(s string) string {
	s = strings.TrimRight(s, "\n")
	return strings.ReplaceAll(s, "\n", "; ")
}

func logNeedsQuote(s string) bool {
	if s == "" {
		return true
	}
	for _, r := range s {
		if r == ' ' || r == '=' || r == '"' || !unicode.IsPrint(r) {
			return true
		}
	}
	return false
}

// syslogLevel is a slog level as a syslog severity: err 3, warning 4, info
// 6, debug 7 (the journal's priorities and the kernel log's levels).
func syslogLevel(l slog.Level) int {
	switch {
	case l >= slog.LevelError:
		return 3
	case l >= slog.LevelWarn:
		return 4
	case l >= slog.LevelInfo:
		return 6
	}
	return 7
}

// kmsgEmitter writes lines to the kernel's log. It opens the device for
// every line: the kernel limits each open file to ten lines every five
// seconds (unless printk.devkmsg=on), and the transcript has more.
type kmsgEmitter struct {
	mu       sync.Mutex
	path     string
	fallback io.Writer
}

func (k *kmsgEmitter) emit(r slog.Record, attrs []flatAttr) error {
	text := logLineText(r.Message, attrs)
	prefix := fmt.Sprintf("<%d>%s: ", syslogDaemon*8+syslogLevel(r.Level), logTag)
	var buf bytes.Buffer
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, chunk := range kmsgChunks(text, kmsgMaxText) {
		buf.Reset()
		buf.WriteString(prefix)
		buf.WriteString(chunk)
		buf.WriteByte('\n')
		if err := k.write(buf.Bytes()); err != nil {
			// Not lost: the line goes to stderr, with why.
			fmt.Fprintf(k.fallback, "%s (kmsg: %v)\n", strings.TrimSuffix(buf.String(), "\n"), err)
		}
	}
	return nil
}

// write writes one record in one write, as the kernel wants it.
func (k *kmsgEmitter) write(rec []byte) error {
	f, err := os.OpenFile(k.path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	_, werr := f.Write(rec)
	return errors.Join(werr, f.Close())
}

// chunks cuts s into pieces of at most n bytes, between runes.
func kmsgChunks(s string, n int) []string {
	var out []string
	for len(s) > n {
		cut := n
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		out = append(out, s[:cut])
		s = s[cut:]
	}
	return append(out, s)
}

// journalEmitter sends lines to the journal.
type journalEmitter struct {
	send     journalSender
	fallback io.Writer
	mu       sync.Mutex // guards fallback
}

func (j *journalEmitter) emit(r slog.Record, attrs []flatAttr) error {
	msg := logLineText(r.Message, attrs)
	if err := j.send(msg, journal.Priority(syslogLevel(r.Level)), journalFields(attrs)); err != nil {
		j.mu.Lock()
		defer j.mu.Unlock()
		fmt.Fprintf(j.fallback, "level=%s %s (journal: %v)\n", r.Level, msg, err)
	}
	return nil
}

// journalFields maps a line's attributes to journal fields: the key
// upper-cased, every character but A-Z, 0-9 and _ made _ ("stage" STAGE,
// "op" OP, "bond.name" BOND_NAME), a leading _ or digit prefixed (the
// journal keeps those for itself), at most 64 characters. Keys that would
// overwrite the fields bondstrap sets itself (MESSAGE, PRIORITY,
// SYSLOG_IDENTIFIER) are prefixed BONDSTRAP_. The last of equal keys wins.
func journalFields(attrs []flatAttr) map[string]string {
	vars := map[string]string{"SYSLOG_IDENTIFIER": logTag}
	for _, a := range attrs {
		vars[journalField(a.key)] = a.value
	}
	return vars
}

func journalField(key string) string {
	name := []byte(strings.ToUpper(key))
	for i, c := range name {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			name[i] = '_'
		}
	}
	s := string(name)
	switch {
	case s == "" || s[0] == '_' || s[0] >= '0' && s[0] <= '9':
		s = "BONDSTRAP" + "_" + strings.TrimLeft(s, "_")
	case s == "MESSAGE" || s == "PRIORITY" || s == "SYSLOG_IDENTIFIER":
		s = "BONDSTRAP_" + s
	}
	return s[:min(len(s), 64)]
}
