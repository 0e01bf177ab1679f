// Package initrd builds the initramfs that the VM tests boot: busybox, the kernel
// modules that test/setup.sh cached, optionally the bondstrap binary, an /init that
// loads the modules, and a command agent on the second serial port through which the
// test harness (test/vm) runs commands in the guest.
//
// The guest side is plain shell (init.sh, agent.sh, udhcpc.sh), embedded here so that
// the archive is built from the Go package alone.
package initrd

import (
	"bytes"
	"compress/gzip"
	"debug/elf"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
)

var (
	//go:embed init.sh
	initScript []byte
	//go:embed agent.sh
	agentScript []byte
	//go:embed udhcpc.sh
	udhcpcScript []byte
	//go:embed inittab
	inittab []byte
)

// Guest paths that tests rely on.
const (
	// BondstrapPath is where the bondstrap binary is installed in the guest.
	BondstrapPath = "/usr/bin/bondstrap"
	// AgentReady is the line the agent prints when it starts listening.
	AgentReady = "BONDSTRAP-AGENT-READY"
)

// Spec says what goes into a test initramfs.
type Spec struct {
	// KernelDir is a kernel directory of the setup cache
	// (${BONDSTRAP_CACHE}/kernel/<release>): it holds the files release and
	// modules.load and the tree lib/modules/<release>.
	KernelDir string
	// Busybox is a statically linked busybox; default /bin/busybox (busybox-static).
	Busybox string
	// Bondstrap, when set, is a statically linked binary installed as BondstrapPath.
	Bondstrap string
	// Files are extra files, e.g. a config under /etc/bondstrap.
	Files []File
	// HostBinaries are dynamically linked programs of the host, installed with
	// the shared libraries ldd names for them (the host is Debian like the
	// guest's userland would be): iproute2's ip for `ip -j`, which busybox
	// lacks.
	HostBinaries []HostBinary
	// Gzip compresses the archive. Uncompressed archives are larger but spare the
	// emulated CPU the decompression.
	Gzip bool
}

// HostBinary is a program of the host: Src on the host, Dst in the guest.
type HostBinary struct {
	Src, Dst string
}

// File is an extra file for the archive. Path is absolute in the guest.
type File struct {
	Path string
	Data []byte
	Mode fs.FileMode
}

// Build writes the initramfs that s describes to w.
func Build(s Spec, w io.Writer) error {
	a, err := archive(s)
	if err != nil {
		return err
	}
	if !s.Gzip {
		return a.Write(w)
	}
	zw, err := gzip.NewWriterLevel(w, gzip.BestSpeed)
	if err != nil {
		return err
	}
	if err := a.Write(zw); err != nil {
		return err
	}
	return zw.Close()
}

