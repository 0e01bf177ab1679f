package vm

import (
	"bufio"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Tools the harness runs on the host; test/setup.sh installs them.
var hostTools = []string{"qemu-system-x86_64", "dnsmasq", "ip", "ping"}

// Busybox is the static busybox that goes into the test initramfs (busybox-static).
const Busybox = "/bin/busybox"

// Paths locates what test/setup.sh prepared.
type Paths struct {
	Cache     string // the cache root, ${BONDSTRAP_CACHE:-/var/cache/bondstrap}
	KernelDir string // Cache/current: the kernel release in use
	Kernel    string // KernelDir/vmlinuz
	Release   string // the kernel release, e.g. 6.1.0-56-amd64
}

// CacheDir is the setup cache: $BONDSTRAP_CACHE or /var/cache/bondstrap.
func CacheDir() string {
	if d := os.Getenv("BONDSTRAP_CACHE"); d != "" {
		return d
	}
	return "/var/cache/bondstrap"
}

// Check reports what is missing for booting a VM, without changing anything.
func Check() (Paths, error) {
	p := Paths{Cache: CacheDir()}
	p.KernelDir = filepath.Join(p.Cache, "current")
	p.Kernel = filepath.Join(p.KernelDir, "vmlinuz")
	var errs []error
	if os.Geteuid() != 0 {
		errs = append(errs, errors.New("not root: VM tests need root for network namespaces and taps"))
	}
	for _, tool := range hostTools {
		if _, err := exec.LookPath(tool); err != nil {
			errs = append(errs, fmt.Errorf("%s not installed", tool))
		}
	}
	if err := checkStatic(Busybox); err != nil {
		errs = append(errs, err)
	}
	if rel, err := os.ReadFile(filepath.Join(p.KernelDir, "release")); err != nil {
		errs = append(errs, fmt.Errorf("no cached kernel: %w", err))
	} else {
		p.Release = strings.TrimSpace(string(rel))
	}
	for _, f := range []string{p.Kernel, filepath.Join(p.KernelDir, "modules.load")} {
		if _, err := os.Stat(f); err != nil {
			errs = append(errs, fmt.Errorf("no cached kernel: %w", err))
		}
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		errs = append(errs, fmt.Errorf("no tun device: %w", err))
	}
	return p, errors.Join(errs...)
}

func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("static busybox: %w", err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is not statically linked (install busybox-static)", path)
		}
	}
	return nil
}

var prepare struct {
	once  sync.Once
	paths Paths
	err   error
}

// Prepare makes the machine ready for VMs: when Check finds something missing it runs
// test/setup.sh once per process (its output goes to log), then checks again.
func Prepare(ctx context.Context, log func(string)) (Paths, error) {
	prepare.once.Do(func() {
		prepare.paths, prepare.err = doPrepare(ctx, log)
	})
	return prepare.paths, prepare.err
}

func doPrepare(ctx context.Context, log func(string)) (Paths, error) {
	p, err := Check()
	if err == nil {
		return p, nil
	}
	if os.Geteuid() != 0 {
		return p, err
	}
	log(fmt.Sprintf("vm: machine not ready (%v); running test/setup.sh", err))
	root, rerr := RepoRoot()
	if rerr != nil {
		return p, errors.Join(err, rerr)
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(root, "test", "setup.sh"))
	out, perr := cmd.StdoutPipe()
	if perr != nil {
		return p, perr
	}
	cmd.Stderr = cmd.Stdout
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return p, fmt.Errorf("test/setup.sh: %w", err)
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		log(sc.Text())
	}
	if err := cmd.Wait(); err != nil {
		return p, fmt.Errorf("test/setup.sh: %w", err)
	}
	log(fmt.Sprintf("vm: test/setup.sh done in %v", time.Since(start).Round(time.Millisecond)))
	return Check()
}

// RepoRoot finds the bondstrap module root: the first directory at or above the
// working directory whose go.mod declares the module, else the one this file was
// compiled from.
func RepoRoot() (string, error) {
	isRoot := func(dir string) bool {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		return err == nil && strings.Contains(string(b), "module github.com/bondstrap/bondstrap\n")
	}
	if wd, err := os.Getwd(); err == nil {
		for dir := wd; ; dir = filepath.Dir(dir) {
			if isRoot(dir) {
				return dir, nil
			}
			if dir == filepath.Dir(dir) {
				break
			}
		}
	}
	if _, file, _, ok := runtime.Caller(0); ok {
		if dir := filepath.Join(filepath.Dir(file), "..", ".."); isRoot(dir) {
			return filepath.Clean(dir), nil
		}
	}
	return "", errors.New("cannot find the bondstrap repository root (go.mod)")
}

var bondstrapBuild struct {
	once sync.Once
	path string
	err  error
}

// BuildBondstrap builds ./cmd/bondstrap statically (CGO_ENABLED=0) into a temporary
// directory, once per process, and returns the binary's path. $BONDSTRAP_BIN, when
// set, names a prebuilt static binary to use instead.
func BuildBondstrap(ctx context.Context) (string, error) {
	if p := os.Getenv("BONDSTRAP_BIN"); p != "" {
		return p, checkStatic(p)
	}
	bondstrapBuild.once.Do(func() {
		root, err := RepoRoot()
		if err != nil {
			bondstrapBuild.err = err
			return
		}
		dir, err := binDir()
		if err != nil {
			bondstrapBuild.err = err
			return
		}
		out := filepath.Join(dir, "bondstrap")
		cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-gcflags=all=-l", "-ldflags=-s -w", "-o", out, "./cmd/bondstrap")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			bondstrapBuild.err = fmt.Errorf("go build ./cmd/bondstrap: %w\n%s", err, b)
			return
		}
		bondstrapBuild.path = out
	})
	return bondstrapBuild.path, bondstrapBuild.err
}

// binDir returns a build directory of this process, bondstrap-bin-<pid> in the
// temporary directory, after removing those of processes that have ended.
func binDir() (string, error) {
	tmp := os.TempDir()
	old, _ := filepath.Glob(filepath.Join(tmp, "bondstrap-bin-*"))
	for _, d := range old {
		pid, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(d), "bondstrap-bin-"))
		if err != nil || pid == os.Getpid() {
			continue
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); errors.Is(err, os.ErrNotExist) {
			_ = os.RemoveAll(d)
		}
	}
	dir := filepath.Join(tmp, fmt.Sprintf("bondstrap-bin-%d", os.Getpid()))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("bondstrap build directory: %w", err)
	}
	return dir, nil
}
