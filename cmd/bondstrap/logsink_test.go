package main

import (
	"bytes"
	"errors"
	"log/slog"
	"maps"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/coreos/go-systemd/v22/journal"
)

// kmsgHandler is the kmsg target's handler on a temporary file in place of
// /dev/kmsg.
func kmsgHandler(t *testing.T, level slog.Level) (slog.Handler, string, *bytes.Buffer) {
	t.Helper()
	env := testLogEnv(t)
	if err := os.WriteFile(env.Kmsg, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	h, target, err := newLogHandlerIn(env, logKmsg, level, &stderr, true)
	if err != nil || target != logKmsg {
		t.Fatalf("target %s, %v", target, err)
	}
	return h, env.Kmsg, &stderr
}

// The kernel log target writes one record a line, "<PRI>bondstrap: ",
// message, attributes, with the syslog priority of the daemon facility and
// the line's level; a long line continues in further records, none over
// what the kernel takes; a message of several lines stays one line.
func TestKmsgLines(t *testing.T) {
	h, kmsg, stderr := kmsgHandler(t, slog.LevelDebug)
	log := slog.New(h).With("stage", "bond")
	log.Info("op(7): [started]  enslaving eth1 to bond0", "op", 7)
	log.Warn("no link", "nic", "eth2", "timeout", 5*time.Second)
	log.Error("stage bond failed: "+errors.Join(errors.New("one"), errors.New("two")).Error(), "error", "three\nfour")
	log.Debug("detail", slog.Group("lease", "address", "192.0.2.5/24", "server", "a b"))
	long := "x" + strings.Repeat("é", 1000) // 2001 bytes, the runes at odd offsets
	log.Info(long)

	data, err := os.ReadFile(kmsg)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	want := []string{
		"<30>bondstrap: op(7): [started]  enslaving eth1 to bond0 stage=bond op=7",
		"<28>bondstrap: no link stage=bond nic=eth2 timeout=5s",
		"<27>bondstrap: stage bond failed: one; two stage=bond error=\"three\\nfour\"",
		"<31>bondstrap: detail stage=bond lease.address=192.0.2.5/24 lease.server=\"a b\"",
	}
	if len(got) < len(want)+3 {
		t.Fatalf("%d records:\n%s", len(got), data)
	}
	for i, w := range want {
		if got[i] != w {
			t.Errorf("record %d:\ngot  %q\nwant %q", i, got[i], w)
		}
	}
	var text strings.Builder
	for _, rec := range got[len(want):] {
		if !utf8.ValidString(rec) {
			t.Errorf("a record cut inside a character: %.40q", rec)
		}
		if len(rec)+1 > 976 {
			t.Errorf("a record of %d bytes: the kernel refuses it", len(rec)+1)
		}
		body, ok := strings.CutPrefix(rec, "<30>bondstrap: ")
		if !ok {
			t.Errorf("continuation without its prefix: %.40q", rec)
		}
		text.WriteString(body)
	}
	if text.String() != long+" stage=bond" {
		t.Errorf("the long line does not come back whole (%d bytes)", text.Len())
	}
	if stderr.Len() > 0 {
		t.Errorf("stderr: %s", stderr.String())
	}
}

// A record the kernel log will not take goes to stderr, not away.
func TestKmsgFallsBackToStderr(t *testing.T) {
	h, kmsg, stderr := kmsgHandler(t, slog.LevelInfo)
	if err := os.Remove(kmsg); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(kmsg, 0o700); err != nil { // unopenable for writing
		t.Fatal(err)
	}
	slog.New(h).Info("link up", "nic", "eth0")
	if got := stderr.String(); !strings.HasPrefix(got, "<30>bondstrap: link up nic=eth0 (kmsg: ") {
		t.Errorf("stderr: %q", got)
	}
}

type sent struct {
	msg  string
	pri  journal.Priority
	vars map[string]string
}

// The journal target sends each line with its priority, the message as
// the console shows it, and the attributes as upper-cased fields: OP and
// STAGE for the operations, the others too, groups joined by _.
func TestJournalFields(t *testing.T) {
	var got []sent
	env := testLogEnv(t)
	env.Send = func(msg string, pri journal.Priority, vars map[string]string) error {
		got = append(got, sent{msg, pri, vars})
		return nil
	}
	listenJournal(t, env)
	var stderr bytes.Buffer
	h, target, err := newLogHandlerIn(env, logJournal, slog.LevelInfo, &stderr, true)
	if err != nil || target != logJournal {
		t.Fatalf("target %s, %v", target, err)
	}
	log := slog.New(h).With("stage", "address")
	log.Info("op(12): [finished] adding address 192.0.2.5/24 on bond0", "op", 12, "duration", 3*time.Millisecond)
	log.WithGroup("lease").Warn("odd lease", "server", "192.0.2.1", "message", "hi", "9lives", 1, "a-b.c", "x")
	log.Error("failed", "priority", "high")
	log.Debug("not logged at info")

	want := []sent{
		{"op(12): [finished] adding address 192.0.2.5/24 on bond0 stage=address op=12 duration=3ms", journal.PriInfo,
			map[string]string{"SYSLOG_IDENTIFIER": "bondstrap", "STAGE": "address", "OP": "12", "DURATION": "3ms"}},
		{"odd lease stage=address lease.server=192.0.2.1 lease.message=hi lease.9lives=1 lease.a-b.c=x", journal.PriWarning,
			map[string]string{"SYSLOG_IDENTIFIER": "bondstrap", "STAGE": "address", "LEASE_SERVER": "192.0.2.1",
				"LEASE_MESSAGE": "hi", "LEASE_9LIVES": "1", "LEASE_A_B_C": "x"}},
		{"failed stage=address priority=high", journal.PriErr,
			map[string]string{"SYSLOG_IDENTIFIER": "bondstrap", "STAGE": "address", "BONDSTRAP_PRIORITY": "high"}},
	}
	if len(got) != len(want) {
		t.Fatalf("%d entries, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i].msg != want[i].msg || got[i].pri != want[i].pri || !maps.Equal(got[i].vars, want[i].vars) {
			t.Errorf("entry %d:\ngot  %+v\nwant %+v", i, got[i], want[i])
		}
	}
	if stderr.Len() > 0 {
		t.Errorf("stderr: %s", stderr.String())
	}
}

// Field names the journal would refuse are made ones it takes.
func TestJournalFieldNames(t *testing.T) {
	for key, want := range map[string]string{
		"op":                    "OP",
		"stage":                 "STAGE",
		"vlan_id":               "VLAN_ID",
		"_private":              "BONDSTRAP_PRIVATE",
		"2nd":                   "BONDSTRAP_2ND",
		"message":               "BONDSTRAP_MESSAGE",
		"syslog_identifier":     "BONDSTRAP_SYSLOG_IDENTIFIER",
		"ünïcode key":           "BONDSTRAP_N__CODE_KEY",
		strings.Repeat("k", 80): strings.Repeat("K", 64),
	} {
		if got := journalField(key); got != want {
			t.Errorf("%q: %q, want %q", key, got, want)
		}
	}
}

// A line the journal refuses goes to stderr.
func TestJournalFallsBackToStderr(t *testing.T) {
	env := testLogEnv(t)
	env.Send = func(string, journal.Priority, map[string]string) error { return errors.New("journald is gone") }
	listenJournal(t, env)
	var stderr bytes.Buffer
	h, _, err := newLogHandlerIn(env, logJournal, slog.LevelInfo, &stderr, true)
	if err != nil {
		t.Fatal(err)
	}
	slog.New(h).Warn("no link", "nic", "eth2")
	if got := stderr.String(); got != "level=WARN no link nic=eth2 (journal: journald is gone)\n" {
		t.Errorf("stderr: %q", got)
	}
}

// testLogEnv is a machine without journald, systemd or a kernel log: each
// test adds what it needs. Its journal socket is a path in a temporary
// directory, which listenJournal makes a datagram socket.
func testLogEnv(t *testing.T) logEnv {
	dir := t.TempDir()
	return logEnv{
		JournalSocket:    filepath.Join(dir, "journal.socket"),
		SystemdDir:       filepath.Join(dir, "systemd"),
		Kmsg:             filepath.Join(dir, "kmsg"),
		StderrIsJournal:  func() bool { return false },
		StderrIsTerminal: func() bool { return false },
		Send: func(string, journal.Priority, map[string]string) error {
			return errors.New("no journal in this test")
		},
	}
}

// listenJournal puts a unix datagram socket, as journald's, at the env's
// path.
func listenJournal(t *testing.T, env logEnv) {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: env.JournalSocket, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
}

// newLogHandler, the process's: stderr when asked, and for a writer that
// is not the process's stderr.
func TestNewLogHandler(t *testing.T) {
	for _, target := range []string{logStderr, logAuto, ""} {
		var buf bytes.Buffer
		h, got, err := newLogHandler(target, slog.LevelWarn, &buf)
		if err != nil || got != logStderr {
			t.Errorf("%q: target %s, %v", target, got, err)
			continue
		}
		slog.New(h).Info("quiet")
		slog.New(h).Warn("loud", "nic", "eth0")
		if out := buf.String(); strings.Contains(out, "quiet") || !strings.Contains(out, "level=WARN msg=loud nic=eth0") {
			t.Errorf("%q: wrote %q", target, out)
		}
	}
}

// auto chooses by what runs: the journal under a unit or with journald
// there (but for a person at a terminal), the kernel log in an initramfs
// without systemd, stderr else, and always for a writer not the
// process's stderr. An explicit target that cannot be had is stderr and an
// error.
func TestLogTargetChoice(t *testing.T) {
	type setup struct {
		journald, systemd, kmsg, unit, terminal, notOwn bool
		target                                          string
	}
	for name, c := range map[string]struct {
		setup
		want    string
		wantErr bool
	}{
		"unit's stderr":                 {setup{journald: true, systemd: true, unit: true}, logJournal, false},
		"journald, no terminal":         {setup{journald: true, systemd: true}, logJournal, false},
		"journald, a person at a shell": {setup{journald: true, systemd: true, terminal: true}, logStderr, false},
		"initramfs without systemd":     {setup{kmsg: true, terminal: true}, logKmsg, false},
		"systemd without journald":      {setup{systemd: true, kmsg: true}, logStderr, false},
		"no kmsg":                       {setup{}, logStderr, false},
		"a test's writer":               {setup{journald: true, kmsg: true, notOwn: true}, logStderr, false},
		"journal asked, none there":     {setup{kmsg: true, target: logJournal}, logStderr, true},
		"kmsg asked, none there":        {setup{target: logKmsg}, logStderr, true},
		"stderr asked":                  {setup{journald: true, target: logStderr}, logStderr, false},
		"unknown target":                {setup{target: "syslog"}, logStderr, true},
	} {
		t.Run(name, func(t *testing.T) {
			env := testLogEnv(t)
			if c.journald {
				listenJournal(t, env)
			}
			if c.systemd {
				if err := os.Mkdir(env.SystemdDir, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			if c.kmsg {
				if err := os.WriteFile(env.Kmsg, nil, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			env.StderrIsJournal = func() bool { return c.unit }
			env.StderrIsTerminal = func() bool { return c.terminal }
			var stderr bytes.Buffer
			h, got, err := newLogHandlerIn(env, c.target, slog.LevelInfo, &stderr, !c.notOwn)
			if got != c.want || (err != nil) != c.wantErr {
				t.Errorf("target %s, error %v; want %s, error %t", got, err, c.want, c.wantErr)
			}
			if h == nil {
				t.Fatal("no handler")
			}
			if got == logStderr {
				slog.New(h).Info("hello")
				if !strings.Contains(stderr.String(), "msg=hello") {
					t.Errorf("the stderr handler wrote %q", stderr.String())
				}
			}
		})
	}
}
