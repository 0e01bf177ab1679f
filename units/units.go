// Package units renders the network bondstrap set up as systemd-networkd
// units (.netdev and .network files) and writes them atomically under a root
// directory, so the same bonds come back on every later boot.
//
// Rendering is pure: it takes a config and a plan and returns file contents,
// byte for byte the same for the same input. Members are matched by their
// permanent MAC address, never by kernel name, because names change between
// the initramfs and the real root. The bond keeps the MAC address it had while
// provisioning and asks DHCP with the MAC as client identifier, so a DHCP
// server hands back the same lease after the reboot.
//
// Every file bondstrap writes is named Prefix + something; Write and Remove
// never touch any other file.
package units

import (
	"errors"
	"strings"
)

// File is one rendered unit file.
type File struct {
	// Name is the base name of the file inside Dir.
	Name string
	// Content is the complete file content.
	Content []byte
}

// Dir is where the units go, relative to the root of the target system.
const Dir = "etc/systemd/network"

// Prefix starts the name of every file bondstrap owns. "10-" sorts before the
// distributions' defaults (such as 80-*.network and 99-default.link), so
// networkd applies bondstrap's files first; networkd applies only the first
// .network file that matches a link.
const Prefix = "10-bondstrap-"

// ownedSuffixes are the kinds of unit file bondstrap writes and owns.
var ownedSuffixes = []string{".netdev", ".network"}

// ErrUnsafeValue is wrapped by the errors Render and RenderFallback return
// when a value would not survive a trip through a unit file: an empty value,
// a control character (a newline would start a new key), a backslash (a
// trailing one continues the line) or invalid UTF-8.
var ErrUnsafeValue = errors.New("unsafe value for a unit file")

// ErrBadName is wrapped by the errors Write returns for a file name that is
// not a plain base name owned by bondstrap.
var ErrBadName = errors.New("bad unit file name")

// owned reports whether a file name in Dir belongs to bondstrap: a unit it
// wrote, or a temporary file a crashed Write left behind.
func owned(name string) bool {
	if isTemp(name) {
		return true
	}
	if !strings.HasPrefix(name, Prefix) {
		return false
	}
	for _, s := range ownedSuffixes {
		if strings.HasSuffix(name, s) && len(name) > len(Prefix)+len(s) {
			return true
		}
	}
	return false
}

// tempMarker separates a final name from the random part of a temporary name.
const tempMarker = ".tmp-"

// isTemp reports whether name is one of Write's temporary files:
// "." + final name + ".tmp-" + random. The leading dot and the suffix keep
// networkd from reading it.
func isTemp(name string) bool {
	if !strings.HasPrefix(name, "."+Prefix) {
		return false
	}
	return strings.Contains(name, tempMarker)
}
