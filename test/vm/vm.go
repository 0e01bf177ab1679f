package vm

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/bondstrap/bondstrap/test/initrd"
)

// NIC models QEMU emulates, with the PCI IDs the guest sees.
const (
	ModelVirtio = "virtio-net-pci" // 1af4:1000 (transitional), speed as configured
	ModelE1000  = "e1000"          // 8086:100e, 1000 Mb/s
)

// Bonding module load modes, the guest's bstvm.bonding= switch.
const (
	BondingMaxBondsZero = "max0"    // insmod bonding max_bonds=0: no bond until asked
	BondingDefault      = "default" // insmod bonding: the module creates bond0 itself
	BondingNone         = "none"    // bonding is not loaded
)

// NIC is one emulated NIC of a VM.
type NIC struct {
	// Model is ModelVirtio or ModelE1000.
	Model string
	// Speed is the link speed in Mb/s a virtio NIC reports (QEMU's speed=); 0 means
	// 10000. e1000 always reports 1000.
	Speed int
	// MAC is the NIC's address; default 52:54:00:12:34:<index+1>.
	MAC string
	// Segment is the index of the segment (bridge) the NIC is cabled to.
	Segment int
	// ID is the QEMU device id used by SetLink; default nic<index>.
	ID string
	// Tap is the host side tap device (set by Start).
	Tap string
	// UDP, when set, joins the NIC point to point to another guest's NIC
	// through UDP on the namespace's loopback (QEMU's socket netdev) instead
	// of a tap on a segment: a wire no bridge is on, which LACPDUs cross
	// (Linux bridges never forward them).
	UDP *UDPLink
	// Iface is the guest's name for the NIC, found by MAC right after boot (set by
	// Start). Names stay, even when a bond changes the NIC's MAC.
	Iface string
}

// IPRoute2 is iproute2's ip from the host, as /usr/local/sbin/ip in the guest
// (busybox's ip has no -j): tests compare `ip -j addr` and `ip -j route`.
var IPRoute2 = initrd.HostBinary{Src: "/bin/ip", Dst: IPRoute2Path}

// DNSMasq is the host's dnsmasq, for a guest that serves router
// advertisements and DHCPv6 (the host has no IPv6 to do it from a namespace).
var DNSMasq = initrd.HostBinary{Src: "/usr/sbin/dnsmasq", Dst: "/usr/sbin/dnsmasq"}

// IPRoute2Path is where IPRoute2 is in the guest.
const IPRoute2Path = "/usr/local/sbin/ip"

// UDPLink is one end of a point-to-point wire: this NIC sends to Remote and
// listens on Local, UDP ports on 127.0.0.1 of the VMs' namespace.
type UDPLink struct {
	Local, Remote int
}

// Wire returns the two ends of a point-to-point wire between two guests'
// NICs: ports base and base+1.
func Wire(base int) (a, b *UDPLink) {
	return &UDPLink{Local: base, Remote: base + 1}, &UDPLink{Local: base + 1, Remote: base}
}

// Virtio returns a virtio-net NIC reporting speed Mb/s, full duplex.
func Virtio(speed int) NIC { return NIC{Model: ModelVirtio, Speed: speed} }

// E1000 returns an Intel e1000 NIC (1000 Mb/s).
func E1000() NIC { return NIC{Model: ModelE1000} }

