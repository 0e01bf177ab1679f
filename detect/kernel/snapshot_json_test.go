package kernel_test

import (
	"context"
	"encoding/json"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bondstrap/bondstrap/detect/kernel"
	"github.com/bondstrap/bondstrap/detect/kernel/fake"
)

// stackMachine has a bit of everything a snapshot holds: a bond with ports
// and settings, a bridge on it with a port cost, a VLAN, LRO, a NIC with
// IPv6 settings of its own, addresses with and without lifetimes, routes
// through a gateway.
const stackMachine = `{
  "nics": [{"name": "eth0", "mac": "52:54:00:00:00:01", "permanent_mac": "52:54:00:00:00:01", "segment": "lan"},
           {"name": "eth1", "mac": "52:54:00:00:00:02", "permanent_mac": "52:54:00:00:00:02", "segment": "lan"},
           {"name": "eth2", "mac": "52:54:00:00:00:03", "segment": "mgmt", "lro": true}],
  "segments": [{"name": "lan"}, {"name": "mgmt"}],
  "bonds": [{"name": "bond0", "mode": "active-backup", "parameters": {"mii-monitor-interval": 100},
             "mac": "52:54:00:00:00:01", "ports": ["eth0", "eth1"]}],
  "bridges": [{"name": "br0", "stp": true, "ports": ["bond0"]}],
  "vlans": [{"name": "eth2.7", "link": "eth2", "id": 7}],
  "up": ["eth2", "eth2.7", "bond0", "br0"],
  "addrs": [{"link": "eth2", "prefix": "192.0.2.7/24", "valid_seconds": 600},
            {"link": "eth2", "prefix": "2001:db8::7/64"},
            {"link": "br0", "prefix": "198.51.100.2/24"}],
  "routes": [{"link": "eth2", "dst": "0.0.0.0/0", "via": "192.0.2.1", "protocol": 16},
             {"link": "br0", "dst": "203.0.113.0/24", "via": "198.51.100.1", "metric": 7, "protocol": 4}]
}`

func newStackMachine(t *testing.T) *fake.Kernel {
	t.Helper()
	var m fake.Machine
	if err := json.Unmarshal([]byte(stackMachine), &m); err != nil {
		t.Fatal(err)
	}
	k, err := fake.New(m)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.SetPrimary(context.Background(), "bond0", "eth1"); err != nil {
		t.Fatal(err)
	}
	return k
}

// The JSON form keeps everything Restore reads: decoding what was encoded
// gives the snapshot back, but for the state that is no configuration
// (counters, 802.3ad and port runtime state), which it leaves out.
func TestSnapshotJSONRoundTrip(t *testing.T) {
	ctx := context.Background()
	k := newStackMachine(t)
	if _, err := k.SetIPv6(ctx, "eth2", kernel.IPv6Config{AcceptRA: 2, Autoconf: false}); err != nil {
		t.Fatal(err)
	}
	taken := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	snap, err := kernel.Take(ctx, k, taken, "eth0", "eth1", "eth2", "eth2.7", "bond0", "br0", "lo")
	if err != nil {
		t.Fatal(err)
	}
	// The test proves nothing unless every part is there.
	b, _ := snap.Link("bond0")
	br, _ := snap.Link("br0")
	port, _ := snap.Link("eth0")
	vlan, _ := snap.Link("eth2.7")
	switch {
	case b.Bond == nil || len(b.Bond.Settings) == 0 || b.Bond.Primary != "eth1":
		t.Fatalf("no bond settings in the snapshot: %+v", b.Bond)
	case br.Bridge == nil || !br.Bridge.STP:
		t.Fatalf("no bridge in the snapshot: %+v", br)
	case port.Port == nil || len(port.Port.PermMAC) == 0:
		t.Fatalf("no port in the snapshot: %+v", port)
	case vlan.VLAN == nil:
		t.Fatalf("no VLAN in the snapshot: %+v", vlan)
	case !snap.LRO["eth2"] || snap.IPv6["eth2"] != (kernel.IPv6Config{AcceptRA: 2}):
		t.Fatalf("LRO %v, IPv6 %v", snap.LRO, snap.IPv6)
	case !slices.ContainsFunc(snap.Addrs, func(a kernel.Addr) bool { return a.Valid > 0 }):
		t.Fatalf("no address with a lifetime: %+v", snap.Addrs)
	case !slices.ContainsFunc(snap.Routes, func(r kernel.Route) bool { return r.Gw.IsValid() && r.Metric > 0 }):
		t.Fatalf("no route through a gateway: %+v", snap.Routes)
	}
	// The fake's broadcast is the zero Addr; the kernel's may be 0.0.0.0
	// ("none"), which must not read back as "derive it".
	snap.Addrs[0].Broadcast = netip.IPv4Unspecified()

	data, err := json.Marshal(snap)
	if err != nil {
		t.Fatal(err)
	}
	var back kernel.Snapshot
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	want := *snap
	want.Links = slices.Clone(want.Links)
	for i := range want.Links {
		l := &want.Links[i]
		l.Stats = nil
		if l.Bond != nil {
			c := *l.Bond
			c.AD = nil
			l.Bond = &c
		}
		if l.Port != nil {
			l.Port = &kernel.Port{PermMAC: l.Port.PermMAC, QueueID: l.Port.QueueID}
		}
	}
	if !reflect.DeepEqual(back, want) {
		t.Errorf("round trip differs:\ngot  %+v\nwant %+v\n%s", back, want, data)
	}
	again, err := json.Marshal(back)
	if err != nil || string(again) != string(data) {
		t.Errorf("encoding the decoded snapshot differs (%v):\n%s\n%s", err, again, data)
	}
}

