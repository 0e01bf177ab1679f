package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/bondstrap/bondstrap/detect/inventory"
	"github.com/bondstrap/bondstrap/netplan/spec"

	"github.com/bondstrap/bondstrap/detect"
	"github.com/bondstrap/bondstrap/netplan"
	"github.com/bondstrap/bondstrap/units"
)

func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func speed(mbps int) string {
	if mbps <= 0 {
		return "-"
	}
	if mbps%1000 == 0 {
		return fmt.Sprintf("%dG", mbps/1000)
	}
	return fmt.Sprintf("%dM", mbps)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func printInventory(w io.Writer, inv inventory.Inventory) error {
	t := newTable(w)
	fmt.Fprintln(t, "NAME\tPCI ADDRESS\tPCI ID\tDRIVER\tSPEED\tDUPLEX\tLINK\tPERMANENT MAC\tMTU")
	for _, n := range inv.Interfaces {
		fmt.Fprintf(t, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\n", n.Name, orDash(n.PCIAddress),
			orDash(n.PCIID()), orDash(n.Driver), speed(n.SpeedMbps), orDash(n.Duplex),
			yesNo(n.Carrier), orDash(n.HardwareMAC()), n.MTU)
	}
	return t.Flush()
}

func printPlan(w io.Writer, plan *netplan.Plan) error {
	t := newTable(w)
	for i, b := range plan.Bonds {
		if i > 0 {
			fmt.Fprintln(t)
		}
		header := fmt.Sprintf("%s  mode %s", b.Name, b.Mode)
		if b.SpeedMbps > 0 {
			header += "  speed " + speed(b.SpeedMbps)
		}
		if b.Primary != "" {
			header += "  primary " + b.Primary
		}
		if mac := b.MAC(); mac != "" {
			header += "  mac " + mac
		}
		fmt.Fprintln(t, header)
		for j, n := range b.MemberNICs {
			fmt.Fprintf(t, "  %d. %s\t%s\t%s\t%s\t%s\t%s\n", j+1, n.Name, orDash(n.PCIAddress),
				orDash(n.PCIID()), orDash(n.Driver), speed(n.SpeedMbps), b.Decisions[j].Reason)
		}
		for _, d := range b.Decisions[len(b.MemberNICs):] {
			if strings.HasPrefix(d.Reason, "already taken by") {
				continue
			}
			fmt.Fprintf(t, "  -  %s\tleft out: %s\n", d.NIC, d.Reason)
		}
		if b.OmittedDecisions > 0 {
			fmt.Fprintf(t, "  -  and %d more NICs that match no interface of %s\n", b.OmittedDecisions, b.Name)
		}
	}
	if len(plan.Ethernets) > 0 {
		fmt.Fprintln(t, "\nstandalone NICs")
		for _, e := range plan.Ethernets {
			name := e.NIC.Name
			if e.Name != name {
				name += " → " + e.Name
			}
			fmt.Fprintf(t, "  %s\t%s\t%s\t%s\t%s\t%s\n", e.ID, name, orDash(e.NIC.PCIID()), orDash(e.NIC.Driver),
				speed(e.NIC.SpeedMbps), e.Reason)
		}
	}
	if len(plan.Virtuals) > 0 {
		fmt.Fprintln(t, "\nVLANs and bridges (in the order they are made)")
		for _, v := range plan.Virtuals {
			on, what := v.Link, fmt.Sprintf("vlan %d", v.VLANID)
			if v.Kind == netplan.KindBridge {
				on = strings.Join(v.Ports, " ")
				what = "bridge, stp off"
				if v.Bridge.STPOrDefault() {
					what = "bridge, stp on"
				}
			}
			fmt.Fprintf(t, "  %s\t%s\ton %s\tmac %s\n", v.Name, what, orDash(on), orDash(v.MAC))
		}
	}
	if len(plan.Unused) > 0 {
		names := make([]string, len(plan.Unused))
		for i, d := range plan.Unused {
			names[i] = d.NIC
		}
		fmt.Fprintf(t, "\nunused: %s\n", strings.Join(names, ", "))
	}
	return t.Flush()
}

func printWriteResult(w io.Writer, res units.WriteResult) {
	for _, p := range res.Written {
		fmt.Fprintln(w, "wrote", p)
	}
	for _, p := range res.Removed {
		fmt.Fprintln(w, "removed", p)
	}
	if len(res.Written) == 0 && len(res.Removed) == 0 {
		fmt.Fprintf(w, "no changes: %d unit(s) already up to date\n", len(res.Unchanged))
	}
}

// printStatus shows what /proc/net/bonding/<bond> shows, plus addresses and
// counters, then the VLANs and bridges. Parameters are shown in the
// config's words, those the mode uses.
func printStatus(w io.Writer, st detect.Status) error {
	if err := printBonds(w, st.Bonds); err != nil {
		return err
	}
	if len(st.Stack) == 0 {
		return nil
	}
	t := newTable(w)
	fmt.Fprintln(t, "\nVLAN/BRIDGE\tON\tSTATE\tMAC\tMTU\tADDRESSES")
	for _, s := range st.Stack {
		name := s.Name
		switch {
		case s.Kind == "vlan":
			name += fmt.Sprintf(" (vlan %d)", s.VLANID)
		case s.STP != nil && *s.STP:
			name += " (bridge, stp)"
		default:
			name += " (bridge)"
		}
		state := s.OperState
		if !s.Carrier {
			state += ", no carrier"
		}
		fmt.Fprintf(t, "%s\t%s\t%s\t%s\t%d\t%s\n", name, orDash(strings.Join(s.Lower, " ")), orDash(state), orDash(s.MAC),
			s.MTU, orDash(strings.Join(s.Addresses, " ")))
	}
	return t.Flush()
}

// printBonds is the bonds' part of printStatus.
func printBonds(w io.Writer, bonds []detect.BondStatus) error {
	if len(bonds) == 0 {
		fmt.Fprintln(w, "no bonds")
		return nil
	}
	t := newTable(w)
	for i, b := range bonds {
		if i > 0 {
			fmt.Fprintln(t)
		}
		fmt.Fprintf(t, "%s  mode %s  mii %s  oper %s  mac %s  mtu %d\n", b.Name, b.Mode,
			orDash(b.MIIStatus), orDash(b.OperState), orDash(b.MAC), b.MTU)
		if b.ActiveMember != "" || b.Primary != "" {
			fmt.Fprintf(t, "  active member %s  primary %s\n", orDash(b.ActiveMember), orDash(b.Primary))
		}
		if params := shownParameters(b); len(params) > 0 {
			fmt.Fprintf(t, "  %s\n", strings.Join(params, "  "))
		}
		if b.Mode == spec.LACP && b.AD != nil {
			partner := b.AD.PartnerMAC
			if partner == "00:00:00:00:00:00" {
				partner += " (no LACP partner)"
			}
			fmt.Fprintf(t, "  aggregator %d  ports %d  actor key %d  partner key %d  partner mac %s\n",
				b.AD.AggregatorID, b.AD.NumPorts, b.AD.ActorKey, b.AD.PartnerKey, partner)
			var outside []string
			for _, m := range b.Members {
				if !m.InActiveAggregator {
					outside = append(outside, m.Name)
				}
			}
			if len(outside) > 0 {
				fmt.Fprintf(t, "  NOT IN THE ACTIVE AGGREGATOR: %s\n", strings.Join(outside, ", "))
			}
		}
		fmt.Fprintf(t, "  addresses %s\n", orDash(strings.Join(b.Addresses, " ")))
		c := b.Counters
		fmt.Fprintf(t, "  rx %d pkts %d B %d err %d drop  tx %d pkts %d B %d err %d drop\n",
			c.RxPackets, c.RxBytes, c.RxErrors, c.RxDropped, c.TxPackets, c.TxBytes, c.TxErrors, c.TxDropped)
		header := "  MEMBER\tSTATE\tMII\tSPEED\tDUPLEX\tLINK FAILURES\tPERMANENT MAC"
		if b.Mode == spec.LACP {
			header += "\tAGGREGATOR\tACTOR STATE\tPARTNER STATE\tCHURN (ACTOR/PARTNER)"
		}
		fmt.Fprintln(t, header)
		for _, m := range b.Members {
			fmt.Fprintf(t, "  %s\t%s\t%s\t%s\t%s\t%d\t%s", m.Name, orDash(m.State), orDash(m.MIIStatus),
				speed(m.SpeedMbps), orDash(m.Duplex), m.LinkFailureCount, orDash(m.PermanentMAC))
			if b.Mode == spec.LACP {
				agg := strconv.Itoa(m.AggregatorID)
				if !m.InActiveAggregator {
					agg += " (not active)"
				}
				fmt.Fprintf(t, "\t%s\t%s\t%s\t%s/%s", agg, m.ActorPortState, m.PartnerPortState,
					orDash(m.ActorChurn), orDash(m.PartnerChurn))
			}
			fmt.Fprintln(t)
		}
	}
	return t.Flush()
}

// shownParameters are "key value" pairs of the parameters the bond's mode
// uses, in spec order: the kernel reports every option, but a hash policy
// means nothing in active-backup.
func shownParameters(b detect.BondStatus) []string {
	var out []string
	for _, p := range spec.Params {
		v, ok := b.Parameters[p.Key]
		if !ok || !p.AcceptedIn(b.Mode) || !usedIn(p, b.Mode) {
			continue
		}
		out = append(out, p.Key+" "+v)
	}
	return out
}

// usedIn reports whether a parameter the kernel accepts in mode also has an
// effect there (the kernel accepts a hash policy in every mode).
func usedIn(p *spec.Param, mode string) bool {
	m, ok := spec.LookupMode(mode)
	if !ok {
		return true
	}
	switch p.Key {
	case "transmit-hash-policy":
		return m.Hashes
	case "ad-select":
		return mode == spec.LACP
	case "learn-packet-interval", "tlb-dynamic-lb":
		return mode == spec.BalanceTLB || mode == spec.BalanceALB
	case "fail-over-mac-policy":
		return mode == spec.ActiveBackup
	}
	return true
}
