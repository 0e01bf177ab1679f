package units

import (
	"bytes"
	"errors"
	"flag"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/bondstrap/bondstrap/detect/inventory"

	"github.com/bondstrap/bondstrap/netplan"
	"github.com/bondstrap/bondstrap/netplan/spec"
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

// parseConfig parses and validates a config the way bondstrap reads one.
func parseConfig(tb testing.TB, yaml string) *netplan.Config {
	tb.Helper()
	cfg, err := netplan.Parse("test.yaml", []byte(yaml))
	if err != nil {
		tb.Fatalf("config does not parse: %v\n%s", err, yaml)
	}
	return cfg
}

// bondPlan builds the plan of one bond the way selection would, with the
// members in the order given: each member's id is the first of the bond's
// interfaces that matches it.
func bondPlan(cfg *netplan.Config, name, mode, primary string, nics ...inventory.NIC) netplan.BondPlan {
	bond := cfg.Network.Bonds[name]
	bp := netplan.BondPlan{Name: name, Mode: mode, Primary: primary, Config: bond}
	for _, n := range nics {
		id := ""
		for _, want := range bond.Interfaces {
			if ok, _ := cfg.MatchesID(want, n); ok {
				id = want
				break
			}
		}
		bp.Members = append(bp.Members, n.Name)
		bp.MemberIDs = append(bp.MemberIDs, id)
		bp.MemberNICs = append(bp.MemberNICs, n)
	}
	return bp
}

// renderYAML parses yaml and renders the plan of the bonds given, each as
// "name" with its members in order.
func renderYAML(tb testing.TB, yaml string, bonds ...func(*netplan.Config) netplan.BondPlan) ([]File, error) {
	tb.Helper()
	cfg := parseConfig(tb, yaml)
	plan := &netplan.Plan{}
	for _, b := range bonds {
		plan.Bonds = append(plan.Bonds, b(cfg))
	}
	return Render(cfg, plan)
}

// member returns a plan builder for bond name with members nics.
func member(name, mode, primary string, nics ...inventory.NIC) func(*netplan.Config) netplan.BondPlan {
	return func(cfg *netplan.Config) netplan.BondPlan { return bondPlan(cfg, name, mode, primary, nics...) }
}

// NICs without a permanent MAC: a virtio NIC on PCI, and a USB gadget NIC
// with neither a permanent MAC nor a PCI address.
var (
	virtioA = inventory.NIC{Name: "enp0s3", MAC: "52:54:00:12:34:56", PCIAddress: "0000:00:03.0",
		VendorID: "1af4", DeviceID: "1000", Driver: "virtio_net", SpeedMbps: 10000, Duplex: "full", Carrier: true, MTU: 1500}
	usb0 = inventory.NIC{Name: "usb0", MAC: "02:1a:11:f0:00:01", Driver: "cdc_ether",
		SpeedMbps: 480, Duplex: "half", Carrier: true, MTU: 1500}
)

// goldenCase renders one scenario.
type goldenCase struct {
	name   string
	render func(tb testing.TB) ([]File, error)
}

func goldenCases() []goldenCase {
	return []goldenCase{
		{"lacp-dhcp", func(tb testing.TB) ([]File, error) {
			return renderYAML(tb, `
network:
  version: 2
  ethernets:
    uplinks:
      match: {pci-id: "8086:1572", min-speed: 10000}
  bonds:
    bond0:
      interfaces: [uplinks]
      parameters:
        mode: 802.3ad
        lacp-rate: fast
        mii-monitor-interval: 100
        min-links: 1
        transmit-hash-policy: layer3+4
        ad-select: bandwidth
        all-members-active: false
        up-delay: 200
        down-delay: 1000
      dhcp4: true
`, member("bond0", "802.3ad", "", x710a, x710b))
		}},
		{"active-backup-static", func(tb testing.TB) ([]File, error) {
			return renderYAML(tb, `
network:
  version: 2
  ethernets:
    fast:
      match: {driver: mlx5_core}
    slow:
      match: {driver: igb}
  bonds:
    bond0:
      interfaces: [fast, slow]
      parameters:
        mode: active-backup
        primary: fast
        arp-interval: 500
        arp-ip-targets: [192.0.2.1, 192.0.2.2]
        arp-validate: all
        arp-all-targets: any
        fail-over-mac-policy: active
        gratuitous-arp: 3
        primary-reselect-policy: better
        resend-igmp: 2
      addresses: ["2001:db8:10::5/64", 192.0.2.10/24, 192.0.2.11/24]
      gateway4: 192.0.2.1
      routes:
        - {to: default, via: 192.0.2.254, metric: 200}
        - {to: 198.51.100.0/24, via: 192.0.2.253, on-link: true, table: 100}
        - {to: default, via: "2001:db8:10::1"}
      nameservers:
        addresses: ["2001:db8:10::53", 192.0.2.53, 192.0.2.54]
        search: [dc1.example.com, example.com]
`, member("bond0", "active-backup", "ens2f0np0", cx4a, i350a))
		}},
		{"balance-alb", func(tb testing.TB) ([]File, error) {
			return renderYAML(tb, `
network:
  version: 2
  ethernets:
    onboard:
      match: {pci-id: "8086:1521"}
  bonds:
    bond0:
      interfaces: [onboard]
      parameters:
        mode: balance-alb
        mii-monitor-interval: 100
        learn-packet-interval: 5
        up-delay: 0
      dhcp4: true
`, member("bond0", "balance-alb", "", i350a, i350b))
		}},
		{"two-bonds", func(tb testing.TB) ([]File, error) {
			return renderYAML(tb, `
network:
  version: 2
  ethernets:
    data:
      match: {pci-id: "15b3:*"}
    mgmt:
      match: {driver: igb}
  bonds:
    bond0:
      interfaces: [data]
      parameters:
        mode: 802.3ad
        lacp-rate: slow
        mii-monitor-interval: 100
        transmit-hash-policy: layer2+3
      dhcp4: true
      dhcp-identifier: mac
    mgmt0:
      interfaces: [mgmt]
      parameters:
        mode: balance-rr
        packets-per-member: 0
        mii-monitor-interval: 250
      addresses: [10.10.0.5/16]
`, member("bond0", "802.3ad", "", cx4a, cx4b), member("mgmt0", "balance-rr", "", i350a, i350b))
		}},
		{"mtu", func(tb testing.TB) ([]File, error) {
			// ens1f1 has no match: it is the interface of that name.
			return renderYAML(tb, `
network:
  version: 2
  ethernets:
    x710:
      match: {pci-id: "8086:1572"}
      mtu: 9000
    ens1f1:
      mtu: 9000
  bonds:
    bond0:
      interfaces: [ens1f1, x710]
      parameters: {mode: 802.3ad, mii-monitor-interval: 100}
      mtu: 9000
      dhcp4: true
`, member("bond0", "802.3ad", "", x710a, x710b))
		}},
		{"macaddress", func(tb testing.TB) ([]File, error) {
			return renderYAML(tb, `
network:
  version: 2
  ethernets:
    uplinks:
      match: {driver: i40e}
  bonds:
    bond0:
      interfaces: [uplinks]
      parameters: {mode: active-backup, mii-monitor-interval: 100}
      dhcp4: true
      macaddress: 02:00:5E:10:00:01
`, member("bond0", "active-backup", "", x710a, x710b))
		}},
		{"fallback", func(testing.TB) ([]File, error) {
			return RenderFallback(i350a)
		}},
		{"fallback-path", func(testing.TB) ([]File, error) {
			return RenderFallback(virtioA)
		}},
		// What networkd 252 cannot express goes to a udev rule, in the
		// order the kernel applies it: vlan+srcmac, arp-validate filter,
		// arp-missed-max (ARPMissedMax= came in systemd 256) and
		// ns-ip6-targets (no key in any networkd).
		{"udev-rule", func(tb testing.TB) ([]File, error) {
			return renderYAML(tb, udevRuleYAML, member("bond0", "balance-xor", "", x710a, x710b))
		}},
		// Members without a permanent MAC: by PCI path, else by MAC.
		{"path-match", func(tb testing.TB) ([]File, error) {
			return renderYAML(tb, `
network:
  version: 2
  ethernets:
    virtio:
      match: {driver: virtio_net}
      mtu: 9000
    usb:
      match: {name: "usb*"}
  bonds:
    bond0:
      mtu: 9000
      interfaces: [virtio, usb]
      parameters: {mode: active-backup, mii-monitor-interval: 100, primary: virtio}
      dhcp4: true
`, member("bond0", "active-backup", "enp0s3", virtioA, usb0))
		}},
	}
}

// udevRuleYAML is the config of the udev-rule golden case.
const udevRuleYAML = `
network:
  version: 2
  ethernets:
    uplinks:
      match: {driver: i40e}
  bonds:
    bond0:
      interfaces: [uplinks]
      parameters:
        mode: balance-xor
        arp-missed-max: 3
        transmit-hash-policy: vlan+srcmac
        arp-validate: filter
        ns-ip6-targets: ["2001:db8::1", "2001:db8::2"]
        arp-ip-targets: [192.0.2.1]
        arp-interval: 200
        arp-all-targets: all
      dhcp4: true
`

// goldenCase returns the golden case called name.
func goldenCaseNamed(tb testing.TB, name string) goldenCase {
	tb.Helper()
	for _, tc := range goldenCases() {
		if tc.name == name {
			return tc
		}
	}
	tb.Fatalf("no golden case %s", name)
	return goldenCase{}
}

func TestGolden(t *testing.T) {
	for _, tc := range goldenCases() {
		t.Run(tc.name, func(t *testing.T) {
			files, err := tc.render(t)
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
	for _, f := range files {
		if want := strings.HasSuffix(f.Name, ".rules"); (f.Kind == Udev) != want {
			t.Errorf("%s has kind %d: a .rules file, and only one, is Udev", f.Name, f.Kind)
		}
		if want := strings.HasSuffix(f.Name, ".link"); (f.Kind == Link) != want {
			t.Errorf("%s has kind %d: a .link file, and only one, is Link", f.Name, f.Kind)
		}
	}
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
		files, err := goldenCaseNamed(t, "two-bonds").render(t)
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
	files, err := goldenCaseNamed(t, "active-backup-static").render(t) // three routes
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
	cfg := parseConfig(t, `
network:
  version: 2
  ethernets: {ens1f0: {}, ens1f1: {}}
  bonds:
    bond0:
      interfaces: [ens1f0, ens1f1]
      parameters: {mode: active-backup, primary: ens1f0}
      dhcp4: true
`)
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
	// Without a permanent MAC, the PCI path identifies the member (the bond
	// rewrites the current MAC), and the current MAC gives the bond its MAC.
	nic.PermanentMAC = ""
	plan.Bonds[0].MemberNICs[0] = nic
	files, err = Render(cfg, plan)
	if err != nil {
		t.Fatal(err)
	}
	member = string(fileNamed(t, files, "10-bondstrap-bond0-pci-00003b000.network").Content)
	if !strings.Contains(member, "\n[Match]\nPath=pci-0000:3b:00.0\n") || strings.Contains(member, "MACAddress") {
		t.Errorf("member without a permanent MAC is not matched by its PCI path:\n%s", member)
	}
	if netdev := string(fileNamed(t, files, "10-bondstrap-bond0.netdev").Content); !strings.Contains(netdev, "\nMACAddress=02:11:22:33:44:55\n") {
		t.Errorf("bond MAC is not the current MAC of a member without a permanent one:\n%s", netdev)
	}
	// Without a PCI address either, the current MAC identifies it.
	nic.PCIAddress = ""
	plan.Bonds[0].MemberNICs[0] = nic
	files, err = Render(cfg, plan)
	if err != nil {
		t.Fatal(err)
	}
	member = string(fileNamed(t, files, "10-bondstrap-bond0-021122334455.network").Content)
	if !strings.Contains(member, "\n[Match]\nMACAddress=02:11:22:33:44:55\n") {
		t.Errorf("member without permanent MAC and PCI address is not matched by its MAC:\n%s", member)
	}
}

func TestMemberMatch(t *testing.T) {
	tests := []struct {
		name string
		nic  inventory.NIC
		want Match
	}{
		{"permanent MAC wins over PCI and current MAC",
			inventory.NIC{Name: "a", MAC: "02:00:00:00:00:09", PermanentMAC: "3C:FD:FE:A1:00:00", PCIAddress: "0000:3b:00.0"},
			Match{Key: "PermanentMACAddress", Value: "3c:fd:fe:a1:00:00", FileKey: "3cfdfea10000"}},
		{"PCI address without permanent MAC",
			inventory.NIC{Name: "a", MAC: "52:54:00:12:34:56", PCIAddress: "0000:00:03.0"},
			Match{Key: "Path", Value: "pci-0000:00:03.0", FileKey: "pci-000000030"}},
		{"PCI domain and function digits",
			inventory.NIC{Name: "a", MAC: "52:54:00:12:34:56", PCIAddress: "10000:af:1f.7"},
			Match{Key: "Path", Value: "pci-10000:af:1f.7", FileKey: "pci-10000af1f7"}},
		{"neither: the current MAC",
			inventory.NIC{Name: "a", MAC: "02:1A:11:F0:00:01"},
			Match{Key: "MACAddress", Value: "02:1a:11:f0:00:01", FileKey: "021a11f00001"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := MemberMatch(tc.nic)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("MemberMatch = %+v, want %+v", got, tc.want)
			}
		})
	}
	for _, nic := range []inventory.NIC{
		{Name: "a", MAC: "52:54:00:12:34:56", PCIAddress: "0000:00:03.0\nName=*"},
		{Name: "a", MAC: "52:54:00:12:34:56", PCIAddress: "../../x"},
		{Name: "a", MAC: "52:54:00:12:34:56", PermanentMAC: "zz"},
		{Name: "a", MAC: "not a MAC"},
		{Name: "a"},
	} {
		if m, err := MemberMatch(nic); !errors.Is(err, ErrUnsafeValue) {
			t.Errorf("MemberMatch(%+v) = %+v, %v; want ErrUnsafeValue", nic, m, err)
		}
	}
}

// baseCase is a valid one-bond config and plan that error tests break.
func baseCase(tb testing.TB) (*netplan.Config, *netplan.Plan) {
	cfg := parseConfig(tb, `
network:
  version: 2
  ethernets:
    up: {match: {driver: i40e}}
  bonds:
    bond0:
      interfaces: [up]
      parameters: {mode: 802.3ad}
      dhcp4: true
`)
	plan := &netplan.Plan{Bonds: []netplan.BondPlan{bondPlan(cfg, "bond0", "802.3ad", "", x710a, x710b)}}
	return cfg, plan
}

// setParam puts a setting into bond0's parameters, bypassing validation, as
// a caller that builds a config in code could.
func setParam(tb testing.TB, c *netplan.Config, key string, s spec.Setting) {
	tb.Helper()
	p, ok := spec.Lookup(key)
	if !ok {
		tb.Fatalf("no parameter %s", key)
	}
	s.Param = p
	b := c.Network.Bonds["bond0"]
	params := *b.Parameters
	params.Settings = params.Settings.Set(s)
	b.Parameters = &params
	c.Network.Bonds["bond0"] = b
}

func TestRenderRefuses(t *testing.T) {
	tests := []struct {
		name   string
		break_ func(t *testing.T, cfg *netplan.Config, plan *netplan.Plan)
		unsafe bool // the error must wrap ErrUnsafeValue
		want   string
	}{
		{"newline in search domain", func(_ *testing.T, c *netplan.Config, _ *netplan.Plan) {
			b := c.Network.Bonds["bond0"]
			b.Nameservers = &netplan.Nameservers{Search: []string{"example.com\nDNS=203.0.113.66"}}
			c.Network.Bonds["bond0"] = b
		}, true, "search domain"},
		{"newline in bond name", func(_ *testing.T, _ *netplan.Config, p *netplan.Plan) {
			p.Bonds[0].Name = "bond0\n[Network]"
		}, true, "interface name"},
		{"newline in member name", func(_ *testing.T, _ *netplan.Config, p *netplan.Plan) {
			p.Bonds[0].MemberNICs[1].Name = "x\ny"
			p.Bonds[0].Members[1] = "x\ny"
		}, true, "interface name"},
		{"bond name with slash", func(_ *testing.T, _ *netplan.Config, p *netplan.Plan) {
			p.Bonds[0].Name = "../etc"
		}, true, "interface name"},
		{"bad member MAC", func(_ *testing.T, _ *netplan.Config, p *netplan.Plan) {
			p.Bonds[0].MemberNICs[1].PermanentMAC = "3c:fd:fe:a1:00:01\nBond=evil"
		}, true, "not an Ethernet MAC"},
		{"bad member PCI address", func(_ *testing.T, _ *netplan.Config, p *netplan.Plan) {
			p.Bonds[0].MemberNICs[1].PermanentMAC = ""
			p.Bonds[0].MemberNICs[1].PCIAddress = "0000:3b:00.1 pci-*"
		}, true, "PCI address"},
		{"bad config MAC", func(_ *testing.T, c *netplan.Config, _ *netplan.Plan) {
			b := c.Network.Bonds["bond0"]
			b.MACAddress = "zz"
			c.Network.Bonds["bond0"] = b
		}, true, "macaddress"},
		{"no members", func(_ *testing.T, _ *netplan.Config, p *netplan.Plan) {
			p.Bonds[0].Members, p.Bonds[0].MemberNICs = nil, nil
		}, false, "no members"},
		{"members and NICs disagree", func(_ *testing.T, _ *netplan.Config, p *netplan.Plan) {
			p.Bonds[0].Members = p.Bonds[0].Members[:1]
		}, false, "member NICs"},
		{"primary not a member", func(_ *testing.T, _ *netplan.Config, p *netplan.Plan) {
			p.Bonds[0].Primary = "eno1"
		}, false, "primary eno1"},
		{"mode by number in the plan", func(_ *testing.T, _ *netplan.Config, p *netplan.Plan) {
			p.Bonds[0].Mode = "4" // selection canonicalizes; a number here is a bug
		}, false, `mode "4"`},
		{"unknown hash policy", func(t *testing.T, c *netplan.Config, _ *netplan.Plan) {
			setParam(t, c, "transmit-hash-policy", spec.Setting{N: 99})
		}, false, "transmit-hash-policy"},
		{"gratuitous-arp out of range", func(t *testing.T, c *netplan.Config, _ *netplan.Plan) {
			setParam(t, c, "gratuitous-arp", spec.Setting{N: 256})
		}, false, "gratuitous-arp"},
		{"IPv6 ARP target", func(t *testing.T, c *netplan.Config, _ *netplan.Plan) {
			setParam(t, c, "arp-ip-targets", spec.Setting{Addrs: []netip.Addr{netip.MustParseAddr("2001:db8::1")}})
		}, false, "arp-ip-targets"},
		{"learn interval below a second", func(t *testing.T, c *netplan.Config, _ *netplan.Plan) {
			setParam(t, c, "learn-packet-interval", spec.Setting{N: 0})
		}, false, "learn-packet-interval"},
		{"negative interval", func(t *testing.T, c *netplan.Config, _ *netplan.Plan) {
			setParam(t, c, "mii-monitor-interval", spec.Setting{N: -1})
		}, false, "mii-monitor-interval"},
		{"setting without a parameter", func(_ *testing.T, c *netplan.Config, _ *netplan.Plan) {
			b := c.Network.Bonds["bond0"]
			b.Parameters = &netplan.BondParameters{Mode: "802.3ad", Settings: spec.Settings{{N: 1}}}
			c.Network.Bonds["bond0"] = b
		}, false, "no parameter"},
		{"neither networkd nor udev can persist it", func(t *testing.T, c *netplan.Config, _ *netplan.Plan) {
			// networkd sends FailOverMACPolicy= only in active-backup, and
			// the kernel changes fail_over_mac only without ports.
			setParam(t, c, "fail-over-mac-policy", spec.Setting{N: 1})
		}, false, "parameters.fail-over-mac-policy"},
		{"dhcp-identifier duid", func(_ *testing.T, c *netplan.Config, _ *netplan.Plan) {
			b := c.Network.Bonds["bond0"]
			b.DHCPIdentifier = "duid"
			c.Network.Bonds["bond0"] = b
		}, false, "dhcp-identifier"},
		{"route family mismatch", func(_ *testing.T, c *netplan.Config, _ *netplan.Plan) {
			b := c.Network.Bonds["bond0"]
			b.Routes = []netplan.Route{{To: "10.0.0.0/8", Via: "2001:db8::1"}}
			c.Network.Bonds["bond0"] = b
		}, false, "address families"},
		{"bad route destination", func(_ *testing.T, c *netplan.Config, _ *netplan.Plan) {
			b := c.Network.Bonds["bond0"]
			b.Routes = []netplan.Route{{To: "10.0.0.0/8\nDNS=1.1.1.1"}}
			c.Network.Bonds["bond0"] = b
		}, false, "neither default nor a prefix"},
		{"bad address", func(_ *testing.T, c *netplan.Config, _ *netplan.Plan) {
			b := c.Network.Bonds["bond0"]
			b.Addresses = []string{"10.0.0.1/24\nDNS=1.1.1.1"}
			c.Network.Bonds["bond0"] = b
		}, false, "address"},
		{"IPv6 gateway4", func(_ *testing.T, c *netplan.Config, _ *netplan.Plan) {
			b := c.Network.Bonds["bond0"]
			b.Gateway4 = "2001:db8::1"
			c.Network.Bonds["bond0"] = b
		}, false, "gateway4"},
		{"tiny MTU", func(_ *testing.T, c *netplan.Config, _ *netplan.Plan) {
			b := c.Network.Bonds["bond0"]
			b.MTU = 10
			c.Network.Bonds["bond0"] = b
		}, false, "MTUBytes=10"},
		{"file name collision", func(_ *testing.T, c *netplan.Config, p *netplan.Plan) {
			// A bond named like another bond's member unit.
			p.Bonds[0].Name = "b"
			p.Bonds = append(p.Bonds, bondPlan(c, "b-3cfdfea10000", "802.3ad", "", cx4a))
		}, false, "two units named"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, plan := baseCase(t)
			tc.break_(t, cfg, plan)
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
	// The error tests above are only meaningful if the unbroken case works,
	// also with every parameter they set given a valid value.
	cfg, plan := baseCase(t)
	if _, err := Render(cfg, plan); err != nil {
		t.Fatal(err)
	}
	setParam(t, cfg, "transmit-hash-policy", spec.Setting{N: 1})
	setParam(t, cfg, "gratuitous-arp", spec.Setting{N: 255})
	setParam(t, cfg, "learn-packet-interval", spec.Setting{N: 2})
	setParam(t, cfg, "mii-monitor-interval", spec.Setting{N: 0})
	files, err := Render(cfg, plan)
	if err != nil {
		t.Fatal(err)
	}
	netdev := string(fileNamed(t, files, "10-bondstrap-bond0.netdev").Content)
	for _, want := range []string{"\nTransmitHashPolicy=layer3+4\n", "\nGratuitousARP=255\n"} {
		if !strings.Contains(netdev, want) {
			t.Errorf(".netdev lacks %q:\n%s", want, netdev)
		}
	}
	// networkd does not send MIIMonitorSec=0, nor LearnPacketIntervalSec=
	// without the ARP monitor: both go to the udev rule.
	rules := string(fileNamed(t, files, "10-bondstrap-bond0.rules").Content)
	for _, want := range []string{`ATTR{bonding/miimon}="0"`, `ATTR{bonding/lp_interval}="2"`} {
		if !strings.Contains(rules, want) {
			t.Errorf(".rules lacks %q:\n%s", want, rules)
		}
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

// TestGoldenKeysKnownToNetworkd checks every Section.Key of the golden
// .netdev and .network files against the configuration table compiled into
// this host's systemd-networkd, and of the .link files against udev's (its
// binary when the host has one, else the keys below).
func TestGoldenKeysKnownToNetworkd(t *testing.T) {
	bin, err := os.ReadFile("/lib/systemd/systemd-networkd")
	if err != nil {
		t.Skipf("no systemd-networkd binary to check against: %v", err)
	}
	paths, err := filepath.Glob(filepath.Join("testdata", "golden", "*", "*.net*"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	links, err := filepath.Glob(filepath.Join("testdata", "golden", "*", "*.link"))
	if err != nil || len(links) == 0 {
		t.Fatalf("no golden .link files: %v", err)
	}
	var udev []byte
	for _, p := range []string{"/lib/systemd/systemd-udevd", "/usr/lib/systemd/systemd-udevd", "/bin/udevadm"} {
		if udev, err = os.ReadFile(p); err == nil {
			break
		}
	}
	known := func(p, key string) bool {
		if !strings.HasSuffix(p, ".link") {
			return bytes.Contains(bin, []byte("\x00"+key+"\x00"))
		}
		if udev != nil {
			return bytes.Contains(udev, []byte("\x00"+key+"\x00"))
		}
		return udevLinkKeys[key]
	}
	checked := 0
	for _, p := range append(paths, links...) {
		content, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range sectionsOf(t, content) {
			for _, e := range s.Entries {
				key := s.Section + "." + e.Name
				if !known(p, key) {
					t.Errorf("%s: networkd (udev for .link) does not know %s", p, key)
				}
				checked++
			}
		}
	}
	t.Logf("%d keys checked in %d files (udev binary: %t)", checked, len(paths)+len(links), udev != nil)
}

// udevLinkKeys are the .link keys of udev 252 (src/udev/net/
// link-config-gperf.gperf) that bondstrap may write, for a host without
// udev.
var udevLinkKeys = map[string]bool{
	"Match.MACAddress": true, "Match.PermanentMACAddress": true, "Match.Path": true,
	"Match.Kind": true, "Link.Name": true,
}

func dump(files []File) string {
	var b strings.Builder
	for _, f := range files {
		b.WriteString("== " + f.Name + "\n")
		b.Write(f.Content)
	}
	return b.String()
}

func TestMemberMTU(t *testing.T) {
	// ens1f1 matches both ids, ens1f0 only x710. A member's mtu must be
	// its bond's (the kernel gives it the bond's when it enslaves it): the
	// ids differ in having one or not.
	cfg := parseConfig(t, `
network:
  version: 2
  ethernets:
    x710:
      match: {pci-id: "8086:1572"}
      mtu: 9000
    ens1f1: {}
  bonds:
    bond0:
      interfaces: [ens1f1, x710]
      mtu: 9000
      parameters: {mode: active-backup}
`)
	mtus := func(plan *netplan.Plan, c *netplan.Config) map[string]string {
		t.Helper()
		files, err := Render(c, plan)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, name := range []string{"10-bondstrap-bond0-3cfdfea10000.network", "10-bondstrap-bond0-3cfdfea10001.network"} {
			for _, s := range sectionsOf(t, fileNamed(t, files, name).Content) {
				for _, e := range s.Entries {
					if s.Section == "Link" && e.Name == "MTUBytes" {
						out[name] = e.Value
					}
				}
			}
		}
		return out
	}
	// The id that selected the member decides, as the plan records it.
	plan := &netplan.Plan{Bonds: []netplan.BondPlan{bondPlan(cfg, "bond0", "active-backup", "", x710a, x710b)}}
	if got := plan.Bonds[0].MemberIDs; !slices.Equal(got, []string{"x710", "ens1f1"}) {
		t.Fatalf("MemberIDs %q", got)
	}
	want := map[string]string{"10-bondstrap-bond0-3cfdfea10000.network": "9000"}
	if got := mtus(plan, cfg); !maps.Equal(got, want) {
		t.Errorf("member MTUs %v, want %v", got, want)
	}
	plan.Bonds[0].MemberIDs = []string{"x710", "x710"}
	want = map[string]string{"10-bondstrap-bond0-3cfdfea10000.network": "9000", "10-bondstrap-bond0-3cfdfea10001.network": "9000"}
	if got := mtus(plan, cfg); !maps.Equal(got, want) {
		t.Errorf("with MemberIDs [x710 x710]: member MTUs %v, want %v", got, want)
	}
	// A plan without ids (an older plan): the first of the bond's
	// interfaces that matches decides, as it decides selection.
	plan.Bonds[0].MemberIDs = nil
	want = map[string]string{"10-bondstrap-bond0-3cfdfea10000.network": "9000"}
	if got := mtus(plan, cfg); !maps.Equal(got, want) {
		t.Errorf("without MemberIDs: member MTUs %v, want %v", got, want)
	}
	// Without cfg, members get no MTU of their own.
	if got := mtus(plan, nil); len(got) != 0 {
		t.Errorf("MTU without a config: %v", got)
	}
}

// ruleLine is one write of a rendered udev rule; ruleRun one ip command, for
// a parameter without a sysfs file.
var (
	ruleLine = regexp.MustCompile(`^ACTION=="add", SUBSYSTEM=="net", KERNEL=="([^"*?\[]+)", ATTR\{bonding/([a-z0-9_]+)\}="([^"{}\\]+)"$`)
	ruleRun  = regexp.MustCompile(`^ACTION=="add", SUBSYSTEM=="net", KERNEL=="([^"*?\[]+)", RUN\+="/sbin/ip link set dev ([^ "]+) type bond ([a-z0-9_]+) ([^ "{}\\%$]+)"$`)
)

// ruleWrites parses a rendered udev rule into "option=value" writes (and
// "ip option value" for ip commands), for bond; it fails on any line that is
// neither a comment, a write nor an ip command for bond.
func ruleWrites(t *testing.T, bond string, content []byte) []string {
	t.Helper()
	var out []string
	for _, line := range strings.Split(strings.TrimSuffix(string(content), "\n"), "\n") {
		if strings.HasPrefix(line, "# ") {
			continue
		}
		if r := ruleRun.FindStringSubmatch(line); r != nil {
			if r[1] != bond || r[2] != bond {
				t.Errorf("rule line %q is for %s/%s, not %s", line, r[1], r[2], bond)
			}
			out = append(out, "ip "+r[3]+" "+r[4])
			continue
		}
		m := ruleLine.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("rule line %q is not a bonding sysfs write", line)
			continue
		}
		if m[1] != bond {
			t.Errorf("rule line %q is for %s, not %s", line, m[1], bond)
		}
		out = append(out, m[2]+"="+m[3])
	}
	if !bytes.HasSuffix(content, []byte("\n")) {
		t.Errorf("rule does not end in a newline")
	}
	return out
}

func TestGoldenRulesAreSysfsWrites(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("testdata", "golden", "*", "*.rules"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no golden rules: %v", err)
	}
	kernel := map[string]bool{}
	for _, p := range spec.Params {
		kernel[p.Kernel] = true
	}
	for _, p := range paths {
		content, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		bond := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(p), Prefix), ".rules")
		writes := ruleWrites(t, bond, content)
		if len(writes) == 0 {
			t.Errorf("%s writes nothing", p)
		}
		for _, w := range writes {
			opt, _, _ := strings.Cut(strings.TrimPrefix(w, "ip "), "=")
			opt, _, _ = strings.Cut(opt, " ")
			if !kernel[opt] {
				t.Errorf("%s: %s is not a bonding option", p, opt)
			}
		}
	}
}

func TestUdevRuleForWhatNetworkdCannot(t *testing.T) {
	files, err := goldenCaseNamed(t, "udev-rule").render(t)
	if err != nil {
		t.Fatal(err)
	}
	var bond map[string]string
	for _, s := range sectionsOf(t, fileNamed(t, files, Prefix+"bond0.netdev").Content) {
		if s.Section == "Bond" {
			bond = map[string]string{}
			for _, e := range s.Entries {
				bond[e.Name] = e.Value
			}
		}
	}
	want := map[string]string{"Mode": "balance-xor", "ARPIntervalSec": "200ms", "ARPIPTargets": "192.0.2.1", "ARPAllTargets": "all"}
	if !maps.Equal(bond, want) {
		t.Errorf("[Bond] %v, want %v (networkd 252 knows neither vlan+srcmac, arp-validate filter, ARPMissedMax= nor NS targets)", bond, want)
	}
	rule := fileNamed(t, files, Prefix+"bond0.rules")
	if rule.Kind != Udev {
		t.Errorf("rule has kind %d", rule.Kind)
	}
	got := ruleWrites(t, "bond0", rule.Content)
	// bond_changelink's order: the NS targets with the ARP monitor's, then
	// validation, the hash policy, arp_missed_max last.
	wantWrites := []string{
		"ip ns_ip6_target 2001:db8::1,2001:db8::2", "arp_validate=filter",
		"xmit_hash_policy=vlan+srcmac", "arp_missed_max=3",
	}
	if !slices.Equal(got, wantWrites) {
		t.Errorf("rule writes %q, want %q", got, wantWrites)
	}
	// The same order as spec.KernelOrder gives the config's settings.
	cfg := parseConfig(t, udevRuleYAML)
	var order []string
	for _, s := range spec.KernelOrder(cfg.Network.Bonds["bond0"].Parameters.Settings) {
		if w := "ip " + s.Param.Kernel + " " + s.String(); s.Param.NoSysfs && slices.Contains(got, w) {
			order = append(order, w)
		}
		for _, v := range s.Sysfs() {
			if w := s.Param.Kernel + "=" + v; !s.Param.NoSysfs && slices.Contains(got, w) {
				order = append(order, w)
			}
		}
	}
	if !slices.Equal(got, order) {
		t.Errorf("rule writes %q are not in the kernel's order %q", got, order)
	}
	// The rule comes after the bond's units, which networkd reads.
	if last := files[len(files)-1]; last.Name != rule.Name {
		t.Errorf("last file is %s", last.Name)
	}
}

func TestNoRuleWhenNetworkdSetsAll(t *testing.T) {
	for _, name := range []string{"lacp-dhcp", "active-backup-static", "two-bonds", "mtu", "macaddress"} {
		files, err := goldenCaseNamed(t, name).render(t)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if f.Kind == Udev || strings.HasSuffix(f.Name, ".rules") {
				t.Errorf("%s: %s:\n%s", name, f.Name, f.Content)
			}
		}
	}
}

func TestUdevRuleRefusesUnsafeValues(t *testing.T) {
	p, _ := spec.Lookup("arp-validate")
	for _, w := range []spec.SysfsWrite{
		{Attr: "bonding/arp_validate", Value: `filter"`},
		{Attr: "bonding/arp_validate", Value: "filter\nACTION==\"add\""},
		{Attr: "bonding/arp_validate", Value: "{filter}"},
		{Attr: "bonding/arp_validate", Value: ""},
		{Attr: "bonding/arp_validate}=\"x\", ATTR{y", Value: "filter"},
		{Attr: "bonding/arp_validate", Value: `filter\`},
	} {
		w.Setting = spec.Setting{Param: p, N: 4}
		if out, err := renderUdevRule("bond0", []spec.SysfsWrite{w}); !errors.Is(err, ErrUnsafeValue) {
			t.Errorf("write %q=%q: %v, want ErrUnsafeValue:\n%s", w.Attr, w.Value, err, out)
		}
	}
	if _, err := renderUdevRule("bond0\n", nil); !errors.Is(err, ErrUnsafeValue) {
		t.Errorf("bond name with newline: %v", err)
	}
}
