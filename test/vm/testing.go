package vm

import (
	"context"

	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// Require makes sure the machine can boot VMs, running test/setup.sh when something
// is missing, and fails the test when it cannot. Under -short it skips: VM tests are
// the slow end of the suite, and `go test -short ./...` is the quick run.
func Require(t testing.TB) Paths {
	t.Helper()
	if testing.Short() {
		t.Skip("VM test: skipped with -short")
	}
	p, err := Prepare(context.Background(), func(s string) { t.Log(s) })
	if err != nil {
		t.Fatalf("VM tests need a prepared machine (as root: test/setup.sh): %v", err)
	}
	return p
}

// New boots a VM for a test and stops it when the test ends. It fails the test when
// the VM does not boot. When the test fails, the VM's logs are kept and the console's
// tail is logged. cfg.Logger defaults to the test log.
func New(t testing.TB, cfg Config) *VM {
	t.Helper()
	Require(t)
	if cfg.Logger == nil {
		cfg.Logger = TestLogger(t)
	}
	timeout := cfg.BootTimeout
	if timeout == 0 {
		timeout = 180 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout+time.Minute)
	defer cancel()
	v, err := Start(ctx, cfg)
	if err != nil {
		t.Fatalf("VM did not boot: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			v.cfg.KeepDir = true
			t.Logf("VM logs kept in %s; console tail:\n%s", v.Dir(), v.ConsoleTail(60))
			for i := range v.Net.segs {
				if log := v.Net.DHCPLog(i); log != "" {
					t.Logf("dnsmasq on %s:\n%s", v.Net.Bridge(i), tail(log, 30))
				}
			}
		}
		if err := v.Close(); err != nil {
			t.Errorf("closing VM: %v", err)
		}
	})
	t.Logf("VM booted in %v (guest uptime at agent start %ss; initramfs %v, network %v)",
		v.Timings.Boot.Round(time.Millisecond), v.Timings.Uptime,
		v.Timings.Initramfs.Round(time.Millisecond), v.Timings.Network.Round(time.Millisecond))
	return v
}

// MustRun runs a script in the guest with a one-minute deadline and returns its
// stdout; it fails the test on a non-zero exit status or a lost VM.
func (v *VM) MustRun(t testing.TB, script string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := v.Exec(ctx, script)
	if err != nil {
		t.Fatalf("guest: %v", err)
	}
	if r.Exit != 0 {
		t.Fatalf("guest: %q: exit %d\nstdout: %s\nstderr: %s", abbrev(script), r.Exit, r.Stdout, r.Stderr)
	}
	return r.Stdout
}

// BondstrapBinary builds ./cmd/bondstrap statically once per test process (see
// BuildBondstrap) and fails the test when that fails. It calls Require first, so a
// VM test skips under -short before it spends time on the build.
func BondstrapBinary(t testing.TB) string {
	t.Helper()
	Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	p, err := BuildBondstrap(ctx)
	if err != nil {
		t.Fatalf("bondstrap binary: %v", err)
	}
	return p
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// TestLogger returns a logger that writes to t.Log until the test's cleanup ends;
// later records (from goroutines still winding down) are dropped rather than
// panicking the test binary.
func TestLogger(t testing.TB) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(w.stop)
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type testWriter struct {
	mu      sync.Mutex
	t       testing.TB
	stopped bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.stopped {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func (w *testWriter) stop() {
	w.mu.Lock()
	w.stopped = true
	w.mu.Unlock()
}

// NewPair boots two VMs at once in one network namespace (made from a's
// Segments), so they can be wired to each other (UDPLink) as well as to the
// segments. It fails the test when either does not boot, and stops both and
// removes the namespace when the test ends.
func NewPair(t testing.TB, a, b Config) (*VM, *VM) {
	t.Helper()
	Require(t)
	for _, c := range []*Config{&a, &b} {
		if c.Logger == nil {
			c.Logger = TestLogger(t)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	vms, net, err := StartPair(ctx, t.TempDir(), a, b)
	if net == nil {
		t.Fatalf("VM pair: %v", err)
	}
	t.Cleanup(func() {
		for _, v := range vms {
			if v == nil {
				continue
			}
			if t.Failed() {
				v.cfg.KeepDir = true
				t.Logf("VM logs kept in %s; console tail:\n%s", v.Dir(), v.ConsoleTail(40))
			}
			if err := v.Close(); err != nil {
				t.Errorf("closing VM: %v", err)
			}
		}
		if err := net.Close(); err != nil {
			t.Errorf("closing the network: %v", err)
		}
	})
	if err != nil {
		t.Fatalf("VM pair did not boot: %v", err)
	}
	t.Logf("VM pair booted in %v and %v", vms[0].Timings.Boot.Round(time.Millisecond), vms[1].Timings.Boot.Round(time.Millisecond))
	return vms[0], vms[1]
}
