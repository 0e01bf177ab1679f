// Package bench measures bondstrap against what it replaces, on this
// machine, for the benchmark program and its report.
package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// DetectPoint is one size of the detect benchmark.
type DetectPoint struct {
	NICs int `json:"nics"`
	// Bondstrap is the median wall time of `bondstrap detect -o json` as a process in the namespace (exec included).
	Bondstrap time.Duration `json:"bondstrap_ns"`
	// Shell is the median wall time of the shell loop: for each NIC, ethtool NIC, ethtool -i NIC and its sysfs files (address, carrier, speed, device/vendor, device/device).
	Shell time.Duration `json:"shell_ns"`
}

// timed is a script that runs command under sh between two readings of
// the clock, inside the namespace, and prints the nanoseconds between them.
// The interval holds the command and the fork and exec of the second date
// (about a millisecond, the same for both commands); nothing is
// subtracted. The script's exit status is the command's.
func timed(command string) string {
	return "t0=$(date +%s%N); " + command + "; rc=$?; t1=$(date +%s%N); echo $((t1-t0)); exit $rc"
}

// bondstrapCmd writes the inventory to "$1" and bondstrap's log to "$2"
// (files in a temporary directory): its count of NICs is checked after
// every run.
const bondstrapCmd = `"$0" detect --include-virtual -o json >"$1" 2>"$2"`

// shellLoop is what bondstrap replaces: for each interface of the
// namespace but lo, ethtool (speed, duplex, link), ethtool -i (driver, bus)
// and its sysfs files, read with the shell's own read (no cat to fork, so
// the loop is as fast as a shell makes it). veths have no device/vendor
// nor device/device: reading them fails, as it costs. It prints how many
// interfaces it went through, which the check compares with the size.
const shellLoop = `n=0; for d in /sys/class/net/*; do i=${d##*/}; [ "$i" = lo ] && continue; ` +
	`ethtool "$i"; ethtool -i "$i"; ` +
	`for f in address carrier speed device/vendor device/device; do read -r v <"$d/$f"; done; ` +
	`n=$((n+1)); done >/dev/null 2>&1; echo $n`

// DetectScale times `bondstrap detect -o json` (bin, run by ip netns exec)
// against the shell loop it replaces (shellLoop) in a network namespace of
// veths: for each size, sizes[i]/2 veth pairs, both ends up. Each point is
// the median of runs runs of each, taken in turn, after one untimed run of
// each (page cache, and a check that both work). Every run's exit status
// is checked, and so is its count of NICs: bondstrap's JSON must list the
// size's NICs, the shell loop must have gone through as many. It needs
// root, ip(8), ethtool(8), sh and date. The namespace, bstbench-PID, is
// removed at the end, also on error.
func DetectScale(ctx context.Context, bin string, sizes []int, runs int, log *slog.Logger) ([]DetectPoint, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if runs < 1 {
		return nil, fmt.Errorf("detect benchmark: %d runs, want at least 1", runs)
	}
	for _, n := range sizes {
		if n < 2 || n%2 != 0 {
			return nil, fmt.Errorf("detect benchmark: %d NICs: want an even number, at least 2 (veth pairs)", n)
		}
	}
	bin, err := filepath.Abs(bin)
	if err != nil {
		return nil, fmt.Errorf("detect benchmark: %w", err)
	}
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("detect benchmark: bondstrap binary: %w", err)
	}
	for _, tool := range []string{"ip", "ethtool", "sh", "date"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("detect benchmark needs %s: %w", tool, err)
		}
	}
	tmp, err := os.MkdirTemp("", "bstbench-")
	if err != nil {
		return nil, fmt.Errorf("detect benchmark: %w", err)
	}
	defer os.RemoveAll(tmp)

	ns := fmt.Sprintf("bstbench-%d", os.Getpid())
	if out, err := exec.CommandContext(ctx, "ip", "netns", "add", ns).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("ip netns add %s: %w: %s", ns, err, bytes.TrimSpace(out))
	}
	defer func() {
		// Also when ctx is done: the namespace must not outlive the run.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if out, err := exec.CommandContext(dctx, "ip", "netns", "del", ns).CombinedOutput(); err != nil {
			log.Error("cannot remove the benchmark's network namespace", "netns", ns, "err", err, "output", string(out))
		}
	}()

	d := &detectBench{ns: ns, bin: bin, tmp: tmp, log: log}
	var points []DetectPoint
	for _, n := range sizes {
		if err := d.resize(ctx, n/2); err != nil {
			return nil, err
		}
		p, err := d.point(ctx, n, runs)
		if err != nil {
			return nil, err
		}
		log.Info("detect benchmark", "nics", n, "runs", runs, "bondstrap", p.Bondstrap, "shell", p.Shell)
		points = append(points, p)
	}
	return points, nil
}

