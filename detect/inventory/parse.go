package inventory

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// InventoryError reports bad inventory input: the file, the JSON path of the
// offending value (e.g. "interfaces[2].vendor_id", empty for the whole file)
// and what was expected. The CLI exits 2 on it (errors.As).
type InventoryError struct {
	File string
	Path string
	Msg  string
	// Err is the underlying error, if any (a read or JSON syntax error).
	Err error
}

// Error returns "FILE: PATH: MSG", leaving out an empty path.
func (e *InventoryError) Error() string {
	if e.Path == "" {
		return e.File + ": " + e.Msg
	}
	return e.File + ": " + e.Path + ": " + e.Msg
}

// Unwrap returns the underlying error.
func (e *InventoryError) Unwrap() error { return e.Err }

// Limits of an inventory, so that a runaway file cannot exhaust an
// early-boot machine's memory: the largest servers have a few hundred
// ports, and one NIC takes about 400 bytes of JSON.
const (
	// MaxNICs is the most interfaces an inventory may list.
	MaxNICs = 4096
	// MaxFileSize is the largest inventory file read, in bytes.
	MaxFileSize = 4 << 20
)

// LoadFile reads and parses the inventory JSON at path. A file that cannot
// be read is reported as an *InventoryError that wraps the os error.
func LoadFile(path string) (Inventory, error) {
	fail := func(err error) (Inventory, error) {
		msg := err.Error()
		var pe *os.PathError
		if errors.As(err, &pe) {
			msg = "cannot read: " + pe.Err.Error()
		}
		return Inventory{}, &InventoryError{File: path, Msg: msg, Err: err}
	}
	f, err := os.Open(path)
	if err != nil {
		return fail(err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return fail(err)
	}
	if len(data) > MaxFileSize {
		return Inventory{}, &InventoryError{File: path, Msg: fmt.Sprintf("larger than %d bytes: an inventory lists at most %d NICs", MaxFileSize, MaxNICs)}
	}
	return Parse(path, data)
}

// Parse decodes and validates inventory JSON as `bondstrap detect -o json`
// prints it; name is the file name used in errors. Unknown fields are
// rejected. MAC addresses are accepted in either case and returned in
// lowercase; an empty duplex becomes "unknown". Interfaces keep their order.
func Parse(name string, data []byte) (Inventory, error) {
	fail := func(path, format string, args ...any) (Inventory, error) {
		return Inventory{}, &InventoryError{File: name, Path: path, Msg: fmt.Sprintf(format, args...)}
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return fail("", "empty inventory: expected a JSON object with \"interfaces\"")
	}

	// encoding/json lets the last of two equal keys win; an inventory that
	// says two things about one NIC is wrong.
	if err := checkDuplicateKeys(data); err != nil {
		return Inventory{}, inventoryError(name, err, data)
	}

	// Decode in two steps so that errors inside an interface carry its
	// index: encoding/json reports neither for unknown fields.
	var top struct {
		Interfaces *[]json.RawMessage `json:"interfaces"`
	}
	if err := decodeStrict(data, &top); err != nil {
		return Inventory{}, jsonError(name, "", data, err)
	}
	if top.Interfaces == nil {
		return fail("interfaces", "required: a list of interfaces")
	}
	if n := len(*top.Interfaces); n > MaxNICs {
		return fail("interfaces", "lists %d interfaces: at most %d", n, MaxNICs)
	}

	inv := Inventory{Interfaces: make([]NIC, 0, len(*top.Interfaces))}
	seen := make(map[string]int)
	for i, raw := range *top.Interfaces {
		path := fmt.Sprintf("interfaces[%d]", i)
		var nic NIC
		if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
			return fail(path, "expected an object, got null")
		}
		if err := decodeStrict(raw, &nic); err != nil {
			return Inventory{}, jsonError(name, path, raw, err)
		}
		if err := validateNIC(&nic); err != nil {
			var fe fieldError
			errors.As(err, &fe)
			return fail(path+"."+fe.field, "%s", fe.msg)
		}
		if j, dup := seen[nic.Name]; dup {
			return fail(path+".name", "duplicate name %q (also interfaces[%d])", nic.Name, j)
		}
		seen[nic.Name] = i
		inv.Interfaces = append(inv.Interfaces, nic)
	}
	return inv, nil
}

// dupKeyError is a key that occurs twice in one JSON object.
type dupKeyError struct{ path string }

func (e dupKeyError) Error() string { return e.path + ": duplicate key" }

