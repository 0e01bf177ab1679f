package units

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bondstrap/bondstrap/detect/inventory"
	"github.com/bondstrap/bondstrap/netplan"
	"github.com/bondstrap/bondstrap/netplan/spec"
	"github.com/coreos/go-systemd/v22/unit"
	"sigs.k8s.io/yaml"
)

// The netplan oracle: DESIGN.md says a plain netplan file must mean what
// netplan means. TestNetplanOracle holds bondstrap's units to that, with
// Debian's netplan.io (make deps installs it) as the judge: for each good
// config, stripped of bondstrap's extensions, it runs netplan's generator
// and compares what networkd (udev for .link files) would read from each
// side's units, interface by interface, after netplanDifferences, each
// with its reason.

// netplanGenerators are where Debian's netplan.io installs its generator
// (netplan generate runs it).
var netplanGenerators = []string{"/usr/libexec/netplan/generate", "/lib/netplan/generate", "/usr/lib/netplan/generate"}

// netplanGenerator returns the path of netplan's generator. Without it the
// test fails, unless -short, where it skips as the other tests that need a
// host tool do (test/vm.Require): `make test` runs `make deps` first, which
// installs netplan.io.
func netplanGenerator(t *testing.T) string {
	t.Helper()
	for _, p := range netplanGenerators {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p
		}
	}
	msg := fmt.Sprintf("netplan's generator is not installed (none of %v): run make deps (apt-get install netplan.io)", netplanGenerators)
	if testing.Short() {
		t.Skip(msg)
	}
	t.Fatal(msg)
	return ""
}

// oracleConfigs are the configs the oracle judges: netplan's good configs
// and this package's YAML cases, each with the inventories to select from
// (a YAML case's own first).
func oracleConfigs(t *testing.T) (paths []string, invs map[string][]inventory.Inventory) {
	t.Helper()
	all := propertyInventories(t)
	var shared []inventory.Inventory
	for _, name := range slices.Sorted(maps.Keys(all)) {
		if !strings.HasSuffix(name, "inventory.json") {
			shared = append(shared, all[name])
		}
	}
	invs = map[string][]inventory.Inventory{}
	good, err := filepath.Glob(filepath.Join("..", "netplan", "testdata", "good", "*.yaml"))
	if err != nil || len(good) == 0 {
		t.Fatalf("no good configs: %v", err)
	}
	for _, p := range good {
		invs[p] = shared
	}
	cases, err := filepath.Glob(filepath.Join("testdata", "yaml", "*", "config.yaml"))
	if err != nil || len(cases) == 0 {
		t.Fatalf("no YAML cases: %v", err)
	}
	for _, p := range cases {
		own, ok := all[filepath.Join(filepath.Dir(p), "inventory.json")]
		if !ok {
			t.Fatalf("%s has no inventory.json", p)
		}
		invs[p] = append([]inventory.Inventory{own}, shared...)
	}
	return append(good, cases...), invs
}

// TestNetplanOracle compares, for every good config, the meaning of
// bondstrap's units with that of netplan's for the same plain file.
func TestNetplanOracle(t *testing.T) {
	gen := netplanGenerator(t)
	paths, invs := oracleConfigs(t)
	var mu sync.Mutex
	used := map[string]int{}
	compared := 0
	// The group returns when its parallel subtests are done.
	t.Run("configs", func(t *testing.T) {
		for _, path := range paths {
			t.Run(strings.TrimSuffix(strings.TrimPrefix(path, ".."+string(filepath.Separator)), ".yaml"), func(t *testing.T) {
				t.Parallel()
				n := judge(t, gen, path, invs[path])
				mu.Lock()
				defer mu.Unlock()
				for name, k := range n {
					used[name] += k
				}
				compared++
			})
		}
	})
	t.Logf("%d configs compared; differences applied: %v", compared, used)
	if compared < len(paths) {
		t.Errorf("%d of %d configs compared", compared, len(paths))
	}
}

