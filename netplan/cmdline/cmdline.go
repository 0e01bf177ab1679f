// Package cmdline reads bondstrap's configuration from a kernel command
// line: where the config is (bondstrap.config=, a path or an http(s) URL,
// with bondstrap.config-sha256= to pin it), where the report goes
// (bondstrap.report-url=), which NIC the machine booted from by PXE
// (BOOTIF=, rd.bootif=0), and dracut's network options (bond=, ip=, vlan=,
// bridge=, nameserver=), which NetworkConfig turns into a netplan config
// checked by the same validator as a file, each error naming the option it
// came from.
//
// docs/boot.md says what each option means and which source wins when
// several are given. The package is pure: it imports nothing that touches
// the kernel.
package cmdline

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/bondstrap/bondstrap/netplan"
)

// File is how errors name the kernel command line (netplan.Error.File).
const File = "kernel command line"

// bondstrap's own keys.
const (
	KeyConfig       = "bondstrap.config"
	KeyConfigSHA256 = "bondstrap.config-sha256"
	KeyReportURL    = "bondstrap.report-url"
	// KeyLog and KeyLogTarget are read by the CLI (the log level, and
	// where the log goes); listed so they are not reported as unknown.
	KeyLog       = "bondstrap.log"
	KeyLogTarget = "bondstrap.log-target"
)

// dracut's network options NetworkConfig reads.
var networkKeys = []string{"bond", "ip", "vlan", "bridge", "nameserver"}

// ignoredKeys are dracut network options bondstrap does not read, and why
// that matters to someone who gave them.
var ignoredKeys = map[string]string{
	"ifname":      "bondstrap does not rename NICs from the command line; name bond members by their kernel names, bootif or a MAC (aa-bb-cc-dd-ee-ff)",
	"rd.route":    "bondstrap adds no static routes from the command line; use a config file for routes",
	"bootdev":     "bondstrap takes no boot device: ip= names its interface",
	"rd.peerdns":  "bondstrap always uses the DNS servers a DHCP lease gives",
	"team":        "bondstrap builds bonds, not teams",
	"rd.ibft":     "bondstrap does not read iSCSI firmware tables",
	"biosdevname": "bondstrap does not rename NICs",
}

// Boot is what a kernel command line says to bondstrap.
type Boot struct {
	// Config is bondstrap.config=: an absolute path, or an http:// URL
	// (https:// is refused: see urlProblem); "" when not given.
	Config string
	// ConfigSHA256 is bondstrap.config-sha256=, the config's SHA-256 in
	// lowercase hex; "" when not given.
	ConfigSHA256 string
	// ReportURL is bondstrap.report-url=, an http:// URL; "" when not
	// given.
	ReportURL string
	// BootIF is the MAC of the NIC the machine booted from by PXE
	// (BOOTIF=), nil when there is none or rd.bootif=0 turns it off.
	BootIF net.HardwareAddr
	// NeedNet is rd.neednet, nil when not given. bondstrap brings the
	// network up whenever it runs; an initramfs hook may read it.
	NeedNet *bool
	// Warnings are problems that do not stop a run: keys given twice,
	// unknown bondstrap keys.
	Warnings []string

	network []word // dracut's network options, in order
	ignored []word // dracut network options bondstrap does not read
}

// word is one option of the command line.
type word struct {
	key, value string
	// text is the option as written, quotes removed.
	text string
	// bare is set for an option without '=' ("bond").
	bare bool
	// pos is its index among the options.
	pos int
}

