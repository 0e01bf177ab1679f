package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/bondstrap/bondstrap/test/vm"
)

// waitCarrier is a guest script that waits up to 10 s for an interface's carrier to
// read want (sysfs has no event a shell can wait on) and prints how long it took.
func waitCarrier(iface, want string) string {
	return fmt.Sprintf(`f=/sys/class/net/%s/carrier; i=0
while [ "$(cat $f 2>/dev/null)" != %s ]; do
	i=$((i+1)); [ $i -gt 200 ] && { echo "carrier $(cat $f 2>&1) after 10s" >&2; exit 1; }
	sleep 0.05
done
echo $((i*50))ms`, iface, want)
}

// TestHarnessSmoke proves the VM harness that the bondstrap scenarios stand on: NICs
// with the PCI IDs and speeds the selectors match on, the bonding driver, DHCP from
// the host's dnsmasq, and links cut over QMP.
func TestHarnessSmoke(t *testing.T) {
	v := vm.New(t, vm.Config{
		NICs:      []vm.NIC{vm.Virtio(10000), vm.Virtio(10000), vm.E1000()},
		Bondstrap: vm.BondstrapBinary(t),
	})

	t.Run("Bondstrap", func(t *testing.T) {
		// The real binary, built static, runs in the initramfs.
		out := v.MustRun(t, "bondstrap version")
		if !strings.HasPrefix(out, "bondstrap") {
			t.Errorf("bondstrap version: %q", out)
		}
	})

	t.Run("FilesAndDeadlines", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		data := make([]byte, 100<<10)
		for i := range data {
			data[i] = byte(i*7 + i>>8)
		}
		start := time.Now()
		if err := v.WriteFile(ctx, "/tmp/x/blob", data, 0o600); err != nil {
			t.Fatal(err)
		}
		wrote := time.Since(start)
		got, err := v.ReadFile(ctx, "/tmp/x/blob")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("read back %d bytes, differing from the %d written", len(got), len(data))
		}
		t.Logf("100 KiB written in %v, read in %v", wrote.Round(time.Millisecond), (time.Since(start) - wrote).Round(time.Millisecond))
		if out := v.MustRun(t, "stat -c %a /tmp/x/blob"); strings.TrimSpace(out) != "600" {
			t.Errorf("mode %s, want 600", out)
		}

		// A command past its deadline is an error, and the agent serves the next one.
		short, cancel2 := context.WithTimeout(ctx, 2*time.Second)
		defer cancel2()
		if _, _, err := v.Run(short, "sleep 30"); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("sleep 30 with a 2 s deadline: %v, want a deadline error", err)
		}
		if out := v.MustRun(t, "echo alive"); out != "alive\n" {
			t.Errorf("after a timed-out command: %q", out)
		}
	})

	t.Run("PCIIDsAndSpeeds", func(t *testing.T) {
		want := []struct{ pciID, speed string }{{"0x1af4:0x1000", "10000"}, {"0x1af4:0x1000", "10000"}, {"0x8086:0x100e", "1000"}}
		for i, w := range want {
			iface := v.Iface(i)
			// For virtio, device is the virtio device (1af4:0001); its parent is the
			// PCI function.
			got := strings.TrimSpace(v.MustRun(t, fmt.Sprintf(`d=$(readlink -f /sys/class/net/%s/device)
case $(readlink $d/subsystem) in */pci) ;; *) d=${d%%/*} ;; esac
echo $(cat $d/vendor):$(cat $d/device)`, iface)))
			if got != w.pciID {
				t.Errorf("NIC %d (%s): PCI ID %s, want %s", i, iface, got, w.pciID)
			}
			v.MustRun(t, "ip link set "+iface+" up")
			took := strings.TrimSpace(v.MustRun(t, waitCarrier(iface, "1")))
			speed := strings.TrimSpace(v.MustRun(t, "cat /sys/class/net/"+iface+"/speed"))
			if speed != w.speed {
				t.Errorf("NIC %d (%s): speed %s, want %s", i, iface, speed, w.speed)
			}
			t.Logf("NIC %d: %s %s %s Mb/s, carrier after %s", i, iface, got, speed, took)
		}
	})

	t.Run("Bonding", func(t *testing.T) {
		// Loaded with max_bonds=0: the module is there, no bond0 yet.
		v.MustRun(t, "test -d /sys/module/bonding && ! test -e /sys/class/net/bond0")
		mode := v.MustRun(t, `echo +bondtest > /sys/class/net/bonding_masters
echo active-backup > /sys/class/net/bondtest/bonding/mode
cat /sys/class/net/bondtest/bonding/mode
echo -bondtest > /sys/class/net/bonding_masters`)
		if !strings.HasPrefix(mode, "active-backup") {
			t.Errorf("bond mode %q, want active-backup", mode)
		}
	})

	t.Run("DHCP", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		iface := v.Iface(0)
		start := time.Now()
		v.MustRun(t, "udhcpc -i "+iface+" -n -q -t 10 -T 1 -x hostname:smoke")
		took := time.Since(start)
		lease, err := v.Net.WaitLease(ctx, 0, v.NICs[0].MAC)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("lease %s for %s (%s) in %v", lease.IP, lease.MAC, lease.Hostname, took.Round(time.Millisecond))
		got := v.MustRun(t, "ip -4 -o addr show dev "+iface)
		if !strings.Contains(got, " "+lease.IP.String()+"/24 ") {
			t.Errorf("guest %s has %q, want the leased %s/24", iface, got, lease.IP)
		}
		route := v.MustRun(t, "ip route show default")
		if !strings.Contains(route, "via "+v.Net.HostAddr(0).String()) {
			t.Errorf("default route %q, want via %s (the DHCP router option)", route, v.Net.HostAddr(0))
		}
		st, err := v.Net.Ping(ctx, lease.IP, 20, 10*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		if st.Lost() != 0 {
			t.Errorf("ping host → guest: %d of %d lost", st.Lost(), st.Sent)
		}
	})

	t.Run("SetLink", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		iface := v.Iface(1)
		v.MustRun(t, "ip link set "+iface+" up")
		v.MustRun(t, waitCarrier(iface, "1"))
		if err := v.SetLink(ctx, 1, false); err != nil {
			t.Fatal(err)
		}
		t.Logf("carrier lost after %s", strings.TrimSpace(v.MustRun(t, waitCarrier(iface, "0"))))
		if err := v.SetLink(ctx, 1, true); err != nil {
			t.Fatal(err)
		}
		t.Logf("carrier back after %s", strings.TrimSpace(v.MustRun(t, waitCarrier(iface, "1"))))
	})
	t.Run("ActiveBackupFailover", func(t *testing.T) {
		// A bond made by hand (sysfs), to prove that the network the harness builds
		// carries a failover: the bridge relearns the bond's MAC on the new port.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		a, b := v.Iface(0), v.Iface(1)
		v.MustRun(t, fmt.Sprintf(`ip addr flush dev %[1]s; ip link set %[1]s down; ip link set %[2]s down
echo +bondfo > /sys/class/net/bonding_masters
echo active-backup > /sys/class/net/bondfo/bonding/mode
echo 50 > /sys/class/net/bondfo/bonding/miimon
echo +%[1]s > /sys/class/net/bondfo/bonding/slaves
echo +%[2]s > /sys/class/net/bondfo/bonding/slaves
ip link set bondfo up
udhcpc -i bondfo -n -q -t 10 -T 1`, a, b))
		lease, err := v.Net.WaitLease(ctx, 0, v.NICs[0].MAC)
		if err != nil {
			t.Fatal(err)
		}
		active := strings.TrimSpace(v.MustRun(t, "cat /sys/class/net/bondfo/bonding/active_slave"))
		cut := 0
		if active == b {
			cut = 1
		}

		const count = 300 // 3 s at 10 ms
		type result struct {
			st  vm.PingStats
			err error
		}
		done := make(chan result, 1)
		go func() {
			st, err := v.Net.Ping(ctx, lease.IP, count, 10*time.Millisecond)
			done <- result{st, err}
		}()
		// The ping runs 3 s; cut the active member's link a second into it.
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		}
		if err := v.SetLink(ctx, cut, false); err != nil {
			t.Fatal(err)
		}
		r := <-done
		if r.err != nil {
			t.Fatal(r.err)
		}
		now := strings.TrimSpace(v.MustRun(t, "cat /sys/class/net/bondfo/bonding/active_slave"))
		t.Logf("failover %s → %s: %d of %d pings lost (%d ms at 10 ms a ping)", active, now, r.st.Lost(), r.st.Sent, r.st.Lost()*10)
		if now == active || now == "" {
			t.Errorf("active member %q after cutting %s", now, active)
		}
		if r.st.Lost() > count/2 {
			t.Errorf("%d of %d pings lost: the failover did not carry traffic", r.st.Lost(), r.st.Sent)
		}
		if err := v.SetLink(ctx, cut, true); err != nil {
			t.Fatal(err)
		}
		v.MustRun(t, "echo -bondfo > /sys/class/net/bonding_masters")
	})
}