// detectBench is the namespace of one DetectScale and its pairs.
type detectBench struct {
	ns, bin, tmp string
	log          *slog.Logger
	pairs        int // va0/vb0 ... now in the namespace
}

// resize adds or removes veth pairs so that the namespace has pairs of
// them, up, with one ip process for all.
func (d *detectBench) resize(ctx context.Context, pairs int) error {
	var script strings.Builder
	for i := d.pairs; i < pairs; i++ {
		fmt.Fprintf(&script, "link add va%d type veth peer name vb%d\nlink set va%d up\nlink set vb%d up\n", i, i, i, i)
	}
	for i := pairs; i < d.pairs; i++ {
		fmt.Fprintf(&script, "link del va%d\n", i) // and its peer
	}
	if script.Len() == 0 {
		return nil
	}
	cmd := exec.CommandContext(ctx, "ip", "-n", d.ns, "-batch", "-")
	cmd.Stdin = strings.NewReader(script.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("ip -n %s -batch (%d to %d veth pairs): %w: %s", d.ns, d.pairs, pairs, err, bytes.TrimSpace(out))
	}
	d.pairs = pairs
	return nil
}

// point measures one size: one untimed run of each, then runs timed runs
// of each in turn.
func (d *detectBench) point(ctx context.Context, nics, runs int) (DetectPoint, error) {
	var bs, sh []time.Duration
	for i := 0; i <= runs; i++ {
		b, err := d.runBondstrap(ctx, nics)
		if err != nil {
			return DetectPoint{}, err
		}
		s, err := d.runShell(ctx, nics)
		if err != nil {
			return DetectPoint{}, err
		}
		if i > 0 {
			bs, sh = append(bs, b), append(sh, s)
		}
	}
	return DetectPoint{NICs: nics, Bondstrap: Median(bs), Shell: Median(sh)}, nil
}

// runBondstrap times one `bondstrap detect -o json` and checks its
// inventory lists nics NICs.
func (d *detectBench) runBondstrap(ctx context.Context, nics int) (time.Duration, error) {
	out, logFile := filepath.Join(d.tmp, "detect.json"), filepath.Join(d.tmp, "detect.log")
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", d.ns, "sh", "-c", timed(bondstrapCmd), d.bin, out, logFile)
	took, _, err := runTimed(cmd)
	if err != nil {
		msg, _ := os.ReadFile(logFile)
		return 0, fmt.Errorf("bondstrap detect in %s (%d NICs): %w: %s", d.ns, nics, err, bytes.TrimSpace(msg))
	}
	data, err := os.ReadFile(out)
	if err != nil {
		return 0, fmt.Errorf("bondstrap detect: %w", err)
	}
	var inv struct {
		Interfaces []struct {
			Name string `json:"name"`
		} `json:"interfaces"`
	}
	if err := json.Unmarshal(data, &inv); err != nil {
		return 0, fmt.Errorf("bondstrap detect -o json: %w", err)
	}
	if len(inv.Interfaces) != nics {
		return 0, fmt.Errorf("bondstrap detect listed %d NICs in a namespace of %d", len(inv.Interfaces), nics)
	}
	return took, nil
}

// runShell times one run of the shell loop and checks it went through nics
// interfaces.
func (d *detectBench) runShell(ctx context.Context, nics int) (time.Duration, error) {
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", d.ns, "sh", "-c", timed(shellLoop))
	took, got, err := runTimed(cmd)
	if err != nil {
		return 0, fmt.Errorf("shell loop in %s (%d NICs): %w", d.ns, nics, err)
	}
	if got != strconv.Itoa(nics) {
		return 0, fmt.Errorf("shell loop went through %q interfaces in a namespace of %d NICs", got, nics)
	}
	return took, nil
}

// runTimed runs cmd, a timed script, and returns the interval it printed
// last and what the command printed before it.
func runTimed(cmd *exec.Cmd) (time.Duration, string, error) {
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return 0, "", fmt.Errorf("%w: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	out := strings.TrimSpace(stdout.String())
	i := strings.LastIndexByte(out, '\n')
	ns, err := strconv.ParseInt(out[i+1:], 10, 64)
	if err != nil || ns <= 0 {
		return 0, "", errors.Join(fmt.Errorf("timing: the script printed %q", out), err)
	}
	before := ""
	if i >= 0 {
		before = out[:i]
	}
	return time.Duration(ns), before, nil
}

// Median of s: the middle value, or the mean of the two middle ones; 0
// for none. s is not changed.
func Median[T ~int64 | ~float64](s []T) T {
	if len(s) == 0 {
		return 0
	}
	c := slices.Clone(s)
	slices.Sort(c)
	if len(c)%2 == 1 {
		return c[len(c)/2]
	}
	return (c[len(c)/2-1] + c[len(c)/2]) / 2
}