// judge compares bondstrap's units for the config at path with netplan's
// and returns how often each difference applied.
func judge(t *testing.T, gen, path string, invs []inventory.Inventory) map[string]int {
	t.Helper()
	used := map[string]int{}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	plain, stripped, err := plainNetplan(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(stripped) > 0 {
		t.Logf("bondstrap's extensions stripped: %s", strings.Join(stripped, ", "))
	}
	cfg, err := netplan.Parse(path+" (plain)", plain)
	if err != nil {
		t.Fatalf("bondstrap refuses the plain file: %v\n%s", err, plain)
	}
	// The NICs are those the config as written selects (its
	// extension keys choose them); the units render from the
	// plain file, which netplan reads too.
	orig, err := netplan.Parse(path, data)
	if err != nil {
		t.Fatal(err)
	}
	var plan *netplan.Plan
	for _, inv := range invs {
		if plan, err = netplan.Select(orig, inv); err == nil {
			break
		}
	}
	if plan == nil {
		t.Fatalf("the config selects from no inventory: %v", err)
	}
	files, err := Render(cfg, plan)
	if err != nil {
		t.Fatal(err)
	}
	split, err := netplanFiles(cfg, plain)
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := runNetplan(t, gen, split)
	if err != nil {
		t.Fatalf("netplan refuses the plain file: %v\n%s", err, plain)
	}
	c := newOracleCase(t, cfg, plan, files, theirs)
	for _, d := range netplanDifferences {
		if n := d.apply(c); n > 0 {
			used[d.name] += n
			t.Logf("difference %s applied %d time(s)", d.name, n)
		}
	}
	c.compare(t)
	return used
}

// extensionMatchKeys are bondstrap's match keys, which netplan does not
// know.
var extensionMatchKeys = []string{"pci-id", "min-speed", "max-speed", "carrier"}

// extensionBondKeys are bondstrap's keys of a bond, beside parameters.
var extensionBondKeys = []string{"min-members", "max-members", "lacp"}

// plainNetplan returns the config without bondstrap's extensions, as
// netplan reads it: no bondstrap section, no extension match or bond keys,
// no parameter netplan does not know (spec.Param.Netplan), and modes by
// name, not by number. It says what it stripped.
func plainNetplan(data []byte) ([]byte, []string, error) {
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, nil, fmt.Errorf("read YAML: %w", err)
	}
	var stripped []string
	drop := func(m map[string]any, key, where string) {
		if _, ok := m[key]; ok {
			delete(m, key)
			stripped = append(stripped, where+key)
		}
	}
	drop(doc, "bondstrap", "")
	nw, _ := doc["network"].(map[string]any)
	ethernets, _ := nw["ethernets"].(map[string]any)
	for _, id := range slices.Sorted(maps.Keys(ethernets)) {
		eth, _ := ethernets[id].(map[string]any)
		if m, ok := eth["match"].(map[string]any); ok {
			for _, k := range extensionMatchKeys {
				drop(m, k, "ethernets."+id+".match.")
			}
			if len(m) == 0 {
				// What the stripped keys selected is the plan's
				// concern; the units' [Match] of a NIC is a
				// deliberate difference.
				m["name"] = "*"
			}
		}
	}
	bonds, _ := nw["bonds"].(map[string]any)
	for _, name := range slices.Sorted(maps.Keys(bonds)) {
		bond, _ := bonds[name].(map[string]any)
		for _, k := range extensionBondKeys {
			drop(bond, k, "bonds."+name+".")
		}
		params, _ := bond["parameters"].(map[string]any)
		for _, k := range slices.Sorted(maps.Keys(params)) {
			if p, ok := spec.Lookup(k); ok && !p.Netplan {
				drop(params, k, "bonds."+name+".parameters.")
			}
		}
		if mode, ok := params["mode"]; ok {
			m, err := spec.ParseMode(strings.TrimSuffix(fmt.Sprint(mode), ".0"))
			if err != nil {
				return nil, nil, err
			}
			if fmt.Sprint(mode) != m.Name {
				params["mode"] = m.Name
				stripped = append(stripped, "bonds."+name+".parameters.mode by number")
			}
		}
	}
	out, err := yaml.Marshal(doc)
	if err != nil {
		return nil, nil, fmt.Errorf("write YAML: %w", err)
	}
	return out, stripped, nil
}

