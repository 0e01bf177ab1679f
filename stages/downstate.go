package stages

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/bondstrap/bondstrap/detect/kernel"
)

// DownState is what `bondstrap down` needs to put the machine back as it
// was before apply built its network, as the report carries it: the links
// apply changed as it first found them, the links it made, the resolver
// file it replaced.
//
// A run that finds the network already built (a second apply in the same
// boot) carries the record of the run before it forward, so the record
// always says how the machine was before the first apply of the boot that
// changed it.
type DownState struct {
	// BootID is the kernel's boot id (/proc/sys/kernel/random/boot_id) of
	// the run: link indexes and states mean nothing in another boot.
	BootID string `json:"boot_id,omitempty"`
	// Before holds every link that existed before apply and that apply
	// changed, as found, with its addresses, routes, LRO and IPv6
	// settings. Links are matched by index, so a renamed NIC is found
	// again under its new name.
	Before *kernel.Snapshot `json:"before,omitempty"`
	// Created are the links apply made, in the order it made them.
	Created []CreatedLink `json:"created,omitempty"`
	// ResolvConf is the resolver file as it was before apply wrote it; nil
	// when apply did not write it.
	ResolvConf *FileBefore `json:"resolv_conf,omitempty"`
	// TornDown is when `bondstrap down` put the machine back from this
	// record: it is not carried forward, nor torn down again.
	TornDown time.Time `json:"torn_down,omitzero"`
}

// CreatedLink is a link apply made.
type CreatedLink struct {
	Name string `json:"name"`
	// Kind is the kernel's: bond, vlan or bridge.
	Kind  string `json:"kind"`
	Index int    `json:"index,omitempty"`
}

// FileBefore is a file apply replaced, as it was before, and what apply
// wrote in its place.
type FileBefore struct {
	Path string `json:"path"`
	// Existed is false when apply made the file.
	Existed bool   `json:"existed"`
	Content string `json:"content,omitempty"`
	// Written is what apply wrote: down puts the file back only while it
	// still says that.
	Written string `json:"written,omitempty"`
}

// bootIDPath is where the kernel says which boot this is.
const bootIDPath = "/proc/sys/kernel/random/boot_id"

// readBootID returns this boot's id, or "" when the kernel does not say.
// Tests replace it.
var readBootID = func() string {
	b, err := os.ReadFile(bootIDPath)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// recordDown puts in the report what `bondstrap down` needs. It runs with
// the report stage, after teardown and fallback, so it records what the run
// leaves: a failed run's teardown has emptied the snapshot and deleted what
// it made. The record of an earlier run of this boot (the report at
// ReportPath, before this run replaces it) is carried forward.
func (s *state) recordDown(ctx context.Context) {
	links, err := s.k.Links(ctx)
	if err != nil {
		s.warn("bondstrap down will not know what this run made: listing the links failed", "error", err)
		return
	}
	cur := &DownState{BootID: readBootID(), Before: s.snap, Created: s.createdLinks(links)}
	if dr := s.rep.DNS; dr != nil && dr.Before != nil {
		cur.ResolvConf = dr.Before
	}
	prev, err := readDownState(s.opts.ReportPath)
	if err != nil {
		s.warn("the earlier report of this boot is unreadable: bondstrap down will restore links as this run found them",
			"path", s.opts.ReportPath, "error", err)
	}
	if prev != nil && prev.BootID == cur.BootID && prev.TornDown.IsZero() {
		s.note("carrying forward the earlier run's record of the machine as it was", "path", s.opts.ReportPath)
		cur = mergeDown(prev, cur, links)
	}
	s.rep.Down = cur
}

// createdLinks lists the links this run made that are still there, in the
// order it made them: bonds, then VLANs and bridges in plan order.
func (s *state) createdLinks(links []kernel.Link) []CreatedLink {
	if s.plan == nil {
		return nil
	}
	var names []string
	for _, b := range s.plan.Bonds {
		names = append(names, b.Name)
	}
	for _, v := range s.plan.Virtuals {
		names = append(names, v.Name)
	}
	var out []CreatedLink
	for _, name := range names {
		if !s.created[name] {
			continue
		}
		if i := slices.IndexFunc(links, func(l kernel.Link) bool { return l.Name == name }); i >= 0 {
			out = append(out, CreatedLink{Name: name, Kind: links[i].Kind, Index: links[i].Index})
		}
	}
	return out
}

// readDownState reads the down record of the report at path; none (no
// file, or a report without one) is nil.
func readDownState(path string) (*DownState, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var r struct {
		Down *DownState `json:"down"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return r.Down, nil
}

// mergeDown merges the record of this run into the earlier one's: the
// earlier run's links as it found them win (by index: a NIC it renamed is
// the same link); this run's add the links only it touched, without those
// an earlier run made. Lifetimes are carried to the earlier snapshot's
// time. links are the links there are now: a made link that is gone is
// dropped.
func mergeDown(prev, cur *DownState, links []kernel.Link) *DownState {
	out := &DownState{BootID: cur.BootID, ResolvConf: prev.ResolvConf}
	exists := func(c CreatedLink) bool {
		return slices.ContainsFunc(links, func(l kernel.Link) bool { return l.Name == c.Name && l.Index == c.Index })
	}
	for _, c := range append(slices.Clone(prev.Created), cur.Created...) {
		if exists(c) && !slices.ContainsFunc(out.Created, func(o CreatedLink) bool { return o.Index == c.Index }) {
			out.Created = append(out.Created, c)
		}
	}
	if cur.ResolvConf != nil {
		if out.ResolvConf == nil {
			out.ResolvConf = cur.ResolvConf
		} else {
			rc := *out.ResolvConf
			rc.Written = cur.ResolvConf.Written
			out.ResolvConf = &rc
		}
	}

	before := &kernel.Snapshot{Taken: cur.Before.Taken}
	if prev.Before != nil {
		before = cloneSnapshot(prev.Before)
	}
	shift := cur.Before.Taken.Sub(before.Taken)
	for _, l := range cur.Before.Links {
		sameIndex := func(o kernel.Link) bool { return o.Index == l.Index }
		if slices.ContainsFunc(before.Links, sameIndex) || before.Has(l.Name) ||
			slices.ContainsFunc(out.Created, func(c CreatedLink) bool { return c.Index == l.Index }) {
			continue
		}
		before.Links = append(before.Links, l)
		for _, a := range cur.Before.Addrs {
			if a.Link != l.Name {
				continue
			}
			if a.Valid > 0 {
				// Remaining lifetimes count from the snapshot's time.
				a.Valid += shift
				a.Preferred += shift
			}
			before.Addrs = append(before.Addrs, a)
		}
		for _, r := range cur.Before.Routes {
			if r.Link == l.Name {
				before.Routes = append(before.Routes, r)
			}
		}
		if cur.Before.LRO[l.Name] {
			if before.LRO == nil {
				before.LRO = map[string]bool{}
			}
			before.LRO[l.Name] = true
		}
		if c, ok := cur.Before.IPv6[l.Name]; ok {
			if before.IPv6 == nil {
				before.IPv6 = map[string]kernel.IPv6Config{}
			}
			before.IPv6[l.Name] = c
		}
	}
	out.Before = before
	return out
}

func cloneSnapshot(s *kernel.Snapshot) *kernel.Snapshot {
	c := *s
	c.Links = slices.Clone(s.Links)
	c.Addrs = slices.Clone(s.Addrs)
	c.Routes = slices.Clone(s.Routes)
	c.LRO = maps.Clone(s.LRO)
	c.IPv6 = maps.Clone(s.IPv6)
	return &c
}
