package stages

import (
	"context"
	"fmt"
	"strings"

	"github.com/bondstrap/bondstrap/netplan"
)

// selectStage picks each bond's members from the inventory with the config's
// rules, logs every decision, and puts the NICs that no bond took back as
// detect found them.
func selectStage(ctx context.Context, s *state) error {
	plan, err := netplan.Select(s.cfg, s.inv)
	if err != nil {
		return err
	}
	s.plan = plan
	s.rep.Plan = plan

	taken := map[string]bool{}
	for _, b := range plan.Bonds {
		for _, d := range b.Decisions {
			s.note(decisionLine(d), "bond", b.Name, "nic", d.NIC, "selected", d.Selected)
		}
		s.note("bond planned", "bond", b.Name, "mode", b.Mode, "members", strings.Join(b.Members, ","),
			"primary", b.Primary)
		for _, m := range b.Members {
			taken[m] = true
		}
	}
	for _, e := range plan.Ethernets {
		s.note(fmt.Sprintf("%s selected: %s", e.NIC.Name, e.Reason), "ethernets", e.ID, "nic", e.NIC.Name, "name", e.Name)
		taken[e.NIC.Name] = true
	}
	for _, v := range plan.Virtuals {
		s.note(v.Kind+" planned", "name", v.Name, "link", v.Link, "vlan_id", v.VLANID, "ports", strings.Join(v.Ports, ","), "mac", v.MAC)
	}
	for _, d := range plan.Unused {
		s.note(decisionLine(d), "nic", d.NIC, "selected", false)
	}

	// A NIC brought up only to read its link goes back the way it was.
	for _, name := range s.rep.Candidates {
		if taken[name] {
			continue
		}
		if err := s.undoNIC(ctx, name); err != nil {
			return fmt.Errorf("put back unused NIC %s: %w", name, err)
		}
	}
	return nil
}

func decisionLine(d netplan.Decision) string {
	verdict := "left out"
	if d.Selected {
		verdict = "selected"
	}
	return fmt.Sprintf("%s %s: %s", d.NIC, verdict, d.Reason)
}
