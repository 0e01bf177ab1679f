package stages

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	"github.com/vishvananda/netlink"

	"github.com/bondstrap/bondstrap/netplan"
)

func intp(v int) *int    { return &v }
func boolp(v bool) *bool { return &v }
func ms(v int64) *netplan.Duration {
	return &netplan.Duration{Milliseconds: v}
}

// Every parameter of the config reaches the netlink message; none that the
// config leaves out does.
func TestDesiredBondEveryParameter(t *testing.T) {
	c := netplan.Bond{
		MTU:        9000,
		MACAddress: "02:00:00:00:00:01",
		Parameters: &netplan.BondParameters{
			Mode: "802.3ad", LACPRate: "fast", MIIMonitorInterval: ms(100), MinLinks: intp(1),
			TransmitHashPolicy: "layer3+4", ADSelect: "bandwidth", AllMembersActive: boolp(true),
			ARPInterval: ms(0), ARPIPTargets: []string{"192.0.2.1", "192.0.2.2"}, ARPValidate: "all",
			ARPAllTargets: "all", UpDelay: ms(200), DownDelay: ms(300), FailOverMACPolicy: "follow",
			GratuitousARP: intp(5), PacketsPerMember: intp(2), PrimaryReselectPolicy: "better",
			ResendIGMP: intp(3), LearnPacketInterval: ms(4000),
		},
	}
	b, err := desiredBond("bond0", "802.3ad", c)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want int
	}{
		{"mode", int(b.Mode), int(netlink.BOND_MODE_802_3AD)},
		{"lacp_rate", int(b.LacpRate), int(netlink.BOND_LACP_RATE_FAST)},
		{"miimon", b.Miimon, 100},
		{"min_links", b.MinLinks, 1},
		{"xmit_hash_policy", int(b.XmitHashPolicy), int(netlink.BOND_XMIT_HASH_POLICY_LAYER3_4)},
		{"ad_select", int(b.AdSelect), int(netlink.BOND_AD_SELECT_BANDWIDTH)},
		{"all_slaves_active", b.AllSlavesActive, 1},
		{"arp_interval", b.ArpInterval, 0},
		{"arp_validate", int(b.ArpValidate), int(netlink.BOND_ARP_VALIDATE_ALL)},
		{"arp_all_targets", int(b.ArpAllTargets), int(netlink.BOND_ARP_ALL_TARGETS_ALL)},
		{"updelay", b.UpDelay, 200},
		{"downdelay", b.DownDelay, 300},
		{"fail_over_mac", int(b.FailOverMac), int(netlink.BOND_FAIL_OVER_MAC_FOLLOW)},
		{"num_grat_arp", b.NumPeerNotif, 5},
		{"packets_per_slave", b.PacketsPerSlave, 2},
		{"primary_reselect", int(b.PrimaryReselect), int(netlink.BOND_PRIMARY_RESELECT_BETTER)},
		{"resend_igmp", b.ResendIgmp, 3},
		{"lp_interval (seconds)", b.LpInterval, 4},
		{"mtu", b.MTU, 9000},
		// Not in the config: stay -1, so netlink does not send them.
		{"primary", b.Primary, -1},
		{"active_slave", b.ActiveSlave, -1},
		{"use_carrier", b.UseCarrier, -1},
		{"tlb_dynamic_lb", b.TlbDynamicLb, -1},
		{"ad_actor_sys_prio", b.AdActorSysPrio, -1},
		{"ad_user_port_key", b.AdUserPortKey, -1},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
		}
	}
	if b.HardwareAddr.String() != "02:00:00:00:00:01" || len(b.ArpIpTargets) != 2 || b.TxQLen != -1 {
		t.Errorf("mac %s, targets %v, txqlen %d", b.HardwareAddr, b.ArpIpTargets, b.TxQLen)
	}

	// A bare config sends the mode only.
	b, err = desiredBond("bond1", "", netplan.Bond{})
	if err != nil {
		t.Fatal(err)
	}
	if b.Mode != netlink.BOND_MODE_BALANCE_RR {
		t.Errorf("default mode %v", b.Mode)
	}
	for _, o := range bondOptions {
		if v := o.get(b); v != -1 {
			t.Errorf("%s = %d on a bare config, want -1 (unset)", o.name, v)
		}
	}
}

