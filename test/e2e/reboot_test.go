package e2e

import (
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bondstrap/bondstrap/test/initrd"
	"github.com/bondstrap/bondstrap/test/vm"
)

// rebootConfig bonds every virtio NIC (PCI 1af4:1000) in active-backup with DHCP:
// the e1000 the VM also has must stay out. Three parameters are ones systemd 252's
// networkd cannot set (vlan+srcmac, arp_missed_max, ns_ip6_target): a udev rule
// persists them.
const rebootConfig = `network:
  version: 2
  ethernets:
    uplinks:
      match:
        pci-id: "1af4:1000"
  bonds:
    bond0:
      interfaces: [uplinks]
      parameters:
        mode: active-backup
        mii-monitor-interval: 100
        transmit-hash-policy: vlan+srcmac
        arp-missed-max: 5
        ns-ip6-targets: ["2001:db8::1"]
      dhcp4: true
`

// networkdLinks are the links `systemctl enable systemd-networkd` makes: removed
// from the root, as on a Debian or RHEL install, where networkd is off by default.
var networkdLinks = vm.NetworkdEnableLinks

// leaseTime is dnsmasq's shortest: the test waits for the lease bondstrap got to
// expire and checks that systemd-networkd kept it.
const leaseTime = 2 * time.Minute

// bondState is what the guest reports about bond0 on one boot.
type bondState struct {
	Mode    string
	Members []string
	MAC     string
	Addr    netip.Prefix
	Gateway netip.Addr
	Lease   vm.Lease // dnsmasq's, for the bond's MAC
}

