package kernel

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"time"

	"github.com/bondstrap/bondstrap/netplan/spec"
)

// Snapshot is the state some links were found in: their attributes (a
// bond's mode, settings, primary and ports too; a bridge's settings, a
// bridge port's), LRO, IPv6 settings, addresses and routes. An undo journal
// reverts what a run did; Restore then puts back what the kernel changed on
// its own account: the routes it flushed when a NIC went down, the IPv6
// addresses it dropped, what a bond does to its ports, the LRO a bridge
// turned off. Without a journal (bondstrap down, from a report's JSON form)
// Restore puts back every attribute a run may change.
type Snapshot struct {
	// Taken is when the snapshot was taken; remaining lifetimes count from
	// it.
	Taken  time.Time
	Links  []Link
	Addrs  []Addr
	Routes []Route
	// LRO holds the links that had large receive offload on.
	LRO map[string]bool
	// IPv6 holds the IPv6 settings of the links that had IPv6.
	IPv6 map[string]IPv6Config
}

// Take snapshots the links named (a missing one is an error).
func Take(ctx context.Context, k Kernel, now time.Time, names ...string) (*Snapshot, error) {
	s := &Snapshot{Taken: now}
	return s, s.Add(ctx, k, names...)
}

// Has reports whether the snapshot holds the link name.
func (s *Snapshot) Has(name string) bool {
	return slices.ContainsFunc(s.Links, func(l Link) bool { return l.Name == name })
}

// Link returns the snapshot of link name.
func (s *Snapshot) Link(name string) (Link, bool) {
	i := slices.IndexFunc(s.Links, func(l Link) bool { return l.Name == name })
	if i < 0 {
		return Link{}, false
	}
	return s.Links[i], true
}

// Add snapshots more links; a link already held keeps its first state.
func (s *Snapshot) Add(ctx context.Context, k Kernel, names ...string) error {
	var todo []string
	for _, n := range names {
		if !s.Has(n) && !slices.Contains(todo, n) {
			todo = append(todo, n)
		}
	}
	if len(todo) == 0 {
		return nil
	}
	links, err := k.Links(ctx)
	if err != nil {
		return err
	}
	addrs, err := k.Addrs(ctx)
	if err != nil {
		return err
	}
	routes, err := k.Routes(ctx)
	if err != nil {
		return err
	}
	for _, n := range todo {
		l, err := find(links, n)
		if err != nil {
			return err
		}
		s.Links = append(s.Links, l)
		lro, err := k.LRO(ctx, n)
		if err != nil {
			return err
		}
		if lro {
			if s.LRO == nil {
				s.LRO = map[string]bool{}
			}
			s.LRO[n] = true
		}
		switch c, err := k.IPv6(ctx, n); {
		case errors.Is(err, ErrNoIPv6):
		case err != nil:
			return err
		default:
			if s.IPv6 == nil {
				s.IPv6 = map[string]IPv6Config{}
			}
			s.IPv6[n] = c
		}
		for _, a := range addrs {
			if a.Link == n {
				s.Addrs = append(s.Addrs, a)
			}
		}
		for _, r := range routes {
			if r.Link == n {
				s.Routes = append(s.Routes, r)
			}
		}
	}
	return nil
}

// Restore puts the snapshot's links back as they were: a bond that is gone
// is made again, a bond's mode and settings, a bridge's settings, every
// link's master, MTU, MAC and admin state, a bridge port's cost and
// priority, a bond's primary, LRO and IPv6 settings, then the addresses
// that are missing (with what is left of their lifetimes) and the routes
// that are missing.
// A VLAN or bridge that is gone is not made again (bondstrap deletes only
// those it made). It does not remove what is there in excess: the journal
// (or bondstrap down) removes what a run added. It goes on past errors and
// returns them all.
func (s *Snapshot) Restore(ctx context.Context, k Kernel, now time.Time) error {
	var errs []error
	fail := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	links, err := k.Links(ctx)
	if err != nil {
		return err
	}
	// Bonds and bridges first, so ports have their master to go back to.
	for _, want := range s.Links {
		switch {
		case want.Bond != nil:
			fail(s.restoreBond(ctx, k, links, want))
		case want.Bridge != nil:
			fail(restoreBridge(ctx, k, links, want))
		}
	}
	if links, err = k.Links(ctx); err != nil {
		return errors.Join(append(errs, err)...)
	}
	// What links sit on before them: NICs, bonds, VLANs, bridges (for the
	// MTU a VLAN may not have above its parent's, for the admin state).
	order := slices.Clone(s.Links)
	slices.SortStableFunc(order, func(a, b Link) int { return cmp.Compare(layer(a), layer(b)) })
	// Then ports and other links: master, MTU, MAC.
	for _, want := range order {
		have, err := find(links, want.Name)
		if err != nil {
			fail(fmt.Errorf("restore %s: %w", want.Name, err))
			continue
		}
		fail(restoreLink(ctx, k, have, want))
	}
	for _, want := range s.Links {
		// A bond may be a bridge's port too.
		if want.Bond != nil {
			fail(restorePrimary(ctx, k, want))
		}
		if want.BridgePort != nil {
			fail(restoreBridgePort(ctx, k, want))
		}
		if s.LRO[want.Name] {
			if on, err := k.LRO(ctx, want.Name); err != nil || !on {
				_, err := k.SetLRO(ctx, want.Name, true)
				fail(err)
			}
		}
		if c, ok := s.IPv6[want.Name]; ok {
			fail(restoreIPv6(ctx, k, want.Name, c))
		}
	}
	// Admin state last: ports before their masters.
	if links, err = k.Links(ctx); err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, want := range order {
		have, err := find(links, want.Name)
		if err != nil {
			continue
		}
		if have.Up != want.Up {
			_, err := k.SetUp(ctx, want.Name, want.Up)
			fail(err)
		}
	}
	fail(s.restoreAddrs(ctx, k, now))
	fail(s.restoreRoutes(ctx, k))
	return errors.Join(errs...)
}

