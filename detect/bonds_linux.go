package detect

import (
	"cmp"
	"context"
	"log/slog"
	"net"
	"slices"
	"strconv"

	"github.com/bondstrap/bondstrap/detect/inventory"

	"github.com/mdlayher/ethtool"
	"github.com/vishvananda/netlink"
)

// Bonds reads the live bonds of the calling thread's network namespace,
// sorted by name, members sorted by name: one rtnetlink link dump, one
// address dump and, when there are members, one ethtool link-mode dump for
// their speed and duplex. No bonds (or no bonding driver) is an empty list.
func Bonds(ctx context.Context) ([]BondStatus, error) {
	log := slog.Default()
	links, err := dumpLinks(ctx, log)
	if err != nil {
		return nil, err
	}
	out := []BondStatus{}
	names := make(map[int]string, len(links))
	var members []rtLink
	for _, l := range links {
		names[l.Attrs().Index] = l.Attrs().Name
		if _, ok := l.Attrs().Slave.(*netlink.BondSlave); ok {
			members = append(members, l)
		}
	}
	for _, l := range links {
		if b, ok := l.Link.(*netlink.Bond); ok {
			out = append(out, bondStatus(b, l.ad, names))
		}
	}
	if len(out) == 0 {
		return out, nil
	}

	ifis := make([]ethtool.Interface, len(members))
	for i, m := range members {
		ifis[i] = ethtool.Interface{Index: m.Attrs().Index, Name: m.Attrs().Name}
	}
	et, err := newEthtool(ctx, log)
	if err != nil {
		return nil, err
	}
	defer et.close()
	modes, err := et.linkModes(ctx, log, ifis)
	if err != nil {
		return nil, err
	}
	addrs, err := addrDump(ctx, log)
	if err != nil {
		return nil, err
	}

	for i := range out {
		bs := &out[i]
		for _, m := range members {
			if m.Attrs().MasterIndex == bs.Ifindex {
				bs.Members = append(bs.Members, memberStatus(m.Attrs(), modes[m.Attrs().Index]))
			}
		}
		slices.SortFunc(bs.Members, func(x, y MemberStatus) int { return cmp.Compare(x.Name, y.Name) })
		for _, a := range addrs {
			if a.LinkIndex == bs.Ifindex && a.IPNet != nil {
				bs.Addresses = append(bs.Addresses, a.IPNet.String())
			}
		}
	}
	slices.SortFunc(out, func(x, y BondStatus) int { return cmp.Compare(x.Name, y.Name) })
	return out, nil
}

// bondStatus converts what rtnetlink says about one bond; members and
// addresses are filled in by the caller.
func bondStatus(b *netlink.Bond, ad *ADInfo, names map[int]string) BondStatus {
	a := b.Attrs()
	bs := BondStatus{
		Name:            a.Name,
		Ifindex:         a.Index,
		Mode:            b.Mode.String(),
		MIIStatus:       "down",
		AdminUp:         a.Flags&net.FlagUp != 0,
		OperState:       a.OperState.String(),
		MAC:             macString(a.HardwareAddr),
		MTU:             a.MTU,
		PrimaryReselect: b.PrimaryReselect.String(),
		FailOverMAC:     b.FailOverMac.String(),
		MIIMonMs:        b.Miimon,
		UpDelayMs:       b.UpDelay,
		DownDelayMs:     b.DownDelay,
		ARPIntervalMs:   b.ArpInterval,
		ARPValidate:     arpValidateName(b.ArpValidate),
		MinLinks:        b.MinLinks,
		XmitHashPolicy:  b.XmitHashPolicy.String(),
		LACPRate:        b.LacpRate.String(),
		ADSelect:        b.AdSelect.String(),
		ADActorSystem:   macString(b.AdActorSystem),
		ADActorSysPrio:  b.AdActorSysPrio,
		AD:              ad,
		Members:         []MemberStatus{},
		Addresses:       []string{},
	}
	if lowerUp(a) {
		bs.MIIStatus = "up"
	}
	// Both are ifindexes; 0 (or an index not in the dump) means none.
	if b.ActiveSlave > 0 {
		bs.ActiveMember = names[b.ActiveSlave]
	}
	if b.Primary > 0 {
		bs.Primary = names[b.Primary]
	}
	for _, ip := range b.ArpIpTargets {
		bs.ARPIPTargets = append(bs.ARPIPTargets, ip.String())
	}
	if s := a.Statistics; s != nil {
		bs.Counters = Counters{
			RxPackets: s.RxPackets, TxPackets: s.TxPackets,
			RxBytes: s.RxBytes, TxBytes: s.TxBytes,
			RxErrors: s.RxErrors, TxErrors: s.TxErrors,
			RxDropped: s.RxDropped, TxDropped: s.TxDropped,
		}
	}
	return bs
}

func memberStatus(a *netlink.LinkAttrs, mode *ethtool.LinkMode) MemberStatus {
	s := a.Slave.(*netlink.BondSlave)
	ms := MemberStatus{
		Name:             a.Name,
		Ifindex:          a.Index,
		PermanentMAC:     macString(s.PermHardwareAddr),
		MIIStatus:        miiStatusName(s.MiiStatus),
		Duplex:           inventory.DuplexUnknown,
		LinkFailureCount: int(s.LinkFailureCount),
		State:            slaveStateName(s.State),
		QueueID:          int(s.QueueId),
		AggregatorID:     int(s.AggregatorId),
		ActorPortState:   LACPPortState(s.AdActorOperPortState),
		// The kernel sends the partner's state octet in a u16.
		PartnerPortState: LACPPortState(s.AdPartnerOperPortState),
	}
	if ms.PermanentMAC == "" {
		ms.PermanentMAC = macString(a.PermHWAddr)
	}
	if mode != nil {
		// As /proc/net/bonding does, report what the driver says.
		ms.SpeedMbps = normalizeSpeed(int64(mode.SpeedMegabits))
		ms.Duplex = normalizeDuplex(int(mode.Duplex))
	}
	return ms
}

func miiStatusName(s netlink.BondSlaveMiiStatus) string {
	switch s {
	case netlink.BondLinkUp:
		return "up"
	case netlink.BondLinkFail:
		return "going-down"
	case netlink.BondLinkDown:
		return "down"
	case netlink.BondLinkBack:
		return "going-back"
	}
	return "unknown(" + strconv.Itoa(int(s)) + ")"
}

func slaveStateName(s netlink.BondSlaveState) string {
	switch s {
	case netlink.BondStateActive:
		return "active"
	case netlink.BondStateBackup:
		return "backup"
	}
	return "unknown(" + strconv.Itoa(int(s)) + ")"
}

// arpValidateName names the kernel's arp_validate values; netlink v1.3.1's
// own String maps "all" to "none" and lacks the filter values.
func arpValidateName(v netlink.BondArpValidate) string {
	names := [...]string{"none", "active", "backup", "all", "filter", "filter_active", "filter_backup"}
	if v >= 0 && int(v) < len(names) {
		return names[v]
	}
	return "unknown(" + strconv.Itoa(int(v)) + ")"
}
