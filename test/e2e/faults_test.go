package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bondstrap/bondstrap/stages"
	"github.com/bondstrap/bondstrap/test/vm"
)

// TestFaults: apply on a real kernel against what goes wrong at first boot, in
// one boot. Each case ends with the network or with a clean rollback, and
// nothing half-written:
//
//   - a DHCP server that NAKs the first request;
//   - a server that answers only after the client's first retries;
//   - a member whose link flaps while it is enslaved;
//   - every member dead: the fallback gets an address on the management NIC;
//   - a read-only root: the network stays up for this boot, the units go to /run;
//   - a disk that fills up while the units are written: the old units stay as
//     they were, byte for byte.
//
// The bond's segment is served by a DHCP server in this test process (FaultDHCP)
// that misbehaves on demand; the management NIC's by dnsmasq.
func TestFaults(t *testing.T) {
	nics := threeNICs()
	nics[2].Segment = 1
	v := boot(t, vm.Config{NICs: nics, Segments: []vm.Segment{{}, {DHCP: &vm.DHCP{}}}}, "")
	srv, err := v.Net.StartFaultDHCP(0, vm.Faults{}, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })

	const dhcpBond = `network:
  version: 2
  ethernets:
    fast: {match: {pci-id: "1af4:1000"}}
  bonds:
    bond0:
      interfaces: [fast]
      parameters: {mode: active-backup, mii-monitor-interval: 50}
      dhcp4: true
bondstrap: {link-timeout: 10s, dhcp-timeout: 20s}
`
	// clean puts the guest back to no bond, every NIC down, no units in /run.
	clean := func(t *testing.T) {
		v.MustRun(t, fmt.Sprintf(`ip link del bond0 2>/dev/null
for n in %s %s %s; do ip addr flush dev $n; ip link set $n down; done
rm -rf /run/systemd/network /run/systemd/system /tmp/root`, v.Iface(0), v.Iface(1), v.Iface(2)))
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for i := range 3 {
			if err := v.SetLink(ctx, i, true); err != nil {
				t.Fatal(err)
			}
		}
	}
	// bondUp checks that bond0 carries a lease from the fault server.
	bondUp := func(t *testing.T) {
		t.Helper()
		b, ok := status(t, v)["bond0"]
		if !ok || b.MIIStatus != "up" || len(b.Addresses) == 0 || !strings.HasPrefix(b.Addresses[0], "192.0.2.15") {
			t.Errorf("bond0 is not up with a lease from the fault server: %+v", b)
		}
	}

	t.Run("nak-then-ack", func(t *testing.T) {
		clean(t)
		srv.Reset(vm.Faults{NakRequests: 1})
		writeConfig(t, v, dhcpBond)
		mustApply(t, v, "--root /tmp/root")
		bondUp(t)
		if ev := srv.Events(); !slices.ContainsFunc(ev, func(e string) bool { return strings.HasPrefix(e, "NAK") }) ||
			!strings.HasPrefix(ev[len(ev)-1], "ACK") {
			t.Errorf("server events %v: want a NAK, then an ACK", ev)
		}
	})

	t.Run("server-answers-after-retries", func(t *testing.T) {
		clean(t)
		srv.Reset(vm.Faults{IgnoreDiscovers: 2})
		mustApply(t, v, "--root /tmp/root")
		bondUp(t)
		if ev := srv.Events(); len(ev) < 4 || !strings.HasPrefix(ev[0], "ignored") || !strings.HasPrefix(ev[1], "ignored") {
			t.Errorf("server events %v: want two ignored DISCOVERs, then an exchange", ev)
		}
	})

	t.Run("member-flaps-during-enslave", func(t *testing.T) {
		clean(t)
		srv.Reset(vm.Faults{})
		before := linkState(t, v)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		done := make(chan vm.Result, 1)
		go func() {
			r, err := v.Exec(ctx, "bondstrap apply -c "+configPath+" --root /tmp/root")
			if err != nil {
				r.Exit = -1
				r.Stderr = err.Error()
			}
			done <- r
		}()
		// Flap the first member until apply ends: down and up, 200 ms apart.
		var r vm.Result
		flaps := 0
	flapping:
		for up := false; ; up = !up {
			select {
			case r = <-done:
				break flapping
			case <-time.After(200 * time.Millisecond):
			}
			if err := v.SetLink(ctx, 0, up); err != nil {
				t.Fatal(err)
			}
			flaps++
		}
		if err := v.SetLink(ctx, 0, true); err != nil {
			t.Fatal(err)
		}
		t.Logf("apply: exit %d after %d flaps\n%s", r.Exit, flaps, r.Stdout)
		switch r.Exit {
		case 0:
			v.MustRun(t, waitMIIUp("bond0", v.Iface(0)))
			bondUp(t)
		case 1:
			if after := linkState(t, v); !mapsEqual(before, after) {
				t.Errorf("failed, and the NICs are not as found:\nbefore %v\nafter  %v", before, after)
			}
		default:
			t.Fatalf("apply exit %d: %s", r.Exit, r.Stderr)
		}
	})

	t.Run("all-members-dead-fallback", func(t *testing.T) {
		clean(t)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for _, i := range []int{0, 1} {
			if err := v.SetLink(ctx, i, false); err != nil {
				t.Fatal(err)
			}
		}
		writeConfig(t, v, strings.Replace(dhcpBond, "link-timeout: 10s", "link-timeout: 3s, on-failure: fallback-dhcp", 1))
		r := apply(t, v, "--root /tmp/root")
		if r.Exit != 3 {
			t.Fatalf("apply exit %d, want 3 (degraded)\n%s", r.Exit, tailLines(r.Stderr, 20))
		}
		lease, err := v.Net.WaitLease(ctx, 1, v.NICs[2].MAC)
		if err != nil {
			t.Fatal(err)
		}
		if out := v.MustRun(t, "ip -o -4 addr show dev "+v.Iface(2)); !strings.Contains(out, lease.IP.String()) {
			t.Errorf("%s lacks the fallback lease %s: %s", v.Iface(2), lease.IP, out)
		}
		if files := units(t, v, "/tmp/root"); len(files) != 0 {
			t.Errorf("the fallback persisted %v", files)
		}
		if files := runtimeUnits(t, v); len(files) != 1 {
			t.Errorf("runtime units %v, want the fallback's", files)
		}
		if rep := report(t, v); rep.Outcome != stages.OutcomeDegraded || rep.Fallback == nil || rep.Fallback.NIC != v.Iface(2) {
			t.Errorf("report %q fallback %+v", rep.Outcome, rep.Fallback)
		}
		writeConfig(t, v, dhcpBond)
	})

	t.Run("read-only-root", func(t *testing.T) {
		clean(t)
		srv.Reset(vm.Faults{})
		v.MustRun(t, "mkdir -p /ro && (umount /ro 2>/dev/null; mount -t tmpfs -o ro,size=64k tmpfs /ro)")
		r := apply(t, v, "--root /ro")
		if r.Exit != 3 {
			t.Fatalf("apply exit %d, want 3 (the network up, not persisted)\n%s", r.Exit, tailLines(r.Stderr, 20))
		}
		bondUp(t)
		if out := v.MustRun(t, "find /ro -mindepth 1"); strings.TrimSpace(out) != "" {
			t.Errorf("something was written under the read-only root: %s", out)
		}
		if files := runtimeUnits(t, v); len(files) != 4 {
			t.Errorf("runtime units %v, want the bond's 4", files)
		}
		if rep := report(t, v); rep.PersistError == "" || !strings.Contains(rep.PersistError, "read-only") {
			t.Errorf("report persist error %q", rep.PersistError)
		}
	})

	t.Run("disk-full-keeps-old-units", func(t *testing.T) {
		clean(t)
		srv.Reset(vm.Faults{})
		v.MustRun(t, "mkdir -p /full && (umount /full 2>/dev/null; mount -t tmpfs -o size=48k tmpfs /full)")
		mustApply(t, v, "--root /full")
		old := v.MustRun(t, "cd /full/etc/systemd/network && md5sum * && ls -la")
		// Fill the disk, then apply a config whose units differ.
		v.MustRun(t, "dd if=/dev/zero of=/full/fill bs=1k 2>/dev/null; true")
		writeConfig(t, v, strings.Replace(dhcpBond, "mii-monitor-interval: 50", "mii-monitor-interval: 100, primary-reselect-policy: better", 1))
		r := apply(t, v, "--root /full")
		if r.Exit != 3 {
			t.Fatalf("apply exit %d, want 3 (the network up, not persisted)\n%s", r.Exit, tailLines(r.Stderr, 20))
		}
		if now := v.MustRun(t, "cd /full/etc/systemd/network && md5sum * && ls -la"); now != old {
			t.Errorf("the old units changed:\nbefore\n%s\nafter\n%s", old, now)
		}
		if out := v.MustRun(t, "find /full -name '.*tmp*'"); strings.TrimSpace(out) != "" {
			t.Errorf("temporary files left: %s", out)
		}
		if rep := report(t, v); !strings.Contains(rep.PersistError, "no space left") {
			t.Errorf("report persist error %q", rep.PersistError)
		}
		v.MustRun(t, "rm -f /full/fill")
	})
}
