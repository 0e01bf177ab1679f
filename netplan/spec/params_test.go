package spec

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// The table itself: what the rest of bondstrap derives from it must be
// unambiguous and fit the kernel's wire format.
func TestParamsTable(t *testing.T) {
	names := map[string]string{} // YAML key or alias -> parameter
	kernel := map[string]bool{}
	attrs := map[uint16]bool{}
	networkd := map[string]bool{}
	for _, p := range Params {
		for _, name := range append([]string{p.Key}, p.Aliases...) {
			if other, dup := names[name]; dup {
				t.Errorf("%s: the name %q is also %s's", p.Key, name, other)
			}
			names[name] = p.Key
			if got, ok := Lookup(name); !ok || got != p {
				t.Errorf("Lookup(%q) = %v, %t; want %s", name, got, ok, p.Key)
			}
		}
		if name := p.Key; name == "mode" || name == "primary" {
			t.Errorf("%s is in Params: mode and primary are not settings", name)
		}
		if kernel[p.Kernel] || p.Kernel == "" {
			t.Errorf("%s: kernel option %q is empty or not unique", p.Key, p.Kernel)
		}
		kernel[p.Kernel] = true
		if attrs[p.Attr] || p.Attr == 0 {
			t.Errorf("%s: attribute %d is zero or not unique", p.Key, p.Attr)
		}
		attrs[p.Attr] = true
		if got, ok := ByAttr(p.Attr); !ok || got != p {
			t.Errorf("ByAttr(%d) = %v, %t; want %s", p.Attr, got, ok, p.Key)
		}
		if p.Networkd != "" {
			if networkd[p.Networkd] {
				t.Errorf("%s: networkd key %s is not unique", p.Key, p.Networkd)
			}
			networkd[p.Networkd] = true
		} else if p.NetworkdSince != 0 || p.NetworkdModes != nil || p.NetworkdWithARP || p.NetworkdSkipsZero {
			t.Errorf("%s: networkd details without a networkd key", p.Key)
		}
		// The kernel applies attributes in changelink order; one missing
		// from it would sort first, before the MII monitor it may need.
		if !slices.Contains(changelinkOrder, p.Attr) {
			t.Errorf("%s: attribute %d is not in changelinkOrder", p.Key, p.Attr)
		}
		for _, m := range append(slices.Clone(p.Modes), p.NetworkdModes...) {
			if _, ok := LookupMode(m); !ok {
				t.Errorf("%s: unknown mode %q", p.Key, m)
			}
		}
		if p.Doc == "" {
			t.Errorf("%s has no Doc", p.Key)
		}

		// The kind and the wire encoding agree.
		width := map[Encoding]int64{U8: math.MaxUint8, U16: math.MaxUint16, U32: math.MaxUint32}
		switch p.Kind {
		case Enum:
			if len(p.Values) == 0 || p.Encoding < U8 || p.Encoding > U32 {
				t.Errorf("%s: an enum needs values and an integer encoding", p.Key)
			}
			seen := map[string]bool{}
			for _, v := range p.Values {
				if seen[v.Name] || v.Number < 0 || v.Number > width[p.Encoding] {
					t.Errorf("%s: value %+v is a duplicate or does not fit the encoding", p.Key, v)
				}
				seen[v.Name] = true
			}
		case Int, Millis, Seconds:
			if p.Encoding < U8 || p.Encoding > U32 || p.Min < 0 || p.Min > p.Max || p.Max > width[p.Encoding] {
				t.Errorf("%s: range %d-%d does not fit encoding %d", p.Key, p.Min, p.Max, p.Encoding)
			}
		case Bool:
			if p.Encoding != U8 {
				t.Errorf("%s: a bool travels as a u8", p.Key)
			}
		case IPv4List, IPv6List:
			want := map[Kind]Encoding{IPv4List: NestedIPv4, IPv6List: NestedIPv6}[p.Kind]
			if p.Encoding != want || p.MaxItems <= 0 {
				t.Errorf("%s: a list needs encoding %d and MaxItems", p.Key, want)
			}
		case MAC:
			if p.Encoding != Binary6 {
				t.Errorf("%s: a MAC travels as six bytes", p.Key)
			}
		default:
			t.Errorf("%s has no kind", p.Key)
		}
	}
}

