//go:build linux

package stages

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/bondstrap/bondstrap/netplan"
)

// TestDetectSettlesWithoutTheUnpluggedNIC: one candidate NIC has no cable.
// Once the bond has min-members NICs with link, detect waits link-settle for
// the other, not link-timeout: the run's context expires long before
// link-timeout, so a detect that waited for it fails here.
func TestDetectSettlesWithoutTheUnpluggedNIC(t *testing.T) {
	l := newLab(t)
	l.veth("nic0", "peer0", false)
	l.veth("nic1", "peer1", false)
	l.veth("nic2", "peer2", true) // no cable
	cfg := loadConfig(t, `network:
  version: 2
  ethernets:
    up: {match: {driver: veth}}
  bonds:
    bond0:
      interfaces: [up]
      min-members: 2
      parameters: {mode: active-backup}
bondstrap: {link-timeout: 5m, link-settle: 200ms, deadline: 10m}
`)
	s := l.testState(cfg, Options{Inventory: l.vethInventory("nic0", "nic1", "nic2")})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var err error
	in(t, l.client, func() { err = detectStage(ctx, s) })
	if err != nil {
		t.Fatalf("detect: %v (it waited for the unplugged NIC)", err)
	}
	if !slices.Equal(s.rep.NoLink, []string{"nic2"}) || !s.carrier["nic0"] || !s.carrier["nic1"] {
		t.Errorf("no link %v, carrier %v; want nic2 alone without", s.rep.NoLink, s.carrier)
	}

	// Below min-members the settle never starts: with min-members 3, detect
	// waits for the third NIC, whose cable is plugged in a second (five
	// link-settles) in. Had it settled, nic2 would be reported without link.
	cfg.Network.Bonds["bond0"] = withMinMembers(cfg.Network.Bonds["bond0"], 3)
	s = l.testState(cfg, Options{Inventory: l.vethInventory("nic0", "nic1", "nic2")})
	plugged := make(chan error, 1)
	go func() {
		time.Sleep(time.Second) // the cable goes in later; nothing to wait on
		p, err := l.sh.LinkByName("peer2")
		if err == nil {
			err = l.sh.LinkSetUp(p)
		}
		plugged <- err
	}()
	in(t, l.client, func() { err = detectStage(ctx, s) })
	if perr := <-plugged; perr != nil {
		t.Fatal(perr)
	}
	if err != nil || len(s.rep.NoLink) != 0 {
		t.Errorf("detect: %v, no link %v; want it to wait for the third NIC", err, s.rep.NoLink)
	}
}

func withMinMembers(b netplan.Bond, n int) netplan.Bond {
	b.MinMembers = &n
	return b
}
