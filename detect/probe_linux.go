package detect

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bondstrap/bondstrap/detect/inventory"

	"github.com/mdlayher/ethtool"
	"golang.org/x/sys/unix"
)

// Probe lists the NICs of the calling thread's network namespace, sorted by
// name: one rtnetlink link dump without statistics (names, MACs, permanent
// MACs, MTU, flags, carrier, master, parent device), two ethtool netlink
// dumps (speed and duplex; port type), one ETHTOOL_GDRVINFO ioctl per
// inventory.NIC (driver and bus address: there is no dump for it) and sysfs
// for the bus device and PCI vendor and device IDs (not read for a link
// that rtnetlink shows has no device).
//
// A inventory.NIC is listed with what is known: no speed without link, no PCI IDs for
// a non-PCI device, no speed at all on a kernel without ethtool netlink.
// Probe opens its sockets on the calling goroutine, so a caller that has
// locked its thread into a network namespace probes that namespace.
func Probe(ctx context.Context, opts Options) (inventory.Inventory, error) {
	log := opts.logger()
	includeVirtual := opts.IncludeVirtual
	start := time.Now()
	sys := sysfs{root: opts.root()}

	links, err := dumpLinks(ctx, log)
	if err != nil {
		return inventory.Inventory{}, err
	}

	type candidate struct {
		nicLink
		bus    busDevice
		sysErr error // why sysfs could not describe it, if it could not
	}
	parents := reportsParentDev()
	var cands []candidate
	for _, l := range links {
		switch {
		case l.Kind == "veth" && includeVirtual:
		case l.Kind != "":
			log.Debug("skip: not a physical NIC", "nic", l.Name, "kind", l.Kind)
			continue
		case l.ARPType != unix.ARPHRD_ETHER:
			log.Debug("skip: not Ethernet", "nic", l.Name, "arphrd", l.ARPType)
			continue
		}
		var bus busDevice
		var sysErr error
		if l.ParentDev != "" || !parents {
			bus, sysErr = sys.netDevice(l.Name, l.Index, l.MAC)
		}
		// Else the link has no parent device, so sysfs has no "device"
		// link for it and would say what bus already says: no bus device.
		// Not reading it saves three system calls per virtual link.
		if l.Kind == "" && l.ParentDev == "" && bus.Subsystem == "" {
			// Kernels before 5.14 send no IFLA_PARENT_DEV_NAME; then sysfs
			// decides, when it shows this namespace's interface.
			log.Debug("skip: no bus device", "nic", l.Name, "sysfs", errString(sysErr))
			continue
		}
		cands = append(cands, candidate{nicLink: l, bus: bus, sysErr: sysErr})
	}

	if len(cands) == 0 {
		log.Debug("probe done: no NICs", "links", len(links), "took", time.Since(start))
		return inventory.Inventory{Interfaces: []inventory.NIC{}}, nil
	}

	ifis := make([]ethtool.Interface, len(cands))
	for i, c := range cands {
		ifis[i] = ethtool.Interface{Index: c.Index, Name: c.Name}
	}
	et, err := newEthtool(ctx, log)
	if err != nil {
		return inventory.Inventory{}, err
	}
	defer et.close()
	modes, err := et.linkModes(ctx, log, ifis)
	if err != nil {
		return inventory.Inventory{}, err
	}
	infos, err := et.linkInfos(ctx, log, ifis)
	if err != nil {
		return inventory.Inventory{}, err
	}

	drv, err := newDrvinfo()
	if err != nil {
		return inventory.Inventory{}, err
	}
	defer drv.close()

	inv := inventory.Inventory{Interfaces: make([]inventory.NIC, 0, len(cands))}
	for _, c := range cands {
		if err := ctx.Err(); err != nil {
			return inventory.Inventory{}, err
		}
		a := c.nicLink
		nic := inventory.NIC{
			Name:         a.Name,
			Ifindex:      a.Index,
			MAC:          a.MAC,
			PermanentMAC: a.PermMAC,
			MTU:          a.MTU,
			AdminUp:      a.Up,
			OperState:    a.OperState,
			Carrier:      a.Carrier,
			Master:       a.Master,
			Duplex:       inventory.DuplexUnknown,
		}
		if nic.PermanentMAC == "" && a.PortPermMAC != "" {
			// A bond gave its port its own MAC; the one the NIC had
			// before is what identifies it (and what the bond gives back).
			nic.MAC = a.PortPermMAC
		}
		driver, busInfo, err := drv.get(a.Name)
		if err != nil {
			log.Debug("no driver info", "nic", a.Name, "err", err)
		}
		nic.Driver = cmp.Or(driver, c.bus.Driver)
		identifyPCI(log, sys, &nic, c.bus, c.sysErr, a.ParentBus, a.ParentDev, busInfo)

		if m := modes[a.Index]; m != nil {
			speed, duplex := normalizeSpeed(int64(m.SpeedMegabits)), normalizeDuplex(int(m.Duplex))
			if nic.Carrier {
				nic.SpeedMbps, nic.Duplex = speed, duplex
			} else if speed != 0 {
				// veth, virtio and some PHYs report a speed with no link: a
				// guess the selection must not trust.
				log.Debug("speed ignored: no carrier", "nic", a.Name, "reported_mbps", speed)
			}
		}
		if li := infos[a.Index]; li != nil {
			nic.Port = portName(li.Port)
		}
		log.Debug("nic", "nic", nic.Name, "pci", nic.PCIAddress, "id", nic.PCIID(), "driver", nic.Driver,
			"speed_mbps", nic.SpeedMbps, "carrier", nic.Carrier)
		inv.Interfaces = append(inv.Interfaces, nic)
	}
	slices.SortFunc(inv.Interfaces, func(x, y inventory.NIC) int { return cmp.Compare(x.Name, y.Name) })
	log.Debug("probe done", "nics", len(inv.Interfaces), "links", len(links), "took", time.Since(start))
	return inv, nil
}

