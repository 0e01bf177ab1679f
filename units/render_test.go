package units

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bondstrap/bondstrap/detect/inventory"

	"github.com/bondstrap/bondstrap/netplan"
	"github.com/coreos/go-systemd/v22/unit"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// NICs of real server layouts.
var (
	x710a = inventory.NIC{Name: "ens1f0", MAC: "3c:fd:fe:a1:00:00", PermanentMAC: "3c:fd:fe:a1:00:00",
		PCIAddress: "0000:3b:00.0", VendorID: "8086", DeviceID: "1572", Driver: "i40e",
		SpeedMbps: 10000, Duplex: "full", Carrier: true, MTU: 1500}
	x710b = inventory.NIC{Name: "ens1f1", MAC: "3c:fd:fe:a1:00:01", PermanentMAC: "3c:fd:fe:a1:00:01",
		PCIAddress: "0000:3b:00.1", VendorID: "8086", DeviceID: "1572", Driver: "i40e",
		SpeedMbps: 10000, Duplex: "full", Carrier: true, MTU: 1500}
	cx4a = inventory.NIC{Name: "ens2f0np0", MAC: "b8:59:9f:c0:10:2a", PermanentMAC: "b8:59:9f:c0:10:2a",
		PCIAddress: "0000:5e:00.0", VendorID: "15b3", DeviceID: "1015", Driver: "mlx5_core",
		SpeedMbps: 25000, Duplex: "full", Carrier: true, MTU: 1500}
	cx4b = inventory.NIC{Name: "ens2f1np1", MAC: "b8:59:9f:c0:10:2b", PermanentMAC: "b8:59:9f:c0:10:2b",
		PCIAddress: "0000:5e:00.1", VendorID: "15b3", DeviceID: "1015", Driver: "mlx5_core",
		SpeedMbps: 25000, Duplex: "full", Carrier: true, MTU: 1500}
	i350a = inventory.NIC{Name: "eno1", MAC: "a0:36:9f:3e:52:c0", PermanentMAC: "a0:36:9f:3e:52:c0",
		PCIAddress: "0000:02:00.0", VendorID: "8086", DeviceID: "1521", Driver: "igb",
		SpeedMbps: 1000, Duplex: "full", Carrier: true, MTU: 1500}
	i350b = inventory.NIC{Name: "eno2", MAC: "a0:36:9f:3e:52:c1", PermanentMAC: "a0:36:9f:3e:52:c1",
		PCIAddress: "0000:02:00.1", VendorID: "8086", DeviceID: "1521", Driver: "igb",
		SpeedMbps: 1000, Duplex: "full", Carrier: false, MTU: 1500}
)

func ptr[T any](v T) *T { return &v }

func ms(n int64) *netplan.Duration { return &netplan.Duration{Milliseconds: n} }

// bondPlan builds the plan of one bond the way selection would.
func bondPlan(cfg *netplan.Config, name, mode, primary string, nics ...inventory.NIC) netplan.BondPlan {
	bp := netplan.BondPlan{Name: name, Mode: mode, Primary: primary, Config: cfg.Network.Bonds[name]}
	for _, n := range nics {
		bp.Members = append(bp.Members, n.Name)
		bp.MemberNICs = append(bp.MemberNICs, n)
	}
	return bp
}

// goldenCase renders one scenario.
type goldenCase struct {
	name   string
	render func() ([]File, error)
}