// TestPersistAcrossReboot proves that what bondstrap persists brings the same network
// back, and that somebody keeps the lease: a Debian root with systemd, networkd not
// enabled (the distribution's default), boots; bondstrap-firstboot.service bonds the
// two virtio NICs and gets a lease, writes the systemd-networkd units (and the udev
// rule for what networkd cannot set), enables systemd-networkd and marks itself done.
// networkd takes the bond over on that same boot: past the expiry of the 2-minute
// lease bondstrap got, bond0 still has its address, renewed. After a reboot
// bondstrap does not run, and systemd-networkd alone brings bond0 up with the same
// members, MAC, options, address (the same dnsmasq lease) and default route.
func TestPersistAcrossReboot(t *testing.T) {
	root := vm.RequireRoot(t)
	bin := vm.BondstrapBinary(t)
	repo, err := vm.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	unit, err := os.ReadFile(filepath.Join(repo, "initramfs", "systemd", "bondstrap-firstboot.service"))
	if err != nil {
		t.Fatal(err)
	}
	binData, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	start := time.Now()
	dir := t.TempDir()
	disk, err := vm.NewRootDiskRemoving(ctx, root, dir, []initrd.File{
		{Path: "/usr/bin/bondstrap", Data: binData, Mode: 0o755},
		{Path: "/etc/bondstrap/bondstrap.yaml", Data: []byte(rebootConfig), Mode: 0o644},
		{Path: "/etc/systemd/system/bondstrap-firstboot.service", Data: unit, Mode: 0o644},
	}, []vm.Symlink{{ // systemctl enable, as its [Install] section says
		Path:   "/etc/systemd/system/multi-user.target.wants/bondstrap-firstboot.service",
		Target: "/etc/systemd/system/bondstrap-firstboot.service",
	}}, networkdLinks)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("root disk prepared in %v", time.Since(start).Round(time.Millisecond))

	v := vm.New(t, vm.Config{
		NICs:     []vm.NIC{vm.Virtio(10000), vm.Virtio(10000), vm.E1000()},
		Segments: []vm.Segment{{DHCP: &vm.DHCP{LeaseTime: leaseTime}}},
		MemoryMB: 1024,
		Root:     disk,
	})
	members := []string{v.Iface(0), v.Iface(1)}
	slices.Sort(members)

	// Boot 1: bondstrap runs from its unit.
	waitBooted(ctx, t, v)
	fb := unitProps(ctx, t, v, "bondstrap-firstboot.service")
	if fb["Result"] != "success" || fb["ExecMainStatus"] != "0" || fb["ConditionResult"] != "yes" {
		t.Fatalf("boot 1: bondstrap-firstboot.service did not succeed: %v\n%s", fb,
			v.MustRun(t, "journalctl -b -u bondstrap-firstboot.service --no-pager -o cat"))
	}
	v.MustRun(t, "test -e /var/lib/bondstrap/done && test -s /run/bondstrap/report.json")
	t.Logf("boot 1: bondstrap-firstboot.service:\n%s", v.MustRun(t, "journalctl -b -u bondstrap-firstboot.service --no-pager -o short-monotonic"))
	// What systemd itself says about the unit: a bad or deprecated setting is a bug.
	if out := v.MustRun(t, "journalctl -b _PID=1 -p warning --no-pager -o cat | grep -i bondstrap || true"); out != "" {
		t.Errorf("boot 1: systemd warns about the bondstrap unit:\n%s", out)
	}
	t.Logf("boot 1: persisted units:\n%s", v.MustRun(t, "grep -H . /etc/systemd/network/*"))
	provisioned := readReport(t, v, "boot 1")
	first := readBond(ctx, t, v, "boot 1")
	checkBond(t, "boot 1", first, members, v)
	for _, l := range networkdLinks {
		v.MustRun(t, "test -L "+l)
	}
	if state := strings.TrimSpace(v.MustRun(t, "systemctl is-active systemd-networkd.service || true")); state != "active" {
		t.Errorf("boot 1: systemd-networkd is %s: nothing renews the lease", state)
	}
	checkLeaseKept(ctx, t, v, provisioned)

	// Boot 2: the same disk; only systemd-networkd.
	rctx, rcancel := context.WithTimeout(ctx, 5*time.Minute)
	defer rcancel()
	start = time.Now()
	if err := v.Reboot(rctx); err != nil {
		t.Fatalf("reboot: %v", err)
	}
	t.Logf("boot 2: rebooted in %v (agent up at guest uptime %ss)", time.Since(start).Round(time.Millisecond), v.Timings.Uptime)
	waitBooted(ctx, t, v)
	fb = unitProps(ctx, t, v, "bondstrap-firstboot.service")
	if fb["ConditionResult"] != "no" || fb["ExecMainStartTimestampMonotonic"] != "0" {
		t.Errorf("boot 2: bondstrap-firstboot.service ran or was not skipped by its condition: %v", fb)
	}
	// Nor does anything it depends on: a first-boot unit costs later boots nothing.
	if settle := unitProps(ctx, t, v, "systemd-udev-settle.service"); settle["ExecMainStartTimestampMonotonic"] != "0" {
		t.Errorf("boot 2: systemd-udev-settle.service ran: %v", settle)
	}
	if out, code, err := v.Run(ctx, "test ! -e /run/bondstrap/report.json"); err != nil || code != 0 {
		t.Errorf("boot 2: bondstrap left a report in /run: exit %d %v %s", code, err, out)
	}
	second := readBond(ctx, t, v, "boot 2")
	checkBond(t, "boot 2", second, members, v)
	// What networkd cannot set, the udev rule did (sysfs writes, and ip for
	// ns_ip6_target, which has no sysfs file).
	var st struct {
		Bonds []struct {
			Parameters map[string]string `json:"parameters"`
		} `json:"bonds"`
	}
	if err := json.Unmarshal([]byte(v.MustRun(t, "bondstrap status -o json")), &st); err != nil || len(st.Bonds) != 1 {
		t.Fatalf("boot 2: status: %v", err)
	}
	for key, want := range map[string]string{"transmit-hash-policy": "vlan+srcmac", "arp-missed-max": "5", "ns-ip6-targets": "2001:db8::1"} {
		if got := st.Bonds[0].Parameters[key]; got != want {
			t.Errorf("boot 2: bond0 %s is %q, want %q (udev rule 10-bondstrap-bond0.rules)\n%s", key, got, want,
				v.MustRun(t, "cat /etc/udev/rules.d/10-bondstrap-bond0.rules; journalctl -b -u systemd-udevd --no-pager -o cat | tail -20"))
		}
	}

	if second.MAC != first.MAC || second.Addr != first.Addr || second.Gateway != first.Gateway || second.Mode != first.Mode {
		t.Errorf("bond0 differs across the reboot:\nboot 1: %+v\nboot 2: %+v", first, second)
	}
	if second.Lease.IP != first.Lease.IP || second.Lease.ClientID != first.Lease.ClientID {
		t.Errorf("dnsmasq lease differs across the reboot:\nboot 1: %+v\nboot 2: %+v", first.Lease, second.Lease)
	}
	// The point of persisting the bond's MAC and the client id: the lease bondstrap
	// got while provisioning is the one systemd-networkd gets back, not merely some
	// lease for the persisted MAC.
	if provisioned.MAC != second.MAC || provisioned.ClientID != second.Lease.ClientID || provisioned.Addr != second.Addr {
		t.Errorf("bondstrap provisioned bond0 with MAC %s, client id %s, %v; after the reboot it has MAC %s, client id %s, %v",
			provisioned.MAC, provisioned.ClientID, provisioned.Addr, second.MAC, second.Lease.ClientID, second.Addr)
		// A bond made while udev runs gets a MAC from udev's MACAddressPolicy=persistent
		// (99-default.link) unless its creator sets one; then enslaving keeps it.
		t.Logf("a bond created by hand here: %s", v.MustRun(t, `ip link add bondprobe type bond && udevadm settle &&
echo "MAC $(cat /sys/class/net/bondprobe/address), addr_assign_type $(cat /sys/class/net/bondprobe/addr_assign_type)"; ip link del bondprobe`))
	}
	t.Logf("same network on both boots: bond0 %s (%s) over %v, %s via %s; lease client id %s",
		second.MAC, second.Mode, second.Members, second.Addr, second.Gateway, second.Lease.ClientID)
}