// netplanFiles splits a plain config into the files netplan reads, in an
// order where nothing refers to what comes later: the ethernets and bonds,
// then each VLAN and bridge in creation order, one file each. netplan
// merges them. A reference forward within one file makes netplan 0.106
// parse that file again, and then append the nameservers and search
// domains a second time.
func netplanFiles(cfg *netplan.Config, plain []byte) ([][]byte, error) {
	var doc map[string]any
	if err := yaml.Unmarshal(plain, &doc); err != nil {
		return nil, fmt.Errorf("read YAML: %w", err)
	}
	nw, _ := doc["network"].(map[string]any)
	first := map[string]any{}
	for _, k := range slices.Sorted(maps.Keys(nw)) {
		if k != "vlans" && k != "bridges" {
			first[k] = nw[k]
		}
	}
	docs := []map[string]any{first}
	for _, name := range cfg.Virtuals() {
		kind := "vlans"
		if cfg.Kind(name) == netplan.KindBridge {
			kind = "bridges"
		}
		defs, _ := nw[kind].(map[string]any)
		docs = append(docs, map[string]any{"version": 2, kind: map[string]any{name: defs[name]}})
	}
	var out [][]byte
	for _, d := range docs {
		b, err := yaml.Marshal(map[string]any{"network": d})
		if err != nil {
			return nil, fmt.Errorf("write YAML: %w", err)
		}
		out = append(out, b)
	}
	return out, nil
}

// runNetplan runs netplan's generator on the plain config in a scratch
// root and returns the units it wrote for networkd and udev, by base name.
// Its other output (NetworkManager's deny-list, udev rules, the OVS cleanup
// service) is left out: see netplanDifferences.
func runNetplan(t *testing.T, gen string, files [][]byte) (map[string][]byte, error) {
	t.Helper()
	root := t.TempDir()
	dir := filepath.Join(root, "etc", "netplan")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	for i, f := range files {
		// 0600: netplan warns about a config others can read.
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%02d-oracle.yaml", 10+i)), f, 0o600); err != nil {
			return nil, err
		}
	}
	cmd := confined(t, gen, "--root-dir", root)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s: %w: %s", gen, err, stderr.String())
	}
	if stderr.Len() > 0 {
		t.Logf("netplan: %s", stderr.String())
	}
	out := map[string][]byte{}
	units, err := filepath.Glob(filepath.Join(root, "run", "systemd", "network", "*"))
	if err != nil {
		return nil, err
	}
	for _, p := range units {
		content, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		out[filepath.Base(p)] = content
	}
	if len(out) == 0 {
		return nil, errors.New("netplan wrote no unit")
	}
	return out, nil
}

// hostTools are what netplan's generator runs on the host whatever
// --root-dir says (src/generate.c): "udevadm control --reload", and
// "systemctl is-system-running", after which, on a system still booting, it
// starts systemd-networkd.
var hostTools = []string{"/bin/udevadm", "/bin/systemctl"}

// confined returns the command that runs name with args so that it
// cannot touch this host's udev or systemd: as root, in a private mount
// namespace where hostTools are /bin/true. Without root the generator runs
// as is: udevadm and systemctl then cannot change anything.
func confined(t *testing.T, name string, args ...string) *exec.Cmd {
	t.Helper()
	unshare, err := exec.LookPath("unshare")
	if os.Geteuid() != 0 || err != nil {
		t.Logf("running %s unconfined (not root, or no unshare: %v)", name, err)
		return exec.Command(name, args...)
	}
	script := `for t in ` + strings.Join(hostTools, " ") + `; do if [ -e "$t" ]; then mount --bind /bin/true "$t"; fi; done; exec "$0" "$@"`
	return exec.Command(unshare, append([]string{"--mount", "--propagation", "private", "/bin/sh", "-ec", script, name}, args...)...)
}

// meaning is what networkd (udev for a .link) reads from one unit:
// "Section.Key" to its values, sorted (repeated keys such as Address= and
// VLAN= are sets), and "Route" to one line per [Route] section.
type meaning map[string][]string

// set replaces key's values.
func (m meaning) set(key string, values ...string) {
	if len(values) == 0 {
		delete(m, key)
		return
	}
	v := slices.Clone(values)
	if !orderedKeys[key] {
		slices.Sort(v)
	}
	m[key] = v
}

// one returns key's single value, or "".
func (m meaning) one(key string) string {
	if len(m[key]) == 1 {
		return m[key][0]
	}
	return ""
}

// dropPrefix removes every key starting with prefix and reports whether
// there was one.
func (m meaning) dropPrefix(prefix string) bool {
	found := false
	for k := range m {
		if strings.HasPrefix(k, prefix) {
			delete(m, k)
			found = true
		}
	}
	return found
}

// boolKeys are the keys whose values are booleans, compared as such.
var boolKeys = map[string]bool{
	"Bridge.STP": true, "DHCPv4.UseMTU": true, "Network.ConfigureWithoutCarrier": true,
	"Network.PrimarySlave": true, "Network.IPv6AcceptRA": true, "Bond.AllSlavesActive": true,
	"Bond.DynamicTransmitLoadBalancing": true, "Route.GatewayOnLink": true,
}