// Config describes a VM.
type Config struct {
	// NICs are the guest's NICs, in PCI slot order.
	NICs []NIC
	// Segments are the L2 segments; default one segment with a DHCP server.
	Segments []Segment
	// Network, when set, is an existing namespace the VM joins (its
	// Segments are ignored, and its DHCP servers left as they are): two
	// guests wired to each other (UDPLink) must share one. The VM does not
	// close it.
	Network *Network
	// MemoryMB is the guest memory; default 512.
	MemoryMB int
	// CPUs is the number of guest CPUs; default 1 (TCG is slow, the host has 2 cores).
	CPUs int
	// BootTimeout bounds the boot, from QEMU's start to the guest agent's first word;
	// default $BONDSTRAP_VM_BOOT_TIMEOUT or 180s.
	BootTimeout time.Duration
	// Bonding says how the guest loads the bonding module; default BondingMaxBondsZero.
	Bonding string
	// Bondstrap is a static bondstrap binary to install at /usr/bin/bondstrap
	// (see BuildBondstrap); empty means none.
	Bondstrap string
	// Files are extra files for the initramfs.
	Files []initrd.File
	// HostBinaries are host programs for the initramfs, with their libraries
	// (IPRoute2).
	HostBinaries []initrd.HostBinary
	// Root, when set, boots a disk image with its own kernel and initrd (see
	// NewRootDisk) instead of the test initramfs; Bondstrap, Files and Bonding do
	// not apply then.
	Root *Root
	// Cmdline are extra kernel command line arguments.
	Cmdline []string
	// Dir keeps the VM's logs, sockets and initramfs; default a new temporary
	// directory that Close removes unless KeepDir. Keep the path short: it holds
	// unix sockets (108 bytes at most).
	Dir     string
	KeepDir bool
	// Logger receives the harness's log; default slog.Default().
	Logger *slog.Logger
}

// Timings are measured while starting a VM.
type Timings struct {
	Initramfs time.Duration // building the initramfs
	Network   time.Duration // namespace, bridges, taps, dnsmasq
	Boot      time.Duration // QEMU start to the guest agent's READY
	Uptime    string        // the guest's /proc/uptime at READY
}

// VM is a running QEMU guest.
type VM struct {
	// Net is the VM's network namespace.
	Net *Network
	// NICs are the configured NICs with defaults, taps and guest names filled in.
	NICs []NIC
	// Timings says how long the start took.
	Timings Timings

	cfg     Config
	dir     string
	log     *slog.Logger
	kernel  string // what boot boots: the cached kernel or Root's
	initrd  string
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
	qmp     *QMP
	agent   *agent

	closeOnce sync.Once
	closeErr  error
}

// Start boots a VM and returns once its command agent answers, or an error (with the
// tail of the console log) when it does not within cfg.BootTimeout. ctx bounds the
// start only; the VM runs until Close. On error, everything started is stopped.
func Start(ctx context.Context, cfg Config) (*VM, error) {
	v, err := start(ctx, cfg)
	if err != nil {
		if v != nil {
			err = fmt.Errorf("%w\nconsole (%s):\n%s", err, v.ConsolePath(), v.ConsoleTail(40))
			v.cfg.KeepDir = true // for the logs the error points at
			_ = v.Close()
		}
		return nil, err
	}
	return v, nil
}

