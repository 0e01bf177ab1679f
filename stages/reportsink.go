package stages

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/bondstrap/bondstrap/netplan/cmdline"
	"github.com/bondstrap/bondstrap/units"
)

// Where the report goes besides ReportPath: a fleet's collector
// (bondstrap.report-url=), and the target root, where it outlives the
// initramfs and /run.

// DefaultReportTimeout bounds posting the report when Options.ReportTimeout
// is zero.
const DefaultReportTimeout = 5 * time.Second

// TargetReportPath is where the report is copied under Options.Root.
const TargetReportPath = "var/lib/bondstrap/report.json"

// maxCollectorReply is the longest reply the collector may send (it is
// read and thrown away).
const maxCollectorReply = 64 << 10

// MachineInfo says which machine a report comes from, what a fleet's
// collector files it under. Every field is best effort: an initramfs may
// have no machine-id yet, some machines no DMI serials.
type MachineInfo struct {
	Hostname string `json:"hostname,omitempty"`
	// MachineID is /etc/machine-id of the target root, else of the
	// running system.
	MachineID string `json:"machine_id,omitempty"`
	BootID    string `json:"boot_id,omitempty"`
	// The SMBIOS identity (/sys/class/dmi/id): sys_vendor, product_name,
	// product_serial, product_uuid, board_serial.
	Vendor      string `json:"vendor,omitempty"`
	Product     string `json:"product,omitempty"`
	Serial      string `json:"serial,omitempty"`
	UUID        string `json:"uuid,omitempty"`
	BoardSerial string `json:"board_serial,omitempty"`
	// BootMAC is the MAC the firmware booted from over the network, as
	// PXELINUX and iPXE pass it (BOOTIF=01-aa-bb-cc-dd-ee-ff).
	BootMAC string `json:"boot_mac,omitempty"`
}

// machineSources are where MachineInfo is read from: "/" and the target
// root on a machine; a directory tree in tests.
type machineSources struct {
	// System is the running system's root (its /sys, /proc, /etc).
	System string
	// Target is the root the machine boots into.
	Target string
}

// readMachineInfo gathers what is there of the machine's identity.
func readMachineInfo(src machineSources) *MachineInfo {
	read := func(root, name string) string {
		b, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(b))
	}
	dmi := func(name string) string { return read(src.System, "sys/class/dmi/id/"+name) }
	m := &MachineInfo{
		Hostname:    read(src.System, "proc/sys/kernel/hostname"),
		MachineID:   read(src.Target, "etc/machine-id"),
		BootID:      read(src.System, "proc/sys/kernel/random/boot_id"),
		Vendor:      dmi("sys_vendor"),
		Product:     dmi("product_name"),
		Serial:      dmi("product_serial"),
		UUID:        dmi("product_uuid"),
		BoardSerial: dmi("board_serial"),
		BootMAC:     bootMAC(read(src.System, "proc/cmdline")),
	}
	if m.MachineID == "" {
		m.MachineID = read(src.System, "etc/machine-id")
	}
	return m
}

// bootMAC reads BOOTIF= (pxelinux's 01-aa-bb-cc-dd-ee-ff, as
// cmdline.ParseBootIF takes it) from a kernel command line, the last one
// given; "" when absent or malformed.
func bootMAC(line string) string {
	mac := ""
	for _, w := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(w, "BOOTIF="); ok {
			mac = ""
			if hw, err := cmdline.ParseBootIF(v); err == nil {
				mac = hw.String()
			}
		}
	}
	return mac
}

// describeMachine completes the report for a fleet: which machine, and its
// NIC inventory when detect did not record one (a run that failed early,
// whose fallback probed the NICs).
func (s *state) describeMachine() {
	s.rep.Machine = readMachineInfo(machineSources{System: "/", Target: s.opts.Root})
	if s.rep.Inventory == nil && len(s.inv.Interfaces) > 0 {
		s.rep.Inventory = &s.inv
	}
}

// publishReport sends the encoded report where Options say besides
// ReportPath: a copy under the target root, and a POST to the collector.
// Neither may hold up the boot or fail the run: a failure is a warning,
// in the log and in the summary (the report already written cannot say
// it).
func (s *state) publishReport(ctx context.Context, data []byte) {
	target := filepath.Join(s.opts.Root, TargetReportPath)
	if s.opts.Layout == units.Runtime {
		// From an initramfs: the real root is not mounted yet. The booted
		// system copies the report out of /run, which it is handed.
		var made []string
		if err := s.op("making the booted system keep the report in "+units.KeptReportPath, func() error {
			var err error
			made, err = units.KeepReport(s.opts.RuntimeRoot, s.opts.ReportPath)
			return err
		}); err != nil {
			s.warn("the booted system will not copy the report into "+units.KeptReportPath+"; it stays in "+s.opts.ReportPath+" for this boot",
				"error", err)
		}
		for _, m := range made {
			s.note("written", "path", m)
		}
	} else if s.rep.PersistError != "" {
		// Said already: the root takes no files.
		s.note("the report is not copied into the target root, which took no units", "path", target)
	} else if err := s.op("copying the report to "+target, func() error {
		return CopyReport(s.opts.Root, data)
	}); err != nil {
		s.warn("the report was not copied into the target root; it stays in "+s.opts.ReportPath+" for this boot",
			"path", target, "error", err)
	}
	if s.opts.ReportURL == "" {
		return
	}
	timeout := cmp.Or(s.opts.ReportTimeout, DefaultReportTimeout)
	// On the run's clock, as the deadline is; contexts run on the real one.
	left := s.deadline.Sub(s.now())
	if left <= 0 {
		s.warn("the report was not sent: the run's deadline has passed", "url", redactURL(s.opts.ReportURL))
		return
	}
	pctx, cancel := context.WithTimeout(ctx, min(timeout, left))
	defer cancel()
	if err := s.op("sending the report to "+redactURL(s.opts.ReportURL), func() error {
		return postReport(pctx, s.opts.ReportURL, data)
	}); err != nil {
		s.warn("the report was not sent to the collector", "url", redactURL(s.opts.ReportURL), "error", err)
	}
}

// copyReport writes data to TargetReportPath under root, atomically (a
// temporary file synced and renamed), 0644. The directories are made
// through an os.Root, so no symbolic link leads the copy out of the target
// root.
func CopyReport(root string, data []byte) error {
	r, err := os.OpenRoot(root)
	if err != nil {
		return err
	}
	defer r.Close()
	if err := r.MkdirAll(path.Dir(TargetReportPath), 0o755); err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(root, TargetReportPath), data, 0o644)
}

// postReport POSTs the report as JSON to rawURL within ctx, with
// bondstrap's small HTTP client (httpmini.go: plain http only). Only a 2xx
// reply counts as delivered. A URL with credentials is refused before
// anything is sent, so they are in no log line.
func postReport(ctx context.Context, rawURL string, data []byte) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return errors.New("the report URL does not parse")
	}
	if u.User != nil {
		return fmt.Errorf("report URL %s: credentials in the URL are not supported", u.Redacted())
	}
	_, err = httpRequest(ctx, nil, "POST", rawURL, "application/json", data, maxCollectorReply)
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("no reply in time: %w", err)
	}
	return err
}

// redactURL hides a password in a URL before it is logged.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
