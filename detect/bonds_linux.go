package detect

import (
	"cmp"
	"context"
	"log/slog"
	"slices"
	"strconv"

	"github.com/mdlayher/ethtool"

	"github.com/bondstrap/bondstrap/detect/inventory"
	"github.com/bondstrap/bondstrap/detect/kernel"
)

// Bonds reads the live bonds of the calling thread's network namespace,
// sorted by name, members sorted by name: one rtnetlink link dump, one
// address dump and, when there are members, one ethtool link-mode dump for
// their speed and duplex. No bonds (or no bonding driver) is an empty list.
func Bonds(ctx context.Context) ([]BondStatus, error) {
	st, err := ReadStatus(ctx)
	return st.Bonds, err
}

// ReadStatus reads the bonds (as Bonds does) and the VLANs and bridges of
// the calling thread's network namespace: the whole stack, member → bond →
// VLAN → bridge.
func ReadStatus(ctx context.Context) (Status, error) {
	bonds, links, addrs, err := readBonds(ctx)
	if err != nil {
		return Status{}, err
	}
	return Status{Bonds: bonds, Stack: stackStatus(links, addrs)}, nil
}

// stackStatus lists the VLANs and bridges, sorted by name.
func stackStatus(links []kernel.Link, addrs []kernel.Addr) []StackStatus {
	out := []StackStatus{}
	for _, l := range links {
		ss := StackStatus{Name: l.Name, Ifindex: l.Index, OperState: l.OperState, Carrier: l.Carrier,
			AdminUp: l.Up, MAC: l.MAC.String(), MTU: l.MTU, Lower: []string{}, Addresses: []string{}}
		switch {
		case l.VLAN != nil:
			ss.Kind, ss.VLANID = "vlan", l.VLAN.ID
			ss.Lower = append(ss.Lower, l.VLAN.Parent)
		case l.Kind == "bridge":
			ss.Kind = "bridge"
			if b := l.Bridge; b != nil {
				stp := b.STP
				ss.STP = &stp
			}
			for _, p := range links {
				if p.Master == l.Name {
					ss.Lower = append(ss.Lower, p.Name)
				}
			}
			slices.Sort(ss.Lower)
		default:
			continue
		}
		for _, a := range addrs {
			if a.Link == l.Name {
				ss.Addresses = append(ss.Addresses, a.Prefix.String())
			}
		}
		out = append(out, ss)
	}
	slices.SortFunc(out, func(x, y StackStatus) int { return cmp.Compare(x.Name, y.Name) })
	return out
}

