package bench

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// repoRoot is the directory of the module's go.mod.
func repoRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		t.Fatal("not in a Go module")
	}
	return filepath.Dir(mod)
}

func TestDetectScale(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: ip netns add")
	}
	// Built as the Makefile builds the shipped binary.
	bin := filepath.Join(t.TempDir(), "bondstrap")
	build := exec.Command("go", "build", "-trimpath", "-gcflags=all=-l", "-ldflags=-s -w", "-o", bin, "./cmd/bondstrap")
	build.Dir = repoRoot(t)
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	log := slog.New(slog.NewTextHandler(testWriter{t}, nil))
	points, err := DetectScale(ctx, bin, []int{4}, 1, log)
	if err != nil {
		t.Fatal(err)
	}
	if len(points) != 1 {
		t.Fatalf("%d points, want 1: %+v", len(points), points)
	}
	if p := points[0]; p.NICs != 4 || p.Bondstrap <= 0 || p.Shell <= 0 {
		t.Errorf("point %+v: want 4 NICs and both times > 0", p)
	}
	if out, err := exec.Command("ip", "netns", "list").Output(); err != nil {
		t.Error(err)
	} else if strings.Contains(string(out), "bstbench-") {
		t.Errorf("the benchmark's namespace is left:\n%s", out)
	}
}

// TestDetectScaleErrors: a size that is not veth pairs, no runs, a binary
// that is not there, and a binary that fails are errors, and the
// namespace goes either way.
func TestDetectScaleErrors(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		sizes []int
		runs  int
	}{{[]int{3}, 1}, {[]int{0}, 1}, {[]int{4}, 0}} {
		if _, err := DetectScale(ctx, "/bin/true", tc.sizes, tc.runs, nil); err == nil {
			t.Errorf("sizes %v runs %d: no error", tc.sizes, tc.runs)
		}
	}
	if _, err := DetectScale(ctx, filepath.Join(t.TempDir(), "none"), []int{4}, 1, nil); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing binary: %v, want os.ErrNotExist", err)
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root for the rest: ip netns add")
	}
	// A "bondstrap" that prints no inventory.
	if _, err := DetectScale(ctx, "/bin/true", []int{2}, 1, nil); err == nil || !strings.Contains(err.Error(), "detect -o json") {
		t.Errorf("a binary that prints nothing: %v, want a JSON error", err)
	}
	if _, err := DetectScale(ctx, "/bin/false", []int{2}, 1, nil); err == nil || !strings.Contains(err.Error(), "exit status 1") {
		t.Errorf("a failing binary: %v, want its exit status", err)
	}
	if out, err := exec.Command("ip", "netns", "list").Output(); err != nil {
		t.Error(err)
	} else if strings.Contains(string(out), "bstbench-") {
		t.Errorf("the benchmark's namespace is left after an error:\n%s", out)
	}
}

// testWriter sends the benchmark's log to t.Log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func TestMedian(t *testing.T) {
	if got := Median([]float64{5, 1, 3}); got != 3 {
		t.Errorf("Median(5, 1, 3) = %v", got)
	}
	in := []time.Duration{40, 10, 30, 20}
	if got := Median(in); got != 25 || in[0] != 40 {
		t.Errorf("Median(40, 10, 30, 20) = %v, input now %v", got, in)
	}
	if got := Median[float64](nil); got != 0 {
		t.Errorf("Median() = %v", got)
	}
}
