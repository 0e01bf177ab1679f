package netplan

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/bondstrap/bondstrap/netplan/spec"

	"sigs.k8s.io/yaml"
)

// Defaults of the bondstrap: options section.
const (
	DefaultLinkTimeout = 30 * time.Second
	// DefaultLinkSettle is how long detect waits for the other candidate
	// NICs once enough have link: NICs cabled to the same switch come up
	// within a second or two of each other.
	DefaultLinkSettle  = 2 * time.Second
	DefaultDHCPTimeout = 60 * time.Second
	// DefaultDeadline bounds a whole run, fallback included.
	DefaultDeadline = 5 * time.Minute
	// OnFailureRollback undoes everything and exits 1 (the default).
	OnFailureRollback = "rollback"
	// OnFailureFallbackDHCP undoes the bonds, then runs DHCP on the first NIC
	// with link.
	OnFailureFallbackDHCP = "fallback-dhcp"
)

// maxConfigSize bounds what Load reads: a bond config is a few kilobytes, and
// an early-boot tool should not read a runaway file into memory.
const maxConfigSize = 1 << 20

// Load reads and parses the config file at path. Every error, an unreadable
// or empty file included, is an ErrorList naming the file.
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, ErrorList{{File: path, Msg: fmt.Sprintf("cannot read the config: %v", unwrapPathError(err))}}
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1))
	if err != nil {
		return nil, ErrorList{{File: path, Msg: fmt.Sprintf("cannot read the config: %v", unwrapPathError(err))}}
	}
	if len(data) > maxConfigSize {
		return nil, ErrorList{{File: path, Msg: fmt.Sprintf("the config is larger than %d bytes", maxConfigSize)}}
	}
	return Parse(path, data)
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Parse parses and validates a config. file names the config in errors and is
// stored in Config.File. Every problem in the config is reported, as an
// ErrorList sorted by line and key path; on success the config is normalized
// (canonical mode names, lowercase MACs and PCI IDs, canonical IP addresses),
// so selection and rendering can trust it.
//
// Parsing is strict: YAML syntax errors and duplicate keys carry their line,
// and unknown keys and values of the wrong type carry the full key path (map
// keys included). Keys are case-sensitive, as in netplan.
func Parse(file string, data []byte) (*Config, error) {
	tree, errs := parseTree(file, data)
	if errs != nil {
		return nil, errs
	}
	w := &treeWalker{file: file, present: make(map[string]bool)}
	tree = w.walkTop(tree)
	if len(w.errs) > 0 {
		return nil, sortErrors(w.errs)
	}
	// The walker has checked every key (exactly, case included) and every
	// type, so this decode cannot meet a surprise; it fails closed if it does.
	raw, err := json.Marshal(tree)
	if err != nil {
		return nil, ErrorList{{File: file, Msg: fmt.Sprintf("internal error re-encoding the config: %v", err)}}
	}
	cfg := &Config{}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(cfg); err != nil {
		return nil, ErrorList{{File: file, Msg: fmt.Sprintf("cannot decode the config: %v", err)}}
	}
	cfg.File = file
	if errs := validate(cfg, w.present); len(errs) > 0 {
		return nil, sortErrors(errs)
	}
	return cfg, nil
}

// listElement is the "[i]: " a parameter's error starts with when it is about
// one element of a list.
var listElement = regexp.MustCompile(`^\[(\d+)\]: (.*)$`)

// yamlLine finds "line N: message" in the YAML parser's errors.
var yamlLine = regexp.MustCompile(`line (\d+): ([^\n]*)`)

// documentMarker is a YAML document start at the beginning of a line.
var documentMarker = regexp.MustCompile(`(?m)^---(?:[ \t]|$)`)