func goldenCases() []goldenCase {
	return []goldenCase{
		{"lacp-dhcp", func() ([]File, error) {
			cfg := &netplan.Config{Network: netplan.Network{Version: 2,
				Ethernets: map[string]netplan.Ethernet{
					"uplinks": {Match: &netplan.Match{PCIID: netplan.StringList{"8086:1572"}, MinSpeed: ptr(10000)}},
				},
				Bonds: map[string]netplan.Bond{"bond0": {
					Interfaces: []string{"uplinks"},
					Parameters: &netplan.BondParameters{
						Mode: "802.3ad", LACPRate: "fast", MIIMonitorInterval: ms(100), MinLinks: ptr(1),
						TransmitHashPolicy: "layer3+4", ADSelect: "bandwidth", AllMembersActive: ptr(false),
						UpDelay: ms(200), DownDelay: ms(1000),
					},
					DHCP4: ptr(true),
				}},
			}}
			plan := &netplan.Plan{Bonds: []netplan.BondPlan{bondPlan(cfg, "bond0", "802.3ad", "", x710a, x710b)}}
			return Render(cfg, plan)
		}},
		{"active-backup-static", func() ([]File, error) {
			cfg := &netplan.Config{Network: netplan.Network{Version: 2,
				Ethernets: map[string]netplan.Ethernet{
					"fast": {Match: &netplan.Match{Driver: netplan.StringList{"mlx5_core"}}},
					"slow": {Match: &netplan.Match{Driver: netplan.StringList{"igb"}}},
				},
				Bonds: map[string]netplan.Bond{"bond0": {
					Interfaces: []string{"fast", "slow"},
					Parameters: &netplan.BondParameters{
						Mode: "active-backup", Primary: "fast",
						ARPInterval: ms(500), ARPIPTargets: []string{"192.0.2.1", "192.0.2.2"},
						ARPValidate: "all", ARPAllTargets: "any", FailOverMACPolicy: "active",
						GratuitousARP: ptr(3), PrimaryReselectPolicy: "better", ResendIGMP: ptr(2),
					},
					Addresses: []string{"2001:db8:10::5/64", "192.0.2.10/24", "192.0.2.11/24"},
					Gateway4:  "192.0.2.1",
					Routes: []netplan.Route{
						{To: "default", Via: "192.0.2.254", Metric: ptr(200)},
						{To: "198.51.100.0/24", Via: "192.0.2.253", OnLink: true, Table: 100},
						{To: "default", Via: "2001:db8:10::1"},
					},
					Nameservers: &netplan.Nameservers{
						Addresses: []string{"2001:db8:10::53", "192.0.2.53", "192.0.2.54"},
						Search:    []string{"dc1.example.com", "example.com"},
					},
				}},
			}}
			plan := &netplan.Plan{Bonds: []netplan.BondPlan{bondPlan(cfg, "bond0", "active-backup", "ens2f0np0", cx4a, i350a)}}
			return Render(cfg, plan)
		}},
		{"balance-alb", func() ([]File, error) {
			cfg := &netplan.Config{Network: netplan.Network{Version: 2,
				Ethernets: map[string]netplan.Ethernet{
					"onboard": {Match: &netplan.Match{PCIID: netplan.StringList{"8086:1521"}}},
				},
				Bonds: map[string]netplan.Bond{"bond0": {
					Interfaces: []string{"onboard"},
					Parameters: &netplan.BondParameters{Mode: "balance-alb", MIIMonitorInterval: ms(100),
						LearnPacketInterval: ms(5000), UpDelay: ms(0)},
					DHCP4: ptr(true),
				}},
			}}
			plan := &netplan.Plan{Bonds: []netplan.BondPlan{bondPlan(cfg, "bond0", "balance-alb", "", i350a, i350b)}}
			return Render(cfg, plan)
		}},
		{"two-bonds", func() ([]File, error) {
			cfg := &netplan.Config{Network: netplan.Network{Version: 2,
				Ethernets: map[string]netplan.Ethernet{
					"data": {Match: &netplan.Match{PCIID: netplan.StringList{"15b3:*"}}},
					"mgmt": {Match: &netplan.Match{Driver: netplan.StringList{"igb"}}},
				},
				Bonds: map[string]netplan.Bond{
					"bond0": {
						Interfaces: []string{"data"},
						Parameters: &netplan.BondParameters{Mode: "802.3ad", LACPRate: "slow",
							MIIMonitorInterval: ms(100), TransmitHashPolicy: "layer2+3"},
						DHCP4: ptr(true), DHCPIdentifier: "mac",
					},
					"mgmt0": {
						Interfaces: []string{"mgmt"},
						Parameters: &netplan.BondParameters{Mode: "balance-rr", PacketsPerMember: ptr(0),
							MIIMonitorInterval: ms(250)},
						Addresses: []string{"10.10.0.5/16"},
					},
				},
			}}
			plan := &netplan.Plan{Bonds: []netplan.BondPlan{
				bondPlan(cfg, "bond0", "802.3ad", "", cx4a, cx4b),
				bondPlan(cfg, "mgmt0", "balance-rr", "", i350a, i350b),
			}}
			return Render(cfg, plan)
		}},
		{"mtu", func() ([]File, error) {
			cfg := &netplan.Config{Network: netplan.Network{Version: 2,
				Ethernets: map[string]netplan.Ethernet{
					"x710":   {Match: &netplan.Match{PCIID: netplan.StringList{"8086:1572"}}, MTU: 9000},
					"ens1f1": {MTU: 9000}, // no match: the interface of that name
				},
				Bonds: map[string]netplan.Bond{"bond0": {
					Interfaces: []string{"ens1f1", "x710"},
					Parameters: &netplan.BondParameters{Mode: "802.3ad", MIIMonitorInterval: ms(100)},
					MTU:        9000,
					DHCP4:      ptr(true),
				}},
			}}
			plan := &netplan.Plan{Bonds: []netplan.BondPlan{bondPlan(cfg, "bond0", "802.3ad", "", x710a, x710b)}}
			return Render(cfg, plan)
		}},
		{"macaddress", func() ([]File, error) {
			cfg := &netplan.Config{Network: netplan.Network{Version: 2,
				Ethernets: map[string]netplan.Ethernet{
					"uplinks": {Match: &netplan.Match{Driver: netplan.StringList{"i40e"}}},
				},
				Bonds: map[string]netplan.Bond{"bond0": {
					Interfaces: []string{"uplinks"},
					Parameters: &netplan.BondParameters{Mode: "active-backup", MIIMonitorInterval: ms(100)},
					DHCP4:      ptr(true),
					MACAddress: "02:00:5E:10:00:01",
				}},
			}}
			plan := &netplan.Plan{Bonds: []netplan.BondPlan{bondPlan(cfg, "bond0", "active-backup", "", x710a, x710b)}}
			return Render(cfg, plan)
		}},
		{"fallback", func() ([]File, error) {
			return RenderFallback(i350a)
		}},
	}
}