// Parse reads a kernel command line (/proc/cmdline's text). Options are
// separated by white space; double quotes keep white space in a value, as
// the kernel reads them; "--" ends the kernel's options (what follows is
// init's). For a key given more than once the last value counts, except
// the dracut options that may repeat (ip=, nameserver=, bond=, vlan=,
// bridge=). Other keys are not looked at.
//
// Only bondstrap's keys and BOOTIF= are checked here; the errors are a
// netplan.ErrorList naming File and the option. dracut's network options
// are read by NetworkConfig, when they are the config.
func Parse(line string) (*Boot, error) {
	b := &Boot{}
	var errs netplan.ErrorList
	fail := func(w word, format string, args ...any) {
		errs = append(errs, &netplan.Error{File: File, Path: w.text, Msg: fmt.Sprintf(format, args...)})
	}
	seen := map[string]word{}
	once := func(w word) {
		if prev, ok := seen[w.key]; ok && prev.value != w.value {
			b.Warnings = append(b.Warnings, fmt.Sprintf("%s is given more than once: %s counts, %s is ignored", w.key, w.text, prev.text))
		}
		seen[w.key] = w
	}
	bootIF, bootIFOn := word{}, true
	for _, w := range splitWords(line) {
		isOurs := strings.HasPrefix(w.key, "bondstrap.") || w.key == "BOOTIF" || slices.Contains(networkKeys, w.key)
		if bad := badText(w.text); bad != "" && isOurs {
			// Values end up in unit files and logs, which do not escape.
			errs = append(errs, &netplan.Error{File: File, Path: strconv.QuoteToASCII(w.text), Msg: bad})
			continue
		}
		switch {
		case w.key == KeyConfig:
			once(w)
			b.Config = ""
			if why := configProblem(w.value); why != "" {
				fail(w, "%s", why)
				continue
			}
			b.Config = w.value
		case w.key == KeyConfigSHA256:
			once(w)
			sum, err := hex.DecodeString(w.value)
			if err != nil || len(sum) != 32 {
				fail(w, "expected the config's SHA-256 as 64 hex digits (what sha256sum prints)")
				continue
			}
			b.ConfigSHA256 = hex.EncodeToString(sum)
		case w.key == KeyReportURL:
			once(w)
			if why := urlProblem(w.value); why != "" {
				fail(w, "%s", why)
				continue
			}
			b.ReportURL = w.value
		case w.key == KeyLog || w.key == KeyLogTarget:
		case strings.HasPrefix(w.key, "bondstrap."):
			b.Warnings = append(b.Warnings, fmt.Sprintf("%s: unknown bondstrap option, ignored (bondstrap reads %s)", w.text,
				strings.Join([]string{KeyConfig, KeyConfigSHA256, KeyReportURL, KeyLog, KeyLogTarget}, ", ")))
		case w.key == "BOOTIF":
			once(w)
			bootIF = w
		case w.key == "rd.bootif":
			bootIFOn = boolValue(w)
		case w.key == "rd.neednet":
			v := boolValue(w)
			b.NeedNet = &v
		case slices.Contains(networkKeys, w.key):
			b.network = append(b.network, w)
		default:
			if _, ok := ignoredKeys[w.key]; ok {
				b.ignored = append(b.ignored, w)
			}
		}
	}
	if bootIF.key != "" {
		mac, err := ParseBootIF(bootIF.value)
		switch {
		case err != nil:
			fail(bootIF, "%v", err)
		case bootIFOn:
			b.BootIF = mac
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return b, nil
}

// HasNetwork reports whether the command line gives any of dracut's
// network options that NetworkConfig reads.
func (b *Boot) HasNetwork() bool { return len(b.network) > 0 }

// NetworkOptions are dracut's network options as written, in order: what
// a config file or URL makes bondstrap ignore.
func (b *Boot) NetworkOptions() []string {
	out := make([]string, len(b.network))
	for i, w := range b.network {
		out[i] = w.text
	}
	return out
}

// ParseBootIF reads BOOTIF='s value as pxelinux writes it: the ARP
// hardware type 01 (Ethernet) and the MAC, separated by dashes
// (01-aa-bb-cc-dd-ee-ff); the MAC alone, with dashes or colons, is taken
// too.
func ParseBootIF(s string) (net.HardwareAddr, error) {
	const want = "expected the PXE boot NIC as pxelinux writes it, 01-aa-bb-cc-dd-ee-ff"
	sep := "-"
	if !strings.Contains(s, sep) {
		sep = ":"
	}
	parts := strings.Split(s, sep)
	if len(parts) == 7 {
		if parts[0] != "01" {
			return nil, fmt.Errorf("hardware type %q is not Ethernet (01): %s", parts[0], want)
		}
		parts = parts[1:]
	}
	if len(parts) != 6 {
		return nil, fmt.Errorf("%q: %s", s, want)
	}
	// ParseMAC takes exactly two hex digits a byte in this form.
	mac, err := net.ParseMAC(strings.Join(parts, ":"))
	if err != nil || len(mac) != 6 {
		return nil, fmt.Errorf("%q: %s", s, want)
	}
	if mac[0]&1 == 1 || mac.String() == "00:00:00:00:00:00" {
		return nil, fmt.Errorf("%s is not a NIC's address (multicast or all zeros): %s", mac, want)
	}
	return mac, nil
}

// Lookup returns the value of key on the command line line, as Parse reads
// the line (white space, double quotes, "--"): the last one given; "" when
// the key is absent or has no value. It checks nothing: the CLI reads its
// log settings with it before anything else, and a bad network option must
// not cost the log.
func Lookup(line, key string) string {
	v := ""
	for _, w := range splitWords(line) {
		if w.key == key {
			v = w.value
		}
	}
	return v
}

// splitWords splits a command line into options as the kernel does:
// white space separates them, double quotes group, and are removed.
func splitWords(line string) []word {
	var out []word
	var cur strings.Builder
	quoted, started := false, false
	flush := func() {
		if !started {
			return
		}
		text := cur.String()
		cur.Reset()
		started = false
		k, v, eq := strings.Cut(text, "=")
		out = append(out, word{key: k, value: v, text: text, bare: !eq, pos: len(out)})
	}
	for _, r := range line {
		switch {
		case r == '"':
			quoted = !quoted
			started = true
		case !quoted && (r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\v' || r == '\f'):
			if started && cur.String() == "--" {
				return out // init's arguments follow
			}
			flush()
		default:
			cur.WriteRune(r)
			started = true
		}
	}
	if started && cur.String() == "--" {
		return out
	}
	flush()
	return out
}

// badText says why an option cannot be read, or returns "": it has a
// control character, or is not UTF-8.
func badText(s string) string {
	if !utf8.ValidString(s) {
		return "is not valid UTF-8"
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 {
			return "contains a control character"
		}
	}
	return ""
}

// boolValue reads a dracut boolean: a bare key, or any value but 0, no
// and off, is true.
func boolValue(w word) bool {
	if w.bare {
		return true
	}
	switch strings.ToLower(w.value) {
	case "0", "no", "off", "false":
		return false
	}
	return true
}

// IsURL reports whether a bondstrap.config= value is a URL (http://, or
// https://, which the checks refuse) rather than a path.
func IsURL(config string) bool {
	return strings.HasPrefix(config, "http://") || strings.HasPrefix(config, "https://")
}

// configProblem says what is wrong with a bondstrap.config= value.
func configProblem(v string) string {
	switch {
	case v == "":
		return "has no value: expected an absolute path or an http:// URL"
	case strings.Contains(v, "://") && !IsURL(v):
		scheme, _, _ := strings.Cut(v, "://")
		return fmt.Sprintf("the scheme %s is not supported: expected an absolute path or an http:// URL", scheme)
	case IsURL(v):
		return urlProblem(v)
	case !path.IsAbs(v):
		return "is a relative path: on the kernel command line the config's path is absolute"
	}
	return ""
}

// CheckURL says what is wrong with an http:// URL bondstrap is to fetch
// from or post to (a --report-url flag), or returns nil.
func CheckURL(v string) error {
	if why := urlProblem(v); why != "" {
		return errors.New(why)
	}
	return nil
}

// urlProblem says what is wrong with an http(s) URL.
func urlProblem(v string) string {
	u, err := url.Parse(v)
	switch {
	case v == "":
		return "has no value: expected an http:// URL"
	case err != nil:
		return fmt.Sprintf("is not a URL: %v", err)
	case u.Scheme == "https":
		return "https is not supported: bondstrap speaks plain HTTP, to stay small in the initramfs " +
			"(TLS would more than double its size); serve it over http:// and pin the config with bondstrap.config-sha256="
	case u.Scheme != "http":
		return "expected an http:// URL"
	case u.Host == "":
		return "the URL has no host"
	}
	return ""
}
