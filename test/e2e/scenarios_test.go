package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bondstrap/bondstrap/detect"
	"github.com/bondstrap/bondstrap/stages"
	"github.com/bondstrap/bondstrap/test/initrd"
	"github.com/bondstrap/bondstrap/test/vm"
)

// The scenarios of issue 3: bondstrap apply on a real kernel, in a QEMU guest
// with emulated NICs of distinct PCI IDs and speeds, against a real DHCP
// server (dnsmasq) in a namespace the test makes. Each asserts on what the
// guest and the DHCP server report, not on log lines.

const configPath = "/etc/bondstrap/bondstrap.yaml"

// boot starts a VM with bondstrap installed and config as its config file.
func boot(t *testing.T, cfg vm.Config, config string) *vm.VM {
	t.Helper()
	cfg.Bondstrap = vm.BondstrapBinary(t)
	cfg.Files = append(cfg.Files, initrd.File{Path: configPath, Data: []byte(config), Mode: 0o644})
	return vm.New(t, cfg)
}

// threeNICs is the scenario-1 machine: two virtio 10G and one e1000.
func threeNICs() []vm.NIC {
	return []vm.NIC{vm.Virtio(10000), vm.Virtio(10000), vm.E1000()}
}

// apply runs bondstrap apply in the guest and returns its result; the caller
// asserts on the exit status.
func apply(t *testing.T, v *vm.VM, args ...string) vm.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	r, err := v.Exec(ctx, "bondstrap apply -c "+configPath+" "+strings.Join(args, " "))
	if err != nil {
		t.Fatalf("bondstrap apply: %v", err)
	}
	t.Logf("bondstrap apply: exit %d\n%s", r.Exit, r.Stdout)
	return r
}

func mustApply(t *testing.T, v *vm.VM, args ...string) vm.Result {
	t.Helper()
	r := apply(t, v, args...)
	if r.Exit != 0 {
		t.Fatalf("bondstrap apply: exit %d\nstderr:\n%s", r.Exit, tailLines(r.Stderr, 40))
	}
	return r
}

// status reads `bondstrap status -o json` in the guest.
func status(t *testing.T, v *vm.VM) map[string]detect.BondStatus {
	t.Helper()
	var st struct {
		Bonds []detect.BondStatus `json:"bonds"`
	}
	if err := json.Unmarshal([]byte(v.MustRun(t, "bondstrap status -o json")), &st); err != nil {
		t.Fatalf("status -o json: %v", err)
	}
	m := make(map[string]detect.BondStatus)
	for _, b := range st.Bonds {
		m[b.Name] = b
	}
	return m
}

// report reads the JSON report apply left in the guest.
func report(t *testing.T, v *vm.VM) stages.Report {
	t.Helper()
	var r stages.Report
	if err := json.Unmarshal([]byte(v.MustRun(t, "cat /run/bondstrap/report.json")), &r); err != nil {
		t.Fatalf("report.json: %v", err)
	}
	return r
}

func memberNames(b detect.BondStatus) []string {
	var names []string
	for _, m := range b.Members {
		names = append(names, m.Name)
	}
	slices.Sort(names)
	return names
}

func member(t *testing.T, b detect.BondStatus, name string) detect.MemberStatus {
	t.Helper()
	for _, m := range b.Members {
		if m.Name == name {
			return m
		}
	}
	t.Fatalf("%s has no member %s: %+v", b.Name, name, b.Members)
	return detect.MemberStatus{}
}

func hasAddr(b detect.BondStatus, prefix string) bool {
	return slices.Contains(b.Addresses, prefix)
}

// linkState is each NIC's flags, MTU and master as the guest's ip shows them:
// what "the NICs as apply found them" compares.
func linkState(t *testing.T, v *vm.VM) map[string]string {
	t.Helper()
	out := v.MustRun(t, "ip -o link show")
	state := make(map[string]string)
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		// "2: eth0: <BROADCAST,MULTICAST> mtu 1500 qdisc noop qlen 1000\    link/ether ..."
		fields := strings.Fields(line)
		if len(fields) < 3 {
			continue
		}
		name := strings.TrimSuffix(fields[1], ":")
		if i := strings.Index(line, "link/"); i > 0 {
			line = line[:i]
		}
		// The qdisc a NIC gets when first brought up stays: not state apply owns.
		line = strings.Join(slices.DeleteFunc(strings.Fields(line)[2:], func(f string) bool {
			return f == "qdisc" || f == "noop" || f == "fq_codel" || f == "noqueue" || f == "pfifo_fast"
		}), " ")
		state[name] = line
	}
	return state
}