// checkLeaseKept waits until the lease bondstrap got has expired, then checks that
// bond0 still has the address with time to live, and that dnsmasq renewed it.
func checkLeaseKept(ctx context.Context, t *testing.T, v *vm.VM, p provisioning) {
	t.Helper()
	var rep struct {
		Bonds []struct {
			Address *struct {
				Lease *struct {
					Seconds  int64     `json:"lease_seconds"`
					Obtained time.Time `json:"obtained"`
				} `json:"lease"`
			} `json:"address"`
		} `json:"bonds"`
	}
	if err := json.Unmarshal([]byte(v.MustRun(t, "cat /run/bondstrap/report.json")), &rep); err != nil || len(rep.Bonds) == 0 ||
		rep.Bonds[0].Address == nil || rep.Bonds[0].Address.Lease == nil {
		t.Fatalf("boot 1: no lease in the report: %v", err)
	}
	l := rep.Bonds[0].Address.Lease
	if l.Seconds != int64(leaseTime/time.Second) {
		t.Fatalf("boot 1: bondstrap's lease is %ds, want dnsmasq's %s", l.Seconds, leaseTime)
	}
	// The guest's clock and this one agree to the second; wait past the expiry.
	expiry := l.Obtained.Add(leaseTime + 5*time.Second)
	t.Logf("boot 1: bondstrap's lease expires at %s; waiting %s", expiry.Format(time.TimeOnly), time.Until(expiry).Round(time.Second))
	select {
	case <-time.After(time.Until(expiry)):
	case <-ctx.Done():
		t.Fatal(ctx.Err())
	}
	var addrs []struct {
		AddrInfo []struct {
			Local string `json:"local"`
			Valid int64  `json:"valid_life_time"`
		} `json:"addr_info"`
	}
	out := v.MustRun(t, "ip -j -4 addr show dev bond0")
	if err := json.Unmarshal([]byte(out), &addrs); err != nil {
		t.Fatal(err)
	}
	kept := false
	for _, a := range addrs {
		for _, ai := range a.AddrInfo {
			if ai.Local == p.Addr.Addr().String() && ai.Valid > 0 {
				kept = true
				t.Logf("boot 1: after the lease bondstrap got expired, bond0 has %s valid for %ds more", ai.Local, ai.Valid)
			}
		}
	}
	if !kept {
		t.Errorf("boot 1: the lease expired and nobody kept it: bond0 %s", out)
	}
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	lease, err := v.Net.WaitLease(lctx, 0, p.MAC)
	if err != nil {
		t.Fatal(err)
	}
	if !lease.Expiry.After(l.Obtained.Add(leaseTime)) {
		t.Errorf("boot 1: dnsmasq's lease for %s ends %s: not renewed past bondstrap's", p.MAC, lease.Expiry)
	}
}