// checkDuplicateKeys walks the JSON tokens of data and reports the first key
// that repeats within an object. Syntax errors are left to the decoder.
func checkDuplicateKeys(data []byte) error {
	type frame struct {
		path   string
		keys   map[string]bool // nil for an array
		index  int             // next array index
		keyNow bool            // an object expects a key next
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var stack []*frame
	elemPath := func() string {
		if len(stack) == 0 {
			return ""
		}
		f := stack[len(stack)-1]
		if f.keys == nil {
			p := fmt.Sprintf("%s[%d]", f.path, f.index)
			f.index++
			return p
		}
		return f.path
	}
	var pending string // path of the value after the last key
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.keys != nil && top.keyNow {
			if key, ok := tok.(string); ok {
				p := key
				if top.path != "" {
					p = top.path + "." + key
				}
				if top.keys[key] {
					return dupKeyError{p}
				}
				top.keys[key] = true
				top.keyNow = false
				pending = p
				continue
			}
		}
		path := pending
		if top == nil || top.keys == nil {
			path = elemPath()
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{path: path, keys: map[string]bool{}, keyNow: true})
			continue
		case json.Delim('['):
			stack = append(stack, &frame{path: path})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		if len(stack) > 0 && stack[len(stack)-1].keys != nil {
			stack[len(stack)-1].keyNow = true
		}
	}
}

func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	// Decode stops after one value: anything but white space after it is junk.
	if rest := bytes.TrimSpace(data[dec.InputOffset():]); len(rest) > 0 {
		return fmt.Errorf("unexpected %q after the JSON value", string(rest[:min(len(rest), 10)]))
	}
	return nil
}

func inventoryError(file string, err error, data []byte) error {
	var de dupKeyError
	if errors.As(err, &de) {
		return &InventoryError{File: file, Path: de.path, Msg: "duplicate key"}
	}
	return jsonError(file, "", data, err)
}

// jsonError turns an encoding/json error into an InventoryError with a path.
func jsonError(file, path string, data []byte, err error) error {
	join := func(p, field string) string {
		switch {
		case p == "":
			return field
		case field == "":
			return p
		}
		return p + "." + field
	}
	var (
		se *json.SyntaxError
		te *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &se):
		line, col := position(data, se.Offset)
		return &InventoryError{File: file, Path: path, Err: err,
			Msg: fmt.Sprintf("invalid JSON at line %d, column %d: %s", line, col, se.Error())}
	case errors.As(err, &te):
		return &InventoryError{File: file, Path: join(path, te.Field), Err: err,
			Msg: fmt.Sprintf("expected %s, got JSON %s", jsonTypeName(te.Type.Kind().String()), te.Value)}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &InventoryError{File: file, Path: path, Err: err, Msg: "invalid JSON: unexpected end of input"}
	}
	msg := strings.TrimPrefix(err.Error(), "json: ")
	if f, ok := strings.CutPrefix(msg, "unknown field "); ok {
		if name, uerr := strconv.Unquote(f); uerr == nil {
			return &InventoryError{File: file, Path: join(path, name), Err: err, Msg: "unknown field"}
		}
	}
	return &InventoryError{File: file, Path: path, Err: err, Msg: msg}
}

func jsonTypeName(kind string) string {
	switch kind {
	case "int", "int64", "uint", "uint64":
		return "an integer"
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "slice":
		return "a list"
	case "struct", "map":
		return "an object"
	}
	return kind
}

func position(data []byte, offset int64) (line, col int) {
	if offset > int64(len(data)) {
		offset = int64(len(data))
	}
	before := data[:offset]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(offset) - (bytes.LastIndexByte(before, '\n') + 1)
	return line, col
}

type fieldError struct{ field, msg string }

func (e fieldError) Error() string { return e.field + ": " + e.msg }

var (
	hexID      = regexp.MustCompile(`^[0-9a-f]{4}$`)
	pciAddress = regexp.MustCompile(`^[0-9a-f]{4,8}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$`)
)

// IsPCIAddress reports whether s is a PCI address as sysfs and ethtool's bus
// info write it: lowercase DDDD:BB:DD.F ("0000:3b:00.0").
func IsPCIAddress(s string) bool { return pciAddress.MatchString(s) }

// IsPCIID reports whether s is one half of a PCI ID as lspci -n prints it:
// four lowercase hex digits ("8086").
func IsPCIID(s string) bool { return hexID.MatchString(s) }