func TestModes(t *testing.T) {
	for i, m := range Modes {
		if m.Number != i {
			t.Errorf("Modes[%d] is %s number %d", i, m.Name, m.Number)
		}
		if got, ok := ModeByNumber(i); !ok || got.Name != m.Name {
			t.Errorf("ModeByNumber(%d) = %v, %t", i, got, ok)
		}
		// The mode flags and the parameters' mode lists say the same.
		if got := param(t, "arp-interval").AcceptedIn(m.Name); got != m.ARP {
			t.Errorf("%s: ARP %t, but arp-interval accepted %t", m.Name, m.ARP, got)
		}
		if got := slices.Contains(primaryModes, m.Name); got != m.Primary {
			t.Errorf("%s: Primary %t, but in primaryModes %t", m.Name, m.Primary, got)
		}
	}
	for _, n := range []int{-1, len(Modes)} {
		if _, ok := ModeByNumber(n); ok {
			t.Errorf("ModeByNumber(%d) found a mode", n)
		}
	}
	if m, ok := LookupMode(""); !ok || m.Name != BalanceRR || DefaultMode != BalanceRR {
		t.Errorf("LookupMode(\"\") = %v, %t; want the kernel's default balance-rr", m, ok)
	}
	for _, bad := range []string{"4", "lacp", "802.3AD"} {
		if _, ok := LookupMode(bad); ok {
			t.Errorf("LookupMode(%q) found a mode: it takes canonical names only", bad)
		}
	}
}

func TestParseMode(t *testing.T) {
	for in, want := range map[string]string{
		"balance-rr": BalanceRR, "0": BalanceRR, "active-backup": ActiveBackup, "1": ActiveBackup,
		"balance-xor": BalanceXOR, "2": BalanceXOR, "broadcast": Broadcast, "3": Broadcast,
		"802.3ad": LACP, "4": LACP, "balance-tlb": BalanceTLB, "5": BalanceTLB, "balance-alb": BalanceALB, "6": BalanceALB,
	} {
		if got, err := ParseMode(in); err != nil || got.Name != want {
			t.Errorf("ParseMode(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	for _, in := range []string{"", "7", "-1", "04", "lacp", "802.3AD", "Active-Backup", " 4", "4 "} {
		if got, err := ParseMode(in); err == nil {
			t.Errorf("ParseMode(%q) = %v, want an error", in, got)
		} else if !strings.Contains(err.Error(), "a number 0-6") {
			t.Errorf("ParseMode(%q): error %q does not list what is accepted", in, err)
		}
	}
}

// The documented default is what the kernel uses: it parses, prints back to
// itself, and is DefaultIn's number.
func TestDefaults(t *testing.T) {
	for _, p := range Params {
		if p.Default == "" {
			if p.Kind != IPv4List && p.Kind != IPv6List && p.Kind != MAC {
				t.Errorf("%s: no Default", p.Key)
			}
			continue
		}
		t.Run(p.Key, func(t *testing.T) {
			mode := BalanceRR
			if p.Modes != nil {
				mode = p.Modes[0]
			}
			// mii-monitor-interval documents the modes that force it on
			// after the value, in parentheses.
			text, _, _ := strings.Cut(p.Default, " (")
			s, err := p.Parse(yamlValue(p, text))
			if err != nil {
				t.Fatalf("Parse(Default %q): %v", text, err)
			}
			again, err := p.Parse(yamlValue(p, s.String()))
			if err != nil || !again.Equal(s) {
				t.Fatalf("Default %q -> String %q -> Parse = %v, %v", text, s.String(), again, err)
			}
			if want := DefaultIn(p, mode); s.N != want {
				t.Errorf("Default %q is %d, but DefaultIn(%s) is %d", p.Default, s.N, mode, want)
			}
		})
	}
	if got := DefaultIn(param(t, "mii-monitor-interval"), LACP); got != DefaultMIIMon {
		t.Errorf("DefaultIn(mii-monitor-interval, 802.3ad) = %d, want %d", got, DefaultMIIMon)
	}
}

// Every value a config may give reads back the same from its String, and
// travels through rtnetlink unchanged.
func TestSampleRoundTrips(t *testing.T) {
	for _, p := range Params {
		t.Run(p.Key, func(t *testing.T) {
			var values []Setting
			sample, ok := samples[p.Key]
			if !ok {
				t.Skip("no sample (TestSamplesCoverParams fails)")
			}
			values = append(values, mustParse(t, p.Key, sample.text))
			switch p.Kind {
			case Enum:
				for _, v := range p.Values {
					values = append(values, Setting{Param: p, N: v.Number})
				}
			case Int, Millis, Seconds:
				values = append(values, Setting{Param: p, N: p.Min}, Setting{Param: p, N: p.Max})
			case Bool:
				values = append(values, Setting{Param: p, N: 0}, Setting{Param: p, N: 1})
			case IPv4List, IPv6List:
				var max Setting
				max.Param = p
				for i := range p.MaxItems {
					if p.Kind == IPv4List {
						max.Addrs = append(max.Addrs, netip.AddrFrom4([4]byte{10, 0, byte(i), 1}))
					} else {
						max.Addrs = append(max.Addrs, netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i + 1)}))
					}
				}
				values = append(values, max)
			}
			for _, s := range values {
				if err := s.Check(); err != nil {
					t.Errorf("%s: Check: %v", s, err)
					continue
				}
				back, err := p.Parse(yamlValue(p, s.String()))
				if err != nil || !back.Equal(s) {
					t.Errorf("%s -> Parse = %v, %v", s, back, err)
				}
				payload := s.Encode()
				if w := map[Encoding]int{U8: 1, U16: 2, U32: 4, Binary6: 6}[p.Encoding]; w != 0 && len(payload) != w {
					t.Errorf("%s: Encode gave %d bytes, want %d", s, len(payload), w)
				}
				dec, err := p.Decode(payload)
				if err != nil || !dec.Equal(s) {
					t.Errorf("%s -> Encode %x -> Decode = %v, %v", s, payload, dec, err)
				}
			}
		})
	}
}