// identifyPCI fills in the PCI address and IDs. sysfs describes the inventory.NIC
// when /sys/class/net shows this namespace's interface; otherwise (a probe
// inside a network namespace) the PCI address comes from rtnetlink's parent
// device or, for virtio, from the driver's bus info, and the IDs from
// /sys/bus/pci, which is not namespaced.
func identifyPCI(log *slog.Logger, sys sysfs, nic *inventory.NIC, bus busDevice, sysErr error, parentBus, parentDev, busInfo string) {
	if sysErr == nil {
		nic.PCIAddress, nic.VendorID, nic.DeviceID = bus.PCIAddress, bus.VendorID, bus.DeviceID
		return
	}
	if !errors.Is(sysErr, fs.ErrNotExist) && !errors.Is(sysErr, errOtherNamespace) {
		log.Debug("sysfs", "nic", nic.Name, "err", sysErr)
	}
	addr := ""
	switch {
	case parentBus == "pci":
		addr = parentDev
	case inventory.IsPCIAddress(busInfo):
		addr = busInfo
	default:
		return
	}
	vendor, device, err := sys.pciIDs(addr)
	if err != nil {
		log.Debug("no PCI IDs", "nic", nic.Name, "pci", addr, "err", err)
		return
	}
	nic.PCIAddress, nic.VendorID, nic.DeviceID = addr, vendor, device
}

// drvinfo asks for ETHTOOL_GDRVINFO through one socket of the calling
// thread's network namespace.
type drvinfo struct{ fd int }

func newDrvinfo() (drvinfo, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return drvinfo{}, fmt.Errorf("ethtool ioctl socket: %w", err)
	}
	return drvinfo{fd: fd}, nil
}

func (d drvinfo) close() { unix.Close(d.fd) }

// get returns the driver name and bus info ("0000:00:03.0" for PCI and
// virtio-pci, "usb-0000:00:14.0-1" for USB, "" for veth).
func (d drvinfo) get(name string) (driver, busInfo string, err error) {
	info, err := unix.IoctlGetEthtoolDrvinfo(d.fd, name)
	if err != nil {
		return "", "", fmt.Errorf("ETHTOOL_GDRVINFO %s: %w", name, err)
	}
	return unix.ByteSliceToString(info.Driver[:]), unix.ByteSliceToString(info.Bus_info[:]), nil
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// reportsParentDev reports whether the running kernel names a link's parent
// device in rtnetlink's IFLA_PARENT_DEV_NAME (Linux 5.14 and later). It
// sends it exactly when the device has a parent, which is when sysfs gives
// the interface a "device" link.
func reportsParentDev() bool {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return false
	}
	return releaseAtLeast(unix.ByteSliceToString(u.Release[:]), 5, 14)
}

// releaseAtLeast reports whether a kernel release ("6.1.0-28-amd64")
// is major.minor or later; false when it does not parse.
func releaseAtLeast(release string, major, minor int) bool {
	maj, rest, ok := strings.Cut(release, ".")
	if !ok {
		return false
	}
	minStr := rest
	if i := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' }); i >= 0 {
		minStr = rest[:i]
	}
	ma, err1 := strconv.Atoi(maj)
	mi, err2 := strconv.Atoi(minStr)
	if err1 != nil || err2 != nil {
		return false
	}
	return ma > major || ma == major && mi >= minor
}