// layer orders links by what sits on what: NICs (and other links), bonds,
// VLANs, bridges.
func layer(l Link) int {
	switch {
	case l.Bond != nil:
		return 1
	case l.VLAN != nil:
		return 2
	case l.Bridge != nil:
		return 3
	}
	return 0
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// restoreBond makes a deleted bond again, or puts back its mode and
// settings (releasing its ports and setting it down when the kernel asks
// for that; restoreLink enslaves them again and the admin state comes last).
func (s *Snapshot) restoreBond(ctx context.Context, k Kernel, links []Link, want Link) error {
	have, err := find(links, want.Name)
	if errors.Is(err, ErrNotFound) {
		_, err := k.CreateBond(ctx, BondConfig{Name: want.Name, Mode: want.Bond.Mode, Settings: want.Bond.Settings,
			MAC: want.MAC, MTU: want.MTU})
		if err != nil {
			return fmt.Errorf("make bond %s again: %w", want.Name, err)
		}
		return nil
	}
	if err != nil {
		return err
	}
	if have.Bond == nil {
		return fmt.Errorf("restore bond %s: it is a %s link now", want.Name, orDevice(have.Kind))
	}
	mode := ""
	if have.Bond.Mode != want.Bond.Mode {
		mode = want.Bond.Mode
	}
	var changed spec.Settings
	needDown, needEmpty := mode != "", mode != ""
	miimon := spec.EffectiveMIIMon(want.Bond.Mode, want.Bond.Settings)
	for _, w := range want.Bond.Settings {
		if h, ok := have.Bond.Settings.Get(w.Param.Key); ok && h.Equal(w) && mode == "" {
			continue
		}
		if w.Param.NeedsMII && miimon == 0 {
			// Without the MII monitor the kernel refuses the delays, even
			// a 0 (what it holds then).
			continue
		}
		changed = changed.Set(w)
		needDown = needDown || w.Param.IfDown
		needEmpty = needEmpty || w.Param.NoPorts
	}
	if mode == "" && len(changed) == 0 {
		return nil
	}
	if needEmpty {
		for _, l := range links {
			if l.Master == want.Name {
				if _, err := k.SetMaster(ctx, l.Name, ""); err != nil {
					return err
				}
			}
		}
	}
	if needDown && have.Up {
		if _, err := k.SetUp(ctx, want.Name, false); err != nil {
			return err
		}
	}
	with := changed
	if mode != "" {
		var before spec.Settings
		before, with = ModeSteps(have.Bond.Mode, mode, changed)
		if len(before) > 0 {
			if _, err := k.ChangeBond(ctx, want.Name, "", before); err != nil {
				return fmt.Errorf("restore bond %s: %w", want.Name, err)
			}
		}
	}
	if _, err := k.ChangeBond(ctx, want.Name, mode, with); err != nil {
		return fmt.Errorf("restore bond %s: %w", want.Name, err)
	}
	return nil
}

// restoreBridge puts back a bridge's settings.
func restoreBridge(ctx context.Context, k Kernel, links []Link, want Link) error {
	have, err := find(links, want.Name)
	if err != nil {
		return fmt.Errorf("restore bridge %s: %w", want.Name, err)
	}
	if have.Bridge == nil {
		return fmt.Errorf("restore bridge %s: it is a %s link now", want.Name, orDevice(have.Kind))
	}
	w, h := *want.Bridge, *have.Bridge
	w.Name, h.Name = want.Name, want.Name
	if reflect.DeepEqual(w, h) {
		return nil
	}
	_, err = k.ChangeBridge(ctx, w)
	return err
}

// restoreBridgePort puts back a bridge port's cost and priority, when it
// is in its bridge again.
func restoreBridgePort(ctx context.Context, k Kernel, want Link) error {
	have, err := k.Link(ctx, want.Name)
	if err != nil || have.BridgePort == nil || have.Master != want.Master || *have.BridgePort == *want.BridgePort {
		return err
	}
	_, err = k.SetBridgePort(ctx, want.Name, *want.BridgePort)
	return err
}

// restoreLink puts back one link's master, MTU and MAC.
func restoreLink(ctx context.Context, k Kernel, have, want Link) error {
	if have.Master != want.Master && have.Master != "" {
		if _, err := k.SetMaster(ctx, want.Name, ""); err != nil {
			return err
		}
		have.Master = ""
	}
	if have.MTU != want.MTU && want.MTU > 0 {
		if _, err := k.SetMTU(ctx, want.Name, want.MTU); err != nil {
			return err
		}
	}
	// A bond's port has the bond's MAC; the bond gives back its own.
	if want.Port == nil && len(want.MAC) > 0 && have.MAC.String() != want.MAC.String() {
		if _, err := k.SetMAC(ctx, want.Name, want.MAC); err != nil {
			return err
		}
	}
	if have.Master != want.Master {
		// A bond takes only ports that are down; a bridge any.
		m, err := k.Link(ctx, want.Master)
		if err != nil {
			return fmt.Errorf("restore %s: master %w", want.Name, err)
		}
		if cur, err := k.Link(ctx, want.Name); err == nil && cur.Up && m.Kind == "bond" {
			if _, err := k.SetUp(ctx, want.Name, false); err != nil {
				return err
			}
		}
		if _, err := k.SetMaster(ctx, want.Name, want.Master); err != nil {
			return err
		}
	}
	return nil
}

// restoreIPv6 puts back a link's IPv6 settings; a link that has no IPv6
// now has none to put back.
func restoreIPv6(ctx context.Context, k Kernel, name string, want IPv6Config) error {
	have, err := k.IPv6(ctx, name)
	if errors.Is(err, ErrNoIPv6) || (err == nil && have == want) {
		return nil
	}
	if err != nil {
		return err
	}
	_, err = k.SetIPv6(ctx, name, want)
	return err
}

func restorePrimary(ctx context.Context, k Kernel, want Link) error {
	have, err := k.Link(ctx, want.Name)
	if err != nil || have.Bond == nil || have.Bond.Primary == want.Bond.Primary {
		return err
	}
	m, ok := spec.LookupMode(have.Bond.Mode)
	if !ok || !m.Primary {
		return nil
	}
	_, err = k.SetPrimary(ctx, want.Name, want.Bond.Primary)
	return err
}

// restoreAddrs adds back every address of the snapshot that is missing (but
// expired ones). IPv6 link-local addresses are the kernel's, made from the MAC
// a link had when it got carrier: a bond that got carrier with a port's MAC
// before its own came back has another one; the snapshot's is put back and
// the other removed.
func (s *Snapshot) restoreAddrs(ctx context.Context, k Kernel, now time.Time) error {
	have, err := k.Addrs(ctx)
	if err != nil {
		return err
	}
	elapsed := now.Sub(s.Taken)
	var errs []error
	for _, h := range have {
		if !IsLinkLocal(h.Prefix) || !s.Has(h.Link) {
			continue
		}
		hadLL := slices.ContainsFunc(s.Addrs, func(a Addr) bool { return a.Link == h.Link && IsLinkLocal(a.Prefix) })
		if hadLL && !slices.ContainsFunc(s.Addrs, func(a Addr) bool { return a.Link == h.Link && a.Prefix == h.Prefix }) {
			if _, err := k.DelAddr(ctx, h); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for _, a := range s.Addrs {
		if slices.ContainsFunc(have, func(h Addr) bool { return h.Link == a.Link && h.Prefix == a.Prefix }) {
			continue
		}
		if IsLinkLocal(a.Prefix) {
			// Down links have none; the kernel makes it when the link
			// comes up.
			if l, err := k.Link(ctx, a.Link); err != nil || !l.Up {
				continue
			}
		}
		if a.Valid > 0 {
			if a.Valid <= elapsed {
				continue
			}
			a.Valid -= elapsed
			a.Preferred = max(a.Preferred-elapsed, 0)
		}
		if _, err := k.AddAddr(ctx, a); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// restoreRoutes adds back every route of the snapshot that is missing but
// the kernel's own (which come back with their addresses): routes on the
// link first, then those through a gateway, which need them.
func (s *Snapshot) restoreRoutes(ctx context.Context, k Kernel) error {
	have, err := k.Routes(ctx)
	if err != nil {
		return err
	}
	var todo []Route
	for _, r := range s.Routes {
		if r.Protocol == ProtoKernel || (r.Dst.Addr().Is6() && r.Dst.Addr().IsLinkLocalUnicast()) {
			continue
		}
		if slices.ContainsFunc(have, func(h Route) bool { return sameRoute(h, r) }) {
			continue
		}
		todo = append(todo, r)
	}
	slices.SortStableFunc(todo, func(a, b Route) int {
		return cmp.Compare(boolInt(a.Gw.IsValid()), boolInt(b.Gw.IsValid()))
	})
	var errs []error
	for _, r := range todo {
		if _, err := k.AddRoute(ctx, r); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// sameRoute reports whether two routes are the same route on the same link.
func sameRoute(a, b Route) bool {
	return a.Key() == b.Key() && a.Link == b.Link && a.Gw == b.Gw
}

// IsLinkLocal reports whether a prefix is an IPv6 link-local address, which
// the kernel makes on every link that comes up.
func IsLinkLocal(p netip.Prefix) bool {
	return p.Addr().Is6() && p.Addr().IsLinkLocalUnicast()
}