// A snapshot read back from JSON restores the machine, IPv6 settings and
// LRO included: what `bondstrap down` does without a journal.
func TestRestoreFromJSON(t *testing.T) {
	ctx := context.Background()
	k := newStackMachine(t)
	before := k.State()
	snap, err := kernel.Take(ctx, k, time.Now(), "eth0", "eth1", "eth2", "eth2.7", "bond0", "br0")
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(snap)
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []func() (kernel.Undo, error){
		func() (kernel.Undo, error) { return k.SetIPv6(ctx, "eth2", kernel.IPv6Config{AcceptRA: 0}) },
		func() (kernel.Undo, error) { return k.SetLRO(ctx, "eth2", false) },
		func() (kernel.Undo, error) { return k.SetUp(ctx, "eth2", false) },
		func() (kernel.Undo, error) { return k.SetMaster(ctx, "eth1", "") },
		func() (kernel.Undo, error) { return k.SetMTU(ctx, "eth2", 1400) },
		func() (kernel.Undo, error) {
			return k.SetBridgePort(ctx, "bond0", kernel.BridgePort{Cost: 9, Priority: 5})
		},
	} {
		if _, err := step(); err != nil {
			t.Fatal(err)
		}
	}
	if slices.Equal(k.State(), before) {
		t.Fatal("nothing changed: the test proves nothing")
	}
	var back kernel.Snapshot
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if err := back.Restore(ctx, k, back.Taken); err != nil {
		t.Fatalf("restore: %v", err)
	}
	if after := k.State(); !slices.Equal(after, before) {
		t.Errorf("not restored:\nbefore %s\nafter  %s", strings.Join(before, "\n       "), strings.Join(after, "\n       "))
	}
}

// What cannot be restored faithfully does not decode: an unknown bond
// setting, a bad MAC, a bad lifetime.
func TestSnapshotJSONRefuses(t *testing.T) {
	for name, doc := range map[string]string{
		"unknown setting": `{"links": [{"name": "bond0", "bond": {"mode": "802.3ad", "settings": [{"key": "warp-drive", "n": 1}]}}]}`,
		"alias as key":    `{"links": [{"name": "bond0", "bond": {"mode": "802.3ad", "settings": [{"key": "all-slaves-active", "n": 1}]}}]}`,
		"bad MAC":         `{"links": [{"name": "eth0", "mac": "52:54:00"}]}`,
		"bad lifetime":    `{"links": [], "addrs": [{"link": "eth0", "prefix": "192.0.2.1/24", "valid": "forever"}]}`,
		"bad prefix":      `{"links": [], "addrs": [{"link": "eth0", "prefix": "192.0.2.1"}]}`,
		"bad gateway":     `{"links": [], "routes": [{"link": "eth0", "dst": "0.0.0.0/0", "gw": "gateway"}]}`,
	} {
		var s kernel.Snapshot
		if err := json.Unmarshal([]byte(doc), &s); err == nil {
			t.Errorf("%s: decoded: %+v", name, s)
		}
	}
}
