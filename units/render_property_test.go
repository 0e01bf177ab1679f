package units

import (
	"bytes"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bondstrap/bondstrap/detect/inventory"
	"github.com/bondstrap/bondstrap/netplan"
	"github.com/bondstrap/bondstrap/netplan/spec"
)

// propertyConfigs are the configs the property test and the fuzz seeds
// render: netplan's valid test configs, the examples, and this package's
// YAML cases.
func propertyConfigs(tb testing.TB) []string {
	tb.Helper()
	var paths []string
	for _, pattern := range []string{
		filepath.Join("..", "netplan", "testdata", "good", "*.yaml"),
		filepath.Join("..", "netplan", "testdata", "*.yaml"),
		filepath.Join("..", "examples", "*.yaml"),
		filepath.Join("testdata", "yaml", "*", "config.yaml"),
	} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			tb.Fatal(err)
		}
		paths = append(paths, m...)
	}
	if len(paths) == 0 {
		tb.Fatal("no configs")
	}
	return paths
}

// propertyInventories loads this package's inventories (every-mode.json
// has NICs for every bond of netplan's every-parameter.yaml and
// modes-by-number.yaml) and netplan's inventories of real servers.
func propertyInventories(tb testing.TB) map[string]inventory.Inventory {
	tb.Helper()
	var paths []string
	for _, pattern := range []string{
		filepath.Join("testdata", "inventories", "*.json"),
		filepath.Join("testdata", "yaml", "*", "inventory.json"),
		filepath.Join("..", "netplan", "testdata", "inventories", "*.json"),
	} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			tb.Fatal(err)
		}
		paths = append(paths, m...)
	}
	out := map[string]inventory.Inventory{}
	for _, p := range paths {
		inv, err := inventory.LoadFile(p)
		if err != nil {
			tb.Fatal(err)
		}
		out[p] = inv
	}
	if len(out) == 0 {
		tb.Fatal("no inventories")
	}
	return out
}

// withoutIdentity returns inv with every NIC's permanent MAC removed and,
// if noPCI, its PCI address too: NICs that MemberMatch matches by PCI path,
// or by current MAC.
func withoutIdentity(inv inventory.Inventory, noPCI bool) inventory.Inventory {
	out := inventory.Inventory{Interfaces: slices.Clone(inv.Interfaces)}
	for i := range out.Interfaces {
		out.Interfaces[i].PermanentMAC = ""
		if noPCI {
			out.Interfaces[i].PCIAddress = ""
		}
	}
	return out
}

// TestRenderProperty renders every config that parses against every
// inventory it selects from (each also without permanent MACs, and without
// PCI addresses): Render must succeed and its output must hold
// checkRendered's properties, for every interface of the plan.
func TestRenderProperty(t *testing.T) {
	invs := propertyInventories(t)
	invNames := slices.Sorted(maps.Keys(invs))
	parsed, rendered, withRules := 0, 0, 0
	// What the renders covered: standalone NICs, renamed ones, VLANs,
	// bridges, bridge ports, DHCPv6.
	covered := map[string]int{}
	for _, path := range propertyConfigs(t) {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := netplan.Parse(path, data)
		if err != nil {
			t.Logf("%s does not parse, skipped: %v", path, err)
			continue
		}
		parsed++
		renderedCfg := 0
		for _, invName := range invNames {
			for _, v := range []struct {
				name string
				inv  inventory.Inventory
			}{
				{"", invs[invName]},
				{" without permanent MACs", withoutIdentity(invs[invName], false)},
				{" without permanent MACs and PCI addresses", withoutIdentity(invs[invName], true)},
			} {
				plan, err := netplan.Select(cfg, v.inv)
				if err != nil {
					continue
				}
				files, err := Render(cfg, plan)
				if err != nil {
					t.Errorf("%s on %s%s: %v", path, invName, v.name, err)
					continue
				}
				renderedCfg++
				if slices.ContainsFunc(files, func(f File) bool { return f.Kind == Udev }) {
					withRules++
				}
				checkRendered(t, path+" on "+invName+v.name, cfg, plan, files)
				cover(covered, plan)
			}
		}
		switch {
		case renderedCfg > 0:
		case !strings.HasPrefix(path, ".."):
			t.Errorf("%s selects from no inventory", path)
		default:
			// Another package's config, which may change: the count
			// below keeps the test from passing on nothing.
			t.Logf("%s selects from no inventory: add one to testdata/inventories", path)
		}
		rendered += renderedCfg
	}
	t.Logf("%d configs parsed, %d renders checked, %d with a udev rule; covered %v", parsed, rendered, withRules, covered)
	if parsed < 5 || rendered < 20 || withRules == 0 {
		t.Errorf("only %d configs parsed and %d renders checked, %d with a udev rule: the property is not tested", parsed, rendered, withRules)
	}
	for _, what := range []string{"standalone NIC", "set-name", "VLAN", "bridge", "bond as bridge port", "VLAN as bridge port", "NIC as bridge port", "dhcp6", "VLAN on a NIC"} {
		if covered[what] == 0 {
			t.Errorf("no render had a %s: the property is not tested for it", what)
		}
	}
}