// units reads the networkd units apply wrote under root in the guest.
func units(t *testing.T, v *vm.VM, root string) map[string]string {
	t.Helper()
	return unitsIn(t, v, strings.TrimSuffix(root, "/")+"/etc/systemd/network")
}

// runtimeUnits reads the networkd units apply wrote for this boot only.
func runtimeUnits(t *testing.T, v *vm.VM) map[string]string {
	t.Helper()
	return unitsIn(t, v, "/run/systemd/network")
}

func unitsIn(t *testing.T, v *vm.VM, dir string) map[string]string {
	t.Helper()
	out := v.MustRun(t, "ls "+dir+" 2>/dev/null || true")
	files := make(map[string]string)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, name := range strings.Fields(out) {
		data, err := v.ReadFile(ctx, dir+"/"+name)
		if err != nil {
			t.Fatal(err)
		}
		files[name] = string(data)
	}
	return files
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Scenario 1: a rule by PCI ID and min-speed bonds exactly the two virtio
// NICs in active-backup; DHCP address and default route from dnsmasq; the
// units on disk match the plan; a second run changes nothing.
func TestScenarioDHCPBondByPCIID(t *testing.T) {
	v := boot(t, vm.Config{NICs: threeNICs()}, `
network:
  version: 2
  ethernets:
    fast:
      match: {pci-id: "1af4:1000", min-speed: 10000}
  bonds:
    bond0:
      interfaces: [fast]
      parameters: {mode: active-backup, mii-monitor-interval: 100, primary: fast}
      dhcp4: true
bondstrap:
  link-timeout: 20s
  dhcp-timeout: 30s
`)
	eth0, eth1, eth2 := v.Iface(0), v.Iface(1), v.Iface(2)
	mustApply(t, v)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	lease, err := v.Net.WaitLease(ctx, 0, v.NICs[0].MAC)
	if err != nil {
		t.Fatalf("dnsmasq has no lease for the bond's MAC %s: %v", v.NICs[0].MAC, err)
	}
	if want := "01:" + v.NICs[0].MAC; lease.ClientID != want {
		t.Errorf("lease client id %q, want %q (01 + the bond's MAC)", lease.ClientID, want)
	}

	b, ok := status(t, v)["bond0"]
	if !ok {
		t.Fatal("no bond0 in status")
	}
	if b.Mode != "active-backup" {
		t.Errorf("mode %s, want active-backup", b.Mode)
	}
	if got, want := memberNames(b), []string{eth0, eth1}; !slices.Equal(got, want) {
		t.Errorf("members %v, want the two virtio NICs %v (not the e1000 %s)", got, want, eth2)
	}
	if b.ActiveMember != eth0 || b.Primary != eth0 {
		t.Errorf("active %q primary %q, want %s (first in PCI order)", b.ActiveMember, b.Primary, eth0)
	}
	if b.MAC != v.NICs[0].MAC {
		t.Errorf("bond MAC %s, want its first member's %s", b.MAC, v.NICs[0].MAC)
	}
	if b.Parameters["mii-monitor-interval"] != "100ms" {
		t.Errorf("miimon %q, want 100ms", b.Parameters["mii-monitor-interval"])
	}
	for _, m := range b.Members {
		if m.SpeedMbps != 10000 || m.MIIStatus != "up" {
			t.Errorf("member %s: speed %d mii %s", m.Name, m.SpeedMbps, m.MIIStatus)
		}
	}
	if !hasAddr(b, lease.IP.String()+"/24") {
		t.Errorf("bond0 addresses %v lack the leased %s/24", b.Addresses, lease.IP)
	}
	routes := v.MustRun(t, "ip route")
	if want := "default via " + v.Net.HostAddr(0).String() + " dev bond0"; !strings.Contains(routes, want) {
		t.Errorf("routes lack %q:\n%s", want, routes)
	}
	if resolv := v.MustRun(t, "cat /etc/resolv.conf"); !strings.Contains(resolv, "nameserver "+v.Net.HostAddr(0).String()) {
		t.Errorf("resolv.conf:\n%s", resolv)
	}
	// Traffic crosses the bond both ways.
	if st, err := v.Net.Ping(ctx, lease.IP, 20, 20*time.Millisecond); err != nil || st.Lost() > 0 {
		t.Errorf("ping the bond: %+v, %v", st, err)
	}

	// The units on disk match the plan.
	files := units(t, v, "/")
	macKey := func(mac string) string { return strings.ReplaceAll(mac, ":", "") }
	wantFiles := []string{
		"10-bondstrap-bond0-" + macKey(v.NICs[0].MAC) + ".network",
		"10-bondstrap-bond0-" + macKey(v.NICs[1].MAC) + ".network",
		"10-bondstrap-bond0.netdev",
		"10-bondstrap-bond0.network",
	}
	var gotFiles []string
	for name := range files {
		gotFiles = append(gotFiles, name)
	}
	slices.Sort(gotFiles)
	if !slices.Equal(gotFiles, wantFiles) {
		t.Fatalf("units %v, want %v", gotFiles, wantFiles)
	}
	for i := range 2 {
		f := files[wantFiles[i]]
		for _, want := range []string{"PermanentMACAddress=" + v.NICs[i].MAC, "Bond=bond0"} {
			if !strings.Contains(f, want) {
				t.Errorf("%s lacks %q:\n%s", wantFiles[i], want, f)
			}
		}
		if primary := strings.Contains(f, "PrimarySlave=true"); primary != (i == 0) {
			t.Errorf("%s: PrimarySlave=true is %t, want %t", wantFiles[i], primary, i == 0)
		}
	}
	for _, want := range []string{"Kind=bond", "MACAddress=" + v.NICs[0].MAC, "Mode=active-backup", "MIIMonitorSec=100ms"} {
		if !strings.Contains(files["10-bondstrap-bond0.netdev"], want) {
			t.Errorf("netdev lacks %q:\n%s", want, files["10-bondstrap-bond0.netdev"])
		}
	}
	for _, want := range []string{"Name=bond0", "DHCP=ipv4", "ClientIdentifier=mac"} {
		if !strings.Contains(files["10-bondstrap-bond0.network"], want) {
			t.Errorf("bond .network lacks %q:\n%s", want, files["10-bondstrap-bond0.network"])
		}
	}
	rep := report(t, v)
	if rep.Outcome != stages.OutcomeOK || !rep.Changed {
		t.Errorf("report outcome %q changed %t", rep.Outcome, rep.Changed)
	}

	// Run twice, converge: the second run changes nothing and says so.
	again := mustApply(t, v)
	if !strings.Contains(again.Stdout, "no changes") {
		t.Errorf("second apply does not say no changes:\n%s", again.Stdout)
	}
	if rep := report(t, v); rep.Changed {
		t.Errorf("second report says changed")
	}
	if after := status(t, v)["bond0"]; !hasAddr(after, lease.IP.String()+"/24") || after.ActiveMember != eth0 {
		t.Errorf("after the second run: %+v", after)
	}
}

// Scenario 2: static addressing, gateway and DNS.
func TestScenarioStatic(t *testing.T) {
	v := boot(t, vm.Config{NICs: threeNICs(), Segments: []vm.Segment{{}}}, `
network:
  version: 2
  ethernets:
    fast:
      match: {pci-id: "1af4:1000"}
  bonds:
    bond0:
      interfaces: [fast]
      parameters: {mode: active-backup, mii-monitor-interval: 100}
      addresses: [192.0.2.50/24]
      gateway4: 192.0.2.1
      routes:
        - {to: 203.0.113.0/24, via: 192.0.2.254, metric: 50}
      nameservers:
        addresses: [192.0.2.53]
        search: [fleet.example]
`)
	mustApply(t, v)
	b := status(t, v)["bond0"]
	if !hasAddr(b, "192.0.2.50/24") {
		t.Errorf("bond0 addresses %v", b.Addresses)
	}
	if got, want := memberNames(b), []string{v.Iface(0), v.Iface(1)}; !slices.Equal(got, want) {
		t.Errorf("members %v, want %v", got, want)
	}
	routes := v.MustRun(t, "ip route")
	for _, want := range []string{"default via 192.0.2.1 dev bond0", "203.0.113.0/24 via 192.0.2.254 dev bond0", "metric 50"} {
		if !strings.Contains(routes, want) {
			t.Errorf("routes lack %q:\n%s", want, routes)
		}
	}
	resolv := v.MustRun(t, "cat /etc/resolv.conf")
	for _, want := range []string{"nameserver 192.0.2.53", "search fleet.example"} {
		if !strings.Contains(resolv, want) {
			t.Errorf("resolv.conf lacks %q:\n%s", want, resolv)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if st, err := v.Net.Ping(ctx, netip.MustParseAddr("192.0.2.50"), 20, 20*time.Millisecond); err != nil || st.Lost() > 0 {
		t.Errorf("ping 192.0.2.50: %+v, %v", st, err)
	}
	network := units(t, v, "/")["10-bondstrap-bond0.network"]
	for _, want := range []string{"Address=192.0.2.50/24", "Gateway=192.0.2.1", "DNS=192.0.2.53", "Domains=fleet.example", "Destination=203.0.113.0/24"} {
		if !strings.Contains(network, want) {
			t.Errorf("bond .network lacks %q:\n%s", want, network)
		}
	}
	if again := mustApply(t, v); !strings.Contains(again.Stdout, "no changes") {
		t.Errorf("second apply does not say no changes:\n%s", again.Stdout)
	}
}

// Scenario 3: failover. A ping every 10 ms through the bond while the active
// member's link is cut: the bond keeps its address, the other member takes
// over, and the test records how many pings were lost; link back on, no
// flapping.
func TestScenarioFailover(t *testing.T) {
	v := boot(t, vm.Config{NICs: threeNICs()}, `
network:
  version: 2
  ethernets:
    fast:
      match: {pci-id: "1af4:1000", min-speed: 10000}
  bonds:
    bond0:
      interfaces: [fast]
      parameters: {mode: active-backup, mii-monitor-interval: 50}
      dhcp4: true
`)
	mustApply(t, v)
	b := status(t, v)["bond0"]
	active := b.ActiveMember
	var cut, other int
	switch active {
	case v.Iface(0):
		cut, other = 0, 1
	case v.Iface(1):
		cut, other = 1, 0
	default:
		t.Fatalf("active member %q is neither virtio NIC", active)
	}
	if len(b.Addresses) == 0 {
		t.Fatal("bond0 has no address")
	}
	addr := netip.MustParsePrefix(b.Addresses[0]).Addr()
	failuresBefore := member(t, b, v.Iface(cut)).LinkFailureCount

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// 500 pings, 10 ms apart: the link is cut 1.5 s in, well inside the run.
	type pingResult struct {
		st  vm.PingStats
		err error
	}
	done := make(chan pingResult, 1)
	go func() {
		st, err := v.Net.Ping(ctx, addr, 500, 10*time.Millisecond)
		done <- pingResult{st, err}
	}()
	cutAt := time.NewTimer(1500 * time.Millisecond)
	select {
	case <-cutAt.C:
	case r := <-done:
		t.Fatalf("ping ended before the cut: %+v %v", r.st, r.err)
	}
	if err := v.SetLink(ctx, cut, false); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil {
		t.Fatalf("ping: %v", r.err)
	}
	t.Logf("failover: %d of %d pings lost (%d ms at 10 ms apart) with miimon 50 ms", r.st.Lost(), r.st.Sent, r.st.Lost()*10)
	if r.st.Received == 0 || r.st.Lost() > 100 {
		t.Errorf("lost %d of %d pings across the failover", r.st.Lost(), r.st.Sent)
	}

	b = status(t, v)["bond0"]
	if b.ActiveMember != v.Iface(other) {
		t.Errorf("after the cut the active member is %q, want %s", b.ActiveMember, v.Iface(other))
	}
	if !hasAddr(b, b.Addresses[0]) || !slices.Contains(b.Addresses, netip.PrefixFrom(addr, 24).String()) {
		t.Errorf("bond lost its address: %v", b.Addresses)
	}
	if m := member(t, b, v.Iface(cut)); m.MIIStatus != "down" || m.LinkFailureCount != failuresBefore+1 {
		t.Errorf("cut member %s: mii %s, link failures %d (was %d)", m.Name, m.MIIStatus, m.LinkFailureCount, failuresBefore)
	}

	// Link back on: the member comes back as backup, and nothing flaps.
	if err := v.SetLink(ctx, cut, true); err != nil {
		t.Fatal(err)
	}
	v.MustRun(t, waitMIIUp("bond0", v.Iface(cut)))
	st, err := v.Net.Ping(ctx, addr, 200, 10*time.Millisecond)
	if err != nil || st.Lost() > 0 {
		t.Errorf("after the link came back: %+v, %v", st, err)
	}
	b = status(t, v)["bond0"]
	if b.ActiveMember != v.Iface(other) {
		t.Errorf("active member flapped back to %q", b.ActiveMember)
	}
	for _, m := range b.Members {
		want := failuresBefore
		if m.Name == v.Iface(cut) {
			want++
		}
		if m.MIIStatus != "up" || m.LinkFailureCount != want {
			t.Errorf("member %s: mii %s, link failures %d, want up and %d", m.Name, m.MIIStatus, m.LinkFailureCount, want)
		}
	}
}

// waitMIIUp is a guest script that waits up to 10 s for a bond member's MII
// status to read up in /proc/net/bonding (no event reaches a shell).
func waitMIIUp(bond, member string) string {
	return fmt.Sprintf(`i=0
while ! awk -v m=%q '$0 == "Slave Interface: " m {f=1; next} f && /^MII Status:/ {print $3; exit}' /proc/net/bonding/%s | grep -qx up; do
	i=$((i+1)); [ $i -gt 200 ] && { echo "%s not up in %s after 10s" >&2; exit 1; }
	sleep 0.05
done`, member, bond, member, bond)
}

// Scenario 4: two bonds on one host with different modes, on two segments.
func TestScenarioTwoBonds(t *testing.T) {
	nics := []vm.NIC{vm.Virtio(25000), vm.Virtio(25000), vm.E1000(), vm.E1000()}
	nics[2].Segment, nics[3].Segment = 1, 1
	v := boot(t, vm.Config{NICs: nics, Segments: []vm.Segment{{DHCP: &vm.DHCP{}}, {}}}, `
network:
  version: 2
  ethernets:
    data:
      match: {pci-id: "1af4:*", min-speed: 25000}
    mgmt:
      match: {driver: e1000}
  bonds:
    bond0:
      interfaces: [data]
      parameters: {mode: active-backup, mii-monitor-interval: 100}
      dhcp4: true
    bond1:
      interfaces: [mgmt]
      parameters: {mode: balance-xor, mii-monitor-interval: 100, transmit-hash-policy: layer2+3}
      addresses: [198.51.100.10/24]
`)
	mustApply(t, v)
	st := status(t, v)
	b0, b1 := st["bond0"], st["bond1"]
	if b0.Mode != "active-backup" || b1.Mode != "balance-xor" {
		t.Errorf("modes %q and %q, want active-backup and balance-xor", b0.Mode, b1.Mode)
	}
	if got, want := memberNames(b0), []string{v.Iface(0), v.Iface(1)}; !slices.Equal(got, want) {
		t.Errorf("bond0 members %v, want %v", got, want)
	}
	if got, want := memberNames(b1), []string{v.Iface(2), v.Iface(3)}; !slices.Equal(got, want) {
		t.Errorf("bond1 members %v, want %v", got, want)
	}
	if b1.Parameters["transmit-hash-policy"] != "layer2+3" {
		t.Errorf("bond1 xmit hash policy %q", b1.Parameters["transmit-hash-policy"])
	}
	for _, m := range b0.Members {
		if m.SpeedMbps != 25000 {
			t.Errorf("bond0 member %s speed %d", m.Name, m.SpeedMbps)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	lease, err := v.Net.WaitLease(ctx, 0, v.NICs[0].MAC)
	if err != nil {
		t.Fatal(err)
	}
	if !hasAddr(b0, lease.IP.String()+"/24") || !hasAddr(b1, "198.51.100.10/24") {
		t.Errorf("addresses: bond0 %v (lease %s), bond1 %v", b0.Addresses, lease.IP, b1.Addresses)
	}
	for _, a := range []netip.Addr{lease.IP, netip.MustParseAddr("198.51.100.10")} {
		if st, err := v.Net.Ping(ctx, a, 20, 20*time.Millisecond); err != nil || st.Lost() > 0 {
			t.Errorf("ping %s: %+v, %v", a, st, err)
		}
	}
	if n := len(units(t, v, "/")); n != 8 {
		t.Errorf("%d units written, want 8 (2 bonds x 2 + 4 members)", n)
	}
}

// Scenario 5: no DHCP server answers the bond. apply fails within its
// deadline, the bond is removed, the NICs are as before and no units are
// written. With on-failure: fallback-dhcp the host ends up with an address
// on the NIC that reaches a DHCP server (here the e1000, on another segment).
func TestScenarioNoDHCP(t *testing.T) {
	nics := threeNICs()
	nics[2].Segment = 1
	const config = `
network:
  version: 2
  ethernets:
    fast:
      match: {pci-id: "1af4:1000"}
  bonds:
    bond0:
      interfaces: [fast]
      parameters: {mode: active-backup, mii-monitor-interval: 100}
      dhcp4: true
bondstrap:
  link-timeout: 10s
  dhcp-timeout: 8s
`
	v := boot(t, vm.Config{NICs: nics, Segments: []vm.Segment{{}, {DHCP: &vm.DHCP{}}}}, config)
	before := linkState(t, v)

	start := time.Now()
	r := apply(t, v, "--root /sysroot")
	took := time.Since(start)
	if r.Exit != 1 {
		t.Fatalf("apply exit %d, want 1\n%s", r.Exit, tailLines(r.Stderr, 30))
	}
	if !strings.Contains(r.Stderr, "stage address failed") || !strings.Contains(r.Stderr, "no DHCPv4 lease on bond0") {
		t.Errorf("apply does not say which stage failed and why:\n%s", tailLines(r.Stderr, 5))
	}
	// dhcp-timeout is 8 s; the rest is setup and teardown under emulation.
	t.Logf("apply failed after %s", took.Round(time.Millisecond))
	if took > 40*time.Second {
		t.Errorf("apply took %s, far past its 8 s dhcp-timeout", took)
	}
	if out := v.MustRun(t, "ls /sys/class/net"); strings.Contains(out, "bond0") {
		t.Errorf("bond0 is left behind: %s", out)
	}
	if after := linkState(t, v); !mapsEqual(before, after) {
		t.Errorf("NICs not as found:\nbefore %v\nafter  %v", before, after)
	}
	if files := units(t, v, "/sysroot"); len(files) != 0 {
		t.Errorf("units written despite the failure: %v", files)
	}
	rep := report(t, v)
	if rep.Outcome != stages.OutcomeFailed || rep.FailedStage != "address" {
		t.Errorf("report outcome %q failed stage %q", rep.Outcome, rep.FailedStage)
	}

	// The same config with the fallback key.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := v.WriteFile(ctx, configPath, []byte(config+"  on-failure: fallback-dhcp\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r = apply(t, v, "--root /sysroot")
	if r.Exit != 3 {
		t.Fatalf("apply with fallback: exit %d, want 3 (degraded)\n%s", r.Exit, tailLines(r.Stderr, 30))
	}
	lease, err := v.Net.WaitLease(ctx, 1, v.NICs[2].MAC)
	if err != nil {
		t.Fatalf("no lease for the e1000 on the second segment: %v", err)
	}
	addrs := v.MustRun(t, "ip -o -4 addr show dev "+v.Iface(2))
	if !strings.Contains(addrs, lease.IP.String()+"/24") {
		t.Errorf("%s lacks the leased %s:\n%s", v.Iface(2), lease.IP, addrs)
	}
	rep = report(t, v)
	if rep.Outcome != stages.OutcomeDegraded || !rep.FallbackUsed || rep.Fallback == nil || rep.Fallback.NIC != v.Iface(2) {
		t.Errorf("report outcome %q fallback %+v", rep.Outcome, rep.Fallback)
	}
	// The fallback is for this boot: nothing persisted under the root (the next
	// boot tries the bond again), its unit in /run/systemd/network.
	if files := units(t, v, "/sysroot"); len(files) != 0 {
		t.Errorf("the fallback persisted units under the root: %v", files)
	}
	files := runtimeUnits(t, v)
	if len(files) != 1 {
		t.Errorf("fallback units %v, want one .network in /run/systemd/network", files)
	}
	for name, f := range files {
		if !strings.HasPrefix(name, "05-bondstrap-fallback-") {
			t.Errorf("fallback unit %s does not sort before the bond units", name)
		}
		if !strings.Contains(f, "PermanentMACAddress="+v.NICs[2].MAC) || !strings.Contains(f, "DHCP=ipv4") {
			t.Errorf("%s:\n%s", name, f)
		}
	}
	if out := v.MustRun(t, "ls /sys/class/net"); strings.Contains(out, "bond0") {
		t.Errorf("bond0 is left behind after the fallback: %s", out)
	}
	// The virtio NICs are back as found; only the e1000 changed.
	after := linkState(t, v)
	for _, n := range []string{v.Iface(0), v.Iface(1)} {
		if after[n] != before[n] {
			t.Errorf("%s: before %q, after %q", n, before[n], after[n])
		}
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// Scenario 6: loading the bonding module made bond0 with default settings
// (balance-rr): apply still yields the declared mode.
func TestScenarioModuleMadeBond0(t *testing.T) {
	v := boot(t, vm.Config{NICs: threeNICs(), Bonding: vm.BondingDefault}, `
network:
  version: 2
  ethernets:
    fast:
      match: {pci-id: "1af4:1000"}
  bonds:
    bond0:
      interfaces: [fast]
      parameters: {mode: 802.3ad, lacp-rate: fast, mii-monitor-interval: 100, transmit-hash-policy: layer3+4}
      # The segment is a Linux bridge, which does not forward LACPDUs.
      lacp: {timeout: 2s, on-failure: continue}
      dhcp4: true
`)
	if mode := v.MustRun(t, "cat /sys/class/net/bond0/bonding/mode"); !strings.HasPrefix(mode, "balance-rr") {
		t.Fatalf("the module did not make bond0 in balance-rr: %q", mode)
	}
	mustApply(t, v)
	b := status(t, v)["bond0"]
	if p := b.Parameters; b.Mode != "802.3ad" || p["lacp-rate"] != "fast" || p["transmit-hash-policy"] != "layer3+4" || p["mii-monitor-interval"] != "100ms" {
		t.Errorf("bond0: mode %s parameters %v", b.Mode, p)
	}
	if got, want := memberNames(b), []string{v.Iface(0), v.Iface(1)}; !slices.Equal(got, want) {
		t.Errorf("members %v, want %v", got, want)
	}
	if len(b.Addresses) == 0 {
		t.Error("bond0 has no address")
	}
	// 802.3ad: the active aggregator, read from the raw netlink attribute.
	// A Linux bridge speaks no LACP, so the partner is all zeros.
	if b.AD == nil || b.AD.AggregatorID == 0 || b.AD.PartnerMAC != "00:00:00:00:00:00" {
		t.Errorf("802.3ad aggregator info %+v", b.AD)
	}
	for _, m := range b.Members {
		if m.AggregatorID == 0 || m.ActorPortState&detect.LACPActivity == 0 {
			t.Errorf("member %s: aggregator %d actor state %s", m.Name, m.AggregatorID, m.ActorPortState)
		}
	}
	// The kernel's own view agrees.
	if proc := v.MustRun(t, "cat /proc/net/bonding/bond0"); !strings.Contains(proc, "IEEE 802.3ad Dynamic link aggregation") {
		t.Errorf("/proc/net/bonding/bond0:\n%s", proc)
	}
	if again := mustApply(t, v); !strings.Contains(again.Stdout, "no changes") {
		t.Errorf("second apply does not say no changes:\n%s", again.Stdout)
	}
}
