package spec

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// MaxIfnameLen is IFNAMSIZ-1: the kernel refuses longer interface names.
const MaxIfnameLen = 15

// IfnameProblem says why the kernel (dev_valid_name) or systemd would refuse
// name as an interface name, or returns "". Names bondstrap creates must also
// pass GlobProblem: networkd reads [Match] Name= as a glob.
func IfnameProblem(name string) string {
	switch {
	case name == "":
		return "is empty"
	case len(name) > MaxIfnameLen:
		return fmt.Sprintf("is %d bytes long: interface names have at most %d", len(name), MaxIfnameLen)
	case name == "." || name == "..":
		return "is not a valid interface name"
	case strings.ContainsAny(name, "/:%"):
		return "contains '/', ':' or '%', which interface names may not"
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c <= ' ' || c >= 0x7f || c == '\\' || c == '"' || c == '\'' {
			return "contains a space, a quote, a backslash, a control or a non-ASCII character, which interface names here may not"
		}
	}
	if _, err := strconv.ParseUint(name, 10, 64); err == nil {
		return "is all digits, which systemd reads as an interface index"
	}
	return ""
}

// globChars are what systemd-networkd's [Match] Name= reads as a pattern
// (fnmatch, with a leading '!' negating the list).
const globChars = "*?[]!"

// GlobProblem says why name cannot be written as a literal [Match] Name=, or
// returns "": networkd would read it as a pattern matching other links.
func GlobProblem(name string) string {
	if i := strings.IndexAny(name, globChars); i >= 0 {
		return fmt.Sprintf("contains %q, which systemd-networkd reads as a pattern in [Match] Name= (it would match other links)", name[i])
	}
	return ""
}

// NameProblem says why a name bondstrap creates (a bond) is refused, or "".
func NameProblem(name string) string {
	if p := IfnameProblem(name); p != "" {
		return p
	}
	return GlobProblem(name)
}

// NormalizeMAC checks a MAC address written as six colon-separated hex bytes,
// in either case, and returns it in lowercase.
func NormalizeMAC(s string) (string, error) {
	hw, err := net.ParseMAC(s)
	if err != nil || len(hw) != 6 || len(s) != 17 || strings.Count(s, ":") != 5 {
		return s, fmt.Errorf("%q: expected a MAC address of six hex bytes separated by colons, such as 3c:fd:fe:00:00:01", s)
	}
	return hw.String(), nil
}

// ParseUnicastMAC parses a MAC that an interface may carry: six bytes,
// unicast, not all zeros.
func ParseUnicastMAC(s string) (net.HardwareAddr, error) {
	norm, err := NormalizeMAC(s)
	if err != nil {
		return nil, err
	}
	hw, _ := net.ParseMAC(norm)
	switch {
	case norm == "00:00:00:00:00:00":
		return nil, fmt.Errorf("%s is all zeros: the kernel refuses it", norm)
	case hw[0]&1 == 1:
		return nil, fmt.Errorf("%s is a multicast address: the kernel refuses it as an interface address", norm)
	}
	return hw, nil
}
