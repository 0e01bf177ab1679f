package stages

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bondstrap/bondstrap/detect/inventory"
	"github.com/bondstrap/bondstrap/netplan"
	"github.com/bondstrap/bondstrap/units"
)

// collector is a fleet's report collector: it keeps what it was sent, and
// can be told to answer with a status or not at all.
type collector struct {
	*httptest.Server
	mu      sync.Mutex
	bodies  [][]byte
	headers []http.Header
	status  int
	hang    bool
	release chan struct{}
}

func newCollector(t *testing.T) *collector {
	c := &collector{status: http.StatusNoContent, release: make(chan struct{})}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		c.mu.Lock()
		c.bodies = append(c.bodies, body)
		h := r.Header.Clone()
		h.Set("X-Method", r.Method)
		h.Set("X-URI", r.URL.RequestURI())
		c.headers = append(c.headers, h)
		hang, status := c.hang, c.status
		c.mu.Unlock()
		if hang {
			select {
			case <-r.Context().Done():
			case <-c.release:
			}
			return
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(func() {
		close(c.release)
		c.Close()
	})
	return c
}

func (c *collector) received() ([][]byte, []http.Header) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bodies, c.headers
}

// sinkState is a run at its report stage: the run's clock is the real
// one, its deadline in left, its root a temporary directory.
func sinkState(t *testing.T, url string, timeout, left time.Duration) (*state, *bytes.Buffer) {
	var log bytes.Buffer
	l := slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{ReplaceAttr: dropTime}))
	s := &state{
		opts: Options{Root: t.TempDir(), ReportPath: "/run/bondstrap/report.json", ReportURL: url, ReportTimeout: timeout,
			Now: time.Now},
		base: l, log: l, rep: &Report{},
	}
	s.deadline = time.Now().Add(left)
	return s, &log
}

// The report goes to the collector as it is, POSTed as JSON, and into the
// target root.
func TestPublishReport(t *testing.T) {
	c := newCollector(t)
	s, log := sinkState(t, c.URL+"/reports?site=a", time.Second, time.Minute)
	data := []byte(`{"version": 1, "outcome": "ok"}` + "\n")
	s.publishReport(context.Background(), data)
	bodies, headers := c.received()
	if len(bodies) != 1 || !bytes.Equal(bodies[0], data) {
		t.Fatalf("the collector got %q", bodies)
	}
	if h := headers[0]; h.Get("X-Method") != http.MethodPost || h.Get("Content-Type") != "application/json" ||
		h.Get("User-Agent") != "bondstrap" || h.Get("X-URI") != "/reports?site=a" {
		t.Errorf("request headers %v", h)
	}
	copied := filepath.Join(s.opts.Root, TargetReportPath)
	got, err := os.ReadFile(copied)
	if err != nil || !bytes.Equal(got, data) {
		t.Errorf("copy in the target root: %q, %v", got, err)
	}
	if fi, err := os.Stat(copied); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("copy's mode: %v, %v", fi.Mode(), err)
	}
	if len(s.rep.Warnings) > 0 {
		t.Errorf("warnings: %v\n%s", s.rep.Warnings, log)
	}
	// Again: the copy is replaced, no temporary file is left.
	s.publishReport(context.Background(), []byte("{}\n"))
	entries, _ := os.ReadDir(filepath.Dir(copied))
	if got, _ := os.ReadFile(copied); string(got) != "{}\n" || len(entries) != 1 {
		t.Errorf("second copy %q, directory holds %d entries", got, len(entries))
	}
}

// A collector that is down, slow or unhappy costs at most the time given
// it, and never past the run's deadline; each is a warning, not a failure.
func TestPublishReportFailures(t *testing.T) {
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close()

	for name, tc := range map[string]struct {
		url      func(c *collector) string
		hang     bool
		status   int
		timeout  time.Duration
		left     time.Duration
		maxTime  time.Duration
		wantSent int
		warning  string
	}{
		"server down":    {url: func(*collector) string { return downURL }, timeout: 5 * time.Second, left: time.Minute, maxTime: 2 * time.Second, warning: "not sent"},
		"no answer":      {hang: true, timeout: 300 * time.Millisecond, left: time.Minute, maxTime: 2 * time.Second, wantSent: 1, warning: "no reply in time"},
		"deadline first": {hang: true, timeout: time.Minute, left: 300 * time.Millisecond, maxTime: 2 * time.Second, wantSent: 1, warning: "no reply in time"},
		"deadline past":  {timeout: time.Minute, left: -time.Second, maxTime: time.Second, warning: "deadline has passed"},
		"refused":        {status: http.StatusInternalServerError, timeout: time.Second, left: time.Minute, maxTime: 2 * time.Second, wantSent: 1, warning: "500"},
		"not http":       {url: func(*collector) string { return "ftp://collector/x" }, timeout: time.Second, left: time.Minute, maxTime: time.Second, warning: "expected http"},
		"https":          {url: func(*collector) string { return "https://collector/x" }, timeout: time.Second, left: time.Minute, maxTime: time.Second, warning: "https is not supported"},
		"password kept out of the log": {url: func(c *collector) string {
			return strings.Replace(c.URL, "http://", "http://fleet:s3cret@", 1) + "/x"
		}, timeout: time.Second, left: time.Minute, maxTime: time.Second, warning: "credentials"},
	} {
		t.Run(name, func(t *testing.T) {
			c := newCollector(t)
			c.hang = tc.hang
			if tc.status != 0 {
				c.status = tc.status
			}
			url := c.URL + "/reports"
			if tc.url != nil {
				url = tc.url(c)
			}
			s, log := sinkState(t, url, tc.timeout, tc.left)
			start := time.Now()
			s.publishReport(context.Background(), []byte("{}"))
			if took := time.Since(start); took > tc.maxTime {
				t.Errorf("took %s, more than %s", took, tc.maxTime)
			}
			if bodies, _ := c.received(); len(bodies) != tc.wantSent {
				t.Errorf("the collector got %d requests, want %d", len(bodies), tc.wantSent)
			}
			all := strings.Join(s.rep.Warnings, "\n")
			if len(s.rep.Warnings) != 1 || !strings.Contains(all, tc.warning) {
				t.Errorf("warnings %q, want one saying %q", s.rep.Warnings, tc.warning)
			}
			if strings.Contains(log.String()+all, "s3cret") {
				t.Errorf("the password is in the log:\n%s", log)
			}
			// The copy into the target root does not depend on the collector.
			if _, err := os.Stat(filepath.Join(s.opts.Root, TargetReportPath)); err != nil {
				t.Errorf("no copy in the target root: %v", err)
			}
		})
	}
}