func start(ctx context.Context, cfg Config) (*VM, error) {
	paths, err := Check()
	if err != nil {
		return nil, fmt.Errorf("vm: machine not prepared (run test/setup.sh): %w", err)
	}
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	v := &VM{cfg: cfg, log: cfg.Logger, exited: make(chan struct{})}
	v.NICs = cfg.NICs
	if cfg.Dir != "" {
		v.dir = cfg.Dir
		if err := os.MkdirAll(v.dir, 0o755); err != nil {
			return nil, fmt.Errorf("vm: %w", err)
		}
	} else if v.dir, err = os.MkdirTemp("", "bstvm-"); err != nil {
		return nil, fmt.Errorf("vm: %w", err)
	}

	t0 := time.Now()
	if cfg.Root != nil {
		v.kernel, v.initrd = cfg.Root.Kernel, cfg.Root.Initrd
	} else {
		v.kernel, v.initrd = paths.Kernel, filepath.Join(v.dir, "initrd.cpio.gz")
		spec := initrd.Spec{KernelDir: paths.KernelDir, Busybox: Busybox, Bondstrap: cfg.Bondstrap, Files: cfg.Files,
			HostBinaries: cfg.HostBinaries, Gzip: true}
		if err := initrd.BuildFile(spec, v.initrd); err != nil {
			return v, fmt.Errorf("vm: %w", err)
		}
	}
	v.Timings.Initramfs = time.Since(t0)

	t0 = time.Now()
	segments := len(cfg.Segments)
	if cfg.Network != nil {
		v.Net, segments = cfg.Network, len(cfg.Network.segs)
	} else if v.Net, err = NewNetwork(ctx, v.dir, cfg.Segments, v.log); err != nil {
		return v, fmt.Errorf("vm: %w", err)
	}
	for i := range v.NICs {
		if v.NICs[i].UDP != nil {
			continue
		}
		if v.NICs[i].Segment < 0 || v.NICs[i].Segment >= segments {
			return v, fmt.Errorf("vm: NIC %d: no segment %d", i, v.NICs[i].Segment)
		}
		if v.NICs[i].Tap, err = v.Net.AddTap(ctx, v.NICs[i].Segment); err != nil {
			return v, fmt.Errorf("vm: %w", err)
		}
	}
	for i, s := range cfg.Segments {
		if s.DHCP != nil && cfg.Network == nil {
			if err := v.Net.StartDHCP(ctx, i); err != nil {
				return v, fmt.Errorf("vm: %w", err)
			}
		}
	}
	v.Timings.Network = time.Since(t0)

	if err := v.boot(ctx); err != nil {
		return v, err
	}
	if err := v.findIfaces(ctx); err != nil {
		return v, err
	}
	v.log.Info("vm ready", "dir", v.dir, "boot", v.Timings.Boot.Round(time.Millisecond),
		"guest_uptime", v.Timings.Uptime, "initramfs", v.Timings.Initramfs.Round(time.Millisecond),
		"network", v.Timings.Network.Round(time.Millisecond))
	return v, nil
}