// orderedKeys are the repeated keys whose order is part of their meaning.
var orderedKeys = map[string]bool{"Network.DNS": true, "Network.Domains": true}

// dedupe keeps the first of each repeated value, in order.
func dedupe(values []string) []string {
	var out []string
	for _, v := range values {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// addrKeys hold IP addresses or prefixes, compared in canonical form.
var addrKeys = map[string]bool{"Network.Address": true, "Network.Gateway": true, "Network.DNS": true,
	"Route.Destination": true, "Route.Gateway": true}

// meaningOf reads a unit as networkd 252 does and normalizes it: values in
// canonical form (addresses, MACs, booleans, times in ms, domains in lower
// case), the old [DHCP] section read as networkd reads it ([DHCPv4], and
// its RouteMetric= also for router advertisements), the effective
// IPv6AcceptRA= written out (networkd's default: on when IPv6 link-local
// addressing is), and what networkd does not use dropped (the [DHCPv4]
// and [DHCPv6] keys of a DHCP that is off, the [IPv6AcceptRA] keys when RAs
// are off, DHCP=no).
func meaningOf(t *testing.T, content []byte) meaning {
	t.Helper()
	secs, err := unit.DeserializeSections(bytes.NewReader(content))
	if err != nil {
		t.Fatal(err)
	}
	m := meaning{}
	var legacyMetric string
	for _, s := range secs {
		if s.Section == "Route" {
			var kv []string
			for _, e := range s.Entries {
				kv = append(kv, e.Name+"="+normValue(t, "Route."+e.Name, e.Value))
			}
			slices.Sort(kv)
			m["Route"] = append(m["Route"], strings.Join(kv, " "))
			continue
		}
		for _, e := range s.Entries {
			section := s.Section
			if section == "DHCP" {
				if e.Name == "RouteMetric" {
					legacyMetric = e.Value
					continue
				}
				section = "DHCPv4"
			}
			key := section + "." + e.Name
			m[key] = append(m[key], normValue(t, key, e.Value))
		}
	}
	for k := range m {
		if orderedKeys[k] {
			// Order matters (the resolver's preference); a repeat
			// does not.
			m[k] = dedupe(m[k])
			continue
		}
		slices.Sort(m[k])
	}
	if legacyMetric != "" {
		for _, k := range []string{"DHCPv4.RouteMetric", "IPv6AcceptRA.RouteMetric"} {
			if _, ok := m[k]; !ok {
				m.set(k, legacyMetric)
			}
		}
	}
	if _, ok := m["Network.LinkLocalAddressing"]; !ok {
		return m // not a .network
	}
	dhcp := map[string]string{"": "no", "none": "no", "both": "yes", "v4": "ipv4", "v6": "ipv6"}[m.one("Network.DHCP")]
	if dhcp == "" {
		dhcp = m.one("Network.DHCP")
	}
	m.set("Network.DHCP")
	if dhcp != "no" {
		m.set("Network.DHCP", dhcp)
	}
	if dhcp != "yes" && dhcp != "ipv4" {
		m.dropPrefix("DHCPv4.")
	}
	if dhcp != "yes" && dhcp != "ipv6" {
		m.dropPrefix("DHCPv6.")
	}
	ll := m.one("Network.LinkLocalAddressing")
	ra := m.one("Network.IPv6AcceptRA")
	switch {
	case ll != "yes" && ll != "ipv6":
		ra = "false" // networkd turns RAs off without IPv6 link-local
	case ra == "":
		ra = "true" // no IPForward= in any of these units
	}
	m.set("Network.IPv6AcceptRA", ra)
	if ra == "false" {
		m.dropPrefix("IPv6AcceptRA.")
	}
	return m
}

// normValue puts a value in the canonical form of its key.
func normValue(t *testing.T, key, v string) string {
	t.Helper()
	switch {
	case boolKeys[key]:
		switch strings.ToLower(v) {
		case "1", "yes", "true", "on":
			return "true"
		case "0", "no", "false", "off":
			return "false"
		}
		t.Errorf("%s=%q is not a boolean", key, v)
	case addrKeys[key]:
		if p, err := netip.ParsePrefix(v); err == nil {
			return p.String()
		}
		if a, err := netip.ParseAddr(v); err == nil {
			return a.String()
		}
		t.Errorf("%s=%q is not an address", key, v)
	case strings.HasSuffix(key, "MACAddress"):
		if hw, err := net.ParseMAC(v); err == nil {
			return hw.String()
		}
	case strings.HasSuffix(key, "Sec"):
		// networkd's time span: a bare number is seconds.
		ms, err := spec.ParseTime(v, time.Second)
		if err != nil {
			t.Errorf("%s=%q: %v", key, v, err)
		}
		return strconv.FormatInt(ms, 10) + "ms"
	case key == "Network.Domains":
		return strings.Join(dedupe(strings.Fields(strings.ToLower(v))), " ")
	case key == "Bond.ARPIPTargets":
		var out []string
		for _, f := range strings.Fields(v) {
			a, err := netip.ParseAddr(f)
			if err != nil {
				t.Errorf("%s=%q: %v", key, v, err)
			}
			out = append(out, a.String())
		}
		return strings.Join(out, " ")
	}
	return v
}

// oracleCase holds one config's two renderings, by interface unit: for a
// bond, VLAN or bridge "netdev:NAME" and "network:NAME"; for an ethernets
// id "network:eth:ID" and "link:eth:ID". netplan writes one .network per
// ethernets id, bondstrap one per NIC: each member's is compared with its
// id's as "member:BOND:NIC", which newOracleCase adds to want.
type oracleCase struct {
	cfg  *netplan.Config
	plan *netplan.Plan
	// want is netplan's meaning, which the differences edit into what
	// bondstrap means to write; got is bondstrap's.
	want, got map[string]meaning
	// rules are bondstrap's udev rules, by bond.
	rules map[string]string
}

func newOracleCase(t *testing.T, cfg *netplan.Config, plan *netplan.Plan, ours []File, theirs map[string][]byte) *oracleCase {
	t.Helper()
	c := &oracleCase{cfg: cfg, plan: plan, want: map[string]meaning{}, got: map[string]meaning{}, rules: map[string]string{}}
	kind := map[string]string{".netdev": "netdev", ".network": "network", ".link": "link"}
	for name, content := range theirs {
		ext := filepath.Ext(name)
		id := strings.TrimSuffix(strings.TrimPrefix(name, "10-netplan-"), ext)
		if kind[ext] == "" || !strings.HasPrefix(name, "10-netplan-") {
			t.Errorf("netplan wrote %s, which the oracle does not know", name)
			continue
		}
		if _, ok := cfg.Network.Ethernets[id]; ok {
			id = "eth:" + id
		}
		c.want[kind[ext]+":"+id] = meaningOf(t, content)
	}
	byName := map[string]File{}
	for _, f := range ours {
		byName[f.Name] = f
	}
	take := func(key, file string) {
		f, ok := byName[file]
		if !ok {
			t.Errorf("bondstrap rendered no %s", file)
			return
		}
		c.got[key] = meaningOf(t, f.Content)
		delete(byName, file)
	}
	for _, b := range plan.Bonds {
		take("netdev:"+b.Name, Prefix+b.Name+".netdev")
		take("network:"+b.Name, Prefix+b.Name+".network")
		for i, nic := range b.MemberNICs {
			m, err := MemberMatch(nic)
			if err != nil {
				t.Fatal(err)
			}
			key := "member:" + b.Name + ":" + nic.Name
			take(key, Prefix+b.Name+"-"+m.FileKey+".network")
			if theirs, ok := c.want["network:eth:"+b.MemberIDs[i]]; ok {
				c.want[key] = maps.Clone(theirs)
			}
		}
		if f, ok := byName[Prefix+b.Name+".rules"]; ok {
			c.rules[b.Name] = string(f.Content)
			delete(byName, f.Name)
		}
	}
	for id := range cfg.Network.Ethernets {
		if cfg.MemberOf(id) != "" {
			// Compared member by member above (an id that
			// selected no NIC has nothing to compare). netplan's
			// .link of a member id is judged by the difference that
			// drops .link files without set-name.
			delete(c.want, "network:eth:"+id)
		}
	}
	for _, e := range plan.Ethernets {
		m, err := MemberMatch(e.NIC)
		if err != nil {
			t.Fatal(err)
		}
		take("network:eth:"+e.ID, Prefix+e.Name+"-"+m.FileKey+".network")
		if e.Config.SetName != "" {
			take("link:eth:"+e.ID, Prefix+e.Name+"-"+m.FileKey+".link")
		}
	}
	for _, v := range plan.Virtuals {
		take("netdev:"+v.Name, Prefix+v.Name+".netdev")
		take("network:"+v.Name, Prefix+v.Name+".network")
	}
	for name := range byName {
		t.Errorf("bondstrap rendered %s, for no interface the oracle knows", name)
	}
	return c
}

// compare reports every unit and every key where bondstrap's meaning is
// not netplan's as edited by the differences.
func (c *oracleCase) compare(t *testing.T) {
	t.Helper()
	keys := slices.Sorted(maps.Keys(c.want))
	for _, k := range slices.Sorted(maps.Keys(c.got)) {
		if _, ok := c.want[k]; !ok {
			keys = append(keys, k)
		}
	}
	for _, k := range keys {
		want, inWant := c.want[k]
		got, inGot := c.got[k]
		switch {
		case !inGot:
			t.Errorf("%s: netplan writes it, bondstrap does not: %v", k, want)
			continue
		case !inWant:
			t.Errorf("%s: bondstrap writes it, netplan does not: %v", k, got)
			continue
		}
		for _, key := range slices.Sorted(maps.Keys(maps.Collect(func(yield func(string, bool) bool) {
			for x := range want {
				yield(x, true)
			}
			for x := range got {
				yield(x, true)
			}
		}))) {
			if !slices.Equal(want[key], got[key]) {
				t.Errorf("%s: %s: netplan means %q, bondstrap writes %q", k, key, want[key], got[key])
			}
		}
	}
}

// difference is one way bondstrap's units deliberately differ from
// netplan's for the same file. apply edits the oracle case's want (netplan's
// meaning) into what bondstrap writes instead, only where the difference
// applies, and says how many edits it made.
type difference struct {
	name, reason string
	apply        func(c *oracleCase) int
}

// netplanDifferences are every deliberate difference, each with its reason.
// A difference the oracle finds that is not here fails the test.
var netplanDifferences = []difference{
	{
		name: "hardware-match",
		reason: "a NIC's units (members, standalone NICs, .link files) match it by its hardware (MemberMatch: " +
			"permanent MAC, else PCI path, else MAC on a link without kind), not by the config's match or name: " +
			"kernel names change between the initramfs and the real root, and bondstrap's own match keys " +
			"(pci-id, speed, carrier) mean nothing to networkd",
		apply: func(c *oracleCase) int {
			n := 0
			for k := range c.want {
				if strings.HasPrefix(k, "member:") || strings.Contains(k, ":eth:") {
					if c.want[k].dropPrefix("Match.") {
						n++
					}
					c.got[k].dropPrefix("Match.")
				}
			}
			return n
		},
	},
	{
		name: "one-primary",
		reason: "netplan marks PrimarySlave= on every NIC its primary id matches (the kernel keeps the last); " +
			"bondstrap on the one member the plan chose",
		apply: func(c *oracleCase) int {
			n := 0
			for _, b := range c.plan.Bonds {
				for _, nic := range b.Members {
					if w := c.want["member:"+b.Name+":"+nic]; nic != b.Primary && w != nil && w["Network.PrimarySlave"] != nil {
						w.set("Network.PrimarySlave")
						n++
					}
				}
			}
			return n
		},
	},
	{
		name: "kept-mac",
		reason: "a bond without macaddress keeps its first member's permanent MAC, and a bridge its first port's, " +
			"in the .netdev and the .network: the MAC of provisioning, so the DHCP client identifier and the " +
			"lease stay, whatever address udev or networkd would give a new device",
		apply: func(c *oracleCase) int {
			n := 0
			keep := func(name, mac string) {
				if mac == "" {
					return
				}
				mac, _ = canonicalMAC(mac)
				for _, k := range []string{"netdev:" + name, "network:" + name} {
					key := map[bool]string{true: "NetDev.MACAddress", false: "Link.MACAddress"}[strings.HasPrefix(k, "netdev:")]
					if w := c.want[k]; w != nil && w[key] == nil {
						w.set(key, mac)
						n++
					}
				}
			}
			for _, b := range c.plan.Bonds {
				keep(b.Name, b.MAC())
			}
			for _, v := range c.plan.Virtuals {
				if v.Kind == netplan.KindBridge {
					keep(v.Name, v.MAC)
				}
			}
			return n
		},
	},
	{
		name: "dhcp4-client-id",
		reason: "DHCPv4 asks with the MAC as client identifier (ClientIdentifier=mac), as bondstrap did while " +
			"provisioning, so the server hands back the same lease; netplan leaves networkd's default (a DUID) " +
			"unless dhcp-identifier: mac",
		apply: func(c *oracleCase) int {
			n := 0
			for _, w := range c.want {
				if d := w.one("Network.DHCP"); (d == "yes" || d == "ipv4") && w.one("DHCPv4.ClientIdentifier") != "mac" {
					w.set("DHCPv4.ClientIdentifier", "mac")
					n++
				}
			}
			return n
		},
	},
	{
		name: "dhcp6-without-ra",
		reason: "networkd 252 starts DHCPv6 only on a router advertisement with M or O, and never with " +
			"IPv6AcceptRA=no, so netplan's dhcp6: true does nothing where no router advertises; bondstrap " +
			"writes [DHCPv6] WithoutRA=solicit",
		apply: func(c *oracleCase) int {
			return setOnDHCP6(c, "DHCPv6.WithoutRA")
		},
	},
	{
		name: "dhcp6-identity",
		reason: "DHCPv6 identifies itself by DUID-LL of the interface's MAC and an IAID from the same MAC " +
			"([DHCPv6] DUIDType=link-layer, DUIDRawData=, IAID=), which bondstrap's DHCPv6 client can present " +
			"while provisioning and which a reinstall keeps; networkd's default DUID is hashed from " +
			"/etc/machine-id",
		apply: func(c *oracleCase) int {
			return setOnDHCP6(c, "DHCPv6.DUIDType", "DHCPv6.DUIDRawData", "DHCPv6.IAID")
		},
	},
	{
		name: "unused-ethernets",
		reason: "an ethernets id that is no bond's member and carries nothing (no addressing, mtu, macaddress, " +
			"set-name, VLAN or bridge) is a selector bondstrap's model leaves alone (Config.Standalone): its " +
			"NIC stays unmanaged; netplan writes a .network that brings it up with IPv6 link-local and RAs",
		apply: func(c *oracleCase) int {
			n := 0
			for id := range c.cfg.Network.Ethernets {
				if _, ok := c.plan.Ethernet(id); ok || c.cfg.MemberOf(id) != "" {
					continue
				}
				for _, k := range []string{"network:eth:" + id, "link:eth:" + id} {
					if _, ok := c.want[k]; ok {
						delete(c.want, k)
						n++
					}
				}
			}
			return n
		},
	},
	{
		name: "link-file",
		reason: "bondstrap writes a .link only for set-name, with Name= alone: netplan also writes one for an " +
			"mtu (set by the .network's [Link] MTUBytes= here, which networkd applies), and a .link without " +
			"Name= or NamePolicy= would replace 99-default.link and leave the NIC its kernel name; and netplan " +
			"writes WakeOnLan=off in every .link it writes, while bondstrap has no wakeonlan key and leaves " +
			"Wake-on-LAN alone",
		apply: func(c *oracleCase) int {
			n := 0
			for k, w := range c.want {
				if !strings.HasPrefix(k, "link:") {
					continue
				}
				if w["Link.Name"] == nil {
					delete(c.want, k)
					n++
					continue
				}
				for _, key := range []string{"Link.WakeOnLan", "Link.MTUBytes"} {
					if w[key] != nil {
						w.set(key)
						n++
					}
				}
			}
			return n
		},
	},
	{
		name: "vlan-of-a-port",
		reason: "for a bridge port with path-cost or port-priority, netplan (0.106 to 1.2) writes the VLAN= " +
			"lines after the port's [Bridge] section, where networkd ignores them, so the VLANs on that port " +
			"are never created; bondstrap writes them in [Network]",
		apply: func(c *oracleCase) int {
			n := 0
			for _, w := range c.want {
				if v := w["Bridge.VLAN"]; v != nil {
					w.set("Network.VLAN", append(slices.Clone(w["Network.VLAN"]), v...)...)
					w.set("Bridge.VLAN")
					n++
				}
			}
			return n
		},
	},
	{
		name: "stp-default",
		reason: "a bridge without parameters gets STP=true, netplan's documented default and what bondstrap's " +
			"apply sets; netplan's networkd renderer writes [Bridge] only when parameters are given and so " +
			"leaves the kernel's default, off",
		apply: func(c *oracleCase) int {
			n := 0
			for _, v := range c.plan.Virtuals {
				if w := c.want["netdev:"+v.Name]; v.Kind == netplan.KindBridge && w != nil && w["Bridge.STP"] == nil {
					w.set("Bridge.STP", strconv.FormatBool(v.Bridge.STPOrDefault()))
					n++
				}
			}
			return n
		},
	},
	{
		name: "zero-priority",
		reason: "netplan drops a bridge priority or port-priority of 0 (it writes only non-zero values), " +
			"leaving the kernel's 32768 and 32; bondstrap writes the 0 the config gives",
		apply: func(c *oracleCase) int {
			n := 0
			for _, v := range c.plan.Virtuals {
				if v.Kind != netplan.KindBridge || v.Bridge == nil {
					continue
				}
				if p := v.Bridge.Priority; p != nil && *p == 0 {
					if w := c.want["netdev:"+v.Name]; w != nil && w["Bridge.Priority"] == nil {
						w.set("Bridge.Priority", "0")
						n++
					}
				}
				for i, id := range v.IDs {
					if p, ok := v.Bridge.PortPriority[id]; ok && p == 0 {
						if w := c.want[portKey(c, v.Ports[i])]; w != nil && w["Bridge.Priority"] == nil {
							w.set("Bridge.Priority", "0")
							n++
						}
					}
				}
			}
			return n
		},
	},
	{
		name: "zero-bond-values",
		reason: "netplan writes gratuitous-arp, resend-igmp, packets-per-member, min-links and " +
			"all-members-active only when not zero (or false), so a 0 in the config means the kernel's " +
			"default there (1 for the first three); bondstrap persists the 0 the config gives",
		apply: func(c *oracleCase) int {
			n := 0
			for _, b := range c.plan.Bonds {
				w, g := c.want["netdev:"+b.Name], c.got["netdev:"+b.Name]
				bond := bondConfig(c.cfg, &b)
				if w == nil || bond.Parameters == nil {
					continue
				}
				for _, s := range bond.Parameters.Settings {
					key := "Bond." + s.Param.Networkd
					if s.Param.Networkd != "" && s.N == 0 && w[key] == nil && g[key] != nil {
						w.set(key, g[key]...)
						n++
					}
				}
			}
			return n
		},
	},
	{
		name: "udev-persisted",
		reason: "a bond parameter networkd 252 cannot set (a value it does not know, such as transmit-hash-policy " +
			"vlan+srcmac or arp-validate filter, or a key it lacks) goes to bondstrap's udev rule; netplan " +
			"writes such values into [Bond], where networkd ignores them",
		apply: func(c *oracleCase) int {
			n := 0
			for bond, rule := range c.rules {
				w, g := c.want["netdev:"+bond], c.got["netdev:"+bond]
				if w == nil {
					continue
				}
				for _, p := range spec.Params {
					key := "Bond." + p.Networkd
					if p.Networkd == "" || w[key] == nil || g[key] != nil {
						continue
					}
					if strings.Contains(rule, "bonding/"+p.Kernel+"}") || strings.Contains(rule, " "+p.Kernel+" ") {
						w.set(key)
						n++
					}
				}
			}
			return n
		},
	},
	{
		name: "other-netplan-output",
		reason: "netplan also writes NetworkManager's deny-list (90-netplan.rules, conf.d/netplan.conf), a udev " +
			"NAME= rule for set-name (its workaround for udev before systemd 240, which did not rename a NIC " +
			"the initramfs had named; Debian 12's udev does, NAMING_ALLOW_RERENAMES) and an OVS cleanup " +
			"service; bondstrap targets networkd alone, and the oracle compares .netdev, .network and .link " +
			"files only (runNetplan leaves the rest out)",
		apply: func(*oracleCase) int { return 0 },
	},
}

// setOnDHCP6 copies bondstrap's values of keys into netplan's meaning of
// every interface with DHCPv6, where netplan has none: what they are is
// the unit tests' concern, that they are there the oracle's.
func setOnDHCP6(c *oracleCase, keys ...string) int {
	n := 0
	for k, w := range c.want {
		if d := w.one("Network.DHCP"); d != "yes" && d != "ipv6" {
			continue
		}
		for _, key := range keys {
			if w[key] == nil && c.got[k] != nil && c.got[k][key] != nil {
				w.set(key, c.got[k][key]...)
				n++
			}
		}
	}
	return n
}

// portKey is the oracle's key of the .network of the interface named name
// (a bond, a VLAN or a standalone NIC).
func portKey(c *oracleCase, name string) string {
	for _, e := range c.plan.Ethernets {
		if e.Name == name {
			return "network:eth:" + e.ID
		}
	}
	return "network:" + name
}