func TestDesiredBondRejects(t *testing.T) {
	for _, c := range []netplan.BondParameters{
		{LACPRate: "sometimes"},
		{TransmitHashPolicy: "layer9"},
		{ADSelect: "best"},
		{ARPIPTargets: []string{"2001:db8::1"}},
		{LearnPacketInterval: ms(1500)},
		{GratuitousARP: intp(300)},
		{MinLinks: intp(-1)},
	} {
		if _, err := desiredBond("bond0", "active-backup", netplan.Bond{Parameters: &c}); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	if _, err := desiredBond("bond0", "round-robin", netplan.Bond{}); err == nil {
		t.Error("bad mode accepted")
	}
}

// A live bond is compared on the options the config names only, and delays
// as the kernel keeps them (multiples of miimon).
func TestOptionChanges(t *testing.T) {
	want, err := desiredBond("bond0", "active-backup", netplan.Bond{Parameters: &netplan.BondParameters{
		MIIMonitorInterval: ms(100), UpDelay: ms(250), ARPIPTargets: []string{"192.0.2.1"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	have := &netlink.Bond{Mode: netlink.BOND_MODE_ACTIVE_BACKUP, Miimon: 100, UpDelay: 200, DownDelay: 700,
		ArpIpTargets: []net.IP{net.ParseIP("192.0.2.1").To4()}}
	if ch := optionChanges(have, want); len(ch) != 0 {
		t.Errorf("changes %v, want none", ch)
	}
	have.Miimon = 0
	have.ArpIpTargets = nil
	ch := optionChanges(have, want)
	var names []string
	for _, c := range ch {
		names = append(names, c.String())
	}
	if got := strings.Join(names, "; "); got != "miimon 0 → 100; arp_ip_target [] → (config)" {
		t.Errorf("changes %q", got)
	}
	msg := changeMessage(&netlink.Bond{LinkAttrs: netlink.LinkAttrs{Name: "bond0", Index: 7}}, ch, want)
	if msg.Miimon != 100 || msg.UpDelay != -1 || msg.DownDelay != -1 || msg.Mode != -1 || msg.Index != 7 ||
		len(msg.ArpIpTargets) != 1 {
		t.Errorf("change message %+v", msg)
	}
}

func TestLeaseConfig(t *testing.T) {
	ack, err := dhcpv4.New(
		dhcpv4.WithMessageType(dhcpv4.MessageTypeAck),
		dhcpv4.WithYourIP(net.ParseIP("198.51.100.20")),
		dhcpv4.WithNetmask(net.CIDRMask(24, 32)),
		dhcpv4.WithRouter(net.ParseIP("198.51.100.254")),
		dhcpv4.WithServerIP(net.ParseIP("198.51.100.1")),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.ParseIP("198.51.100.1"))),
		dhcpv4.WithLeaseTime(600),
		dhcpv4.WithDNS(net.ParseIP("198.51.100.53")),
		dhcpv4.WithOption(dhcpv4.OptDomainName("bad name\nnameserver 6.6.6.6")),
		dhcpv4.WithOption(dhcpv4.OptClasslessStaticRoute(
			&dhcpv4.Route{Dest: &net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)}, Router: net.ParseIP("198.51.100.1")},
			&dhcpv4.Route{Dest: &net.IPNet{IP: net.ParseIP("192.0.2.0").To4(), Mask: net.CIDRMask(24, 32)}, Router: net.IPv4zero},
		)),
		dhcpv4.WithGeneric(dhcpv4.OptionInterfaceMTU, []byte{0x05, 0xdc}),
	)
	if err != nil {
		t.Fatal(err)
	}
	c, lr, err := leaseConfig(&nclient4.Lease{ACK: ack, CreationTime: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Addrs) != 1 || c.Addrs[0] != netip.MustParsePrefix("198.51.100.20/24") || c.Lifetime != 600*time.Second {
		t.Errorf("addrs %v lifetime %s", c.Addrs, c.Lifetime)
	}
	var routes []string
	for _, r := range c.Routes {
		routes = append(routes, r.String())
	}
	// Option 121 present: the router option (198.51.100.254) is ignored.
	if got := strings.Join(routes, "; "); got != "default via 198.51.100.1; 192.0.2.0/24 on-link" {
		t.Errorf("routes %q", got)
	}
	if c.MTU != 1500 || !lr.Classless || lr.Server != "198.51.100.1" || lr.LeaseSeconds != 600 {
		t.Errorf("mtu %d, report %+v", c.MTU, lr)
	}
	if len(c.Search) != 0 {
		t.Errorf("a domain name with a newline got through: %q", c.Search)
	}
}

func TestResolvTarget(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "run", "resolv.conf")
	if err := os.MkdirAll(filepath.Dir(real), 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "resolv.conf")
	if err := os.Symlink("run/resolv.conf", link); err != nil {
		t.Fatal(err)
	}
	got, managed, err := resolvTarget(link)
	if err != nil || got != real || managed {
		t.Errorf("resolvTarget = %q, %t, %v; want %q, false", got, managed, err, real)
	}
	stub := filepath.Join(dir, "stub")
	if err := os.Symlink("/run/systemd/resolve/stub-resolv.conf", stub); err != nil {
		t.Fatal(err)
	}
	if got, managed, err := resolvTarget(stub); err != nil || !managed {
		t.Errorf("resolvTarget(stub) = %q, %t, %v; want managed", got, managed, err)
	}
	missing := filepath.Join(dir, "none")
	if got, managed, err := resolvTarget(missing); err != nil || managed || got != missing {
		t.Errorf("resolvTarget(missing) = %q, %t, %v", got, managed, err)
	}
}

func TestStaticRoute(t *testing.T) {
	for _, c := range []struct {
		r    netplan.Route
		want string
	}{
		{netplan.Route{To: "default", Via: "192.0.2.1"}, "default via 192.0.2.1"},
		{netplan.Route{To: "203.0.113.7/24", Via: "192.0.2.1", Metric: intp(10)}, "203.0.113.0/24 via 192.0.2.1 metric 10"},
		{netplan.Route{To: "default", Via: "2001:db8::1"}, "default via 2001:db8::1"},
		{netplan.Route{To: "198.51.100.9"}, "198.51.100.9/32 on-link"},
	} {
		rs, err := staticRoute(c.r)
		if err != nil || rs.String() != c.want {
			t.Errorf("%+v: %q, %v; want %q", c.r, rs.String(), err, c.want)
		}
	}
	if _, err := staticRoute(netplan.Route{To: "192.0.2.0/24", Via: "2001:db8::1"}); err == nil {
		t.Error("mixed families accepted")
	}
}
