package stages

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/bondstrap/bondstrap/detect/kernel"
	"github.com/bondstrap/bondstrap/netplan"
	"github.com/bondstrap/bondstrap/netplan/spec"
)

// LACP check outcomes and actions in the report.
const (
	LACPNegotiated = "negotiated" // a partner, every member with link in its aggregator
	LACPPartial    = "partial"    // a partner, at least min-members in the aggregator, not all
	LACPNoPartner  = "no-partner" // no LACPDU answered within lacp.timeout
	LACPTooFew     = "too-few"    // a partner, fewer than min-members in the aggregator
)

// LACPReport is what apply found of an 802.3ad bond's negotiation.
type LACPReport struct {
	// Outcome is LACPNegotiated, LACPPartial, LACPNoPartner or LACPTooFew.
	Outcome string `json:"outcome"`
	// PartnerMAC and PartnerKey identify the partner (the switch's system
	// MAC and its aggregation key); AggregatorID is the active aggregator.
	PartnerMAC   string `json:"partner_mac,omitempty"`
	PartnerKey   int    `json:"partner_key,omitempty"`
	ActorKey     int    `json:"actor_key,omitempty"`
	AggregatorID int    `json:"aggregator_id,omitempty"`
	// Joined are the members in the active aggregator, collecting and
	// distributing; Expected the members with link.
	Joined   []string `json:"joined"`
	Expected []string `json:"expected"`
	// Took is how long the negotiation took, from the last port joining the
	// bond (or, for a bond this run did not change, from the start of the
	// wait), or the time waited for it.
	Took Millis `json:"took_ms"`
	// Action is what apply did about a failed negotiation:
	// "active-backup" (fell back), "failed" or "continued".
	Action string `json:"action,omitempty"`
}

// lacpStage checks every 802.3ad bond's negotiation, after the bond stage
// has them up with carrier. A bond whose partner does not answer, or with
// fewer than min-members ports in its aggregator, is dealt with as its
// lacp.on-failure says.
func lacpStage(ctx context.Context, s *state) error {
	for i := range s.plan.Bonds {
		bp := s.plan.Bonds[i]
		if bp.Mode != spec.LACP {
			continue
		}
		if err := s.checkLACP(ctx, i); err != nil {
			return fmt.Errorf("%s: %w", bp.Name, err)
		}
	}
	return nil
}

// lacpState is an 802.3ad bond's aggregation as the kernel reports it.
type lacpState struct {
	ad     *kernel.ADInfo
	joined []string
}

func readLACP(links []kernel.Link, bond string) lacpState {
	var st lacpState
	for _, l := range links {
		if l.Name == bond && l.Bond != nil {
			st.ad = l.Bond.AD
		}
	}
	if st.ad == nil {
		return st
	}
	for _, l := range links {
		if l.Master == bond && l.Port.Joined(st.ad.AggregatorID) {
			st.joined = append(st.joined, l.Name)
		}
	}
	slices.Sort(st.joined)
	return st
}

