//go:build linux

package stages

import (
	"context"
	"testing"
	"time"
)

// A veth gets carrier when both ends are up: the wait must return on the
// event, well before its deadline.
func TestWaitCarrierEvent(t *testing.T) {
	l := newLab(t)
	a := l.veth("nic0", "peer0", true)
	if err := l.h.LinkSetUp(a); err != nil {
		t.Fatal(err)
	}
	k := kernel{h: l.h}
	var up map[string]bool
	var err error
	raisedCh := make(chan time.Time, 1)
	start := time.Now()
	in(t, l.client, func() {
		// Raise the peer a little after the wait has started; the wait must
		// see it through the subscription, not a poll.
		timer := time.AfterFunc(200*time.Millisecond, func() {
			p, _ := l.sh.LinkByName("peer0")
			raisedCh <- time.Now()
			_ = l.sh.LinkSetUp(p)
		})
		defer timer.Stop()
		up, err = k.waitCarrier(context.Background(), []string{"nic0"}, time.Now().Add(10*time.Second))
	})
	done := time.Now()
	if err != nil {
		t.Fatal(err)
	}
	if !up["nic0"] {
		t.Fatalf("no carrier seen: %v", up)
	}
	if done.Sub(start) > 5*time.Second {
		t.Fatalf("wait took %s: it did not return on the event", done.Sub(start))
	}
	t.Logf("carrier seen %s after the peer came up", done.Sub(<-raisedCh))
}

// NICs that never get link: the wait returns at its one deadline with the
// ones that did, and no error.
func TestWaitCarrierDeadline(t *testing.T) {
	l := newLab(t)
	for _, n := range []struct {
		name, peer string
		down       bool
	}{{"nic0", "peer0", false}, {"nic1", "peer1", true}, {"nic2", "peer2", true}} {
		link := l.veth(n.name, n.peer, n.down)
		if err := l.h.LinkSetUp(link); err != nil {
			t.Fatal(err)
		}
	}
	k := kernel{h: l.h}
	const wait = 500 * time.Millisecond
	var up map[string]bool
	var err error
	start := time.Now()
	in(t, l.client, func() {
		up, err = k.waitCarrier(context.Background(), []string{"nic0", "nic1", "nic2"}, time.Now().Add(wait))
	})
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if !up["nic0"] || up["nic1"] || up["nic2"] {
		t.Fatalf("carrier = %v, want only nic0", up)
	}
	if took < wait || took > wait+time.Second {
		t.Fatalf("returned after %s, want about %s (one deadline for all)", took, wait)
	}
	t.Logf("returned after %s for a %s deadline", took, wait)
}

// A cancelled context ends the wait at once.
func TestWaitCarrierCancelled(t *testing.T) {
	l := newLab(t)
	link := l.veth("nic0", "peer0", true)
	if err := l.h.LinkSetUp(link); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	var err error
	in(t, l.client, func() {
		_, err = kernel{h: l.h}.waitCarrier(ctx, []string{"nic0"}, time.Now().Add(time.Minute))
	})
	if err != context.Canceled {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}