var operStates = map[string]bool{
	"": true, "unknown": true, "not-present": true, "down": true,
	"lower-layer-down": true, "testing": true, "dormant": true, "up": true,
}

// validateNIC checks one interface and canonicalizes its MACs and duplex.
func validateNIC(n *NIC) error {
	bad := func(field, format string, args ...any) error {
		return fieldError{field, fmt.Sprintf(format, args...)}
	}
	if err := validIfname(n.Name); err != nil {
		return bad("name", "%v", err)
	}
	if n.MAC == "" {
		return bad("mac", "required: the NIC's MAC address, e.g. \"3c:fd:fe:00:00:01\"")
	}
	mac, err := canonicalMAC(n.MAC)
	if err != nil {
		return bad("mac", "%v", err)
	}
	n.MAC = mac
	if n.PermanentMAC != "" {
		if n.PermanentMAC, err = canonicalMAC(n.PermanentMAC); err != nil {
			return bad("permanent_mac", "%v", err)
		}
	}
	if n.PCIAddress != "" && !pciAddress.MatchString(n.PCIAddress) {
		return bad("pci_address", "%q is not a PCI address: expected lowercase DDDD:BB:DD.F, e.g. \"0000:3b:00.0\"", n.PCIAddress)
	}
	for _, id := range []struct{ field, v string }{{"vendor_id", n.VendorID}, {"device_id", n.DeviceID}} {
		if id.v != "" && !hexID.MatchString(id.v) {
			return bad(id.field, "%q is not a PCI ID: expected four lowercase hex digits, as lspci -n prints them (e.g. \"8086\")", id.v)
		}
	}
	if (n.VendorID == "") != (n.DeviceID == "") {
		missing := "device_id"
		if n.VendorID == "" {
			missing = "vendor_id"
		}
		return bad(missing, "required when %s is set: a PCI NIC has both IDs, a non-PCI NIC neither", map[string]string{"vendor_id": "device_id", "device_id": "vendor_id"}[missing])
	}
	if strings.ContainsFunc(n.Driver, func(r rune) bool { return r <= ' ' || r == '/' || r == 0x7f }) {
		return bad("driver", "%q is not a driver name", n.Driver)
	}
	if n.SpeedMbps < 0 {
		return bad("speed_mbps", "%d is negative: expected Mb/s, or 0 when unknown", n.SpeedMbps)
	}
	switch n.Duplex {
	case "":
		n.Duplex = DuplexUnknown
	case DuplexFull, DuplexHalf, DuplexUnknown:
	default:
		return bad("duplex", "%q: expected \"full\", \"half\" or \"unknown\"", n.Duplex)
	}
	if n.MTU != 0 && (n.MTU < 68 || n.MTU > 65535) {
		return bad("mtu", "%d is out of range: expected 68 to 65535, or 0 when unknown", n.MTU)
	}
	if n.Ifindex < 0 {
		return bad("ifindex", "%d is negative", n.Ifindex)
	}
	if !operStates[n.OperState] {
		return bad("operstate", "%q: expected one of up, down, lower-layer-down, dormant, testing, not-present, unknown", n.OperState)
	}
	switch n.Port {
	case "", "tp", "aui", "mii", "fibre", "bnc", "da", "none", "other":
	default:
		return bad("port", "%q: expected one of tp, fibre, da, aui, bnc, mii, none, other", n.Port)
	}
	if n.Master != "" {
		if err := validIfname(n.Master); err != nil {
			return bad("master", "%v", err)
		}
	}
	return nil
}

// validIfname applies the kernel's dev_valid_name rules.
func validIfname(s string) error {
	switch {
	case s == "":
		return errors.New("required: the interface name")
	case len(s) > 15:
		return fmt.Errorf("%q is longer than 15 bytes", s)
	case s == "." || s == "..":
		return fmt.Errorf("%q is not an interface name", s)
	case strings.ContainsAny(s, "/:") || strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		return fmt.Errorf("%q is not an interface name: no '/', ':' or white space", s)
	}
	return nil
}

// canonicalMAC accepts a 6-byte MAC written with colons, in either case,
// and returns it in lowercase.
func canonicalMAC(s string) (string, error) {
	hw, err := net.ParseMAC(s)
	if err != nil || len(hw) != 6 || len(s) != 17 || strings.Count(s, ":") != 5 {
		return "", fmt.Errorf("%q is not a MAC address: expected six colon-separated hex bytes, e.g. \"3c:fd:fe:00:00:01\"", s)
	}
	return hw.String(), nil
}