// A root that takes no files (read-only, full, or a link out of it) is a
// warning: the run goes on.
func TestCopyReportRefused(t *testing.T) {
	t.Run("not a directory", func(t *testing.T) {
		s, _ := sinkState(t, "", 0, time.Minute)
		s.opts.Root = filepath.Join(t.TempDir(), "root")
		if err := os.WriteFile(s.opts.Root, nil, 0o444); err != nil {
			t.Fatal(err)
		}
		s.publishReport(context.Background(), []byte("{}"))
		if len(s.rep.Warnings) != 1 || !strings.Contains(s.rep.Warnings[0], "not copied into the target root") {
			t.Errorf("warnings %q", s.rep.Warnings)
		}
	})
	t.Run("link out of the root", func(t *testing.T) {
		outside := t.TempDir()
		root := t.TempDir()
		if err := os.Symlink(outside, filepath.Join(root, "var")); err != nil {
			t.Fatal(err)
		}
		if err := CopyReport(root, []byte("{}")); err == nil {
			t.Error("copied through a link out of the root")
		}
		if entries, _ := os.ReadDir(outside); len(entries) > 0 {
			t.Errorf("wrote outside the root: %v", entries)
		}
	})
	t.Run("units not persisted", func(t *testing.T) {
		s, _ := sinkState(t, "", 0, time.Minute)
		s.rep.PersistError = "read-only file system"
		s.publishReport(context.Background(), []byte("{}"))
		if _, err := os.Stat(filepath.Join(s.opts.Root, TargetReportPath)); err == nil || len(s.rep.Warnings) > 0 {
			t.Errorf("copied (%v) or warned again: %q", err, s.rep.Warnings)
		}
	})
}

