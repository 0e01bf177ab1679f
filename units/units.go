// Package units renders the network bondstrap set up as systemd-networkd
// units (.netdev and .network files, and .link files for udev) and writes
// them atomically under a root directory, so the same network (bonds, VLANs,
// bridges and standalone NICs) comes back on every later boot.
//
// Rendering is pure: it takes a config and a plan and returns file contents,
// byte for byte the same for the same input. Members are matched by their
// hardware identity (permanent MAC, else PCI path), never by kernel name,
// because names change between the initramfs and the real root. The bond
// keeps the MAC address it had while provisioning and asks DHCP with the MAC
// as client identifier, so a DHCP server hands back the same lease after the
// reboot. What networkd cannot set on a bond goes to a udev rule.
//
// Write puts the files under a root in a Layout: /etc (Persistent) or /run
// (Runtime, this boot only), and EnableNetworkd makes systemd-networkd run
// there to read them. Every file bondstrap writes is named Prefix (or
// FallbackPrefix) + something; Write and Remove never touch any other file.
package units

import (
	"errors"
	"strings"
)

// File is one rendered file.
type File struct {
	// Kind says which directory of a Layout the file goes to.
	Kind Kind
	// Name is the base name of the file.
	Name string
	// Content is the complete file content.
	Content []byte
}

// Kind is the kind of a rendered file.
type Kind uint8

// Kinds of rendered files.
const (
	// Network is a systemd-networkd unit: .netdev or .network.
	Network Kind = iota
	// Udev is a udev rule (.rules) that sets what networkd cannot.
	Udev
	// Link is a .link file: udev, not networkd, reads it when a NIC
	// appears, and renames the NIC (set-name). udev reads .link files from
	// the same directories networkd reads its units from (/etc, /run and
	// /usr/lib systemd/network), so a Link file goes to the layout's Network
	// directory; its own kind keeps it apart there, since what reads it and
	// when it takes effect (the NIC's next appearance, not networkd's next
	// start) differ.
	Link
)

// Layout says where each kind of file goes, relative to a root directory.
type Layout struct {
	Network string
	Udev    string
	// Wants is where systemd-networkd is enabled (systemctl enable's
	// symlinks).
	Wants string
}

// Persistent is the layout of an installed system: /etc, read on every boot.
var Persistent = Layout{Network: "etc/systemd/network", Udev: "etc/udev/rules.d", Wants: "etc/systemd/system"}

// Runtime is the layout of this boot only: /run, which an initramfs hands to
// the real root (systemctl --runtime).
var Runtime = Layout{Network: "run/systemd/network", Udev: "run/udev/rules.d", Wants: "run/systemd/system"}

// Dir is where the networkd units of the Persistent layout go.
const Dir = "etc/systemd/network"

// dir returns the directory of kind k in l: .link files go beside the
// networkd units, where udev reads them (in the Runtime layout too: udev
// reads /run/systemd/network, in the initramfs and in the real root).
func (l Layout) dir(k Kind) string {
	if k == Udev {
		return l.Udev
	}
	return l.Network
}

// Prefix starts the name of every file bondstrap owns. "10-" sorts before the
// distributions' defaults (such as 80-*.network and 99-default.link), so
// networkd applies bondstrap's files first; networkd applies only the first
// .network file that matches a link.
const Prefix = "10-bondstrap-"

// FallbackPrefix starts the name of the fallback's unit: "05-" sorts before
// every bond unit, so for this boot the NIC that got the fallback lease keeps
// it even where persisted units would make it a bond member.
const FallbackPrefix = "05-bondstrap-"

// ownedSuffixes are the files bondstrap writes and owns, by kind.
var ownedSuffixes = map[Kind][]string{Network: {".netdev", ".network"}, Udev: {".rules"}, Link: {".link"}}

// kinds are every Kind, in the order Write and Remove visit their
// directories.
var kinds = []Kind{Network, Link, Udev}

// ErrUnsafeValue is wrapped by the errors Render and RenderFallback return
// when a value would not survive a trip through a unit file: an empty value,
// a control character (a newline would start a new key), a backslash (a
// trailing one continues the line) or invalid UTF-8.
var ErrUnsafeValue = errors.New("unsafe value for a unit file")

// ErrBadName is wrapped by the errors Write returns for a file name that is
// not a plain base name owned by bondstrap.
var ErrBadName = errors.New("bad unit file name")

// owned reports whether a file name in the directory of kind k belongs to
// bondstrap: a file it wrote, or a temporary file a crashed Write left
// behind.
func owned(k Kind, name string) bool {
	if isTemp(name) {
		return true
	}
	prefix := Prefix
	if strings.HasPrefix(name, FallbackPrefix) {
		prefix = FallbackPrefix
	} else if !strings.HasPrefix(name, Prefix) {
		return false
	}
	for _, s := range ownedSuffixes[k] {
		if strings.HasSuffix(name, s) && len(name) > len(prefix)+len(s) {
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
	if !strings.HasPrefix(name, "."+Prefix) && !strings.HasPrefix(name, "."+FallbackPrefix) {
		return false
	}
	return strings.Contains(name, tempMarker)
}
