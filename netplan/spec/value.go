package spec

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Setting is one parameter with a value: what a config asks for, what the
// kernel reports. The zero Setting has no parameter.
type Setting struct {
	Param *Param
	// N is the value of an Enum (the kernel's number), Int, Bool (0 or 1),
	// Millis (milliseconds) or Seconds (seconds) parameter.
	N int64
	// Addrs is the value of an IPv4List or IPv6List parameter.
	Addrs []netip.Addr
	// MAC is the value of a MAC parameter.
	MAC net.HardwareAddr
}

// Parse reads a YAML value of p: v is a string, a json.Number, a bool or a
// []any, as a YAML document decodes through JSON. The error says what was
// expected, without the key path (the caller adds it).
func (p *Param) Parse(v any) (Setting, error) {
	s := Setting{Param: p}
	switch p.Kind {
	case Enum:
		text, ok := scalar(v)
		if !ok {
			return s, fmt.Errorf("expected %s, got %s", p.expected(), Describe(v))
		}
		val, ok := p.value(text)
		if !ok {
			return s, fmt.Errorf("is %q: expected %s", text, p.expected())
		}
		s.N = val.Number
	case Int:
		n, ok := v.(json.Number)
		if !ok {
			return s, fmt.Errorf("expected %s, got %s%s", p.expected(), Describe(v), quotedNumberHint(v))
		}
		i, err := strconv.ParseInt(n.String(), 10, 64)
		if err != nil {
			return s, fmt.Errorf("is %s: expected %s", n, p.expected())
		}
		s.N = i
	case Millis, Seconds:
		text, ok := scalar(v)
		if !ok {
			return s, fmt.Errorf("expected %s, got %s", p.expected(), Describe(v))
		}
		bare := time.Millisecond
		if p.Kind == Seconds {
			bare = time.Second
		}
		ms, err := ParseTime(text, bare)
		if err != nil {
			return s, err
		}
		if p.Kind == Seconds {
			if ms%1000 != 0 {
				return s, fmt.Errorf("is %s: the kernel takes whole seconds", FormatMillis(ms))
			}
			ms /= 1000
		}
		s.N = ms
	case Bool:
		b, ok := v.(bool)
		if !ok {
			return s, fmt.Errorf("expected a boolean (true or false), got %s", Describe(v))
		}
		if b {
			s.N = 1
		}
	case IPv4List, IPv6List:
		list, ok := v.([]any)
		if !ok {
			if _, isString := v.(string); !isString {
				return s, fmt.Errorf("expected %s, got %s", p.expected(), Describe(v))
			}
			list = []any{v}
		}
		if len(list) > p.MaxItems {
			return s, fmt.Errorf("has %d addresses: the kernel takes at most %d", len(list), p.MaxItems)
		}
		for i, item := range list {
			text, ok := item.(string)
			if !ok {
				return s, fmt.Errorf("[%d]: expected an IP address, got %s", i, Describe(item))
			}
			a, err := p.parseTarget(text)
			if err != nil {
				return s, fmt.Errorf("[%d]: %w", i, err)
			}
			if slices.Contains(s.Addrs, a) {
				return s, fmt.Errorf("[%d]: %s is listed twice: the kernel refuses duplicate targets", i, a)
			}
			s.Addrs = append(s.Addrs, a)
		}
	case MAC:
		text, ok := v.(string)
		if !ok {
			return s, fmt.Errorf("expected a MAC address, got %s", Describe(v))
		}
		mac, err := ParseUnicastMAC(text)
		if err != nil {
			return s, err
		}
		s.MAC = mac
	default:
		return s, fmt.Errorf("internal error: parameter %s has no kind", p.Key)
	}
	return s, s.Check()
}

