package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/bondstrap/bondstrap/test/bench"
	"github.com/bondstrap/bondstrap/test/vm"
)

// sizeBudget is the most the static binary may weigh: it goes into every
// initramfs.
const sizeBudget = 6 << 20

// SizeResult is the static binary's size.
type SizeResult struct {
	// Bytes is the binary as make build makes it (-gcflags=all=-l).
	Bytes int64 `json:"bytes"`
	// InlinedBytes is the same binary built with Go's default inlining.
	InlinedBytes int64 `json:"inlined_bytes"`
	Budget       int64 `json:"budget_bytes"`
}

func measureSize(ctx context.Context, bin string) (*SizeResult, error) {
	fi, err := os.Stat(bin)
	if err != nil {
		return nil, err
	}
	repo, err := vm.RepoRoot()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "bstbench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	inlined := filepath.Join(dir, "bondstrap")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", inlined, "./cmd/bondstrap")
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build with inlining: %w\n%s", err, out)
	}
	ifi, err := os.Stat(inlined)
	if err != nil {
		return nil, err
	}
	return &SizeResult{Bytes: fi.Size(), InlinedBytes: ifi.Size(), Budget: sizeBudget}, nil
}

// DetectRow is one size of the detect comparison.
type DetectRow struct {
	bench.DetectPoint
	// PerNIC is bondstrap's time per NIC.
	PerNICMicros float64 `json:"bondstrap_us_per_nic"`
}

func measureDetect(ctx context.Context, bin string, runs int, log *slog.Logger) ([]DetectRow, error) {
	pts, err := bench.DetectScale(ctx, bin, []int{16, 64, 256, 1024}, runs, log)
	if err != nil {
		return nil, err
	}
	rows := make([]DetectRow, len(pts))
	for i, p := range pts {
		rows[i] = DetectRow{DetectPoint: p, PerNICMicros: float64(p.Bondstrap.Microseconds()) / float64(p.NICs)}
	}
	return rows, nil
}

// hostDescription names the machine the numbers come from.
func hostDescription() string {
	model := ""
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	return fmt.Sprintf("%s, %d CPUs, %s", model, runtime.NumCPU(), runtime.Version())
}

func gitVersion(ctx context.Context) string {
	repo, err := vm.RepoRoot()
	if err != nil {
		return "unknown"
	}
	cmd := exec.CommandContext(ctx, "git", "describe", "--always", "--dirty")
	cmd.Dir = repo
	out, err := cmd.Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}