func TestGolden(t *testing.T) {
	for _, tc := range goldenCases() {
		t.Run(tc.name, func(t *testing.T) {
			files, err := tc.render()
			if err != nil {
				t.Fatal(err)
			}
			compareGolden(t, filepath.Join("testdata", "golden", tc.name), files)
		})
	}
}

// compareGolden checks that dir holds exactly files, byte for byte, or
// rewrites dir with -update.
func compareGolden(t *testing.T, dir string, files []File) {
	t.Helper()
	if *update {
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if err := os.WriteFile(filepath.Join(dir, f.Name), f.Content, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("%v (run go test ./units -update to create it)", err)
	}
	var want, got []string
	for _, e := range entries {
		want = append(want, e.Name())
	}
	for _, f := range files {
		got = append(got, f.Name)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("rendered files %q, golden has %q", got, want)
	}
	for _, f := range files {
		wantContent, err := os.ReadFile(filepath.Join(dir, f.Name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(f.Content, wantContent) {
			t.Errorf("%s differs from %s:\n--- got\n%s\n--- want\n%s", f.Name, dir, f.Content, wantContent)
		}
	}
}

func TestRenderOrderAndRepeat(t *testing.T) {
	var first []File
	for i := 0; i < 5; i++ {
		files, err := goldenCases()[3].render() // two-bonds
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = files
			continue
		}
		if !slices.EqualFunc(first, files, func(a, b File) bool { return a.Name == b.Name && bytes.Equal(a.Content, b.Content) }) {
			t.Fatal("two renders of the same input differ")
		}
	}
	var names []string
	for _, f := range first {
		names = append(names, f.Name)
	}
	want := []string{
		"10-bondstrap-bond0.netdev", "10-bondstrap-bond0.network",
		"10-bondstrap-bond0-b8599fc0102a.network", "10-bondstrap-bond0-b8599fc0102b.network",
		"10-bondstrap-mgmt0.netdev", "10-bondstrap-mgmt0.network",
		"10-bondstrap-mgmt0-a0369f3e52c0.network", "10-bondstrap-mgmt0-a0369f3e52c1.network",
	}
	if !slices.Equal(names, want) {
		t.Errorf("order %q, want %q", names, want)
	}
}

// sectionsOf parses a rendered file back.
func sectionsOf(t *testing.T, content []byte) []*unit.UnitSection {
	t.Helper()
	secs, err := unit.DeserializeSections(bytes.NewReader(content))
	if err != nil {
		t.Fatal(err)
	}
	return secs
}

// fileNamed returns the rendered file called name.
func fileNamed(t *testing.T, files []File, name string) File {
	t.Helper()
	for _, f := range files {
		if f.Name == name {
			return f
		}
	}
	t.Fatalf("no file %s among %d", name, len(files))
	return File{}
}

func TestRoutesStaySeparateSections(t *testing.T) {
	files, err := goldenCases()[1].render() // active-backup-static, three routes
	if err != nil {
		t.Fatal(err)
	}
	var routes [][]string
	for _, s := range sectionsOf(t, fileNamed(t, files, "10-bondstrap-bond0.network").Content) {
		if s.Section != "Route" {
			continue
		}
		var kv []string
		for _, e := range s.Entries {
			kv = append(kv, e.Name+"="+e.Value)
		}
		routes = append(routes, kv)
	}
	want := [][]string{
		{"Destination=0.0.0.0/0", "Gateway=192.0.2.254", "Metric=200"},
		{"Destination=198.51.100.0/24", "Gateway=192.0.2.253", "GatewayOnLink=true", "Table=100"},
		{"Destination=::/0", "Gateway=2001:db8:10::1"},
	}
	if !slices.EqualFunc(routes, want, slices.Equal) {
		t.Errorf("routes %q, want %q", routes, want)
	}
}

func TestBondMACIsFirstMembersPermanentMAC(t *testing.T) {
	// The first member had its MAC changed before detection (a bond it was in
	// before, say): the bond gets the permanent one, which apply also creates
	// it with, and the member is matched by it.
	nic := x710a
	nic.MAC = "02:11:22:33:44:55"
	cfg := &netplan.Config{Network: netplan.Network{Version: 2,
		Ethernets: map[string]netplan.Ethernet{"ens1f0": {}, "ens1f1": {}},
		Bonds: map[string]netplan.Bond{"bond0": {Interfaces: []string{"ens1f0", "ens1f1"},
			Parameters: &netplan.BondParameters{Mode: "active-backup"}, DHCP4: ptr(true)}},
	}}
	plan := &netplan.Plan{Bonds: []netplan.BondPlan{bondPlan(cfg, "bond0", "active-backup", "ens1f0", nic, x710b)}}
	files, err := Render(cfg, plan)
	if err != nil {
		t.Fatal(err)
	}
	netdev := string(fileNamed(t, files, "10-bondstrap-bond0.netdev").Content)
	if !strings.Contains(netdev, "\nMACAddress=3c:fd:fe:a1:00:00\n") {
		t.Errorf("bond MAC is not the first member's permanent MAC:\n%s", netdev)
	}
	member := string(fileNamed(t, files, "10-bondstrap-bond0-3cfdfea10000.network").Content)
	if !strings.Contains(member, "\nPermanentMACAddress=3c:fd:fe:a1:00:00\n") || !strings.Contains(member, "\nPrimarySlave=true\n") {
		t.Errorf("member unit:\n%s", member)
	}
	if strings.Contains(member, "ens1f0\n") || strings.Contains(member, "Name=") {
		t.Errorf("member unit matches by name:\n%s", member)
	}
	other := string(fileNamed(t, files, "10-bondstrap-bond0-3cfdfea10001.network").Content)
	if strings.Contains(other, "PrimarySlave") {
		t.Errorf("non-primary member has PrimarySlave:\n%s", other)
	}
	// Without a permanent MAC, the current one identifies the member and
	// gives the bond its MAC.
	nic.PermanentMAC = ""
	plan.Bonds[0].MemberNICs[0] = nic
	files, err = Render(cfg, plan)
	if err != nil {
		t.Fatal(err)
	}
	fileNamed(t, files, "10-bondstrap-bond0-021122334455.network")
	if netdev := string(fileNamed(t, files, "10-bondstrap-bond0.netdev").Content); !strings.Contains(netdev, "\nMACAddress=02:11:22:33:44:55\n") {
		t.Errorf("bond MAC is not the current MAC of a member without a permanent one:\n%s", netdev)
	}
}

// baseCase is a valid one-bond config and plan that error tests break.
func baseCase() (*netplan.Config, *netplan.Plan) {
	cfg := &netplan.Config{Network: netplan.Network{Version: 2,
		Ethernets: map[string]netplan.Ethernet{"up": {Match: &netplan.Match{Driver: netplan.StringList{"i40e"}}}},
		Bonds: map[string]netplan.Bond{"bond0": {Interfaces: []string{"up"},
			Parameters: &netplan.BondParameters{Mode: "802.3ad"}, DHCP4: ptr(true)}},
	}}
	plan := &netplan.Plan{Bonds: []netplan.BondPlan{bondPlan(cfg, "bond0", "802.3ad", "", x710a, x710b)}}
	return cfg, plan
}

func TestRenderRefuses(t *testing.T) {
	tests := []struct {
		name   string
		break_ func(cfg *netplan.Config, plan *netplan.Plan)
		unsafe bool // the error must wrap ErrUnsafeValue
		want   string
	}{
		{"newline in search domain", func(c *netplan.Config, _ *netplan.Plan) {
			b := c.Network.Bonds["bond0"]
			b.Nameservers = &netplan.Nameservers{Search: []string{"example.com\nDNS=203.0.113.66"}}
			c.Network.Bonds["bond0"] = b
		}, true, "search domain"},
		{"newline in bond name", func(_ *netplan.Config, p *netplan.Plan) {
			p.Bonds[0].Name = "bond0\n[Network]"
		}, true, "interface name"},
		{"newline in member name", func(_ *netplan.Config, p *netplan.Plan) {
			p.Bonds[0].MemberNICs[1].Name = "x\ny"
			p.Bonds[0].Members[1] = "x\ny"
		}, true, "interface name"},
		{"bond name with slash", func(_ *netplan.Config, p *netplan.Plan) {
			p.Bonds[0].Name = "../etc"
		}, true, "interface name"},
		{"bad member MAC", func(_ *netplan.Config, p *netplan.Plan) {
			p.Bonds[0].MemberNICs[1].PermanentMAC = "3c:fd:fe:a1:00:01\nBond=evil"
		}, true, "not an Ethernet MAC"},
		{"bad config MAC", func(c *netplan.Config, _ *netplan.Plan) {
			b := c.Network.Bonds["bond0"]
			b.MACAddress = "zz"
			c.Network.Bonds["bond0"] = b
		}, true, "macaddress"},
		{"no members", func(_ *netplan.Config, p *netplan.Plan) {
			p.Bonds[0].Members, p.Bonds[0].MemberNICs = nil, nil
		}, false, "no members"},
		{"members and NICs disagree", func(_ *netplan.Config, p *netplan.Plan) {
			p.Bonds[0].Members = p.Bonds[0].Members[:1]
		}, false, "member NICs"},
		{"primary not a member", func(_ *netplan.Config, p *netplan.Plan) {
			p.Bonds[0].Primary = "eno1"
		}, false, "primary eno1"},
		{"unknown mode", func(_ *netplan.Config, p *netplan.Plan) {
			p.Bonds[0].Mode = "4"
		}, false, "Mode="},
		{"unknown hash policy", func(c *netplan.Config, _ *netplan.Plan) {
			c.Network.Bonds["bond0"].Parameters.TransmitHashPolicy = "layer3+4\nMode=broadcast"
		}, false, "TransmitHashPolicy="},
		{"gratuitous-arp out of range", func(c *netplan.Config, _ *netplan.Plan) {
			c.Network.Bonds["bond0"].Parameters.GratuitousARP = ptr(256)
		}, false, "GratuitousARP=256"},
		{"IPv6 ARP target", func(c *netplan.Config, _ *netplan.Plan) {
			c.Network.Bonds["bond0"].Parameters.ARPIPTargets = []string{"2001:db8::1"}
		}, false, "ARPIPTargets"},
		{"sub-second learn interval", func(c *netplan.Config, _ *netplan.Plan) {
			c.Network.Bonds["bond0"].Parameters.LearnPacketInterval = ms(500)
		}, false, "LearnPacketIntervalSec"},
		{"negative interval", func(c *netplan.Config, _ *netplan.Plan) {
			c.Network.Bonds["bond0"].Parameters.MIIMonitorInterval = ms(-1)
		}, false, "negative"},
		{"dhcp-identifier duid", func(c *netplan.Config, _ *netplan.Plan) {
			b := c.Network.Bonds["bond0"]
			b.DHCPIdentifier = "duid"
			c.Network.Bonds["bond0"] = b
		}, false, "dhcp-identifier"},
		{"route family mismatch", func(c *netplan.Config, _ *netplan.Plan) {
			b := c.Network.Bonds["bond0"]
			b.Routes = []netplan.Route{{To: "10.0.0.0/8", Via: "2001:db8::1"}}
			c.Network.Bonds["bond0"] = b
		}, false, "address families"},
		{"bad address", func(c *netplan.Config, _ *netplan.Plan) {
			b := c.Network.Bonds["bond0"]
			b.Addresses = []string{"10.0.0.1/24\nDNS=1.1.1.1"}
			c.Network.Bonds["bond0"] = b
		}, false, "address"},
		{"IPv6 gateway4", func(c *netplan.Config, _ *netplan.Plan) {
			b := c.Network.Bonds["bond0"]
			b.Gateway4 = "2001:db8::1"
			c.Network.Bonds["bond0"] = b
		}, false, "gateway4"},
		{"tiny MTU", func(c *netplan.Config, _ *netplan.Plan) {
			b := c.Network.Bonds["bond0"]
			b.MTU = 10
			c.Network.Bonds["bond0"] = b
		}, false, "MTUBytes=10"},
		{"file name collision", func(c *netplan.Config, p *netplan.Plan) {
			// A bond named like another bond's member unit.
			p.Bonds[0].Name = "b"
			p.Bonds = append(p.Bonds, bondPlan(c, "b-3cfdfea10000", "802.3ad", "", cx4a))
		}, false, "two units named"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, plan := baseCase()
			tc.break_(cfg, plan)
			files, err := Render(cfg, plan)
			if err == nil {
				t.Fatalf("rendered without error:\n%s", dump(files))
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
			if tc.unsafe && !errors.Is(err, ErrUnsafeValue) {
				t.Errorf("error %q does not wrap ErrUnsafeValue", err)
			}
		})
	}
}

func TestBaseCaseRenders(t *testing.T) {
	// The error tests above are only meaningful if the unbroken case works.
	cfg, plan := baseCase()
	if _, err := Render(cfg, plan); err != nil {
		t.Fatal(err)
	}
}

func TestSerializeRefusesUnsafeValues(t *testing.T) {
	for _, v := range []string{"a\nb", "a\rb", "x\\", "", " lead", "trail ", "a\x00b", "a\u2028b", "\xff"} {
		var b sectionBuilder
		add(b.section("Network"), "Domains", v)
		if _, err := b.bytes(nil); !errors.Is(err, ErrUnsafeValue) {
			t.Errorf("value %q: err = %v, want ErrUnsafeValue", v, err)
		}
	}
	var b sectionBuilder
	add(b.section("Network\n[Match"), "Name", "x")
	if _, err := b.bytes(nil); !errors.Is(err, ErrUnsafeValue) {
		t.Errorf("bad section name: err = %v", err)
	}
	b = sectionBuilder{}
	add(b.section("Network"), "Name=x\nDNS", "x")
	if _, err := b.bytes(nil); !errors.Is(err, ErrUnsafeValue) {
		t.Errorf("bad key: err = %v", err)
	}
	if _, err := RenderFallback(inventory.NIC{Name: "eth0", MAC: "not-a-mac"}); !errors.Is(err, ErrUnsafeValue) {
		t.Errorf("fallback with bad MAC: err = %v", err)
	}
	if _, err := RenderFallback(inventory.NIC{Name: "eth0\nDHCP=no", PermanentMAC: "52:54:00:12:34:56"}); !errors.Is(err, ErrUnsafeValue) {
		t.Errorf("fallback with newline in name: err = %v", err)
	}
}

func TestRenderEmptyPlan(t *testing.T) {
	files, err := Render(&netplan.Config{}, &netplan.Plan{})
	if err != nil || len(files) != 0 {
		t.Errorf("empty plan: %d files, %v", len(files), err)
	}
	if _, err := Render(nil, nil); err == nil {
		t.Error("nil plan rendered")
	}
}

// TestGoldenKeysKnownToNetworkd checks every Section.Key of the golden files
// against the configuration table compiled into this host's systemd-networkd.
func TestGoldenKeysKnownToNetworkd(t *testing.T) {
	bin, err := os.ReadFile("/lib/systemd/systemd-networkd")
	if err != nil {
		t.Skipf("no systemd-networkd binary to check against: %v", err)
	}
	paths, err := filepath.Glob(filepath.Join("testdata", "golden", "*", "*"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	checked := 0
	for _, p := range paths {
		content, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range sectionsOf(t, content) {
			for _, e := range s.Entries {
				key := s.Section + "." + e.Name
				if !bytes.Contains(bin, []byte("\x00"+key+"\x00")) {
					t.Errorf("%s: networkd does not know %s", p, key)
				}
				checked++
			}
		}
	}
	t.Logf("%d keys checked in %d files", checked, len(paths))
}

func dump(files []File) string {
	var b strings.Builder
	for _, f := range files {
		b.WriteString("== " + f.Name + "\n")
		b.Write(f.Content)
	}
	return b.String()
}

func TestMemberMTUFromFirstMatchingID(t *testing.T) {
	// ens1f1 matches both ids: the first in the bond's interfaces decides,
	// as it decides selection. ens1f0 matches only x710.
	cfg := &netplan.Config{Network: netplan.Network{Version: 2,
		Ethernets: map[string]netplan.Ethernet{
			"x710":   {Match: &netplan.Match{PCIID: netplan.StringList{"8086:1572"}}, MTU: 9216},
			"ens1f1": {MTU: 9000},
		},
		Bonds: map[string]netplan.Bond{"bond0": {Interfaces: []string{"ens1f1", "x710"},
			Parameters: &netplan.BondParameters{Mode: "active-backup"}}},
	}}
	plan := &netplan.Plan{Bonds: []netplan.BondPlan{bondPlan(cfg, "bond0", "active-backup", "", x710a, x710b)}}
	files, err := Render(cfg, plan)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"10-bondstrap-bond0-3cfdfea10000.network": "\n[Link]\nMTUBytes=9216\n",
		"10-bondstrap-bond0-3cfdfea10001.network": "\n[Link]\nMTUBytes=9000\n",
	} {
		if got := string(fileNamed(t, files, name).Content); !strings.Contains(got, want) {
			t.Errorf("%s lacks %q:\n%s", name, want, got)
		}
	}
	// Without cfg, members get no MTU of their own.
	files, err = Render(nil, plan)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(fileNamed(t, files, "10-bondstrap-bond0-3cfdfea10000.network").Content); strings.Contains(got, "MTUBytes") {
		t.Errorf("MTU without a config:\n%s", got)
	}
}