// Check reports whether s holds a value the kernel accepts for its parameter
// (range, enum, address rules), whoever made it.
func (s Setting) Check() error {
	p := s.Param
	if p == nil {
		return errors.New("no parameter")
	}
	switch p.Kind {
	case Enum:
		if _, ok := p.valueByNumber(s.N); !ok {
			return fmt.Errorf("the kernel value %d is not one of %s", s.N, p.expected())
		}
	case Int, Millis, Seconds:
		if s.N < p.Min || s.N > p.Max {
			return fmt.Errorf("is %s: expected %s", s.String(), p.rangeText())
		}
	case Bool:
		if s.N != 0 && s.N != 1 {
			return fmt.Errorf("is %d: expected a boolean", s.N)
		}
	case IPv4List, IPv6List:
		if len(s.Addrs) > p.MaxItems {
			return fmt.Errorf("has %d addresses: the kernel takes at most %d", len(s.Addrs), p.MaxItems)
		}
		for _, a := range s.Addrs {
			if _, err := p.parseTarget(a.String()); err != nil {
				return err
			}
		}
	case MAC:
		if _, err := ParseUnicastMAC(s.MAC.String()); err != nil {
			return err
		}
	}
	return nil
}

// parseTarget reads one ARP (IPv4) or NS (IPv6) monitor target.
func (p *Param) parseTarget(text string) (netip.Addr, error) {
	a, err := netip.ParseAddr(text)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("%q is not an IP address", text)
	}
	a = a.Unmap()
	switch p.Kind {
	case IPv4List:
		if !a.Is4() {
			return a, fmt.Errorf("%q: expected an IPv4 address (the ARP monitor is IPv4 only)", text)
		}
		if a.As4()[0] == 0 || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) || a.IsMulticast() {
			return a, fmt.Errorf("%q: the kernel refuses 0.0.0.0/8, multicast and the broadcast address as ARP targets", text)
		}
	case IPv6List:
		if !a.Is6() {
			return a, fmt.Errorf("%q: expected an IPv6 address", text)
		}
		if a.IsUnspecified() || a.IsMulticast() || a.IsLoopback() {
			return a, fmt.Errorf("%q: the kernel takes only unicast NS targets", text)
		}
	}
	return a, nil
}

// Equal reports whether two settings of the same parameter hold the same
// value (address lists in any order).
func (s Setting) Equal(o Setting) bool {
	if s.Param != o.Param || s.N != o.N || !bytes.Equal(s.MAC, o.MAC) || len(s.Addrs) != len(o.Addrs) {
		return false
	}
	for _, a := range s.Addrs {
		if !slices.Contains(o.Addrs, a) {
			return false
		}
	}
	return true
}

// String writes the value as YAML would: the enum's name, a number, a time
// with its unit, true or false, addresses separated by commas, a MAC.
func (s Setting) String() string {
	p := s.Param
	if p == nil {
		return ""
	}
	switch p.Kind {
	case Enum:
		if v, ok := p.valueByNumber(s.N); ok {
			return v.Name
		}
		return "unknown(" + strconv.FormatInt(s.N, 10) + ")"
	case Int:
		return strconv.FormatInt(s.N, 10)
	case Millis:
		return FormatMillis(s.N)
	case Seconds:
		return strconv.FormatInt(s.N, 10) + "s"
	case Bool:
		return strconv.FormatBool(s.N != 0)
	case IPv4List, IPv6List:
		parts := make([]string, len(s.Addrs))
		for i, a := range s.Addrs {
			parts[i] = a.String()
		}
		return strings.Join(parts, ",")
	case MAC:
		return s.MAC.String()
	}
	return ""
}

// Value is the setting as YAML (through JSON) writes it, what Param.Parse
// reads back to the same Setting: a number, a boolean, a list of strings, or
// a string.
func (s Setting) Value() any {
	if s.Param == nil {
		return nil
	}
	switch s.Param.Kind {
	case Int:
		return json.Number(strconv.FormatInt(s.N, 10))
	case Bool:
		return s.N != 0
	case IPv4List, IPv6List:
		out := make([]any, len(s.Addrs))
		for i, a := range s.Addrs {
			out[i] = a.String()
		}
		return out
	}
	return s.String()
}

