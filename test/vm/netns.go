package vm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vishvananda/netns"
)

// Segment is one L2 segment of a VM's network: a bridge in the VM's namespace that
// the taps of the guest NICs on this segment join, with a host address and an
// optional DHCP server.
type Segment struct {
	// Host is the host's address and prefix on the bridge. Default by segment index:
	// 192.0.2.1/24, 198.51.100.1/24, 203.0.113.1/24 (the TEST-NETs).
	Host netip.Prefix
	// DHCP configures dnsmasq on this segment; nil means no DHCP server.
	DHCP *DHCP
}

// DHCP configures the dnsmasq that serves a segment.
type DHCP struct {
	// Start and End bound the pool; default .100 to .199 of the segment's /24.
	Start, End netip.Addr
	// LeaseTime is the lease duration; default 1h (dnsmasq's minimum is 2m).
	LeaseTime time.Duration
	// Router is the router option; default the host address. NoRouter sends none.
	Router   netip.Addr
	NoRouter bool
	// DNS are the DNS server option's addresses; default the host address.
	// NoDNS sends none. (No DNS server answers: dnsmasq runs with port=0.)
	DNS   []netip.Addr
	NoDNS bool
	// MTU, when non-zero, is sent as the interface MTU option (26).
	MTU int
	// ClasslessRoutes are sent as option 121.
	ClasslessRoutes []Route
	// Args are extra dnsmasq arguments.
	Args []string
}

// Route is a destination prefix and next hop.
type Route struct {
	Dst netip.Prefix
	Via netip.Addr
}

var defaultHosts = []netip.Prefix{
	netip.MustParsePrefix("192.0.2.1/24"),
	netip.MustParsePrefix("198.51.100.1/24"),
	netip.MustParsePrefix("203.0.113.1/24"),
}

// Network is a network namespace made for one VM: bridges, taps, host addresses and
// DHCP servers. Close removes it with everything running inside.
type Network struct {
	// Name is the namespace's name (ip netns).
	Name string

	dir  string
	log  *slog.Logger
	segs []*segment
	taps []string

	mu        sync.Mutex
	closeOnce sync.Once
}

type segment struct {
	cfg    Segment
	bridge string
	dhcp   *dnsmasq
}

const nsPrefix = "bstvm-"

var nsSeq atomic.Int32

// NewNetwork makes a namespace with one bridge per segment; dir receives dnsmasq's
// files. DHCP servers are started by StartDHCP (VM.Start starts them all). On error
// nothing is left behind.
func NewNetwork(ctx context.Context, dir string, segs []Segment, log *slog.Logger) (*Network, error) {
	if log == nil {
		log = slog.Default()
	}
	if len(segs) > len(defaultHosts) {
		return nil, fmt.Errorf("network: at most %d segments", len(defaultHosts))
	}
	sweepStale(ctx, log)
	n := &Network{
		Name: fmt.Sprintf("%s%d-%d", nsPrefix, os.Getpid(), nsSeq.Add(1)),
		dir:  dir,
		log:  log,
	}
	if err := run(ctx, "ip", "netns", "add", n.Name); err != nil {
		return nil, fmt.Errorf("network: %w", err)
	}
	if err := n.setup(ctx, segs); err != nil {
		n.Close()
		return nil, fmt.Errorf("network %s: %w", n.Name, err)
	}
	log.Info("network ready", "netns", n.Name, "segments", len(segs))
	return n, nil
}

func (n *Network) setup(ctx context.Context, segs []Segment) error {
	if err := n.ip(ctx, "link", "set", "lo", "up"); err != nil {
		return err
	}
	for i, s := range segs {
		if !s.Host.IsValid() {
			s.Host = defaultHosts[i]
		}
		seg := &segment{cfg: s, bridge: fmt.Sprintf("br%d", i)}
		// No STP and no forwarding delay: a port forwards as soon as its tap is up.
		if err := n.ip(ctx, "link", "add", seg.bridge, "type", "bridge", "stp_state", "0", "forward_delay", "0"); err != nil {
			return err
		}
		if err := n.ip(ctx, "addr", "add", s.Host.String(), "dev", seg.bridge); err != nil {
			return err
		}
		if err := n.ip(ctx, "link", "set", seg.bridge, "up"); err != nil {
			return err
		}
		n.segs = append(n.segs, seg)
	}
	return nil
}

// AddTap creates a tap device on segment seg's bridge and returns its name.
func (n *Network) AddTap(ctx context.Context, seg int) (string, error) {
	if seg < 0 || seg >= len(n.segs) {
		return "", fmt.Errorf("network: no segment %d", seg)
	}
	n.mu.Lock()
	name := fmt.Sprintf("tap%d", len(n.taps))
	n.taps = append(n.taps, name)
	n.mu.Unlock()
	if err := n.ip(ctx, "tuntap", "add", "dev", name, "mode", "tap"); err != nil {
		return "", err
	}
	if err := n.ip(ctx, "link", "set", name, "master", n.segs[seg].bridge, "up"); err != nil {
		return "", err
	}
	return name, nil
}