// BuildFile builds the initramfs into the file at path.
func BuildFile(s Spec, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	if err := Build(s, f); err != nil {
		f.Close()
		return fmt.Errorf("initramfs %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	return nil
}

func archive(s Spec) (*Archive, error) {
	a := &Archive{}
	for _, d := range []string{"dev", "proc", "sys", "run", "tmp", "root", "etc", "bin", "sbin", "usr/bin", "usr/sbin", "var"} {
		a.AddDir(d, 0o755)
	}
	a.AddDir("tmp", 0o1777)
	a.AddCharDevice("dev/console", 0o600, 5, 1)

	bb := s.Busybox
	if bb == "" {
		bb = "/bin/busybox"
	}
	if err := addStatic(a, bb, "bin/busybox"); err != nil {
		return nil, err
	}
	applets, err := busyboxApplets(bb)
	if err != nil {
		return nil, err
	}
	for _, p := range applets {
		if p == "bin/busybox" || p == "init" || p == "linuxrc" {
			continue
		}
		a.AddSymlink(p, "/bin/busybox")
	}
	a.AddSymlink("sbin/init", "/bin/busybox")

	a.AddFile("init", initScript, 0o755)
	a.AddFile("sbin/bondstrap-agent", agentScript, 0o755)
	// busybox-static looks in /etc/udhcpc, other builds in /usr/share/udhcpc.
	a.AddFile("etc/udhcpc/default.script", udhcpcScript, 0o755)
	a.AddFile("usr/share/udhcpc/default.script", udhcpcScript, 0o755)
	a.AddFile("etc/inittab", inittab, 0o644)
	a.AddFile("etc/passwd", []byte("root:x:0:0:root:/root:/bin/sh\n"), 0o644)
	a.AddFile("etc/group", []byte("root:x:0:\n"), 0o644)
	a.AddFile("etc/resolv.conf", nil, 0o644)

	if err := addKernel(a, s.KernelDir); err != nil {
		return nil, err
	}
	if s.Bondstrap != "" {
		if err := addStatic(a, s.Bondstrap, BondstrapPath); err != nil {
			return nil, err
		}
	}
	for _, b := range s.HostBinaries {
		if err := addDynamic(a, b.Src, b.Dst); err != nil {
			return nil, err
		}
	}
	for _, f := range s.Files {
		mode := f.Mode
		if mode == 0 {
			mode = 0o644
		}
		a.AddFile(f.Path, f.Data, mode)
	}
	return a, nil
}

// addKernel adds the modules of a setup cache kernel directory and their load order.
func addKernel(a *Archive, dir string) error {
	if dir == "" {
		return errors.New("initramfs: no kernel directory (run test/setup.sh)")
	}
	rel, err := os.ReadFile(filepath.Join(dir, "release"))
	if err != nil {
		return fmt.Errorf("initramfs: kernel directory: %w", err)
	}
	release := strings.TrimSpace(string(rel))
	order, err := os.ReadFile(filepath.Join(dir, "modules.load"))
	if err != nil {
		return fmt.Errorf("initramfs: kernel directory: %w", err)
	}
	a.AddFile("etc/bondstrap-test/modules.load", order, 0o644)
	root := filepath.Join(dir, "lib", "modules", release)
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		r, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		a.AddFile(filepath.ToSlash(r), data, 0o644)
		return nil
	})
}

// addStatic adds a binary after checking that it is statically linked: a dynamic one
// would fail in the guest with a bare "not found".
func addStatic(a *Archive, src, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("initramfs: %s: %w", src, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("initramfs: %s is dynamically linked; build it static (CGO_ENABLED=0, busybox-static)", src)
		}
	}
	a.AddFile(dst, data, 0o755)
	return nil
}

// addDynamic adds a dynamically linked program and every library ldd resolves
// for it, at their host paths.
func addDynamic(a *Archive, src, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	for d := path.Dir(strings.TrimPrefix(dst, "/")); d != "."; d = path.Dir(d) {
		if !a.Has(d) {
			a.AddDir(d, 0o755)
		}
	}
	a.AddFile(dst, data, 0o755)
	out, err := exec.Command("ldd", src).Output()
	if err != nil {
		return fmt.Errorf("initramfs: ldd %s: %w", src, err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		lib := ""
		switch {
		case len(f) >= 3 && f[1] == "=>" && strings.HasPrefix(f[2], "/"):
			lib = f[2]
		case len(f) >= 1 && strings.HasPrefix(f[0], "/"):
			lib = f[0] // the dynamic loader
		default:
			continue
		}
		if a.Has(strings.TrimPrefix(lib, "/")) {
			continue
		}
		data, err := os.ReadFile(lib)
		if err != nil {
			return fmt.Errorf("initramfs: %s needs %s: %w", src, lib, err)
		}
		for d := path.Dir(strings.TrimPrefix(lib, "/")); d != "."; d = path.Dir(d) {
			if !a.Has(d) {
				a.AddDir(d, 0o755)
			}
		}
		a.AddFile(strings.TrimPrefix(lib, "/"), data, 0o755)
	}
	return nil
}

// busyboxApplets lists the applet paths ("bin/sh", "usr/bin/awk") of a busybox binary.
func busyboxApplets(bb string) ([]string, error) {
	out, err := exec.Command(bb, "--list-full").Output()
	if err != nil {
		return nil, fmt.Errorf("initramfs: %s --list-full: %w", bb, err)
	}
	var applets []string
	for _, l := range strings.Fields(string(out)) {
		applets = append(applets, strings.TrimPrefix(l, "/"))
	}
	if len(applets) == 0 {
		return nil, fmt.Errorf("initramfs: %s lists no applets", bb)
	}
	return applets, nil
}

// UDHCPCScript is the guest's busybox udhcpc script (udhcpc.sh): it applies
// a lease with ip, for a benchmark that runs udhcpc in another root.
func UDHCPCScript() []byte { return bytes.Clone(udhcpcScript) }