func (c *Config) fill() error {
	if len(c.NICs) == 0 {
		return errors.New("vm: no NICs configured")
	}
	if c.Segments == nil {
		c.Segments = []Segment{{DHCP: &DHCP{}}}
	}
	if c.MemoryMB == 0 {
		c.MemoryMB = 512
	}
	if c.CPUs == 0 {
		c.CPUs = 1
	}
	if c.BootTimeout == 0 {
		c.BootTimeout = 180 * time.Second
		if s := os.Getenv("BONDSTRAP_VM_BOOT_TIMEOUT"); s != "" {
			d, err := time.ParseDuration(s)
			if err != nil {
				return fmt.Errorf("vm: BONDSTRAP_VM_BOOT_TIMEOUT: %w", err)
			}
			c.BootTimeout = d
		}
	}
	switch c.Bonding {
	case "":
		c.Bonding = BondingMaxBondsZero
	case BondingMaxBondsZero, BondingDefault, BondingNone:
	default:
		return fmt.Errorf("vm: bonding mode %q", c.Bonding)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	nics := make([]NIC, len(c.NICs))
	copy(nics, c.NICs)
	for i := range nics {
		n := &nics[i]
		switch n.Model {
		case ModelVirtio:
			if n.Speed == 0 {
				n.Speed = 10000
			}
		case ModelE1000:
			if n.Speed != 0 && n.Speed != 1000 {
				return fmt.Errorf("vm: NIC %d: e1000 runs at 1000 Mb/s only", i)
			}
			n.Speed = 1000
		default:
			return fmt.Errorf("vm: NIC %d: unknown model %q", i, n.Model)
		}
		if n.MAC == "" {
			n.MAC = fmt.Sprintf("52:54:00:12:34:%02x", i+1)
		}
		hw, err := net.ParseMAC(n.MAC)
		if err != nil {
			return fmt.Errorf("vm: NIC %d: %w", i, err)
		}
		n.MAC = hw.String()
		if n.ID == "" {
			n.ID = fmt.Sprintf("nic%d", i)
		}
	}
	c.NICs = nics
	return nil
}

// qemuArgs returns QEMU's command line. The console is ttyS0 (a file), the agent
// ttyS1, and QMP a monitor; QEMU connects to the harness's sockets for both.
func (v *VM) qemuArgs(kernel, initrd, agentSock, qmpSock string) []string {
	cmdline := []string{"console=ttyS0", "panic=-1", "quiet", "bstvm.bonding=" + v.cfg.Bonding}
	if v.cfg.Root != nil {
		cmdline = v.cfg.Root.cmdline()
	}
	cmdline = append(cmdline, v.cfg.Cmdline...)
	args := []string{
		"-accel", "tcg", // KVM hangs on these machines: always emulate
		"-machine", "pc",
		"-m", strconv.Itoa(v.cfg.MemoryMB),
		"-smp", strconv.Itoa(v.cfg.CPUs),
		"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
		"-kernel", kernel, "-initrd", initrd, "-append", strings.Join(cmdline, " "),
		"-chardev", "file,id=console,append=on,path=" + v.ConsolePath(), // a reboot appends
		"-serial", "chardev:console",
		"-chardev", "socket,id=agent,path=" + agentSock,
		"-serial", "chardev:agent",
		"-chardev", "socket,id=qmp,path=" + qmpSock,
		"-mon", "chardev=qmp,mode=control",
	}
	if v.cfg.Root != nil {
		args = append(args, v.cfg.Root.driveArgs()...)
	}
	for i, n := range v.NICs {
		netdev := fmt.Sprintf("net%d", i)
		if n.UDP != nil {
			args = append(args, "-netdev", fmt.Sprintf("socket,id=%s,udp=127.0.0.1:%d,localaddr=127.0.0.1:%d", netdev, n.UDP.Remote, n.UDP.Local))
		} else {
			args = append(args, "-netdev", fmt.Sprintf("tap,id=%s,ifname=%s,script=no,downscript=no", netdev, n.Tap))
		}
		dev := fmt.Sprintf("%s,netdev=%s,id=%s,mac=%s", n.Model, netdev, n.ID, n.MAC)
		if n.Model == ModelVirtio {
			dev += fmt.Sprintf(",speed=%d,duplex=full", n.Speed)
		}
		args = append(args, "-device", dev)
	}
	return args
}

func (v *VM) boot(ctx context.Context) error {
	agentSock := filepath.Join(v.dir, "agent.sock")
	qmpSock := filepath.Join(v.dir, "qmp.sock")
	agentL, err := net.Listen("unix", agentSock)
	if err != nil {
		return fmt.Errorf("vm: %w", err)
	}
	defer agentL.Close()
	qmpL, err := net.Listen("unix", qmpSock)
	if err != nil {
		return fmt.Errorf("vm: %w", err)
	}
	defer qmpL.Close()

	args := append([]string{"netns", "exec", v.Net.Name, "qemu-system-x86_64"},
		v.qemuArgs(v.kernel, v.initrd, agentSock, qmpSock)...)
	qlog, err := os.OpenFile(filepath.Join(v.dir, "qemu.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("vm: %w", err)
	}
	defer qlog.Close()
	v.cmd = exec.Command("ip", args...)
	v.cmd.Stdout, v.cmd.Stderr = qlog, qlog
	// QEMU dies with the test process, even when the test binary is killed.
	v.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	v.log.Debug("starting qemu", "args", strings.Join(args, " "))

	ctx, cancel := context.WithTimeout(ctx, v.cfg.BootTimeout)
	defer cancel()
	start := time.Now()
	if err := v.cmd.Start(); err != nil {
		return fmt.Errorf("vm: qemu: %w", err)
	}
	go func() {
		v.waitErr = v.cmd.Wait()
		close(v.exited)
	}()

	// QEMU connects to both sockets while it starts. Unblock Accept when QEMU exits
	// or the deadline passes.
	stop := context.AfterFunc(ctx, func() { agentL.Close(); qmpL.Close() })
	defer stop()
	go func() {
		select {
		case <-v.exited:
			agentL.Close()
			qmpL.Close()
		case <-ctx.Done():
		}
	}()
	qconn, err := qmpL.Accept()
	if err != nil {
		return v.bootError(ctx, "qmp socket", err)
	}
	if v.qmp, err = NewQMP(ctx, qconn, v.log); err != nil {
		return v.bootError(ctx, "qmp", err)
	}
	aconn, err := agentL.Accept()
	if err != nil {
		return v.bootError(ctx, "agent socket", err)
	}
	v.agent = newAgent(aconn, v.log)
	select {
	case up := <-v.agent.ready:
		v.Timings.Boot = time.Since(start)
		v.Timings.Uptime = up
		return nil
	case <-v.exited:
		return v.bootError(ctx, "boot", errors.New("qemu exited"))
	case <-v.agent.done:
		return v.bootError(ctx, "boot", v.agent.err)
	case <-ctx.Done():
		return v.bootError(ctx, "boot", ctx.Err())
	}
}

func (v *VM) bootError(ctx context.Context, what string, err error) error {
	select {
	case <-v.exited:
		qlog, _ := os.ReadFile(filepath.Join(v.dir, "qemu.log"))
		return fmt.Errorf("vm: %s: qemu exited (%v): %w\nqemu: %s", what, v.waitErr, err, bytes.TrimSpace(qlog))
	default:
	}
	if ctx.Err() != nil {
		return fmt.Errorf("vm: %s: no answer within the boot timeout %v: %w", what, v.cfg.BootTimeout, err)
	}
	return fmt.Errorf("vm: %s: %w", what, err)
}

// findIfaces names each NIC as the guest does, by MAC. A bond member reports its
// permanent MAC (a bond changes the NIC's address), for a guest that bonds while it
// boots.
func (v *VM) findIfaces(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, code, err := v.Run(ctx, `for d in /sys/class/net/*; do
	a=$d/address; [ -e $d/bonding_slave/perm_hwaddr ] && a=$d/bonding_slave/perm_hwaddr
	echo "${d##*/} $(cat $a)"
done`)
	if err != nil || code != 0 {
		return fmt.Errorf("vm: listing guest interfaces: exit %d: %w", code, err)
	}
	byMAC := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if name, mac, ok := strings.Cut(strings.TrimSpace(line), " "); ok {
			byMAC[mac] = name
		}
	}
	for i := range v.NICs {
		name, ok := byMAC[v.NICs[i].MAC]
		if !ok {
			return fmt.Errorf("vm: the guest has no interface with MAC %s (NIC %d, %s); it has:\n%s", v.NICs[i].MAC, i, v.NICs[i].Model, out)
		}
		v.NICs[i].Iface = name
	}
	return nil
}

// Iface returns the guest's interface name of NIC i.
func (v *VM) Iface(i int) string { return v.NICs[i].Iface }

// Dir returns the directory holding the VM's logs.
func (v *VM) Dir() string { return v.dir }

// ConsolePath returns the path of the guest's serial console log.
func (v *VM) ConsolePath() string { return filepath.Join(v.dir, "console.log") }

// Console returns the guest's serial console output so far.
func (v *VM) Console() string {
	b, _ := os.ReadFile(v.ConsolePath())
	return string(b)
}

// ConsoleTail returns the last n lines of the console.
func (v *VM) ConsoleTail(n int) string {
	lines := strings.Split(strings.TrimRight(v.Console(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Exec runs a shell script in the guest (busybox sh, stdin /dev/null) and returns
// its output and exit status. ctx's deadline also bounds the script in the guest.
// A non-zero exit status is not an error; a lost VM or an expired ctx is.
func (v *VM) Exec(ctx context.Context, script string) (Result, error) {
	if v.agent == nil {
		return Result{}, errors.New("vm: not booted")
	}
	select {
	case <-v.exited:
		return Result{}, fmt.Errorf("vm: qemu has exited: %v", v.waitErr)
	default:
	}
	r, err := v.agent.run(ctx, script)
	if err != nil {
		return r, fmt.Errorf("vm: %q: %w", abbrev(script), err)
	}
	v.log.Debug("guest command", "cmd", abbrev(script), "exit", r.Exit)
	return r, nil
}

// Run runs a shell script in the guest and returns its stdout and exit status.
func (v *VM) Run(ctx context.Context, script string) (stdout string, exit int, err error) {
	r, err := v.Exec(ctx, script)
	return r.Stdout, r.Exit, err
}

func abbrev(s string) string {
	s = strings.ReplaceAll(s, "\n", "; ")
	if len(s) > 120 {
		return s[:117] + "..."
	}
	return s
}

// Quote quotes s as one word for the guest's shell.
func Quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// writeChunk bounds one WriteFile request, well below what the guest's tty layer
// buffers (640 KiB) while the agent is busy.
const writeChunk = 256 << 10

// WriteFile writes data to path in the guest, creating parent directories.
func (v *VM) WriteFile(ctx context.Context, path string, data []byte, perm fs.FileMode) error {
	redirect := ">"
	for off := 0; off == 0 || off < len(data); off += writeChunk {
		end := min(off+writeChunk, len(data))
		script := fmt.Sprintf("mkdir -p %s && base64 -d %s %s <<'BONDSTRAP_EOF'\n%s\nBONDSTRAP_EOF\n",
			Quote(filepath.Dir(path)), redirect, Quote(path), base64.StdEncoding.EncodeToString(data[off:end]))
		if end == len(data) {
			script += fmt.Sprintf("chmod %o %s\n", perm.Perm(), Quote(path))
		}
		r, err := v.Exec(ctx, script)
		if err != nil {
			return fmt.Errorf("vm: write %s: %w", path, err)
		}
		if r.Exit != 0 {
			return fmt.Errorf("vm: write %s: exit %d: %s", path, r.Exit, strings.TrimSpace(r.Stderr))
		}
		redirect = ">>"
	}
	return nil
}

// ReadFile reads a file in the guest.
func (v *VM) ReadFile(ctx context.Context, path string) ([]byte, error) {
	r, err := v.Exec(ctx, "cat -- "+Quote(path))
	if err != nil {
		return nil, fmt.Errorf("vm: read %s: %w", path, err)
	}
	if r.Exit != 0 {
		return nil, fmt.Errorf("vm: read %s: exit %d: %s", path, r.Exit, strings.TrimSpace(r.Stderr))
	}
	return []byte(r.Stdout), nil
}

// SetLink cuts (up=false) or restores NIC i's link, as pulling a cable would: the
// guest sees carrier go away.
func (v *VM) SetLink(ctx context.Context, i int, up bool) error {
	if i < 0 || i >= len(v.NICs) {
		return fmt.Errorf("vm: no NIC %d", i)
	}
	if err := v.qmp.SetLink(ctx, v.NICs[i].ID, up); err != nil {
		return fmt.Errorf("vm: set_link %s (%s): %w", v.NICs[i].ID, v.NICs[i].Iface, err)
	}
	v.log.Info("set_link", "nic", v.NICs[i].ID, "iface", v.NICs[i].Iface, "up", up)
	return nil
}

// QMP returns the VM's QMP client for commands the harness does not wrap.
func (v *VM) QMP() *QMP { return v.qmp }

// Close stops QEMU (QMP quit, then SIGKILL), the DHCP servers and the namespace, and
// removes the VM's directory unless it was given or KeepDir is set.
func (v *VM) Close() error {
	v.closeOnce.Do(func() { v.closeErr = v.close() })
	return v.closeErr
}

func (v *VM) close() error {
	var errs []error
	if v.cmd != nil && v.cmd.Process != nil {
		select {
		case <-v.exited:
		default:
			if v.qmp != nil {
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				_, _ = v.qmp.Execute(ctx, "quit", nil)
				cancel()
			}
			select {
			case <-v.exited:
			case <-time.After(5 * time.Second):
				_ = v.cmd.Process.Kill()
				<-v.exited
			}
		}
	}
	if v.qmp != nil {
		_ = v.qmp.Close()
	}
	if v.agent != nil {
		_ = v.agent.close()
	}
	if v.Net != nil && v.cfg.Network == nil {
		if err := v.Net.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if v.dir != "" && v.cfg.Dir == "" && !v.cfg.KeepDir {
		if err := os.RemoveAll(v.dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
