package netplan

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/bondstrap/bondstrap/detect/inventory"
)

// SelectionError says that one or more bonds got fewer members than their
// min-members, or that a bond's primary matched none of its members. It lists,
// for each NIC seen, why it was left out.
type SelectionError struct {
	Failures []BondFailure
}

// BondFailure is the selection failure of one bond, or of one standalone
// ethernets id (Kind KindEthernet).
type BondFailure struct {
	Bond      string
	Kind      string
	Problem   string
	Decisions []Decision
}

func (e *SelectionError) Error() string {
	var b strings.Builder
	for i, f := range e.Failures {
		if i > 0 {
			b.WriteString("\n")
		}
		what := "bond"
		if f.Kind == KindEthernet {
			what = "ethernets id"
		}
		fmt.Fprintf(&b, "%s %s: %s", what, f.Bond, f.Problem)
		for _, d := range f.Decisions {
			verdict := "left out"
			if d.Selected {
				verdict = "selected"
			}
			fmt.Fprintf(&b, "\n  %s: %s: %s", d.NIC, verdict, d.Reason)
		}
	}
	return b.String()
}

// Select picks the members of every bond of cfg from the NICs of inv,
// deterministically:
//
//  1. candidates are the NICs of the inventory (physical NICs only);
//  2. bonds are resolved in name order, and a NIC goes to the first bond one of
//     whose interfaces matches it;
//  3. in 802.3ad mode all members must share one speed: the speed group with
//     the most NICs is kept, on a tie the faster; NICs of unknown speed (no
//     link) form a group only when no NIC has a known speed, so the cabled
//     ports win over any number of dark ones; dark NICs stay members, after
//     the cabled ones, and join the aggregator when their links come up;
//  4. members are ordered by PCI address (by name for NICs without one, after
//     those with one), and max-members keeps the first N;
//  5. fewer than min-members (default 1) is an error;
//  6. the primary is the first member that the primary id matches.
//
// A NIC that matched a bond but was dropped by rule 3 or 4 is not offered to
// later bonds: whether a NIC joins a bond never depends on how many others did.
func Select(cfg *Config, inv inventory.Inventory) (*Plan, error) {
	nics := slices.Clone(inv.Interfaces)
	slices.SortFunc(nics, func(a, b inventory.NIC) int { return cmp.Compare(a.Name, b.Name) })

	takenBy := make(map[string]string)
	plan := &Plan{Bonds: []BondPlan{}}
	var failures []BondFailure
	for _, name := range cfg.BondNames() {
		bp, failure := selectBond(cfg, name, nics, takenBy)
		if failure != nil {
			failures = append(failures, *failure)
			continue
		}
		plan.Bonds = append(plan.Bonds, bp)
	}
	standalone := make(map[string]string) // NIC name -> ethernets id
	for _, id := range cfg.Standalone() {
		ep, failure := selectStandalone(cfg, id, nics, takenBy)
		if failure != nil {
			failures = append(failures, *failure)
			continue
		}
		standalone[ep.NIC.Name] = id
		plan.Ethernets = append(plan.Ethernets, ep)
	}
	plan.Virtuals = planVirtuals(cfg, plan)
	for _, nic := range nics {
		if bond, ok := takenBy[nic.Name]; !ok {
			plan.Unused = append(plan.Unused, Decision{NIC: nic.Name, Reason: "matched by no bond or standalone ethernets id"})
		} else if standalone[nic.Name] != "" {
			continue
		} else if !plan.has(bond, nic.Name) && !failed(failures, bond) {
			plan.Unused = append(plan.Unused, Decision{NIC: nic.Name, Reason: "matched " + bond + " but left out"})
		}
	}
	if len(failures) > 0 {
		return nil, &SelectionError{Failures: failures}
	}
	return plan, nil
}

