package kernel_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/bondstrap/bondstrap/detect/kernel"
	"github.com/bondstrap/bondstrap/detect/kernel/fake"
	"github.com/bondstrap/bondstrap/netplan/spec"
)

// Restore puts back IPv6 settings the snapshot holds, and leaves those of
// links it does not.
func TestRestoreIPv6(t *testing.T) {
	ctx := context.Background()
	k := newStackMachine(t)
	snap, err := kernel.Take(ctx, k, time.Now(), "eth2")
	if err != nil {
		t.Fatal(err)
	}
	set := kernel.IPv6Config{AcceptRA: 2, Autoconf: false}
	for _, name := range []string{"eth2", "eth0"} {
		if _, err := k.SetIPv6(ctx, name, set); err != nil {
			t.Fatal(err)
		}
	}
	if err := snap.Restore(ctx, k, time.Now()); err != nil {
		t.Fatal(err)
	}
	if c, _ := k.IPv6(ctx, "eth2"); c != kernel.DefaultIPv6 {
		t.Errorf("eth2: IPv6 %+v, want %+v back", c, kernel.DefaultIPv6)
	}
	if c, _ := k.IPv6(ctx, "eth0"); c != set {
		t.Errorf("eth0, not in the snapshot: IPv6 %+v, want it left at %+v", c, set)
	}
}

// A bond converted from a mode without the MII monitor (the balance-rr
// bond0 that loading bonding.ko makes) goes back to it without a journal:
// Restore leaves out the delays, which the kernel refuses without the
// monitor, even at 0.
func TestRestoreBondWithoutMIIMonitor(t *testing.T) {
	ctx := context.Background()
	var m fake.Machine
	if err := json.Unmarshal([]byte(`{
	  "nics": [{"name": "eth0", "mac": "52:54:00:00:00:01", "segment": "lan"}],
	  "bonds": [{"name": "bond0", "mode": "balance-rr", "mac": "52:54:00:00:00:0a"}]}`), &m); err != nil {
		t.Fatal(err)
	}
	k, err := fake.New(m)
	if err != nil {
		t.Fatal(err)
	}
	before := k.State()
	snap, err := kernel.Take(ctx, k, time.Now(), "bond0")
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := snap.Link("bond0"); b.Bond.Settings.Int("mii-monitor-interval", -1) != 0 {
		t.Fatalf("the bond has the MII monitor on: the test proves nothing (%v)", b.Bond.Settings)
	}
	miimon, _ := spec.Lookup("mii-monitor-interval")
	if _, err := k.ChangeBond(ctx, "bond0", spec.LACP, spec.Settings{{Param: miimon, N: 100}}); err != nil {
		t.Fatal(err)
	}
	if err := snap.Restore(ctx, k, time.Now()); err != nil {
		t.Fatalf("restore: %v", err)
	}
	if after := k.State(); !slices.Equal(after, before) {
		t.Errorf("not restored:\nbefore %q\nafter  %q", before, after)
	}
}