// Bridge returns the name of segment seg's bridge in the namespace.
func (n *Network) Bridge(seg int) string { return n.segs[seg].bridge }

// HostAddr returns the host's address on segment seg.
func (n *Network) HostAddr(seg int) netip.Addr { return n.segs[seg].cfg.Host.Addr() }

// Segment returns segment seg's configuration with defaults filled in.
func (n *Network) Segment(seg int) Segment { return n.segs[seg].cfg }

// inNamespace runs f on a thread that is in the namespace, then gives the
// thread back: a socket f makes belongs to the namespace for good, and is
// served from any goroutine.
func (n *Network) inNamespace(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- err
			return
		}
		target, err := netns.GetFromName(n.Name)
		if err != nil {
			errc <- err
			return
		}
		defer target.Close()
		if err := netns.Set(target); err != nil {
			errc <- err
			return
		}
		err = f()
		if serr := netns.Set(orig); serr != nil {
			errc <- fmt.Errorf("cannot return to the test's namespace: %w", serr)
			return // the thread stays locked and dies with the goroutine
		}
		orig.Close()
		runtime.UnlockOSThread()
		errc <- err
	}()
	return <-errc
}

// Listen listens on a TCP address of the namespace (a host address of a
// segment), for a server the test runs in its own process.
func (n *Network) Listen(addr string) (net.Listener, error) {
	var l net.Listener
	err := n.inNamespace(func() error {
		var err error
		l, err = net.Listen("tcp", addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("netns %s: listen on %s: %w", n.Name, addr, err)
	}
	return l, nil
}

// Command returns a command that runs in the namespace.
func (n *Network) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
}

// Run runs a command in the namespace and returns its combined output.
func (n *Network) Run(ctx context.Context, name string, args ...string) (string, error) {
	out, err := n.Command(ctx, name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("netns %s: %s %s: %w: %s", n.Name, name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

func (n *Network) ip(ctx context.Context, args ...string) error {
	return run(ctx, "ip", append([]string{"-n", n.Name}, args...)...)
}

// Close stops the DHCP servers, kills whatever else still runs in the namespace and
// deletes it. It is safe to call more than once.
func (n *Network) Close() error {
	var errs []error
	n.closeOnce.Do(func() {
		for i := range n.segs {
			if err := n.StopDHCP(i); err != nil {
				errs = append(errs, err)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		killNetns(ctx, n.Name)
		if err := run(ctx, "ip", "netns", "del", n.Name); err != nil {
			errs = append(errs, err)
		}
		n.log.Info("network removed", "netns", n.Name)
	})
	return errors.Join(errs...)
}

// killNetns kills the processes left in a namespace (they are the harness's own:
// QEMU and dnsmasq) so that deleting it frees the taps.
func killNetns(ctx context.Context, ns string) {
	out, err := exec.CommandContext(ctx, "ip", "netns", "pids", ns).Output()
	if err != nil {
		return
	}
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// sweepStale deletes namespaces that an earlier, killed test process of this harness
// left behind (named bstvm-<pid>-<n> with <pid> gone).
func sweepStale(ctx context.Context, log *slog.Logger) {
	out, err := exec.CommandContext(ctx, "ip", "netns", "list").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 || !strings.HasPrefix(fields[0], nsPrefix) {
			continue
		}
		name := fields[0]
		pidStr, _, _ := strings.Cut(strings.TrimPrefix(name, nsPrefix), "-")
		pid, err := strconv.Atoi(pidStr)
		if err != nil || pid == os.Getpid() {
			continue
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
			continue
		}
		log.Info("removing stale namespace", "netns", name)
		killNetns(ctx, name)
		_ = run(ctx, "ip", "netns", "del", name)
	}
}

func run(ctx context.Context, name string, args ...string) error {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// PingStats is what ping reports at its end.
type PingStats struct {
	Sent, Received int
	Output         string
}

// Lost is the number of unanswered echo requests.
func (p PingStats) Lost() int { return p.Sent - p.Received }

// Ping pings addr from the namespace: count echo requests, one every interval
// (ping allows root intervals down to 2 ms), each reply waited for at most 1 s.
// A ping that ran but lost packets is not an error: read the stats.
func (n *Network) Ping(ctx context.Context, addr netip.Addr, count int, interval time.Duration) (PingStats, error) {
	args := []string{"-n", "-q", "-c", strconv.Itoa(count), "-i", strconv.FormatFloat(interval.Seconds(), 'f', 3, 64), "-W", "1", addr.String()}
	out, err := n.Command(ctx, "ping", args...).CombinedOutput()
	st := PingStats{Output: string(out)}
	for _, line := range strings.Split(st.Output, "\n") {
		// "500 packets transmitted, 498 received, 0.4% packet loss, time 5012ms"
		if strings.Contains(line, "packets transmitted") {
			_, perr := fmt.Sscanf(line, "%d packets transmitted, %d received", &st.Sent, &st.Received)
			if perr == nil {
				return st, nil
			}
		}
	}
	if err == nil {
		err = errors.New("no summary")
	}
	return st, fmt.Errorf("ping %s in %s: %w: %s", addr, n.Name, err, out)
}