// parseTree converts YAML to a generic JSON tree (maps, slices, strings,
// json.Number, bools, nil).
func parseTree(file string, data []byte) (any, ErrorList) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, ErrorList{{File: file, Msg: "the config is empty: expected a mapping with a network key"}}
	}
	if !utf8.Valid(data) {
		return nil, ErrorList{{File: file, Msg: "the config is not valid UTF-8"}}
	}
	if locs := documentMarker.FindAllIndex(data, -1); len(locs) > 1 ||
		len(locs) == 1 && len(bytes.TrimSpace(stripComments(data[:locs[0][0]]))) > 0 {
		return nil, ErrorList{{File: file, Line: lineOf(data, locs[len(locs)-1][0]),
			Msg: "more than one YAML document: a config is a single document"}}
	}
	j, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return nil, yamlErrors(file, err)
	}
	var tree any
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.UseNumber()
	if err := dec.Decode(&tree); err != nil {
		return nil, ErrorList{{File: file, Msg: fmt.Sprintf("cannot read the YAML: %v", err)}}
	}
	if tree == nil {
		return nil, ErrorList{{File: file, Msg: "the config is empty (only comments): expected a mapping with a network key"}}
	}
	return tree, nil
}

func yamlErrors(file string, err error) ErrorList {
	msg := strings.TrimPrefix(err.Error(), "error converting YAML to JSON: ")
	matches := yamlLine.FindAllStringSubmatch(msg, -1)
	if len(matches) == 0 {
		msg = strings.TrimPrefix(msg, "yaml: ")
		return ErrorList{{File: file, Msg: "invalid YAML: " + msg}}
	}
	var errs ErrorList
	for _, m := range matches {
		line, _ := strconv.Atoi(m[1])
		text := m[2]
		if strings.Contains(text, "already set in map") {
			key := strings.TrimSuffix(strings.TrimPrefix(text, "key "), " already set in map")
			text = "duplicate key " + key + ": a key may appear only once in a mapping"
		} else {
			text = "invalid YAML: " + text
		}
		errs = append(errs, &Error{File: file, Line: line, Msg: text})
	}
	return errs
}

func stripComments(b []byte) []byte {
	var out []byte
	for _, line := range bytes.Split(b, []byte("\n")) {
		if t := bytes.TrimSpace(line); len(t) > 0 && t[0] != '#' && !bytes.Equal(t, []byte("%YAML 1.1")) &&
			!bytes.Equal(t, []byte("%YAML 1.2")) {
			out = append(out, line...)
		}
	}
	return out
}

func lineOf(data []byte, offset int) int {
	return bytes.Count(data[:offset], []byte("\n")) + 1
}

// sortErrors orders errors by line, then key path (list indexes compared as
// numbers), then message, so output is stable whatever Go's map order.
func sortErrors(errs ErrorList) ErrorList {
	slices.SortStableFunc(errs, func(a, b *Error) int {
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		if c := strings.Compare(pathSortKey(a.Path), pathSortKey(b.Path)); c != 0 {
			return c
		}
		return strings.Compare(a.Msg, b.Msg)
	})
	return slices.CompactFunc(errs, func(a, b *Error) bool { return *a == *b })
}

var pathIndex = regexp.MustCompile(`\[(\d+)\]`)

func pathSortKey(p string) string {
	return pathIndex.ReplaceAllStringFunc(p, func(s string) string {
		return fmt.Sprintf("[%09s]", s[1:len(s)-1])
	})
}

