package vm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type dnsmasq struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

func (n *Network) leaseFile(seg int) string {
	return filepath.Join(n.dir, fmt.Sprintf("dnsmasq-%s.leases", n.segs[seg].bridge))
}

func (n *Network) dhcpLog(seg int) string {
	return filepath.Join(n.dir, fmt.Sprintf("dnsmasq-%s.log", n.segs[seg].bridge))
}

// DHCPLog returns what segment seg's dnsmasq has logged so far (with --log-dhcp).
func (n *Network) DHCPLog(seg int) string {
	b, _ := os.ReadFile(n.dhcpLog(seg))
	return string(b)
}

// StartDHCP starts dnsmasq on segment seg and returns once it serves. The lease file
// survives StopDHCP, so a restarted server remembers its leases.
func (n *Network) StartDHCP(ctx context.Context, seg int) error {
	if seg < 0 || seg >= len(n.segs) {
		return fmt.Errorf("network: no segment %d", seg)
	}
	s := n.segs[seg]
	if s.cfg.DHCP == nil {
		return fmt.Errorf("network: segment %d has no DHCP configuration", seg)
	}
	if s.dhcp != nil {
		return fmt.Errorf("network: DHCP already running on segment %d", seg)
	}
	args, err := dnsmasqArgs(s.cfg, s.bridge, n.leaseFile(seg), n.dhcpLog(seg))
	if err != nil {
		return fmt.Errorf("network: segment %d: %w", seg, err)
	}
	logPath := n.dhcpLog(seg)
	before, _ := os.ReadFile(logPath)

	cmd := exec.Command("ip", append([]string{"netns", "exec", n.Name, "dnsmasq"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("network: dnsmasq: %w", err)
	}
	d := &dnsmasq{cmd: cmd, done: make(chan struct{})}
	go func() { d.err = cmd.Wait(); close(d.done) }()
	s.dhcp = d

	// dnsmasq logs its DHCP range once its sockets are bound.
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	err = pollUntil(ctx, 20*time.Millisecond, func() (bool, error) {
		select {
		case <-d.done:
			return false, fmt.Errorf("dnsmasq exited: %v: %s", d.err, bytes.TrimSpace(stderr.Bytes()))
		default:
		}
		b, _ := os.ReadFile(logPath)
		return len(b) > len(before) && bytes.Contains(b[len(before):], []byte("DHCP, IP range")), nil
	})
	if err != nil {
		_ = n.StopDHCP(seg)
		return fmt.Errorf("network: segment %d: %w", seg, err)
	}
	n.log.Info("dhcp server started", "netns", n.Name, "bridge", s.bridge, "pid", cmd.Process.Pid)
	return nil
}

// StopDHCP stops segment seg's dnsmasq, if running.
func (n *Network) StopDHCP(seg int) error {
	if seg < 0 || seg >= len(n.segs) {
		return fmt.Errorf("network: no segment %d", seg)
	}
	s := n.segs[seg]
	d := s.dhcp
	if d == nil {
		return nil
	}
	s.dhcp = nil
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(5 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.done
	}
	n.log.Info("dhcp server stopped", "netns", n.Name, "bridge", s.bridge)
	return nil
}

func dnsmasqArgs(s Segment, bridge, leases, logFile string) ([]string, error) {
	d := s.DHCP
	host := s.Host.Addr()
	if !host.Is4() {
		return nil, fmt.Errorf("host address %s is not IPv4", host)
	}
	start, end := d.Start, d.End
	if !start.IsValid() || !end.IsValid() {
		if s.Host.Bits() > 24 {
			return nil, fmt.Errorf("give a DHCP range for %s", s.Host)
		}
		base := s.Host.Masked().Addr().As4()
		base[3] = 100
		start = netip.AddrFrom4(base)
		base[3] = 199
		end = netip.AddrFrom4(base)
	}
	lease := d.LeaseTime
	if lease == 0 {
		lease = time.Hour
	}
	mask := net.IP(net.CIDRMask(s.Host.Bits(), 32)).String()
	args := []string{
		"--keep-in-foreground",
		"--conf-file=/dev/null",
		"--no-resolv", "--no-hosts",
		"--port=0", // DHCP only
		"--user=root", "--group=root",
		"--bind-interfaces", "--interface=" + bridge, "--except-interface=lo",
		"--dhcp-authoritative",
		"--no-ping", // no 3 s ICMP probe of each new address: the segment is ours
		fmt.Sprintf("--dhcp-range=%s,%s,%s,%ds", start, end, mask, int(lease.Seconds())),
		"--dhcp-leasefile=" + leases,
		"--pid-file=" + strings.TrimSuffix(leases, ".leases") + ".pid",
		"--log-dhcp", "--log-facility=" + logFile,
	}
	// dnsmasq sends its own address as router and DNS server unless told otherwise;
	// an option with no value suppresses it.
	switch {
	case d.NoRouter:
		args = append(args, "--dhcp-option=option:router")
	case d.Router.IsValid():
		args = append(args, "--dhcp-option=option:router,"+d.Router.String())
	default:
		args = append(args, "--dhcp-option=option:router,"+host.String())
	}
	switch {
	case d.NoDNS:
		args = append(args, "--dhcp-option=option:dns-server")
	case len(d.DNS) > 0:
		var ss []string
		for _, a := range d.DNS {
			ss = append(ss, a.String())
		}
		args = append(args, "--dhcp-option=option:dns-server,"+strings.Join(ss, ","))
	default:
		args = append(args, "--dhcp-option=option:dns-server,"+host.String())
	}
	if d.MTU != 0 {
		args = append(args, "--dhcp-option=option:mtu,"+strconv.Itoa(d.MTU))
	}
	if len(d.ClasslessRoutes) > 0 {
		var ss []string
		for _, r := range d.ClasslessRoutes {
			ss = append(ss, r.Dst.String(), r.Via.String())
		}
		args = append(args, "--dhcp-option=option:classless-static-route,"+strings.Join(ss, ","))
	}
	return append(args, d.Args...), nil
}

// Lease is one line of dnsmasq's lease file.
type Lease struct {
	Expiry   time.Time
	MAC      string // lower case, colon separated
	IP       netip.Addr
	Hostname string // "" when the client sent none
	ClientID string // hex, colon separated; "" when the client sent none
}

// Leases reads segment seg's lease file. No file yet means no leases.
func (n *Network) Leases(seg int) ([]Lease, error) {
	if seg < 0 || seg >= len(n.segs) {
		return nil, fmt.Errorf("network: no segment %d", seg)
	}
	b, err := os.ReadFile(n.leaseFile(seg))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("network: leases: %w", err)
	}
	return parseLeases(string(b))
}

func parseLeases(s string) ([]Lease, error) {
	var leases []Lease
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] == "duid" {
			continue
		}
		if len(f) < 5 {
			return nil, fmt.Errorf("lease line %q: want 5 fields", line)
		}
		exp, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("lease line %q: %w", line, err)
		}
		ip, err := netip.ParseAddr(f[2])
		if err != nil {
			return nil, fmt.Errorf("lease line %q: %w", line, err)
		}
		l := Lease{Expiry: time.Unix(exp, 0), MAC: strings.ToLower(f[1]), IP: ip}
		if f[3] != "*" {
			l.Hostname = f[3]
		}
		if f[4] != "*" {
			l.ClientID = strings.ToLower(f[4])
		}
		leases = append(leases, l)
	}
	return leases, nil
}

// WaitLease waits until segment seg's dnsmasq has leased an address to mac.
func (n *Network) WaitLease(ctx context.Context, seg int, mac string) (Lease, error) {
	var found Lease
	mac = strings.ToLower(mac)
	err := pollUntil(ctx, 50*time.Millisecond, func() (bool, error) {
		leases, err := n.Leases(seg)
		if err != nil {
			return false, err
		}
		for _, l := range leases {
			if l.MAC == mac {
				found = l
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return Lease{}, fmt.Errorf("network: lease for %s on segment %d: %w", mac, seg, err)
	}
	return found, nil
}

// pollUntil calls cond every interval until it returns true or an error, or ctx ends.
// Only for state that has no event to wait on (files written by other processes).
func pollUntil(ctx context.Context, interval time.Duration, cond func() (bool, error)) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