// cover counts what a plan has, for TestRenderProperty.
func cover(covered map[string]int, plan *netplan.Plan) {
	for _, e := range plan.Ethernets {
		covered["standalone NIC"]++
		if e.Config.SetName != "" {
			covered["set-name"]++
		}
	}
	for _, i := range plan.Interfaces() {
		if i.Addressing.DHCPv6() {
			covered["dhcp6"]++
		}
	}
	for _, v := range plan.Virtuals {
		covered[kindWord(v.Kind)]++
		if v.Kind == netplan.KindVLAN && slices.ContainsFunc(plan.Ethernets, func(e netplan.EthernetPlan) bool { return e.Name == v.Link }) {
			covered["VLAN on a NIC"]++
		}
		for _, p := range v.Ports {
			if _, ok := plan.Bond(p); ok {
				covered["bond as bridge port"]++
			}
			if u, ok := plan.Virtual(p); ok && u.Kind == netplan.KindVLAN {
				covered["VLAN as bridge port"]++
			}
			if slices.ContainsFunc(plan.Ethernets, func(e netplan.EthernetPlan) bool { return e.Name == p }) {
				covered["NIC as bridge port"]++
			}
		}
	}
}

// checkRendered checks what every render must be: safe values, files in the
// places of their kinds, every member and every parameter persisted, every
// interface of the plan with its units and its addressing (checkStack), no
// file for anything else, and the same bytes on a second render.
func checkRendered(t *testing.T, what string, cfg *netplan.Config, plan *netplan.Plan, files []File) {
	t.Helper()
	byName := map[string]File{}
	for _, f := range files {
		if err := checkFileName("/", Persistent, f.Kind, f.Name); err != nil {
			t.Errorf("%s: %v", what, err)
		}
		if (f.Kind == Udev) != strings.HasSuffix(f.Name, ".rules") || (f.Kind == Link) != strings.HasSuffix(f.Name, ".link") {
			t.Errorf("%s: %s has kind %d", what, f.Name, f.Kind)
		}
		if !strings.HasPrefix(f.Name, Prefix) {
			t.Errorf("%s: %s lacks the prefix %s", what, f.Name, Prefix)
		}
		byName[f.Name] = f
		if f.Kind == Udev {
			continue
		}
		for _, s := range sectionsOf(t, f.Content) {
			if err := checkName(s.Section); err != nil {
				t.Errorf("%s: %s: section %q: %v", what, f.Name, s.Section, err)
			}
			for _, e := range s.Entries {
				if err := checkName(e.Name); err != nil {
					t.Errorf("%s: %s: key %q: %v", what, f.Name, e.Name, err)
				}
				if err := checkValue(e.Value); err != nil {
					t.Errorf("%s: %s: %s=%q: %v", what, f.Name, e.Name, e.Value, err)
				}
			}
		}
	}
	if len(byName) != len(files) {
		t.Errorf("%s: file names repeat", what)
	}

	for i := range plan.Bonds {
		bp := &plan.Bonds[i]
		netdev, ok := byName[Prefix+bp.Name+".netdev"]
		if !ok {
			t.Errorf("%s: no .netdev for %s", what, bp.Name)
			continue
		}
		if _, ok := byName[Prefix+bp.Name+".network"]; !ok {
			t.Errorf("%s: no .network for %s", what, bp.Name)
		}
		bond := map[string]string{}
		for _, s := range sectionsOf(t, netdev.Content) {
			if s.Section != "Bond" {
				continue
			}
			for _, e := range s.Entries {
				if _, dup := bond[e.Name]; dup {
					t.Errorf("%s: %s.netdev sets %s twice", what, bp.Name, e.Name)
				}
				bond[e.Name] = e.Value
			}
		}
		if bond["Mode"] != bp.Mode {
			t.Errorf("%s: %s: Mode=%q, plan says %q", what, bp.Name, bond["Mode"], bp.Mode)
		}
		// Every [Bond] key is one networkd 252 knows.
		for key := range bond {
			if key == "Mode" {
				continue
			}
			p := paramByNetworkd(key)
			if p == nil || p.NetworkdSince > spec.NetworkdVersion {
				t.Errorf("%s: %s.netdev has %s=, which systemd %d does not know", what, bp.Name, key, spec.NetworkdVersion)
			}
		}
		var writes []string
		if rule, ok := byName[Prefix+bp.Name+".rules"]; ok {
			writes = ruleWrites(t, bp.Name, rule.Content)
			if len(writes) == 0 {
				t.Errorf("%s: %s.rules writes nothing", what, bp.Name)
			}
		}
		// Every parameter is persisted, by networkd or by udev, and not
		// both.
		var settings spec.Settings
		if b := bondConfig(cfg, bp); b.Parameters != nil {
			settings = b.Parameters.Settings
		}
		persisted := 0
		for _, s := range settings {
			p := s.Param
			_, inNetdev := bond[p.Networkd]
			inRule := p.NoSysfs && slices.Contains(writes, "ip "+p.Kernel+" "+s.String())
			for _, v := range s.Sysfs() {
				if !p.NoSysfs && slices.Contains(writes, p.Kernel+"="+v) {
					inRule = true
				}
			}
			switch {
			case inNetdev && inRule:
				t.Errorf("%s: %s: %s is in the .netdev and the rule", what, bp.Name, p.Key)
			case !inNetdev && !inRule && !spec.IsDefault(s, bp.Mode):
				t.Errorf("%s: %s: %s=%s is persisted nowhere, and is not the kernel's default", what, bp.Name, p.Key, s)
			}
			if inNetdev || inRule {
				persisted++
			}
		}
		if got := len(bond) - 1; got > len(settings) {
			t.Errorf("%s: %s.netdev has %d parameter keys for %d settings", what, bp.Name, got, len(settings))
		}
		// Every member has its unit, matched by its stablest identity.
		for _, nic := range bp.MemberNICs {
			m, err := MemberMatch(nic)
			if err != nil {
				t.Errorf("%s: %s: %v", what, nic.Name, err)
				continue
			}
			f, ok := byName[Prefix+bp.Name+"-"+m.FileKey+".network"]
			if !ok {
				t.Errorf("%s: no unit for member %s", what, nic.Name)
				continue
			}
			want := "\n[Match]\n" + m.Key + "=" + m.Value + "\n"
			if !bytes.Contains(f.Content, []byte(want)) || !bytes.Contains(f.Content, []byte("\nBond="+bp.Name+"\n")) {
				t.Errorf("%s: member unit of %s lacks %q or Bond=%s:\n%s", what, nic.Name, want, bp.Name, f.Content)
			}
			switch {
			case nic.PermanentMAC != "" && m.Key != "PermanentMACAddress",
				nic.PermanentMAC == "" && nic.PCIAddress != "" && m.Key != "Path",
				nic.PermanentMAC == "" && nic.PCIAddress == "" && m.Key != "MACAddress":
				t.Errorf("%s: %s is matched by %s", what, nic.Name, m.Key)
			}
		}
	}

	accounted := checkStack(t, what, plan, byName)
	for _, f := range files {
		if !accounted[f.Name] {
			t.Errorf("%s: %s is for no interface of the plan", what, f.Name)
		}
	}

	again, err := Render(cfg, plan)
	if err != nil || !slices.EqualFunc(files, again, func(a, b File) bool {
		return a.Kind == b.Kind && a.Name == b.Name && bytes.Equal(a.Content, b.Content)
	}) {
		t.Errorf("%s: a second render differs (%v)", what, err)
	}
}