// waitBooted waits for systemd to finish booting (an event in systemd, not a poll
// here) and for systemd-networkd to make bond0 routable.
func waitBooted(ctx context.Context, t *testing.T, v *vm.VM) {
	t.Helper()
	start := time.Now()
	bctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	r, err := v.Exec(bctx, "systemctl is-system-running --wait; systemctl --failed --no-legend --no-pager")
	if err != nil {
		t.Fatalf("waiting for the boot to finish: %v", err)
	}
	if state, failed, _ := strings.Cut(r.Stdout, "\n"); state != "running" {
		t.Errorf("system state %q after boot; failed units:\n%s", state, failed)
	}
	booted := time.Since(start)
	r, err = v.Exec(bctx, "/lib/systemd/systemd-networkd-wait-online --interface=bond0:routable --ipv4 --timeout=90")
	if err != nil || r.Exit != 0 {
		t.Fatalf("bond0 not routable: exit %d %v\n%s%s\nnetworkctl:\n%s", r.Exit, err, r.Stdout, r.Stderr,
			v.MustRun(t, "networkctl list --no-pager; journalctl -b -u systemd-networkd --no-pager -o cat | tail -n 30"))
	}
	up, _, _ := v.Run(bctx, "cut -d' ' -f1 /proc/uptime")
	t.Logf("systemd booted %v after the agent, bond0 routable %v later (guest uptime %ss)",
		booted.Round(time.Millisecond), (time.Since(start) - booted).Round(time.Millisecond), strings.TrimSpace(up))
}

// unitProps returns properties of a systemd unit in the guest.
func unitProps(ctx context.Context, t *testing.T, v *vm.VM, unit string) map[string]string {
	t.Helper()
	out := v.MustRun(t, "systemctl show -p ActiveState,Result,ExecMainStatus,ConditionResult,ExecMainStartTimestampMonotonic "+unit)
	props := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if k, val, ok := strings.Cut(line, "="); ok {
			props[k] = val
		}
	}
	return props
}

// readBond reads bond0 from the guest (sysfs, ip -j, networkctl) and its lease from
// the host's dnsmasq.
func readBond(ctx context.Context, t *testing.T, v *vm.VM, boot string) bondState {
	t.Helper()
	var s bondState
	mode := v.MustRun(t, "cat /sys/class/net/bond0/bonding/mode")
	s.Mode, _, _ = strings.Cut(strings.TrimSpace(mode), " ")
	s.Members = strings.Fields(v.MustRun(t, "cat /sys/class/net/bond0/bonding/slaves"))
	slices.Sort(s.Members)
	s.MAC = strings.TrimSpace(v.MustRun(t, "cat /sys/class/net/bond0/address"))

	var addrs []struct {
		AddrInfo []struct {
			Family    string `json:"family"`
			Local     string `json:"local"`
			Prefixlen int    `json:"prefixlen"`
		} `json:"addr_info"`
	}
	out := v.MustRun(t, "ip -j -4 addr show dev bond0")
	if err := json.Unmarshal([]byte(out), &addrs); err != nil {
		t.Fatalf("%s: ip -j addr: %v: %s", boot, err, out)
	}
	for _, a := range addrs {
		for _, ai := range a.AddrInfo {
			if ip, err := netip.ParseAddr(ai.Local); err == nil && ai.Family == "inet" {
				if s.Addr.IsValid() {
					t.Errorf("%s: bond0 has more than one IPv4 address: %s", boot, out)
				}
				s.Addr = netip.PrefixFrom(ip, ai.Prefixlen)
			}
		}
	}
	var routes []struct {
		Gateway string `json:"gateway"`
		Dev     string `json:"dev"`
	}
	out = v.MustRun(t, "ip -j -4 route show default")
	if err := json.Unmarshal([]byte(out), &routes); err != nil {
		t.Fatalf("%s: ip -j route: %v: %s", boot, err, out)
	}
	if len(routes) != 1 || routes[0].Dev != "bond0" {
		t.Errorf("%s: default routes %s, want one via bond0", boot, out)
	} else if gw, err := netip.ParseAddr(routes[0].Gateway); err != nil {
		t.Errorf("%s: default route gateway: %v", boot, err)
	} else {
		s.Gateway = gw
	}

	links := v.MustRun(t, "networkctl list --no-pager --no-legend")
	t.Logf("%s: networkctl list:\n%s", boot, links)
	for _, want := range append([]string{"bond0"}, s.Members...) {
		setup := ""
		for _, line := range strings.Split(links, "\n") {
			if f := strings.Fields(line); len(f) >= 5 && f[1] == want {
				setup = f[4]
			}
		}
		if setup != "configured" {
			t.Errorf("%s: networkctl: %s is %q, want configured by systemd-networkd", boot, want, setup)
		}
	}

	lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	lease, err := v.Net.WaitLease(lctx, 0, s.MAC)
	if err != nil {
		t.Fatalf("%s: %v", boot, err)
	}
	s.Lease = lease
	return s
}