func selectBond(cfg *Config, name string, nics []inventory.NIC, takenBy map[string]string) (BondPlan, *BondFailure) {
	bond := cfg.Network.Bonds[name]
	bp := BondPlan{Name: name, Mode: string(bond.Mode()), Members: []string{}, Config: bond}

	decisions := make(map[string]*Decision)
	var matched []inventory.NIC
	// others are the NICs this bond did not take (another bond's, or none
	// of its interfaces matches), by name. Only the first few are
	// explained: a plan for a machine with thousands of NICs must not hold
	// bonds × NICs decisions, nor build their reasons.
	var others []*Decision
	note := func(nic string, why func() string) {
		if len(others) < MaxUnmatchedDecisions {
			others = append(others, &Decision{NIC: nic, Reason: why()})
		} else {
			bp.OmittedDecisions++
		}
	}
	for _, nic := range nics {
		if other, ok := takenBy[nic.Name]; ok {
			note(nic.Name, func() string { return "already taken by " + other })
			continue
		}
		if !slices.ContainsFunc(bond.Interfaces, func(id string) bool { return cfg.matchesIDQuietly(id, nic) }) {
			note(nic.Name, func() string { _, why := matchAny(cfg, bond.Interfaces, nic); return why })
			continue
		}
		id, why := matchAny(cfg, bond.Interfaces, nic)
		decisions[nic.Name] = &Decision{NIC: nic.Name, Selected: true, Matched: id, Reason: why}
		matched = append(matched, nic)
		takenBy[nic.Name] = name
	}

	lacp := bond.Mode() == Mode8023AD
	if lacp && len(matched) > 0 {
		speed := majoritySpeed(matched)
		bp.SpeedMbps = speed
		matched = slices.DeleteFunc(matched, func(n inventory.NIC) bool {
			d := decisions[n.Name]
			switch {
			case n.SpeedMbps == speed:
				return false
			case n.SpeedMbps <= 0:
				// No link yet: it stays a member and joins the
				// aggregator when its link comes up at the bond's speed
				// (the kernel keeps it apart if not).
				d.Reason += fmt.Sprintf("; no link: kept, it joins the aggregator when its link comes up at %s",
					speedString(speed))
				return false
			}
			d.Selected = false
			d.Reason += fmt.Sprintf("; but 802.3ad needs one speed: %s is not the chosen %s",
				speedString(n.SpeedMbps), speedString(speed))
			return true
		})
	}

	slices.SortStableFunc(matched, byPCIAddress)
	if lacp {
		// In 802.3ad the NICs that have the bond's speed come first: the
		// bond takes its first member's MAC, and max-members must not keep
		// dark ports over cabled ones.
		slices.SortStableFunc(matched, func(a, b inventory.NIC) int {
			return boolInt(a.SpeedMbps <= 0) - boolInt(b.SpeedMbps <= 0)
		})
	}
	if bond.MaxMembers != nil && len(matched) > *bond.MaxMembers {
		for i, n := range matched[*bond.MaxMembers:] {
			d := decisions[n.Name]
			d.Selected = false
			d.Reason += fmt.Sprintf("; but max-members is %d and it is number %d in PCI order",
				*bond.MaxMembers, *bond.MaxMembers+i+1)
		}
		matched = matched[:*bond.MaxMembers]
	}

	// Decisions read in member order first, then the rest by name.
	for _, n := range matched {
		d := decisions[n.Name]
		bp.Members = append(bp.Members, n.Name)
		bp.MemberIDs = append(bp.MemberIDs, d.Matched)
		bp.MemberNICs = append(bp.MemberNICs, n)
		bp.Decisions = append(bp.Decisions, *d)
	}
	next := 0
	for _, n := range nics {
		if next < len(others) && others[next].NIC == n.Name {
			bp.Decisions = append(bp.Decisions, *others[next])
			next++
			continue
		}
		if d := decisions[n.Name]; d != nil && !d.Selected {
			bp.Decisions = append(bp.Decisions, *d)
		}
	}

	minMembers := 1
	if bond.MinMembers != nil {
		minMembers = *bond.MinMembers
	}
	if len(matched) < minMembers {
		return bp, &BondFailure{Bond: name, Decisions: bp.Decisions,
			Problem: fmt.Sprintf("%d member(s) selected, min-members is %d", len(matched), minMembers)}
	}

	if id := primaryID(bond); id != "" {
		for _, n := range matched {
			if ok, _ := cfg.MatchesID(id, n); ok {
				bp.Primary = n.Name
				break
			}
		}
		if bp.Primary == "" {
			return bp, &BondFailure{Bond: name, Decisions: bp.Decisions,
				Problem: fmt.Sprintf("primary %s matches none of the members %v", id, bp.Members)}
		}
	}
	return bp, nil
}

// MaxUnmatchedDecisions bounds, per bond, the NICs whose plan records why
// no interface of the bond matched them; the rest are only counted.
const MaxUnmatchedDecisions = 64

// matchAny tries the bond's interfaces ids in order and returns the first
// that matches and why, or "" and why none did.
func matchAny(cfg *Config, ids []string, nic inventory.NIC) (string, string) {
	whyNot := make([]string, 0, len(ids))
	for _, id := range ids {
		ok, why := cfg.MatchesID(id, nic)
		if ok {
			if why == "" {
				return id, "matches " + id
			}
			return id, "matches " + id + " (" + why + ")"
		}
		whyNot = append(whyNot, id+": "+why)
	}
	return "", "matches no interface of the bond: " + strings.Join(whyNot, "; ")
}

// majoritySpeed returns the known speed shared by the most NICs; on a tie,
// the faster. Unknown speed (0) is chosen only when no NIC has a known speed:
// a NIC without link must never push out one that has it.
func majoritySpeed(nics []inventory.NIC) int {
	count := make(map[int]int)
	for _, n := range nics {
		if n.SpeedMbps > 0 {
			count[n.SpeedMbps]++
		}
	}
	if len(count) == 0 {
		return 0
	}
	best, bestN := 0, -1
	for speed, n := range count {
		if n > bestN || (n == bestN && speed > best) {
			best, bestN = speed, n
		}
	}
	return best
}