// MarshalJSON writes the setting's Value.
func (s Setting) MarshalJSON() ([]byte, error) { return json.Marshal(s.Value()) }

// ErrNotPersistable is wrapped by Networkd's error when networkd cannot
// express a value.
var ErrNotPersistable = errors.New("systemd-networkd cannot persist it")

// networkdValue returns the value as networkd's [Bond] key takes it.
func (s Setting) networkdValue() (string, bool) {
	p := s.Param
	switch p.Kind {
	case Enum:
		v, ok := p.valueByNumber(s.N)
		if !ok || v.NetworkdSince > NetworkdVersion {
			return "", false
		}
		return v.Name, true
	case Int:
		return strconv.FormatInt(s.N, 10), true
	case Millis:
		return TimeSpan(s.N), true
	case Seconds:
		return strconv.FormatInt(s.N, 10) + "s", true
	case Bool:
		return strconv.FormatBool(s.N != 0), true
	case IPv4List, IPv6List:
		parts := make([]string, len(s.Addrs))
		for i, a := range s.Addrs {
			parts[i] = a.String()
		}
		return strings.Join(parts, " "), true
	case MAC:
		return s.MAC.String(), true
	}
	return "", false
}

// Sysfs returns the value as the bonding driver's sysfs file for the
// parameter takes it, one write per element (a list is written as "+addr"
// per address). A udev rule persists what networkd cannot with these.
func (s Setting) Sysfs() []string {
	p := s.Param
	switch p.Kind {
	case Enum:
		if v, ok := p.valueByNumber(s.N); ok {
			return []string{v.Name}
		}
	case Int, Millis, Seconds, Bool:
		return []string{strconv.FormatInt(s.N, 10)}
	case IPv4List, IPv6List:
		out := make([]string, len(s.Addrs))
		for i, a := range s.Addrs {
			out[i] = "+" + a.String()
		}
		return out
	case MAC:
		return []string{s.MAC.String()}
	}
	return nil
}

// ipValue is the value as `ip link set type bond` takes it: lists joined
// with commas.
func (s Setting) ipValue() string {
	if s.Param.Kind == IPv4List || s.Param.Kind == IPv6List {
		return s.String()
	}
	return strings.Join(s.Sysfs(), ",")
}

// Encode returns the value as its rtnetlink attribute's payload.
func (s Setting) Encode() []byte {
	p := s.Param
	switch p.Encoding {
	case U8:
		return []byte{byte(s.N)}
	case U16:
		return binary.NativeEndian.AppendUint16(nil, uint16(s.N))
	case U32:
		return binary.NativeEndian.AppendUint32(nil, uint32(s.N))
	case Binary6:
		return slices.Clone(s.MAC)
	case NestedIPv4, NestedIPv6:
		// A nested list: one attribute per address, typed by its index.
		var b []byte
		for i, a := range s.Addrs {
			b = appendAttr(b, uint16(i), a.AsSlice())
		}
		return b
	}
	return nil
}