// checkBond checks one boot's bond0 against the config and dnsmasq.
func checkBond(t *testing.T, boot string, s bondState, members []string, v *vm.VM) {
	t.Helper()
	if s.Mode != "active-backup" {
		t.Errorf("%s: bond0 mode %q, want active-backup", boot, s.Mode)
	}
	if !slices.Equal(s.Members, members) {
		t.Errorf("%s: bond0 members %v, want the two virtio NICs %v (not the e1000 %s)", boot, s.Members, members, v.Iface(2))
	}
	// The bond carries the first member's permanent MAC, whatever order the kernel
	// enslaved them in.
	if s.MAC != v.NICs[0].MAC {
		t.Errorf("%s: bond0 MAC %s, want the first virtio NIC's %s", boot, s.MAC, v.NICs[0].MAC)
	}
	if want := "01:" + s.MAC; s.Lease.ClientID != want {
		t.Errorf("%s: lease client id %q, want %q (type 1, the bond's MAC)", boot, s.Lease.ClientID, want)
	}
	if !s.Addr.IsValid() || s.Addr.Addr() != s.Lease.IP {
		t.Errorf("%s: bond0 address %v, dnsmasq leased %v", boot, s.Addr, s.Lease.IP)
	}
	if host := v.Net.HostAddr(0); s.Gateway != host {
		t.Errorf("%s: default gateway %v, want the DHCP server's router %v", boot, s.Gateway, host)
	}
}

// provisioning is what bondstrap reports it did to bond0 on the first boot.
type provisioning struct {
	MAC      string
	ClientID string
	Addr     netip.Prefix
}

// readReport reads bondstrap's report of this boot, /run/bondstrap/report.json.
func readReport(t *testing.T, v *vm.VM, boot string) provisioning {
	t.Helper()
	out := v.MustRun(t, "cat /run/bondstrap/report.json")
	var rep struct {
		Bonds []struct {
			Name    string `json:"name"`
			MAC     string `json:"mac"`
			Address *struct {
				Lease *struct {
					ClientID string `json:"client_id"`
					Address  string `json:"address"`
				} `json:"lease"`
			} `json:"address"`
		} `json:"bonds"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%s: report.json: %v\n%s", boot, err, out)
	}
	for _, b := range rep.Bonds {
		if b.Name != "bond0" || b.Address == nil || b.Address.Lease == nil {
			continue
		}
		p := provisioning{MAC: b.MAC, ClientID: b.Address.Lease.ClientID}
		var err error
		if p.Addr, err = netip.ParsePrefix(b.Address.Lease.Address); err != nil {
			t.Fatalf("report.json: lease address: %v", err)
		}
		t.Logf("%s: bondstrap provisioned bond0 with MAC %s, client id %s: %v", boot, p.MAC, p.ClientID, p.Addr)
		return p
	}
	t.Fatalf("%s: report.json has no DHCP lease for bond0:\n%s", boot, out)
	return provisioning{}
}