// byPCIAddress orders NICs by PCI address; NICs without one come after, by
// name.
func byPCIAddress(a, b inventory.NIC) int {
	switch {
	case a.PCIAddress != "" && b.PCIAddress != "":
		if c := cmp.Compare(a.PCIAddress, b.PCIAddress); c != 0 {
			return c
		}
	case a.PCIAddress != "":
		return -1
	case b.PCIAddress != "":
		return 1
	}
	return cmp.Compare(a.Name, b.Name)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func primaryID(b Bond) string {
	if b.Parameters == nil {
		return ""
	}
	return b.Parameters.Primary
}

func speedString(mbps int) string {
	if mbps <= 0 {
		return "unknown speed"
	}
	return fmt.Sprintf("%d Mb/s", mbps)
}

func (p *Plan) has(bond, nic string) bool {
	for _, b := range p.Bonds {
		if b.Name == bond {
			return slices.Contains(b.Members, nic)
		}
	}
	return false
}

// selectStandalone gives a standalone ethernets id the first NIC, by name,
// that it matches and that no bond took. One NIC: its addressing, set-name
// and what sits on it concern one interface.
func selectStandalone(cfg *Config, id string, nics []inventory.NIC, takenBy map[string]string) (EthernetPlan, *BondFailure) {
	eth := cfg.Network.Ethernets[id]
	var why []Decision
	for _, nic := range nics {
		ok, reason := cfg.MatchesID(id, nic)
		if !ok {
			if len(why) < MaxUnmatchedDecisions {
				why = append(why, Decision{NIC: nic.Name, Reason: reason})
			}
			continue
		}
		if other, taken := takenBy[nic.Name]; taken {
			if len(why) < MaxUnmatchedDecisions {
				why = append(why, Decision{NIC: nic.Name, Matched: id, Reason: "matches " + id + " but already taken by " + other})
			}
			continue
		}
		takenBy[nic.Name] = id
		name := nic.Name
		if eth.SetName != "" {
			name = eth.SetName
		}
		if reason == "" {
			reason = "matches " + id
		} else {
			reason = "matches " + id + " (" + reason + ")"
		}
		return EthernetPlan{ID: id, Name: name, NIC: nic, Reason: reason, Config: eth}, nil
	}
	return EthernetPlan{}, &BondFailure{Bond: id, Kind: KindEthernet, Decisions: why,
		Problem: "matched no free NIC: a standalone ethernets id takes one NIC"}
}

// planVirtuals resolves the VLANs and bridges: their links and ports by the
// names they have on the machine, and a bridge's MAC.
func planVirtuals(cfg *Config, plan *Plan) []VirtualPlan {
	resolve := func(name string) string {
		if e, ok := plan.Ethernet(name); ok {
			return e.Name
		}
		return name
	}
	var out []VirtualPlan
	for _, name := range cfg.Virtuals() {
		if vl, ok := cfg.Network.VLANs[name]; ok {
			vp := VirtualPlan{Name: name, Kind: KindVLAN, Link: resolve(vl.Link), Addressing: vl.Addressing,
				IDs: []string{vl.Link}, MAC: vl.MACAddress}
			if vl.ID != nil {
				vp.VLANID = *vl.ID
			}
			out = append(out, vp)
			continue
		}
		br := cfg.Network.Bridges[name]
		vp := VirtualPlan{Name: name, Kind: KindBridge, Ports: []string{}, Addressing: br.Addressing,
			Bridge: br.Parameters, IDs: slices.Clone(br.Interfaces), MAC: br.MACAddress}
		for _, port := range br.Interfaces {
			vp.Ports = append(vp.Ports, resolve(port))
		}
		if vp.MAC == "" && len(br.Interfaces) > 0 {
			vp.MAC = portMAC(cfg, plan, out, br.Interfaces[0])
		}
		out = append(out, vp)
	}
	return out
}

// portMAC is the MAC a bridge port will have: a bond's planned MAC, a
// standalone NIC's configured or permanent MAC, a VLAN's configured MAC or
// its link's.
func portMAC(cfg *Config, plan *Plan, virtuals []VirtualPlan, name string) string {
	if b, ok := plan.Bond(name); ok {
		return b.MAC()
	}
	if e, ok := plan.Ethernet(name); ok {
		if e.Config.MACAddress != "" {
			return e.Config.MACAddress
		}
		return e.NIC.HardwareMAC()
	}
	if vl, ok := cfg.Network.VLANs[name]; ok {
		if vl.MACAddress != "" {
			return vl.MACAddress
		}
		for _, v := range virtuals {
			if v.Name == vl.Link && v.MAC != "" {
				return v.MAC
			}
		}
		return portMAC(cfg, plan, virtuals, vl.Link)
	}
	return ""
}

func failed(failures []BondFailure, bond string) bool {
	return slices.ContainsFunc(failures, func(f BondFailure) bool { return f.Bond == bond })
}