// checkLACP waits for plan bond i's partner and ports, then reports, and
// falls back, fails or goes on as the config says.
func (s *state) checkLACP(ctx context.Context, i int) error {
	bp := s.plan.Bonds[i]
	br := s.bondReport(bp.Name)
	links, err := s.k.Links(ctx)
	if err != nil {
		return err
	}
	var expected []string
	for _, l := range links {
		if l.Master == bp.Name && l.Carrier {
			expected = append(expected, l.Name)
		}
	}
	slices.Sort(expected)
	timeout := bp.Config.LACPTimeout()
	deadline := s.until(timeout)
	// Negotiation starts when the last port joins the bond, not when this
	// stage starts: the bond stage's wait for carrier is part of it.
	start := time.Now()
	if t, ok := s.enslaved[bp.Name]; ok {
		start = t
	}
	var st lacpState
	err = s.op(fmt.Sprintf("waiting up to %s for the LACP partner of %s and %d port(s) in its aggregator", timeout,
		bp.Name, len(expected)), func() error {
		links, _, err := s.k.WaitFor(ctx, deadline, func(ls []kernel.Link) bool {
			st := readLACP(ls, bp.Name)
			return st.ad.HasPartner() && len(st.joined) >= len(expected)
		})
		st = readLACP(links, bp.Name)
		return err
	})
	if err != nil {
		return err
	}
	r := &LACPReport{Joined: st.joined, Expected: expected, Took: Millis(time.Since(start))}
	if r.Joined == nil {
		r.Joined = []string{}
	}
	if st.ad != nil {
		r.AggregatorID, r.ActorKey, r.PartnerKey = st.ad.AggregatorID, st.ad.ActorKey, st.ad.PartnerKey
		if st.ad.HasPartner() {
			r.PartnerMAC = st.ad.PartnerMAC.String()
		}
	}
	if br != nil {
		br.LACP = r
	}
	minMembers := bp.Config.MinMembersOrDefault()
	switch {
	case !st.ad.HasPartner():
		r.Outcome = LACPNoPartner
	case len(st.joined) < minMembers:
		r.Outcome = LACPTooFew
	case len(st.joined) < len(expected):
		r.Outcome = LACPPartial
	default:
		r.Outcome = LACPNegotiated
	}
	s.note("LACP", "bond", bp.Name, "outcome", r.Outcome, "partner_mac", r.PartnerMAC, "partner_key", r.PartnerKey,
		"aggregator", r.AggregatorID, "joined", strings.Join(r.Joined, ","), "expected", strings.Join(expected, ","),
		"took", time.Duration(r.Took).Round(time.Millisecond))
	why := ""
	switch r.Outcome {
	case LACPNegotiated:
		return nil
	case LACPPartial:
		s.warn(fmt.Sprintf("%s: only %d of %d ports with link joined the LACP aggregator (%s)", bp.Name,
			len(r.Joined), len(expected), strings.Join(r.Joined, ", ")))
		return nil
	case LACPNoPartner:
		why = fmt.Sprintf("no LACP partner answered within %s", timeout)
	default:
		why = fmt.Sprintf("%d port(s) joined the LACP aggregator (%s), min-members is %d", len(r.Joined),
			strings.Join(r.Joined, ", "), minMembers)
	}
	switch bp.Config.LACPOnFailure() {
	case netplan.LACPContinue:
		r.Action = "continued"
		s.warn(fmt.Sprintf("%s: %s; continuing in 802.3ad as configured (lacp.on-failure: continue)", bp.Name, why))
		return nil
	case netplan.LACPFail:
		r.Action = "failed"
		return fmt.Errorf("%s (lacp.on-failure: fail)", why)
	}
	r.Action = spec.ActiveBackup
	s.note("falling back to active-backup over the same members", "bond", bp.Name, "reason", why)
	ab := activeBackup(bp)
	if br != nil {
		br.Declared, br.Mode = bp.Mode, ab.Mode
	}
	if err := s.ensureBond(ctx, ab, br); err != nil {
		return fmt.Errorf("fall back to active-backup: %w", err)
	}
	if err := s.waitBondCarrier(ctx, []string{bp.Name}); err != nil {
		return fmt.Errorf("fall back to active-backup: %w", err)
	}
	s.degraded = append(s.degraded, fmt.Sprintf("%s: %s; it runs in active-backup", bp.Name, why))
	if bp.Config.LACPPersist() == netplan.LACPPersistBuilt {
		s.plan.Bonds[i] = ab
	}
	return nil
}

// activeBackup is bp as an active-backup bond over the same members: the
// parameters active-backup takes, and the MII monitor the 802.3ad bond ran
// (active-backup has none by default).
func activeBackup(bp netplan.BondPlan) netplan.BondPlan {
	ab := bp
	ab.Mode = spec.ActiveBackup
	cfg := bp.Config
	var declared spec.Settings
	if cfg.Parameters != nil {
		declared = cfg.Parameters.Settings
	}
	var settings spec.Settings
	for _, st := range declared {
		if st.Param.AcceptedIn(spec.ActiveBackup) {
			settings = settings.Set(st)
		}
	}
	if _, ok := settings.Get("mii-monitor-interval"); !ok {
		p, _ := spec.Lookup("mii-monitor-interval")
		settings = settings.Set(spec.Setting{Param: p, N: spec.EffectiveMIIMon(spec.LACP, declared)})
	}
	cfg.Parameters = &netplan.BondParameters{Mode: netplan.ModeActiveBackup, Settings: settings}
	cfg.LACP = nil
	ab.Config = cfg
	return ab
}

// bondReport returns the report of the bond name.
func (s *state) bondReport(name string) *BondReport {
	for _, br := range s.rep.Bonds {
		if br.Name == name {
			return br
		}
	}
	return nil
}