func TestEncodeWireFormat(t *testing.T) {
	attr := func(typ uint16, payload ...byte) []byte {
		b := binary.NativeEndian.AppendUint16(nil, uint16(4+len(payload)))
		b = binary.NativeEndian.AppendUint16(b, typ)
		b = append(b, payload...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
		return b
	}
	for _, tc := range []struct {
		key, text string
		want      []byte
	}{
		// ARP targets: a nest typed by slot index, addresses in network order.
		{"arp-ip-targets", "192.0.2.1,198.51.100.7", append(attr(0, 192, 0, 2, 1), attr(1, 198, 51, 100, 7)...)},
		{"ns-ip6-targets", "2001:db8::1", attr(0, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1)},
		{"ad-actor-system", "02:00:00:00:00:42", []byte{2, 0, 0, 0, 0, 0x42}},
		{"transmit-hash-policy", "layer3+4", []byte{1}},
		{"arp-validate", "filter", binary.NativeEndian.AppendUint32(nil, 4)},
		{"ad-actor-system-priority", "258", binary.NativeEndian.AppendUint16(nil, 258)},
		{"mii-monitor-interval", "2s", binary.NativeEndian.AppendUint32(nil, 2000)},
		{"learn-packet-interval", "2m", binary.NativeEndian.AppendUint32(nil, 120)},
		{"lacp-active", "false", []byte{0}},
	} {
		if got := mustParse(t, tc.key, tc.text).Encode(); !bytes.Equal(got, tc.want) {
			t.Errorf("%s %s: Encode = %x, want %x", tc.key, tc.text, got, tc.want)
		}
	}
}

func TestDecodeKernelQuirks(t *testing.T) {
	// The kernel may report a bool wider than a u8 and as any non-zero.
	if s, err := param(t, "use-carrier").Decode(binary.NativeEndian.AppendUint32(nil, 7)); err != nil || s.N != 1 {
		t.Errorf("use-carrier 7 as u32 = %v, %v; want 1", s.N, err)
	}
	// Empty target slots are 0.0.0.0.
	p := param(t, "arp-ip-targets")
	s, err := p.Decode(Setting{Param: p, Addrs: []netip.Addr{netip.IPv4Unspecified(),
		netip.MustParseAddr("192.0.2.9")}}.Encode())
	if err != nil || len(s.Addrs) != 1 || s.Addrs[0] != netip.MustParseAddr("192.0.2.9") {
		t.Errorf("targets with an empty slot = %v, %v", s.Addrs, err)
	}
	for _, tc := range []struct {
		key     string
		payload []byte
	}{
		{"mii-monitor-interval", []byte{1, 2, 3}},
		{"lacp-rate", nil},
		{"ad-actor-system", []byte{1, 2, 3, 4, 5}},
		{"arp-ip-targets", []byte{8, 0, 0, 0, 1, 2}},       // length beyond the buffer
		{"arp-ip-targets", []byte{6, 0, 0, 0, 1, 2, 0, 0}}, // a 2-byte address
		{"ns-ip6-targets", []byte{2, 0, 0, 0}},             // length below the header
	} {
		if s, err := param(t, tc.key).Decode(tc.payload); err == nil {
			t.Errorf("%s: Decode(%x) = %v, want an error", tc.key, tc.payload, s)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		key string
		v   any
		msg string
	}{
		{"lacp-rate", "medium", "one of slow, fast"},
		{"lacp-rate", "1", "one of slow, fast"}, // the kernel's number is not a name
		{"lacp-rate", true, "got the boolean true"},
		{"transmit-hash-policy", "", `is ""`},
		{"min-links", "2", "without quotes"},
		{"min-links", json.Number("-1"), "expected 0-2147483647"},
		{"min-links", json.Number("1.5"), "expected an integer"},
		{"min-links", json.Number("2147483648"), "expected 0-2147483647"},
		{"gratuitous-arp", json.Number("256"), "0-255"},
		{"packets-per-member", json.Number("65536"), "0-65535"},
		{"arp-missed-max", json.Number("0"), "1-255"},
		{"ad-actor-system-priority", json.Number("0"), "1-65535"},
		{"ad-user-port-key", json.Number("1024"), "0-1023"},
		{"mii-monitor-interval", "-100", "negative"},
		{"mii-monitor-interval", "1000h", "expected 0-2147483647ms"},
		{"mii-monitor-interval", []any{"1"}, "got a list"},
		{"up-delay", "10x", "such as 100ms"},
		{"peer-notify-delay", "301s", "expected 0-300000ms"},
		{"learn-packet-interval", "0", "1-2147483647 s"},
		{"learn-packet-interval", "1500ms", "whole seconds"},
		{"all-members-active", "true", "expected a boolean"},
		{"arp-ip-targets", map[string]any{}, "got a mapping"},
		{"arp-ip-targets", []any{"gateway"}, `[0]: "gateway" is not an IP address`},
		{"arp-ip-targets", []any{"192.0.2.1", "2001:db8::1"}, "[1]: \"2001:db8::1\": expected an IPv4 address"},
		{"arp-ip-targets", []any{"0.1.2.3"}, "0.0.0.0/8"},
		{"arp-ip-targets", []any{"224.0.0.1"}, "multicast"},
		{"arp-ip-targets", []any{"255.255.255.255"}, "broadcast"},
		{"arp-ip-targets", []any{"fe80::1%eno1"}, "not an IP address"},
		{"arp-ip-targets", []any{"192.0.2.1", "192.0.2.1"}, "[1]: 192.0.2.1 is listed twice"},
		{"arp-ip-targets", []any{json.Number("1")}, "[0]: expected an IP address, got the number 1"},
		{"arp-ip-targets", make([]any, 17), "has 17 addresses: the kernel takes at most 16"},
		{"ns-ip6-targets", []any{"192.0.2.1"}, "expected an IPv6 address"},
		{"ns-ip6-targets", []any{"::ffff:192.0.2.1"}, "expected an IPv6 address"},
		{"ns-ip6-targets", []any{"::1"}, "only unicast"},
		{"ns-ip6-targets", []any{"::"}, "only unicast"},
		{"ns-ip6-targets", []any{"ff02::1"}, "only unicast"},
		{"ad-actor-system", "00:00:00:00:00:00", "all zeros"},
		{"ad-actor-system", "01:00:5e:00:00:01", "multicast"},
		{"ad-actor-system", "02-00-00-00-00-01", "separated by colons"},
		{"ad-actor-system", json.Number("1"), "expected a MAC address"},
	} {
		_, err := param(t, tc.key).Parse(tc.v)
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: Parse(%#v) = %v, want an error saying %q", tc.key, tc.v, err, tc.msg)
		}
	}
}

func TestParseSpellings(t *testing.T) {
	for _, tc := range []struct {
		key  string
		v    any
		want int64
	}{
		{"mii-monitor-interval", "100", 100},              // a bare number is milliseconds
		{"mii-monitor-interval", json.Number("100"), 100}, // unquoted too
		{"mii-monitor-interval", "1m 30s", 90000},
		{"learn-packet-interval", "90", 90}, // a bare number is seconds here
		{"learn-packet-interval", json.Number("90"), 90},
		{"learn-packet-interval", "1min", 60},
		{"transmit-hash-policy", "encap3+4", 4},
		{"arp-validate", "filter_active", 5},
		{"min-links", json.Number("0"), 0},
		{"all-members-active", true, 1},
	} {
		s, err := param(t, tc.key).Parse(tc.v)
		if err != nil || s.N != tc.want {
			t.Errorf("%s: Parse(%#v) = %d, %v; want %d", tc.key, tc.v, s.N, err, tc.want)
		}
	}
	// A single address may stand for a list of one.
	s, err := param(t, "arp-ip-targets").Parse("192.0.2.1")
	if err != nil || len(s.Addrs) != 1 {
		t.Errorf("one address as a string = %v, %v", s.Addrs, err)
	}
	// MACs are normalized to lower case.
	if s := mustParse(t, "ad-actor-system", "02:AB:00:00:00:01"); s.String() != "02:ab:00:00:00:01" {
		t.Errorf("MAC = %s", s)
	}
}

func TestCheckRefusesWhatParseWould(t *testing.T) {
	for _, s := range []Setting{
		{},
		{Param: param(t, "lacp-rate"), N: 2},
		{Param: param(t, "gratuitous-arp"), N: 256},
		{Param: param(t, "learn-packet-interval"), N: 0},
		{Param: param(t, "use-carrier"), N: 2},
		{Param: param(t, "ad-actor-system")},
		{Param: param(t, "arp-ip-targets"), Addrs: []netip.Addr{netip.MustParseAddr("2001:db8::1")}},
		{Param: param(t, "arp-ip-targets"), Addrs: make([]netip.Addr, 17)},
	} {
		if err := s.Check(); err == nil {
			t.Errorf("Check(%+v) = nil, want an error", s)
		}
	}
}

func TestStringAndSysfs(t *testing.T) {
	for _, tc := range []struct {
		key, text, str string
		sysfs          []string
	}{
		{"mii-monitor-interval", "2s", "2000ms", []string{"2000"}},
		{"mii-monitor-interval", "0", "0", []string{"0"}},
		{"learn-packet-interval", "5", "5s", []string{"5"}},
		{"transmit-hash-policy", "layer3+4", "layer3+4", []string{"layer3+4"}},
		{"all-members-active", "true", "true", []string{"1"}},
		{"arp-ip-targets", "192.0.2.1,192.0.2.2", "192.0.2.1,192.0.2.2", []string{"+192.0.2.1", "+192.0.2.2"}},
		{"ad-actor-system", "02:00:00:00:00:01", "02:00:00:00:00:01", []string{"02:00:00:00:00:01"}},
	} {
		s := mustParse(t, tc.key, tc.text)
		if s.String() != tc.str || !slices.Equal(s.Sysfs(), tc.sysfs) {
			t.Errorf("%s %s: String %q, Sysfs %q; want %q, %q", tc.key, tc.text, s.String(), s.Sysfs(), tc.str, tc.sysfs)
		}
		// JSON is what YAML would write: Parse reads it back the same.
		j, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		var v any
		dec := json.NewDecoder(strings.NewReader(string(j)))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		if back, err := s.Param.Parse(v); err != nil || !back.Equal(s) {
			t.Errorf("%s %s: JSON %s reads back as %v, %v", tc.key, tc.text, j, back, err)
		}
	}
	if got := (Setting{Param: param(t, "lacp-rate"), N: 9}).String(); got != "unknown(9)" {
		t.Errorf("an enum number the table lacks prints %q", got)
	}
}

func TestSettings(t *testing.T) {
	ss := settings(t, kv{"use-carrier", "false"}, kv{"lacp-rate", "fast"}, kv{"min-links", "2"})
	var keys []string
	for _, s := range ss {
		keys = append(keys, s.Param.Key)
	}
	if want := []string{"lacp-rate", "min-links", "use-carrier"}; !slices.Equal(keys, want) {
		t.Errorf("Set keeps %v, want the order of Params %v", keys, want)
	}
	ss = ss.Set(mustParse(t, "min-links", "3"))
	if len(ss) != 3 || ss.Int("min-links", -1) != 3 {
		t.Errorf("Set did not replace min-links: %v", ss)
	}
	if ss.Int("arp-interval", -1) != -1 {
		t.Error("Int of an absent setting is not the default")
	}
	if _, ok := ss.Get("arp-interval"); ok {
		t.Error("Get found an absent setting")
	}
}

func TestKernelOrder(t *testing.T) {
	// Params order puts the delays before use-carrier and arp-missed-max
	// after it; the kernel applies the MII monitor first, then the delays.
	ss := settings(t, kv{"arp-missed-max", "3"}, kv{"use-carrier", "false"}, kv{"peer-notify-delay", "100"},
		kv{"mii-monitor-interval", "100"}, kv{"lacp-rate", "fast"})
	var got []string
	for _, s := range KernelOrder(ss) {
		got = append(got, s.Param.Kernel)
	}
	want := []string{"miimon", "peer_notif_delay", "use_carrier", "lacp_rate", "arp_missed_max"}
	if !slices.Equal(got, want) {
		t.Errorf("KernelOrder = %v, want %v", got, want)
	}
	if ss[0].Param.Key != "lacp-rate" {
		t.Error("KernelOrder changed its argument")
	}
}

func TestEffective(t *testing.T) {
	up := mustParse(t, "up-delay", "250")
	if got := Effective(up, 100); got.N != 200 {
		t.Errorf("up-delay 250 with miimon 100 = %d, want 200 (rounded down)", got.N)
	}
	if got := Effective(up, 0); got.N != 250 {
		t.Errorf("up-delay without miimon = %d", got.N)
	}
	if up.N != 250 {
		t.Error("Effective changed its argument")
	}
	if got := Effective(mustParse(t, "arp-interval", "250"), 100); got.N != 250 {
		t.Errorf("arp-interval is not a multiple of miimon, got %d", got.N)
	}
	for _, tc := range []struct {
		mode string
		ss   Settings
		want int64
	}{
		{LACP, nil, DefaultMIIMon},
		{BalanceTLB, nil, DefaultMIIMon},
		{BalanceALB, nil, DefaultMIIMon},
		{ActiveBackup, nil, 0},
		{BalanceRR, nil, 0},
		{LACP, settings(t, kv{"mii-monitor-interval", "0"}), 0},
		{ActiveBackup, settings(t, kv{"mii-monitor-interval", "50"}), 50},
		{ActiveBackup, settings(t, kv{"mii-monitor-interval", "50"}, kv{"arp-interval", "100"}), 0},
	} {
		if got := EffectiveMIIMon(tc.mode, tc.ss); got != tc.want {
			t.Errorf("EffectiveMIIMon(%s, %v) = %d, want %d", tc.mode, tc.ss, got, tc.want)
		}
	}
}