// childPath appends a mapping key to a key path: "a.b", or a["b.c"] when the
// key would not read as one path element.
func childPath(path, key string) string {
	simple := key != ""
	for _, r := range key {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '+') {
			simple = false
			break
		}
	}
	if !simple {
		return path + "[" + strconv.Quote(key) + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

func indexPath(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

// BondNames returns the names of the bonds, sorted: the order in which
// selection resolves them.
func (c *Config) BondNames() []string {
	names := make([]string, 0, len(c.Network.Bonds))
	for name := range c.Network.Bonds {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// LinkSettle is bondstrap.link-settle: once every bond has min-members
// candidate NICs with link (and every standalone NIC its one), how much
// longer detect waits for the other candidates; 2s by default, at most
// link-timeout.
func (c *Config) LinkSettle() time.Duration {
	if c.Bondstrap != nil {
		if d, err := time.ParseDuration(c.Bondstrap.LinkSettle); err == nil && d >= 0 {
			return min(d, c.LinkTimeout())
		}
	}
	return min(DefaultLinkSettle, c.LinkTimeout())
}

// LinkTimeout is bondstrap.link-timeout: how long to wait for the links of the
// candidate NICs, 30s by default.
func (c *Config) LinkTimeout() time.Duration {
	if c.Bondstrap != nil {
		if d, err := time.ParseDuration(c.Bondstrap.LinkTimeout); err == nil && d > 0 {
			return d
		}
	}
	return DefaultLinkTimeout
}

// DHCPTimeout is bondstrap.dhcp-timeout: how long DHCPv4 may take, 60s by
// default.
func (c *Config) DHCPTimeout() time.Duration {
	if c.Bondstrap != nil {
		if d, err := time.ParseDuration(c.Bondstrap.DHCPTimeout); err == nil && d > 0 {
			return d
		}
	}
	return DefaultDHCPTimeout
}

// Deadline is bondstrap.deadline: how long the whole run may take, fallback
// included, 5m by default.
func (c *Config) Deadline() time.Duration {
	if c.Bondstrap != nil {
		if d, err := time.ParseDuration(c.Bondstrap.Deadline); err == nil && d > 0 {
			return d
		}
	}
	return DefaultDeadline
}

// OnFailure is bondstrap.on-failure: OnFailureRollback (the default) or
// OnFailureFallbackDHCP.
func (c *Config) OnFailure() string {
	if c.Bondstrap != nil && c.Bondstrap.OnFailure != "" {
		return c.Bondstrap.OnFailure
	}
	return OnFailureRollback
}

// Mode returns the bond's mode: parameters.mode, or balance-rr (the kernel's
// default) when not given.
func (b Bond) Mode() BondMode {
	if b.Parameters == nil || b.Parameters.Mode == "" {
		return ModeBalanceRR
	}
	return b.Parameters.Mode
}

// Reflected types the walker treats as scalars with their own syntax.
var (
	bondModeType       = reflect.TypeFor[BondMode]()
	stringListType     = reflect.TypeFor[StringList]()
	networkType        = reflect.TypeFor[Network]()
	ethernetType       = reflect.TypeFor[Ethernet]()
	matchType          = reflect.TypeFor[Match]()
	bondType           = reflect.TypeFor[Bond]()
	bondParametersType = reflect.TypeFor[BondParameters]()
	routeType          = reflect.TypeFor[Route]()
	vlanType           = reflect.TypeFor[VLAN]()
	bridgeType         = reflect.TypeFor[Bridge]()
	secondsType        = reflect.TypeFor[Seconds]()
)

// treeWalker checks a generic JSON tree against the Go types of Config before
// anything is decoded: encoding/json matches keys case-insensitively, drops
// unknown keys unless told not to, and reports type errors without the map
// keys of the path. The walker reports every unknown key and wrong type with
// its full path, and records which keys were present.
type treeWalker struct {
	file    string
	errs    ErrorList
	present map[string]bool
}

func (w *treeWalker) errorf(path, format string, args ...any) {
	w.errs = append(w.errs, &Error{File: w.file, Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (w *treeWalker) walkTop(tree any) any {
	m, ok := tree.(map[string]any)
	if !ok {
		w.errorf("", "expected a mapping with a network key at the top, got %s", spec.Describe(tree))
		return tree
	}
	if _, ok := m["network"]; !ok {
		w.errorf("network", "missing: every config has a network mapping (netplan v2)")
	}
	return w.walk("", tree, reflect.TypeFor[Config]())
}

// walk checks v against t and returns v, rewritten where netplan's spelling
// differs from the Go types' (deprecated parameter names, learn-packet-interval
// in seconds).
func (w *treeWalker) walk(path string, v any, t reflect.Type) any {
	if path != "" {
		w.present[path] = true
	}
	if v == nil {
		hint := ""
		if t.Kind() == reflect.Struct || t.Kind() == reflect.Map ||
			t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Struct {
			hint = " (write {} for an empty mapping)"
		}
		w.errorf(path, "has no value: expected %s%s", expected(t), hint)
		return v
	}
	switch t {
	case bondModeType:
		w.checkMode(path, v)
		return v
	case bondParametersType:
		w.walkParameters(path, v)
		return v
	case secondsType:
		// A bare number is seconds (forward-delay: 15); keep its text.
		if n, ok := v.(json.Number); ok {
			return n.String()
		}
		w.checkString(path, v)
		return v
	case stringListType:
		switch v.(type) {
		case string:
			w.checkString(path, v)
			return v
		case []any:
			return w.walk(path, v, reflect.TypeFor[[]string]())
		}
		w.errorf(path, "expected %s, got %s", expected(t), spec.Describe(v))
		return v
	}
	switch t.Kind() {
	case reflect.Pointer:
		return w.walk(path, v, t.Elem())
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			w.errorf(path, "expected %s, got %s", expected(t), spec.Describe(v))
			return v
		}
		fields := jsonFields(t)
		for _, key := range sortedKeys(m) {
			f, ok := fields[key]
			if !ok {
				w.unknownKey(path, key, t, fields)
				continue
			}
			m[key] = w.walk(childPath(path, key), m[key], f.Type)
		}
		return m
	case reflect.Map:
		m, ok := v.(map[string]any)
		if !ok {
			w.errorf(path, "expected %s, got %s", expected(t), spec.Describe(v))
			return v
		}
		for _, key := range sortedKeys(m) {
			p := childPath(path, key)
			if bad := badText(key); bad != "" {
				w.errorf(p, "the key %s", bad)
				continue
			}
			m[key] = w.walk(p, m[key], t.Elem())
		}
		return m
	case reflect.Slice:
		list, ok := v.([]any)
		if !ok {
			w.errorf(path, "expected %s, got %s", expected(t), spec.Describe(v))
			return v
		}
		for i := range list {
			list[i] = w.walk(indexPath(path, i), list[i], t.Elem())
		}
		return list
	case reflect.String:
		w.checkString(path, v)
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			w.errorf(path, "expected a boolean (true or false), got %s", spec.Describe(v))
		}
	case reflect.Int:
		w.checkInt(path, v)
	default:
		w.errorf(path, "internal error: no rule for Go type %s", t)
	}
	return v
}

func (w *treeWalker) checkString(path string, v any) {
	switch s := v.(type) {
	case string:
		if s == "" {
			w.errorf(path, "is an empty string: give a value or leave the key out")
		} else if bad := badText(s); bad != "" {
			w.errorf(path, "the value %s", bad)
		}
	case bool:
		w.errorf(path, "expected a string, got the boolean %t: YAML reads unquoted yes, no, on, off, y, n, true and false as booleans; quote the value", s)
	case json.Number:
		if strings.HasPrefix(path, "bondstrap.") && (strings.HasSuffix(path, "-timeout") || path == "bondstrap.deadline") {
			w.errorf(path, "expected a duration with a unit, such as 30s, got the number %s", s)
			return
		}
		w.errorf(path, "expected a string, got the number %s: quote the value", s)
	default:
		w.errorf(path, "expected a string, got %s", spec.Describe(v))
	}
}

func (w *treeWalker) checkInt(path string, v any) {
	n, ok := v.(json.Number)
	if !ok {
		hint := ""
		if s, isString := v.(string); isString {
			if _, err := strconv.Atoi(s); err == nil {
				hint = ": write the number without quotes"
			}
		}
		w.errorf(path, "expected an integer, got %s%s", spec.Describe(v), hint)
		return
	}
	if _, err := strconv.ParseInt(n.String(), 10, 64); err != nil {
		if f, ferr := n.Float64(); ferr == nil && f == float64(int64(f)) && f < 1<<62 && f > -(1<<62) {
			return // 1e3 and 1000.0 are integers too
		}
		if f, ferr := n.Float64(); ferr == nil && f != float64(int64(f)) && !strings.ContainsAny(n.String(), "eE") {
			w.errorf(path, "expected an integer, got %s", n)
		} else {
			w.errorf(path, "the number %s is out of range", n)
		}
	}
}

func (w *treeWalker) checkMode(path string, v any) {
	s, ok := scalarString(v)
	if !ok {
		w.errorf(path, "expected a bond mode (%s, or a number 0-6), got %s", spec.ModeNames(), spec.Describe(v))
		return
	}
	if _, err := ParseBondMode(s); err != nil {
		w.errorf(path, "%v", err)
	}
}

// scalarString is a string's value or a number's text: the YAML scalars that
// may be written either way (mode: 1, mode: "1"). The decoder's twin is
// scalarText.
func scalarString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		return x.String(), true
	}
	return "", false
}

// walkParameters checks a parameters mapping: mode, primary, and every
// other key by its spec.Param, which parses the value.
func (w *treeWalker) walkParameters(path string, v any) {
	m, ok := v.(map[string]any)
	if !ok {
		w.errorf(path, "expected a mapping of bond parameters, got %s", spec.Describe(v))
		return
	}
	seen := map[*spec.Param]string{}
	for _, key := range sortedKeys(m) {
		p := childPath(path, key)
		w.present[p] = true
		val := m[key]
		if val == nil {
			w.errorf(p, "has no value: give a value or leave the key out")
			continue
		}
		switch key {
		case "mode":
			w.checkMode(p, val)
			continue
		case "primary":
			w.checkString(p, val)
			continue
		}
		param, ok := spec.Lookup(key)
		if !ok {
			w.unknownParameter(p, key)
			continue
		}
		if other, dup := seen[param]; dup {
			old, cur := other, key
			if cur == param.Key {
				old, cur = cur, old
			}
			w.errorf(childPath(path, cur), "is the deprecated name of %s, which is also given: keep only %s", param.Key, param.Key)
			continue
		}
		seen[param] = key
		if _, err := param.Parse(val); err != nil {
			// A list element's error starts with its index: put it in the
			// key path.
			msg := err.Error()
			if m := listElement.FindStringSubmatch(msg); m != nil {
				p, msg = p+"["+m[1]+"]", m[2]
			}
			w.errorf(p, "%s", msg)
		}
	}
}

// parameterKeys lists every key a parameters mapping takes, sorted.
func parameterKeys() []string {
	keys := []string{"mode", "primary"}
	for _, p := range spec.Params {
		keys = append(keys, p.Key)
	}
	slices.Sort(keys)
	return keys
}

// unsupportedParameters are bonding options of Debian 12's kernel that
// bondstrap does not take, and why.
var unsupportedParameters = map[string]string{
	"coupled-control": "the kernel has coupled_control (Linux 6.1.149 and later), but nothing on Debian 12 can persist it: " +
		"networkd has no key, the kernel no sysfs file, and iproute2 6.1 cannot set it",
	"broadcast-neighbor": "the kernel has broadcast_neighbor (Linux 6.1.175 and later) as a sysfs file only, " +
		"which networkd cannot set and udev cannot write before networkd enslaves the ports",
}

func (w *treeWalker) unknownParameter(p, key string) {
	if why, ok := unsupportedParameters[key]; ok {
		w.errorf(p, "is not supported by bondstrap: %s", why)
		return
	}
	for _, k := range parameterKeys() {
		if strings.EqualFold(k, key) {
			w.errorf(p, "unknown key %q: keys are case-sensitive; did you mean %q?", key, k)
			return
		}
	}
	w.errorf(p, "unknown bond parameter %q: expected one of %s", key, strings.Join(parameterKeys(), ", "))
}

// unsupportedKeys are netplan keys bondstrap knows but does not implement, by
// the type they would belong to, with the reason given to the user.
// unsupportedL3 are netplan's interface keys beyond the addressing bondstrap
// supports.
var unsupportedL3 = []string{"dhcp4-overrides", "dhcp6-overrides", "routing-policy", "optional",
	"optional-addresses", "link-local", "critical", "renderer", "ipv6-privacy",
	"ipv6-address-generation", "ipv6-address-token", "ipv6-mtu", "emit-lldp", "activation-mode",
	"ignore-carrier", "openvswitch", "networkmanager", "neigh-suppress"}

var unsupportedKeys = map[reflect.Type]struct {
	keys   []string
	reason string
}{
	networkType: {
		[]string{"wifis", "tunnels", "vrfs", "modems", "nm-devices",
			"dummy-devices", "virtual-ethernets", "openvswitch"},
		"bondstrap configures ethernets, bonds, VLANs and bridges",
	},
	ethernetType: {
		append([]string{"wakeonlan", "receive-checksum-offload", "transmit-checksum-offload",
			"tcp-segmentation-offload", "tcp6-segmentation-offload", "generic-segmentation-offload",
			"generic-receive-offload", "large-receive-offload", "link", "virtual-function-count",
			"embedded-switch-mode", "delay-virtual-functions-rebind", "infiniband-mode", "auth"},
			unsupportedL3...),
		"an ethernets entry supports match, set-name and the addressing keys (dhcp4, dhcp6, accept-ra, addresses, gateway4, gateway6, routes, nameservers, mtu, macaddress)",
	},
	bondType: {
		append([]string{"link"}, unsupportedL3...),
		"a bond supports interfaces, parameters and the addressing keys (dhcp4, dhcp6, accept-ra, addresses, gateway4, gateway6, routes, nameservers, mtu, macaddress)",
	},
	vlanType: {
		unsupportedL3,
		"a VLAN supports id, link and the addressing keys (dhcp4, dhcp6, accept-ra, addresses, gateway4, gateway6, routes, nameservers, mtu, macaddress)",
	},
	bridgeType: {
		append([]string{"link"}, unsupportedL3...),
		"a bridge supports interfaces, parameters and the addressing keys (dhcp4, dhcp6, accept-ra, addresses, gateway4, gateway6, routes, nameservers, mtu, macaddress)",
	},
	matchType: {
		[]string{"original-name"},
		"match on name, macaddress, driver, pci-id, min-speed, max-speed, carrier or bootif",
	},
	routeType: {
		[]string{"from", "type", "scope", "mtu", "congestion-window", "advertised-receive-window",
			"advmss", "source"},
		"a route supports to, via, metric, on-link and table",
	},
}

func (w *treeWalker) unknownKey(path, key string, t reflect.Type, fields map[string]reflect.StructField) {
	p := childPath(path, key)
	for name := range fields {
		if strings.EqualFold(name, key) {
			w.errorf(p, "unknown key %q: keys are case-sensitive; did you mean %q?", key, name)
			return
		}
	}
	if u, ok := unsupportedKeys[t]; ok && slices.Contains(u.keys, key) {
		w.errorf(p, "the netplan key %q is not supported by bondstrap: %s", key, u.reason)
		return
	}
	if t == bondType {
		if _, ok := spec.Lookup(key); ok || key == "mode" || key == "primary" {
			w.errorf(p, "unknown key %q: it is a bond parameter, write it under parameters", key)
			return
		}
	}
	w.errorf(p, "unknown key %q: expected one of %s", key, strings.Join(sortedKeys(fields), ", "))
}

// jsonFields maps the JSON names of t's fields to the fields, those of an
// embedded struct without a JSON name (Addressing) as its own, as
// encoding/json does.
func jsonFields(t reflect.Type) map[string]reflect.StructField {
	fields := make(map[string]reflect.StructField)
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			for k, ef := range jsonFields(f.Type) {
				fields[k] = ef
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		fields[name] = f
	}
	return fields
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// expected describes what a value of Go type t looks like in YAML.
func expected(t reflect.Type) string {
	switch t {
	case bondModeType:
		return "a bond mode"
	case bondParametersType:
		return "a mapping of bond parameters"
	case stringListType:
		return "a string or a list of strings"
	}
	switch t.Kind() {
	case reflect.Pointer:
		return expected(t.Elem())
	case reflect.Struct, reflect.Map:
		return "a mapping"
	case reflect.Slice:
		return "a list of " + plural(expected(t.Elem()))
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean (true or false)"
	case reflect.Int:
		return "an integer"
	}
	return t.String()
}

func plural(s string) string {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "a "), "an ")
	if strings.HasPrefix(s, "mapping") || strings.HasPrefix(s, "string") || strings.HasPrefix(s, "integer") {
		before, after, _ := strings.Cut(s, " ")
		if after != "" {
			return before + "s " + after
		}
		return before + "s"
	}
	return s
}

// badText says what is wrong with text that may end up in a systemd unit file
// or a log line, or returns "": unit values are not escaped, so a newline
// would inject lines.
func badText(s string) string {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == utf8.RuneError {
			return fmt.Sprintf("%q contains a control character", s)
		}
	}
	return ""
}
