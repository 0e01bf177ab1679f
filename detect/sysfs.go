package detect

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/bondstrap/bondstrap/detect/inventory"
)

// sysfs reads inventory.NIC identity from a sysfs tree rooted at root ("/sys", or a
// fake tree in tests).
//
// /sys/class/net shows the interfaces of the network namespace that mounted
// sysfs, not necessarily the caller's: every lookup by interface name is
// checked against the ifindex and MAC rtnetlink gave (a namespace's ifindexes
// start at 1 again, so the ifindex alone can collide).
type sysfs struct {
	root string
}

// busDevice is what sysfs says about the device behind a network interface.
type busDevice struct {
	// Subsystem is the bus of the device the interface's "device" link
	// points at ("pci", "virtio", "usb", "platform"); empty for a virtual
	// interface.
	Subsystem string
	// Driver is the driver bound to that device ("i40e", "virtio_net").
	Driver string
	// PCIAddress, VendorID and DeviceID identify the PCI function that is
	// the inventory.NIC; empty when the inventory.NIC is not a PCI device.
	PCIAddress string
	VendorID   string
	DeviceID   string
}

// errOtherNamespace reports that /sys/class/net/NAME belongs to another
// network namespace's interface of the same name.
var errOtherNamespace = errors.New("sysfs entry belongs to another network namespace")

// netDevice describes the device behind interface name, which rtnetlink
// reported with ifindex and MAC mac ("" when it has none). It returns an
// error matching fs.ErrNotExist when
// sysfs has no such interface, errOtherNamespace when the name belongs to
// another namespace's interface, and a zero busDevice for a virtual
// interface (no "device" link).
func (s sysfs) netDevice(name string, ifindex int, mac string) (busDevice, error) {
	dir := filepath.Join(s.root, "class", "net", name)
	idx, err := readInt(filepath.Join(dir, "ifindex"))
	if err != nil {
		return busDevice{}, err
	}
	if idx != ifindex {
		return busDevice{}, fmt.Errorf("%s: ifindex %d, want %d: %w", dir, idx, ifindex, errOtherNamespace)
	}
	b, err := readSmall(filepath.Join(dir, "address"))
	if err != nil {
		return busDevice{}, err
	}
	if got := strings.TrimSpace(string(b)); got != mac && !(mac == "" && strings.Trim(got, "0:") == "") {
		return busDevice{}, fmt.Errorf("%s: address %s, want %s: %w", dir, got, mac, errOtherNamespace)
	}
	// One readlink tells a virtual interface (no device link) from a
	// device, where resolving the whole path with filepath.EvalSymlinks
	// costs a dozen lstats. The kernel follows the device link in the
	// paths below; sysfs's device links point at the device's own
	// directory, so the link's last element names it.
	dev := filepath.Join(dir, "device")
	target, err := os.Readlink(dev)
	if errors.Is(err, fs.ErrNotExist) {
		return busDevice{}, nil
	}
	if err != nil || !isName(filepath.Base(target)) {
		// Not a symlink after all (a copied tree): resolve it the long way.
		if dev, err = filepath.EvalSymlinks(dev); err != nil {
			return busDevice{}, err
		}
		target = dev
	}
	bd := busDevice{
		Subsystem: linkBase(filepath.Join(dev, "subsystem")),
		Driver:    linkBase(filepath.Join(dev, "driver")),
	}

	// The device link of a virtio inventory.NIC points at the virtio device
	// (vendor/device files there say 1af4:0001, a virtio device ID); the
	// PCI function is its parent, when it sits on virtio-pci at all. Any
	// other bus (USB, platform) is not a PCI inventory.NIC even if a PCI controller
	// is further up the tree, so there is no walking further.
	pciDir, pciAddr := "", ""
	switch bd.Subsystem {
	case "pci":
		pciDir, pciAddr = dev, filepath.Base(target)
	case "virtio":
		// The parent's name is needed: resolve the path.
		if dev, err = filepath.EvalSymlinks(dev); err != nil {
			return bd, err
		}
		if parent := filepath.Dir(dev); linkBase(filepath.Join(parent, "subsystem")) == "pci" {
			pciDir, pciAddr = parent, filepath.Base(parent)
		}
	}
	if pciDir != "" {
		bd.PCIAddress = pciAddr
		if bd.VendorID, bd.DeviceID, err = readPCIIDs(pciDir); err != nil {
			return bd, err
		}
	}
	return bd, nil
}

// isName reports whether elem, the last element of a path, names a
// directory entry rather than "." or "..".
func isName(elem string) bool {
	return elem != "." && elem != ".." && elem != string(filepath.Separator)
}

// pciIDs returns the vendor and device IDs of the PCI function at addr
// ("0000:00:03.0"). /sys/bus/pci is not namespaced, so this works for a inventory.NIC
// whose /sys/class/net entry is not visible from here.
func (s sysfs) pciIDs(addr string) (vendor, device string, err error) {
	if !inventory.IsPCIAddress(addr) {
		return "", "", fmt.Errorf("%q is not a PCI address", addr)
	}
	return readPCIIDs(filepath.Join(s.root, "bus", "pci", "devices", addr))
}

func readPCIIDs(dir string) (vendor, device string, err error) {
	if vendor, err = readHexID(filepath.Join(dir, "vendor")); err != nil {
		return "", "", err
	}
	if device, err = readHexID(filepath.Join(dir, "device")); err != nil {
		return "", "", err
	}
	return vendor, device, nil
}

// readHexID reads a sysfs PCI ID ("0x8086\n") as four lowercase hex digits.
func readHexID(path string) (string, error) {
	b, err := readSmall(path)
	if err != nil {
		return "", err
	}
	id, err := normalizeHexID(string(b))
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return id, nil
}

// normalizeHexID turns sysfs's "0x8086" into "8086".
func normalizeHexID(s string) (string, error) {
	s = strings.TrimSpace(s)
	h, ok := strings.CutPrefix(strings.ToLower(s), "0x")
	if !ok || !inventory.IsPCIID(h) {
		return "", fmt.Errorf("malformed PCI ID %q: want 0x and four hex digits", s)
	}
	return h, nil
}

func readInt(path string) (int, error) {
	b, err := readSmall(path)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return n, nil
}

// linkBase returns the last element of the symlink target at path, or ""
// when there is no such link (an unbound device has no driver link).
func linkBase(path string) string {
	t, err := os.Readlink(path)
	if err != nil {
		return ""
	}
	return filepath.Base(t)
}

// maxAttr bounds what readSmall reads: the sysfs attributes read here (an
// ifindex, a MAC address, a PCI ID) are a few dozen bytes.
const maxAttr = 256

// readSmall reads a small sysfs attribute with one read, where os.ReadFile
// also stats the file and reads again to see the end: sysfs hands out an
// attribute whole in one read. A file that fills the buffer is an error.
func readSmall(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, maxAttr)
	n, err := f.Read(buf)
	if err != nil && err != io.EOF {
		return nil, err
	}
	if n == len(buf) {
		return nil, fmt.Errorf("%s: longer than %d bytes", path, maxAttr-1)
	}
	return buf[:n], nil
}
