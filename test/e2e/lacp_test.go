package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bondstrap/bondstrap/stages"
	"github.com/bondstrap/bondstrap/test/initrd"
	"github.com/bondstrap/bondstrap/test/vm"
)

// TestLACP proves the 802.3ad check against a real LACP partner: a second guest
// running Debian's kernel with its own bond, wired to the guest under test by two
// point-to-point links (Linux bridges do not forward LACPDUs) and serving DHCP on
// its bond (busybox udhcpd). Both guests boot once; the partner is reconfigured
// between cases:
//
//  1. partner in 802.3ad, lacp-rate fast: negotiation verified, the partner MAC
//     status shows is the partner's bond MAC, both ports in one aggregator, a
//     DHCP lease;
//  2. partner in active-backup (it never answers LACPDUs): apply falls back to
//     active-backup, gets its address, exits 3 and says why;
//  3. one link cut before apply: the bond comes up on one port, and status and
//     the report say so; with min-members 2 the configured fallback happens;
//  4. partner in 802.3ad with lacp-rate slow: still verified.
func TestLACP(t *testing.T) {
	wireA, peerA := vm.Wire(40100)
	wireB, peerB := vm.Wire(40102)
	dutNICs := []vm.NIC{vm.Virtio(10000), vm.Virtio(10000), vm.E1000()}
	dutNICs[0].UDP, dutNICs[1].UDP = wireA, wireB
	partnerNICs := []vm.NIC{vm.Virtio(10000), vm.Virtio(10000)}
	partnerNICs[0].UDP, partnerNICs[1].UDP = peerA, peerB
	partnerNICs[0].MAC, partnerNICs[1].MAC = "52:54:00:aa:00:01", "52:54:00:aa:00:02"
	dut, partner := vm.NewPair(t,
		vm.Config{NICs: dutNICs, Bondstrap: vm.BondstrapBinary(t),
			Files: []initrd.File{{Path: configPath, Data: []byte("# written by the test\n"), Mode: 0o644}}},
		vm.Config{NICs: partnerNICs})

	// partnerBond makes the partner's bond0 in mode, and serves DHCP on it.
	partnerBond := func(t *testing.T, mode, rate string) string {
		t.Helper()
		script := vm.PartnerBondScript(partner.Iface(0), partner.Iface(1), mode, rate)
		return strings.TrimSpace(partner.MustRun(t, script))
	}
	cleanDUT := func(t *testing.T) {
		t.Helper()
		dut.MustRun(t, fmt.Sprintf(`[ -e /sys/class/net/bond0 ] && echo -bond0 > /sys/class/net/bonding_masters
for n in %s %s %s; do ip addr flush dev $n; ip link set $n down; done; rm -rf /run/systemd/network`,
			dut.Iface(0), dut.Iface(1), dut.Iface(2)))
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for i := range 2 {
			if err := dut.SetLink(ctx, i, true); err != nil {
				t.Fatal(err)
			}
		}
	}
	config := func(rate, lacp string) string {
		return `network:
  version: 2
  ethernets:
    lacp: {match: {pci-id: "1af4:1000"}}
  bonds:
    bond0:
      interfaces: [lacp]
      parameters: {mode: 802.3ad, lacp-rate: ` + rate + `, mii-monitor-interval: 100, transmit-hash-policy: layer3+4}
      dhcp4: true
      lacp: {` + lacp + `}
bondstrap: {link-timeout: 20s, dhcp-timeout: 30s}
`
	}
	// leased checks that bond0 has a lease from the partner's udhcpd.
	leased := func(t *testing.T) {
		t.Helper()
		if out := dut.MustRun(t, "ip -o -4 addr show dev bond0"); !strings.Contains(out, "203.0.113.1") {
			t.Errorf("bond0 has no lease from the partner: %s", out)
		}
	}

	t.Run("partner-802.3ad-fast", func(t *testing.T) {
		cleanDUT(t)
		partnerMAC := partnerBond(t, "802.3ad", "fast")
		writeConfig(t, dut, config("fast", "timeout: 30s"))
		mustApply(t, dut)
		leased(t)
		rep := report(t, dut)
		l := lacpReport(t, rep)
		t.Logf("LACP negotiation with a fast partner took %s", time.Duration(l.Took).Round(time.Millisecond))
		if l.Outcome != stages.LACPNegotiated || l.PartnerMAC != partnerMAC || len(l.Joined) != 2 {
			t.Errorf("lacp report %+v, want negotiated with %s, 2 ports", l, partnerMAC)
		}
		b := status(t, dut)["bond0"]
		if b.AD == nil || b.AD.PartnerMAC != partnerMAC || b.AD.NumPorts != 2 {
			t.Errorf("status: aggregator %+v, want the partner's bond MAC %s and 2 ports", b.AD, partnerMAC)
		}
		for _, m := range b.Members {
			if !m.InActiveAggregator || m.AggregatorID != b.AD.AggregatorID {
				t.Errorf("member %s: aggregator %d, in the active one %t", m.Name, m.AggregatorID, m.InActiveAggregator)
			}
		}
	})

	t.Run("partner-active-backup-falls-back", func(t *testing.T) {
		cleanDUT(t)
		partnerBond(t, "active-backup", "")
		writeConfig(t, dut, config("fast", "timeout: 10s"))
		start := time.Now()
		r := apply(t, dut)
		took := time.Since(start)
		if r.Exit != 3 {
			t.Fatalf("apply exit %d, want 3 (degraded)\n%s", r.Exit, tailLines(r.Stderr, 20))
		}
		t.Logf("apply with no LACP partner fell back to active-backup in %s", took.Round(time.Millisecond))
		leased(t)
		rep := report(t, dut)
		l := lacpReport(t, rep)
		if l.Outcome != stages.LACPNoPartner || l.Action != "active-backup" || rep.Bonds[0].Declared != "802.3ad" ||
			rep.Bonds[0].Mode != "active-backup" || rep.Outcome != stages.OutcomeDegraded || len(rep.Degraded) == 0 {
			t.Errorf("report: outcome %s, degraded %v, bond %+v, lacp %+v", rep.Outcome, rep.Degraded, rep.Bonds[0], l)
		}
		if b := status(t, dut)["bond0"]; b.Mode != "active-backup" {
			t.Errorf("bond0 runs %s, want active-backup", b.Mode)
		}
		// persist: built (the default): the units keep what worked.
		if netdev := units(t, dut, "/")["10-bondstrap-bond0.netdev"]; !strings.Contains(netdev, "Mode=active-backup") {
			t.Errorf("units do not keep the active-backup bond:\n%s", netdev)
		}
	})

	t.Run("one-link-cut", func(t *testing.T) {
		cleanDUT(t)
		partnerMAC := partnerBond(t, "802.3ad", "fast")
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := dut.SetLink(ctx, 1, false); err != nil {
			t.Fatal(err)
		}
		writeConfig(t, dut, config("fast", "timeout: 15s"))
		mustApply(t, dut)
		leased(t)
		l := lacpReport(t, report(t, dut))
		if l.Outcome != stages.LACPNegotiated || l.PartnerMAC != partnerMAC || !slices.Equal(l.Joined, []string{dut.Iface(0)}) ||
			!slices.Equal(l.Expected, []string{dut.Iface(0)}) {
			t.Errorf("lacp report %+v, want %s alone joined", l, dut.Iface(0))
		}
		b := status(t, dut)["bond0"]
		if b.AD == nil || b.AD.NumPorts != 1 {
			t.Errorf("status: aggregator %+v, want 1 port", b.AD)
		}
		for _, m := range b.Members {
			if want := m.Name == dut.Iface(0); m.InActiveAggregator != want {
				t.Errorf("member %s in the active aggregator: %t, want %t", m.Name, m.InActiveAggregator, want)
			}
		}
		out := dut.MustRun(t, "bondstrap status")
		if !strings.Contains(out, "NOT IN THE ACTIVE AGGREGATOR: "+dut.Iface(1)) {
			t.Errorf("status does not flag %s:\n%s", dut.Iface(1), out)
		}

		// min-members 2: fewer joined; the configured outcome (the default,
		// active-backup) happens.
		cleanDUT(t)
		if err := dut.SetLink(ctx, 1, false); err != nil {
			t.Fatal(err)
		}
		writeConfig(t, dut, strings.Replace(config("fast", "timeout: 10s"), "      dhcp4: true", "      min-members: 2\n      dhcp4: true", 1))
		r := apply(t, dut)
		if r.Exit != 3 {
			t.Fatalf("apply exit %d, want 3 (degraded)\n%s", r.Exit, tailLines(r.Stderr, 20))
		}
		rep := report(t, dut)
		if l := lacpReport(t, rep); l.Outcome != stages.LACPTooFew || l.Action != "active-backup" {
			t.Errorf("lacp report %+v, want too-few and active-backup", l)
		}
		leased(t)
		if err := dut.SetLink(ctx, 1, true); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("partner-802.3ad-slow", func(t *testing.T) {
		cleanDUT(t)
		partnerMAC := partnerBond(t, "802.3ad", "slow")
		writeConfig(t, dut, config("slow", "timeout: 90s"))
		mustApply(t, dut)
		leased(t)
		l := lacpReport(t, report(t, dut))
		t.Logf("LACP negotiation with a slow partner took %s", time.Duration(l.Took).Round(time.Millisecond))
		if l.Outcome != stages.LACPNegotiated || l.PartnerMAC != partnerMAC || len(l.Joined) != 2 {
			t.Errorf("lacp report %+v, want negotiated with %s, 2 ports", l, partnerMAC)
		}
	})
}

func lacpReport(t *testing.T, rep stages.Report) stages.LACPReport {
	t.Helper()
	for _, b := range rep.Bonds {
		if b.Name == "bond0" && b.LACP != nil {
			return *b.LACP
		}
	}
	t.Fatalf("no LACP report for bond0: %+v", rep.Bonds)
	return stages.LACPReport{}
}