// readBonds reads the bonds, and returns the links and addresses it read
// for the rest of the status.
func readBonds(ctx context.Context) ([]BondStatus, []kernel.Link, []kernel.Addr, error) {
	log := slog.Default()
	k, err := kernel.Open(log)
	if err != nil {
		return nil, nil, nil, err
	}
	defer k.Close()
	links, err := k.Links(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	addrs, err := k.Addrs(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	out := []BondStatus{}
	var members []kernel.Link
	for _, l := range links {
		if l.Bond != nil {
			out = append(out, bondStatus(l))
		}
		if l.Port != nil {
			members = append(members, l)
		}
	}
	if len(out) == 0 {
		return out, links, addrs, nil
	}

	ifis := make([]ethtool.Interface, len(members))
	for i, m := range members {
		ifis[i] = ethtool.Interface{Index: m.Index, Name: m.Name}
	}
	et, err := newEthtool(ctx, log)
	if err != nil {
		return nil, nil, nil, err
	}
	defer et.close()
	modes, err := et.linkModes(ctx, log, ifis)
	if err != nil {
		return nil, nil, nil, err
	}

	for i := range out {
		bs := &out[i]
		for _, m := range members {
			if m.Master == bs.Name {
				ms := memberStatus(m, modes[m.Index])
				if bs.AD != nil {
					ms.InActiveAggregator = m.Port.Joined(bs.AD.AggregatorID)
				}
				bs.Members = append(bs.Members, ms)
			}
		}
		slices.SortFunc(bs.Members, func(x, y MemberStatus) int { return cmp.Compare(x.Name, y.Name) })
		for _, a := range addrs {
			if a.Link == bs.Name {
				bs.Addresses = append(bs.Addresses, a.Prefix.String())
			}
		}
	}
	slices.SortFunc(out, func(x, y BondStatus) int { return cmp.Compare(x.Name, y.Name) })
	return out, links, addrs, nil
}

// bondStatus converts what rtnetlink says about one bond; members and
// addresses are filled in by the caller.
func bondStatus(l kernel.Link) BondStatus {
	b := l.Bond
	bs := BondStatus{
		Name:         l.Name,
		Ifindex:      l.Index,
		Mode:         b.Mode,
		MIIStatus:    "down",
		AdminUp:      l.Up,
		OperState:    l.OperState,
		MAC:          l.MAC.String(),
		MTU:          l.MTU,
		ActiveMember: b.ActivePort,
		Primary:      b.Primary,
		Parameters:   map[string]string{},
		Members:      []MemberStatus{},
		Addresses:    []string{},
	}
	if l.Carrier {
		bs.MIIStatus = "up"
	}
	for _, s := range b.Settings {
		bs.Parameters[s.Param.Key] = s.String()
	}
	if ad := b.AD; ad != nil {
		bs.AD = &ADInfo{AggregatorID: ad.AggregatorID, NumPorts: ad.NumPorts, ActorKey: ad.ActorKey,
			PartnerKey: ad.PartnerKey, PartnerMAC: "00:00:00:00:00:00"}
		if len(ad.PartnerMAC) > 0 {
			bs.AD.PartnerMAC = ad.PartnerMAC.String()
		}
	}
	if s := l.Stats; s != nil {
		bs.Counters = Counters{
			RxPackets: s.RxPackets, TxPackets: s.TxPackets,
			RxBytes: s.RxBytes, TxBytes: s.TxBytes,
			RxErrors: s.RxErrors, TxErrors: s.TxErrors,
			RxDropped: s.RxDropped, TxDropped: s.TxDropped,
		}
	}
	return bs
}

func memberStatus(l kernel.Link, mode *ethtool.LinkMode) MemberStatus {
	p := l.Port
	ms := MemberStatus{
		Name:             l.Name,
		Ifindex:          l.Index,
		PermanentMAC:     l.PermMAC.String(),
		MIIStatus:        miiStatusName(p.MII),
		Duplex:           inventory.DuplexUnknown,
		LinkFailureCount: int(p.LinkFailures),
		State:            "backup",
		QueueID:          int(p.QueueID),
		AggregatorID:     int(p.AggregatorID),
		ActorPortState:   LACPPortState(p.ActorState),
		PartnerPortState: LACPPortState(p.PartnerState),
	}
	if p.Active {
		ms.State = "active"
	}
	ms.ActorChurn, ms.PartnerChurn = churnName(p.ActorChurn), churnName(p.PartnerChurn)
	if ms.PermanentMAC == "" {
		ms.PermanentMAC = p.PermMAC.String()
	}
	if mode != nil {
		// As /proc/net/bonding does, report what the driver says.
		ms.SpeedMbps = normalizeSpeed(int64(mode.SpeedMegabits))
		ms.Duplex = normalizeDuplex(int(mode.Duplex))
	}
	return ms
}

// churnName names an 802.3ad churn detection state (AD_CHURN_MONITOR,
// AD_CHURN, AD_NO_CHURN), "" when the kernel did not report it.
func churnName(c *uint8) string {
	if c == nil {
		return ""
	}
	switch *c {
	case 0:
		return "monitoring"
	case 1:
		return "churned"
	case 2:
		return "no-churn"
	}
	return "unknown(" + strconv.Itoa(int(*c)) + ")"
}

func miiStatusName(s uint8) string {
	switch s {
	case 0:
		return "up"
	case 1:
		return "going-down"
	case 2:
		return "down"
	case 3:
		return "going-back"
	}
	return "unknown(" + strconv.Itoa(int(s)) + ")"
}