// Decode reads a value of p from its rtnetlink attribute's payload, as the
// kernel reports it.
func (p *Param) Decode(b []byte) (Setting, error) {
	s := Setting{Param: p}
	switch p.Encoding {
	case U8, U16, U32:
		// Read what the kernel sent, whatever its width.
		switch len(b) {
		case 1:
			s.N = int64(b[0])
		case 2:
			s.N = int64(binary.NativeEndian.Uint16(b))
		case 4:
			s.N = int64(binary.NativeEndian.Uint32(b))
		default:
			return s, fmt.Errorf("%s: %d-byte attribute", p.Kernel, len(b))
		}
		if p.Kind == Bool && s.N > 1 {
			s.N = 1
		}
	case Binary6:
		if len(b) < 6 {
			return s, fmt.Errorf("%s: %d-byte address", p.Kernel, len(b))
		}
		s.MAC = net.HardwareAddr(slices.Clone(b[:6]))
	case NestedIPv4, NestedIPv6:
		attrs, err := parseAttrs(b)
		if err != nil {
			return s, fmt.Errorf("%s: %w", p.Kernel, err)
		}
		for _, a := range attrs {
			addr, ok := netip.AddrFromSlice(a.value)
			if !ok {
				return s, fmt.Errorf("%s: %d-byte address", p.Kernel, len(a.value))
			}
			if addr.IsUnspecified() {
				continue // the kernel's empty slots
			}
			s.Addrs = append(s.Addrs, addr.Unmap())
		}
	}
	return s, nil
}

// expected describes the allowed values of p.
func (p *Param) expected() string {
	switch p.Kind {
	case Enum:
		names := make([]string, len(p.Values))
		for i, v := range p.Values {
			names[i] = v.Name
		}
		return "one of " + strings.Join(names, ", ")
	case Int:
		return "an integer " + p.rangeText()
	case Millis:
		return "a time (milliseconds, or with a unit: 100ms, 2s) " + p.rangeText()
	case Seconds:
		return "whole seconds (a bare number is seconds) " + p.rangeText()
	case Bool:
		return "a boolean (true or false)"
	case IPv4List:
		return fmt.Sprintf("a list of up to %d IPv4 addresses", p.MaxItems)
	case IPv6List:
		return fmt.Sprintf("a list of up to %d IPv6 addresses", p.MaxItems)
	case MAC:
		return "a unicast MAC address"
	}
	return "a value"
}

func (p *Param) rangeText() string {
	switch p.Kind {
	case Millis:
		return FormatMillis(p.Min) + "-" + FormatMillis(p.Max)
	case Seconds:
		return strconv.FormatInt(p.Min, 10) + "-" + strconv.FormatInt(p.Max, 10) + " s"
	}
	return strconv.FormatInt(p.Min, 10) + "-" + strconv.FormatInt(p.Max, 10)
}

// scalar is a string's value or a number's text.
func scalar(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		return x.String(), true
	}
	return "", false
}

func quotedNumberHint(v any) string {
	if s, ok := v.(string); ok {
		if _, err := strconv.Atoi(s); err == nil {
			return ": write the number without quotes"
		}
	}
	return ""
}

// Describe names a decoded YAML value for an error message: "the string \"x\"",
// "the number 3", "a list", ...
func Describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "no value"
	case map[string]any:
		return "a mapping"
	case []any:
		return "a list"
	case string:
		return "the string " + strconv.Quote(x)
	case json.Number:
		return "the number " + x.String()
	case bool:
		return "the boolean " + strconv.FormatBool(x)
	}
	return fmt.Sprintf("%T", v)
}

// attr is one netlink attribute.
type attr struct {
	typ   uint16
	value []byte
}

// appendAttr appends a netlink attribute (length, type, payload, padding).
func appendAttr(b []byte, typ uint16, payload []byte) []byte {
	b = binary.NativeEndian.AppendUint16(b, uint16(4+len(payload)))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = append(b, payload...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// parseAttrs splits a buffer of netlink attributes.
func parseAttrs(b []byte) ([]attr, error) {
	var out []attr
	for len(b) >= 4 {
		l := int(binary.NativeEndian.Uint16(b))
		typ := binary.NativeEndian.Uint16(b[2:]) & 0x3fff // NLA_TYPE_MASK
		if l < 4 || l > len(b) {
			return nil, fmt.Errorf("bad attribute length %d", l)
		}
		out = append(out, attr{typ: typ, value: b[4:l]})
		l = (l + 3) &^ 3
		if l > len(b) {
			break
		}
		b = b[l:]
	}
	return out, nil
}