// TestHarnessSegmentsAndBondingDefault proves the rest of the harness: a second L2
// segment with its own DHCP server and options, stopping and restarting dnsmasq, a
// 25G virtio NIC, and the bonding module loaded with its defaults (it creates bond0
// in balance-rr, the trap of scenario 6).
func TestHarnessSegmentsAndBondingDefault(t *testing.T) {
	v := vm.New(t, vm.Config{
		NICs: []vm.NIC{vm.Virtio(25000), {Model: vm.ModelE1000, Segment: 1}},
		Segments: []vm.Segment{
			{}, // no DHCP server on the first segment
			{DHCP: &vm.DHCP{MTU: 1400, ClasslessRoutes: []vm.Route{{
				Dst: netip.MustParsePrefix("203.0.113.0/24"), Via: netip.MustParseAddr("198.51.100.1"),
			}}}},
		},
		Bonding: vm.BondingDefault,
	})

	t.Run("BondingDefault", func(t *testing.T) {
		mode := v.MustRun(t, "cat /sys/class/net/bond0/bonding/mode")
		if !strings.HasPrefix(mode, "balance-rr 0") {
			t.Errorf("bond0 mode %q, want the module default balance-rr 0", mode)
		}
	})

	t.Run("Speed25G", func(t *testing.T) {
		iface := v.Iface(0)
		v.MustRun(t, "ip link set "+iface+" up")
		v.MustRun(t, waitCarrier(iface, "1"))
		if got := strings.TrimSpace(v.MustRun(t, "cat /sys/class/net/"+iface+"/speed")); got != "25000" {
			t.Errorf("speed %s, want 25000", got)
		}
	})

	t.Run("DHCPSecondSegment", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		iface := v.Iface(1)
		udhcpc := "udhcpc -i " + iface + " -n -q -t 3 -T 1 -O mtu -O staticroutes"

		if err := v.Net.StopDHCP(1); err != nil {
			t.Fatal(err)
		}
		if r, err := v.Exec(ctx, udhcpc); err != nil || r.Exit == 0 {
			t.Fatalf("udhcpc with the server stopped: exit %d, err %v; want a failure", r.Exit, err)
		}
		if err := v.Net.StartDHCP(ctx, 1); err != nil {
			t.Fatal(err)
		}
		v.MustRun(t, udhcpc)
		lease, err := v.Net.WaitLease(ctx, 1, v.NICs[1].MAC)
		if err != nil {
			t.Fatal(err)
		}
		if !netip.MustParsePrefix("198.51.100.0/24").Contains(lease.IP) {
			t.Errorf("lease %s, want one in 198.51.100.0/24", lease.IP)
		}
		env := v.MustRun(t, "cat /run/udhcpc/"+iface+".lease")
		for _, want := range []string{"ip=" + lease.IP.String(), "mtu=1400", "203.0.113.0/24 198.51.100.1"} {
			if !strings.Contains(env, want) {
				t.Errorf("udhcpc saw %q, want %q in it", env, want)
			}
		}
	})
}
