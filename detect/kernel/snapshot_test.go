package kernel_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bondstrap/bondstrap/detect/kernel"
	"github.com/bondstrap/bondstrap/detect/kernel/fake"
)

// Restore, on the model, without the journal: a NIC put into a bridge (which
// turned its LRO off) comes out with LRO on again; a NIC and the VLAN on it
// get their MTUs back, the NIC's first (a VLAN's may not be above its
// parent's); the bridge bondstrap made stays (the journal deletes it).
func TestRestoreStack(t *testing.T) {
	ctx := context.Background()
	var m fake.Machine
	if err := json.Unmarshal([]byte(`{
	  "nics": [{"name": "eth0", "mac": "52:54:00:00:00:01", "segment": "lan", "lro": true},
	           {"name": "eth1", "mac": "52:54:00:00:00:02", "segment": "lan"}],
	  "vlans": [{"name": "eth1.5", "link": "eth1", "id": 5}],
	  "up": ["eth0", "eth1", "eth1.5"]}`), &m); err != nil {
		t.Fatal(err)
	}
	k, err := fake.New(m)
	if err != nil {
		t.Fatal(err)
	}
	before := k.State()
	snap, err := kernel.Take(ctx, k, time.Now(), "eth0", "eth1", "eth1.5")
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []func() (kernel.Undo, error){
		func() (kernel.Undo, error) {
			return k.CreateBridge(ctx, kernel.BridgeConfig{Name: "br0", Priority: -1})
		},
		func() (kernel.Undo, error) { return k.SetMaster(ctx, "eth0", "br0") },
		func() (kernel.Undo, error) { return k.SetMTU(ctx, "eth1.5", 1400) },
		func() (kernel.Undo, error) { return k.SetMTU(ctx, "eth1", 1300) },
	} {
		if _, err := step(); err != nil {
			t.Fatal(err)
		}
	}
	if on, _ := k.LRO(ctx, "eth0"); on {
		t.Fatal("LRO on in a bridge: the test proves nothing")
	}
	if err := snap.Restore(ctx, k, time.Now()); err != nil {
		t.Fatalf("restore: %v", err)
	}
	after := slices.DeleteFunc(k.State(), func(s string) bool { return strings.HasPrefix(s, "link br0 ") })
	if !slices.Equal(after, before) {
		t.Errorf("not restored:\nbefore %q\nafter  %q", before, after)
	}
}