// paramByNetworkd returns the parameter whose [Bond] key is key.
func paramByNetworkd(key string) *spec.Param {
	for _, p := range spec.Params {
		if p.Networkd == key {
			return p
		}
	}
	return nil
}

// fuzzInventory is the fixed inventory of FuzzRenderFromConfig: the NICs of
// every test inventory (this package's first) whose name, MAC and PCI
// address are not taken yet, and NICs without a permanent MAC, one without a
// PCI address.
func fuzzInventory(tb testing.TB) inventory.Inventory {
	tb.Helper()
	invs := propertyInventories(tb)
	var names, theirs []string
	for _, name := range slices.Sorted(maps.Keys(invs)) {
		if strings.HasPrefix(name, "..") {
			theirs = append(theirs, name)
		} else {
			names = append(names, name)
		}
	}
	names = append(names, theirs...) // ours first
	var inv inventory.Inventory
	seen := map[string]bool{}
	add := func(n inventory.NIC) {
		keys := []string{"name " + n.Name, "mac " + n.HardwareMAC(), "pci " + n.PCIAddress}
		for _, k := range keys {
			if seen[k] && k != "pci " {
				return
			}
		}
		for _, k := range keys {
			seen[k] = true
		}
		inv.Interfaces = append(inv.Interfaces, n)
	}
	for _, name := range names {
		for _, n := range invs[name].Interfaces {
			add(n)
		}
	}
	virtio := virtioA
	virtio.PCIAddress = "0000:00:1f.0"
	add(virtio)
	add(usb0)
	return inv
}

// FuzzRenderFromConfig: whatever YAML bondstrap accepts and selects members
// for, from a fixed inventory, renders, and renders safely.
func FuzzRenderFromConfig(f *testing.F) {
	for _, path := range propertyConfigs(f) {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(udevRuleYAML))
	inv := fuzzInventory(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := netplan.Parse("fuzz.yaml", data)
		if err != nil {
			return
		}
		plan, err := netplan.Select(cfg, inv)
		if err != nil {
			return
		}
		files, err := Render(cfg, plan)
		if err != nil {
			t.Fatalf("config parses and selects but does not render: %v\n%s", err, data)
		}
		checkRendered(t, "fuzzed config", cfg, plan, files)
	})
}