// Apply, end to end: the collector gets the report the run wrote, with the
// machine, the plan, the timings and the down record; the target root has
// the same copy.
func TestApplySendsTheReport(t *testing.T) {
	c := newCollector(t)
	dir := "testdata/corpus/positive/active-backup-dhcp-by-pci-id"
	dc := newDownCase(t, dir)
	dc.opts.ReportURL = c.URL
	cfg, err := netplan.Parse("config.yaml", []byte(readFile(t, filepath.Join(dir, "config.yaml"))))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Apply(context.Background(), cfg, dc.opts); err != nil {
		t.Fatal(err)
	}
	written, err := os.ReadFile(dc.opts.ReportPath)
	if err != nil {
		t.Fatal(err)
	}
	bodies, _ := c.received()
	if len(bodies) != 1 || !bytes.Equal(bodies[0], written) {
		t.Fatalf("the collector got %d reports, not the one written", len(bodies))
	}
	if copied, _ := os.ReadFile(filepath.Join(dc.opts.Root, TargetReportPath)); !bytes.Equal(copied, written) {
		t.Error("the target root's copy differs")
	}
	var rep Report
	if err := json.Unmarshal(bodies[0], &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Outcome != OutcomeOK || rep.Machine == nil || rep.Plan == nil || rep.Inventory == nil ||
		len(rep.Stages) == 0 || rep.Down == nil {
		t.Errorf("the report lacks something: outcome %q, machine %v, plan %v, inventory %v, %d stages, down %v",
			rep.Outcome, rep.Machine, rep.Plan != nil, rep.Inventory != nil, len(rep.Stages), rep.Down != nil)
	}
}

// The machine's identity comes from what is there; what is not is left
// out.
func TestReadMachineInfo(t *testing.T) {
	sys, target := t.TempDir(), t.TempDir()
	for path, content := range map[string]string{
		"proc/sys/kernel/hostname":       "node-17\n",
		"proc/sys/kernel/random/boot_id": "5b1c0e4e-2a64-4d0a-8a3b-2f0c7d1e9a11\n",
		"proc/cmdline":                   "BOOT_IMAGE=vmlinuz ip=dhcp BOOTIF=01-52-54-00-AB-CD-EF quiet\n",
		"sys/class/dmi/id/sys_vendor":    "Dell Inc.\n",
		"sys/class/dmi/id/product_name":  "PowerEdge R740\n",
		"sys/class/dmi/id/product_uuid":  "4c4c4544-0031-3010-8052-b4c04f4e3132\n",
		"etc/machine-id":                 "initramfs-id\n",
	} {
		p := filepath.Join(sys, path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want := MachineInfo{Hostname: "node-17", MachineID: "initramfs-id", BootID: "5b1c0e4e-2a64-4d0a-8a3b-2f0c7d1e9a11",
		Vendor: "Dell Inc.", Product: "PowerEdge R740", UUID: "4c4c4544-0031-3010-8052-b4c04f4e3132",
		BootMAC: "52:54:00:ab:cd:ef"}
	if got := readMachineInfo(machineSources{System: sys, Target: target}); *got != want {
		t.Errorf("got  %+v\nwant %+v", *got, want)
	}
	// The target root's machine-id is the machine's.
	if err := os.MkdirAll(filepath.Join(target, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(target, "etc/machine-id"), []byte("target-id\n"), 0o444); err != nil {
		t.Fatal(err)
	}
	if got := readMachineInfo(machineSources{System: sys, Target: target}); got.MachineID != "target-id" {
		t.Errorf("machine id %q", got.MachineID)
	}
	for cmdline, want := range map[string]string{
		"BOOTIF=01-aa-bb-cc-dd-ee-ff":                             "aa:bb:cc:dd:ee:ff",
		"BOOTIF=aa-bb-cc-dd-ee-ff":                                "aa:bb:cc:dd:ee:ff",
		"BOOTIF=01-aa-bb-cc-dd-ee-ff BOOTIF=01-aa-bb-cc-dd-ee-00": "aa:bb:cc:dd:ee:00",
		"BOOTIF=06-aa-bb-cc-dd-ee-ff":                             "",
		"BOOTIF=01-aa-bb-cc-dd-ee":                                "",
		"ip=dhcp":                                                 "",
		"x BOOTIF=01-AA-BB-CC-DD-EE-FF y":                         "aa:bb:cc:dd:ee:ff",
	} {
		if got := bootMAC(cmdline); got != want {
			t.Errorf("%q: %q, want %q", cmdline, got, want)
		}
	}
}

// A run whose detect stage recorded no inventory (it failed; the fallback
// probed) reports the NICs it knows of; one that did keeps its own.
func TestDescribeMachineInventory(t *testing.T) {
	s, _ := sinkState(t, "", 0, time.Minute)
	s.inv = inventory.Inventory{Interfaces: []inventory.NIC{{Name: "eth0", MAC: "52:54:00:00:00:01"}}}
	s.describeMachine()
	if s.rep.Inventory == nil || len(s.rep.Inventory.Interfaces) != 1 || s.rep.Machine == nil {
		t.Errorf("inventory %+v, machine %+v", s.rep.Inventory, s.rep.Machine)
	}
	own := &inventory.Inventory{}
	s.rep.Inventory = own
	s.describeMachine()
	if s.rep.Inventory != own {
		t.Error("the detect stage's inventory was replaced")
	}
}

// From an initramfs (the Runtime layout) the real root is not mounted:
// nothing is copied under Root; the booted system is told to copy the
// report out of /run instead.
func TestPublishReportRuntime(t *testing.T) {
	s, log := sinkState(t, "", time.Second, time.Minute)
	s.opts.Layout = units.Runtime
	s.opts.RuntimeRoot = t.TempDir()
	s.publishReport(context.Background(), []byte("{}\n"))
	if _, err := os.Stat(filepath.Join(s.opts.Root, TargetReportPath)); err == nil {
		t.Error("the report was copied into the initramfs's root")
	}
	unit, err := os.ReadFile(filepath.Join(s.opts.RuntimeRoot, "run/systemd/system", units.KeepReportUnit))
	if err != nil || !bytes.Contains(unit, []byte("ExecStart=/usr/bin/install -D -m 0644 /run/bondstrap/report.json /var/lib/bondstrap/report.json\n")) {
		t.Errorf("keep-report unit %q, %v", unit, err)
	}
	if len(s.rep.Warnings) > 0 {
		t.Errorf("warnings: %v\n%s", s.rep.Warnings, log)
	}
	// A report outside /run does not survive switch_root: a warning.
	s.opts.ReportPath = "/tmp/report.json"
	s.publishReport(context.Background(), []byte("{}\n"))
	if len(s.rep.Warnings) != 1 || !strings.Contains(s.rep.Warnings[0], "/var/lib/bondstrap/report.json") {
		t.Errorf("warnings %q", s.rep.Warnings)
	}
}
