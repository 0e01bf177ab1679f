package units

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/bondstrap/bondstrap/netplan/spec"
	"github.com/coreos/go-systemd/v22/unit"
)

// sectionBuilder collects the sections of one unit file in order. Sections of
// the same name stay separate (a .network has one [Route] per route), which is
// why files are serialized with unit.SerializeSections, never unit.Serialize.
type sectionBuilder struct {
	sections []*unit.UnitSection
}

// section starts a new section and returns it.
func (b *sectionBuilder) section(name string) *unit.UnitSection {
	s := &unit.UnitSection{Section: name}
	b.sections = append(b.sections, s)
	return s
}

// add appends key=value to s.
func add(s *unit.UnitSection, key, value string) {
	s.Entries = append(s.Entries, &unit.UnitEntry{Name: key, Value: value})
}

// bytes serializes the sections after a comment header, dropping sections
// left empty. Every section name, key and value is checked first: go-systemd
// does not escape anything, so a newline in a value would inject a line.
func (b *sectionBuilder) bytes(header []string) ([]byte, error) {
	var buf bytes.Buffer
	for _, line := range header {
		if err := checkValue(line); err != nil {
			return nil, fmt.Errorf("header comment: %w", err)
		}
		buf.WriteString("# ")
		buf.WriteString(line)
		buf.WriteByte('\n')
	}
	if len(header) > 0 {
		buf.WriteByte('\n')
	}
	var kept []*unit.UnitSection
	for _, s := range b.sections {
		if len(s.Entries) == 0 {
			continue
		}
		if err := checkName(s.Section); err != nil {
			return nil, fmt.Errorf("section [%s]: %w", s.Section, err)
		}
		for _, e := range s.Entries {
			if err := checkName(e.Name); err != nil {
				return nil, fmt.Errorf("[%s] key %q: %w", s.Section, e.Name, err)
			}
			if err := checkValue(e.Value); err != nil {
				return nil, fmt.Errorf("[%s] %s=%q: %w", s.Section, e.Name, e.Value, err)
			}
		}
		kept = append(kept, s)
	}
	if _, err := io.Copy(&buf, unit.SerializeSections(kept)); err != nil {
		return nil, fmt.Errorf("serialize: %w", err)
	}
	return buf.Bytes(), nil
}

// checkValue refuses what a unit file cannot carry verbatim.
func checkValue(v string) error {
	switch {
	case v == "":
		return fmt.Errorf("%w: empty (an empty assignment resets a setting)", ErrUnsafeValue)
	case !utf8.ValidString(v):
		return fmt.Errorf("%w: not valid UTF-8", ErrUnsafeValue)
	case strings.ContainsRune(v, '\\'):
		return fmt.Errorf("%w: contains a backslash", ErrUnsafeValue)
	case strings.TrimSpace(v) != v:
		return fmt.Errorf("%w: leading or trailing white space", ErrUnsafeValue)
	}
	for _, r := range v {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return fmt.Errorf("%w: contains control character %U", ErrUnsafeValue, r)
		}
	}
	return nil
}

// checkName accepts section and key names: ASCII letters and digits only.
func checkName(n string) error {
	if n == "" {
		return fmt.Errorf("%w: empty name", ErrUnsafeValue)
	}
	for _, r := range n {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return fmt.Errorf("%w: name contains %q", ErrUnsafeValue, r)
		}
	}
	return nil
}

// checkIfname accepts a Linux interface name as the kernel does (at most 15
// bytes, no '/', ':' or white space, not "." or "..") and, because it becomes
// part of a file name and a unit value, no control characters either.
func checkIfname(name string) error {
	if name == "" || len(name) > 15 || name == "." || name == ".." {
		return fmt.Errorf("%w: interface name %q: must be 1 to 15 bytes, not \".\" or \"..\"", ErrUnsafeValue, name)
	}
	if strings.ContainsAny(name, "/:") {
		return fmt.Errorf("%w: interface name %q contains '/' or ':'", ErrUnsafeValue, name)
	}
	for _, r := range name {
		if unicode.IsSpace(r) || unicode.IsControl(r) || r == '\\' {
			return fmt.Errorf("%w: interface name %q contains %q", ErrUnsafeValue, name, r)
		}
	}
	// networkd's Name= and udev's KERNEL== read it as a pattern.
	if why := spec.GlobProblem(name); why != "" {
		return fmt.Errorf("%w: interface name %q %s", ErrUnsafeValue, name, why)
	}
	return nil
}

// canonicalMAC parses an Ethernet MAC address and returns it lowercase with
// colons, as networkd and the inventory print it.
func canonicalMAC(s string) (string, error) {
	hw, err := net.ParseMAC(s)
	if err != nil || len(hw) != 6 {
		return "", fmt.Errorf("%w: %q is not an Ethernet MAC address", ErrUnsafeValue, s)
	}
	return hw.String(), nil
}

// macForFileName turns "3c:fd:fe:00:00:01" into "3cfdfe000001".
func macForFileName(mac string) string {
	return strings.ReplaceAll(mac, ":", "")
}

// inRange formats an integer parameter after checking the range networkd
// accepts; networkd ignores an out-of-range assignment with only a log line,
// which would silently change the bond.
func inRange(key string, v int, lo, hi int64) (string, error) {
	if int64(v) < lo || int64(v) > hi {
		return "", fmt.Errorf("%s=%d: out of range %d..%d", key, v, lo, hi)
	}
	return strconv.Itoa(v), nil
}

// byFamily splits addresses (or prefixes) into IPv4 first, then IPv6,
// each in the given order, as netplan renders them. parse validates one item.
func byFamily[T interface {
	Addr() netip.Addr
	String() string
}](items []string, parse func(string) (T, error), what string) ([]string, error) {
	var v4, v6 []string
	for _, s := range items {
		x, err := parse(s)
		if err != nil {
			return nil, fmt.Errorf("%s %q: %w", what, s, err)
		}
		if x.Addr().Unmap().Is4() {
			v4 = append(v4, x.String())
		} else {
			v6 = append(v6, x.String())
		}
	}
	return append(v4, v6...), nil
}

// addrOf adapts netip.Addr to the Addr() method byFamily wants.
type addrOf netip.Addr

// Addr returns the address.
func (a addrOf) Addr() netip.Addr { return netip.Addr(a) }

// String returns the address in its canonical form.
func (a addrOf) String() string { return netip.Addr(a).String() }

// parseAddr parses a bare IP address.
func parseAddr(s string) (addrOf, error) {
	a, err := netip.ParseAddr(s)
	if err == nil && a.Zone() != "" {
		err = fmt.Errorf("zones are not supported")
	}
	return addrOf(a), err
}
