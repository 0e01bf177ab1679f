package e2e

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bondstrap/bondstrap/test/initrd"
	"github.com/bondstrap/bondstrap/test/vm"
)

// pxeFleetConfig is what the test's HTTP server hands out: an active-backup
// bond of the virtio NICs with DHCP.
const pxeFleetConfig = `network:
  version: 2
  ethernets:
    fast: {match: {pci-id: "1af4:1000"}}
  bonds:
    bond0:
      interfaces: [fast]
      parameters: {mode: active-backup, mii-monitor-interval: 100}
      dhcp4: true
bondstrap: {dhcp-timeout: 20s}
`

// TestPXE proves the PXE-fleet paths on one busybox boot whose kernel command
// line carries only dracut's network options, as a PXE menu would:
//
//  1. apply without a config file builds the bond=… of the command line with
//     its options, gets the ip=bond0:dhcp lease, and writes the units;
//  2. with BOOTIF= and bondstrap.config= pointing at an HTTP server in the
//     test's namespace (--cmdline stands for a second boot's command line),
//     apply fetches the config over a temporary DHCP on the BOOTIF NIC and
//     applies it; with a wrong bondstrap.config-sha256= it exits 2 and the
//     NICs are exactly as before;
//  3. with bondstrap.report-url=, the report reaches a collector in the test's
//     namespace byte for byte as the guest wrote it;
//  4. bondstrap down then puts the NICs back as they were before that apply
//     (ip -j addr and route, compared whole), and a second down has nothing
//     to do.
func TestPXE(t *testing.T) {
	v := boot(t, vm.Config{
		NICs:         threeNICs(),
		HostBinaries: []initrd.HostBinary{vm.IPRoute2},
		Cmdline:      []string{"bond=bond0:eth0,eth1:mode=active-backup,miimon=100,primary=eth1", "ip=bond0:dhcp"},
	}, "# unused: the kernel command line names the network\n")
	ip := vm.IPRoute2Path
	v.MustRun(t, "rm -f "+configPath)
	clean := func(t *testing.T) {
		t.Helper()
		v.MustRun(t, fmt.Sprintf(`[ -e /sys/class/net/bond0 ] && %[1]s link del bond0
for n in %[2]s %[3]s %[4]s; do %[1]s addr flush dev $n; %[1]s link set $n down; done
rm -rf /etc/systemd/network; true`, ip, v.Iface(0), v.Iface(1), v.Iface(2)))
	}

	t.Run("dracut-options-on-the-kernel-command-line", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		r, err := v.Exec(ctx, "bondstrap apply")
		if err != nil || r.Exit != 0 {
			t.Fatalf("apply from the kernel command line: exit %d %v\n%s\n%s", r.Exit, err, r.Stdout, tailLines(r.Stderr, 30))
		}
		t.Logf("apply from the kernel command line:\n%s", r.Stdout)
		b := status(t, v)["bond0"]
		if b.Mode != "active-backup" || b.Primary != "eth1" || b.Parameters["mii-monitor-interval"] != "100ms" {
			t.Errorf("bond0: mode %s, primary %q, miimon %q; want active-backup, eth1, 100ms", b.Mode, b.Primary, b.Parameters["mii-monitor-interval"])
		}
		if got := memberNames(b); !slices.Equal(got, []string{"eth0", "eth1"}) {
			t.Errorf("members %v", got)
		}
		if len(b.Addresses) == 0 || !strings.HasPrefix(b.Addresses[0], "192.0.2.") {
			t.Errorf("bond0 has no lease: %v", b.Addresses)
		}
		u := units(t, v, "/")
		for _, want := range []string{"10-bondstrap-bond0.netdev", "10-bondstrap-bond0.network"} {
			if _, ok := u[want]; !ok {
				t.Errorf("unit %s not written: %v", want, slices.Collect(maps.Keys(u)))
			}
		}
		if nd := u["10-bondstrap-bond0.netdev"]; !strings.Contains(nd, "MIIMonitorSec=100ms") || !strings.Contains(nd, "Mode=active-backup") {
			t.Errorf("the bond's options are not persisted:\n%s", nd)
		}
	})

	t.Run("config-url-with-digest", func(t *testing.T) {
		clean(t)
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "fleet.yaml"), []byte(pxeFleetConfig), 0o644); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		server := v.Net.HostAddr(0).String()
		httpd := v.Net.Command(ctx, "busybox", "httpd", "-f", "-p", server+":8080", "-h", dir)
		if err := httpd.Start(); err != nil {
			t.Fatalf("busybox httpd in the test's namespace: %v", err)
		}
		defer func() { _ = httpd.Process.Kill(); _ = httpd.Wait() }()
		sum := fmt.Sprintf("%x", sha256.Sum256([]byte(pxeFleetConfig)))
		url := "http://" + server + ":8080/fleet.yaml"
		col := startCollector(t, v)
		line := func(digest string) string {
			return "BOOT_IMAGE=/vmlinuz BOOTIF=01-52-54-00-12-34-01 bondstrap.config=" + url + " bondstrap.config-sha256=" + digest +
				" bondstrap.report-url=" + col.url
		}

		before := ipState(t, v)
		r, err := v.Exec(ctx, fmt.Sprintf("bondstrap apply --cmdline %q", line(strings.Repeat("0", 64))))
		if err != nil || r.Exit != 2 {
			t.Fatalf("wrong digest: exit %d %v, want 2\n%s", r.Exit, err, tailLines(r.Stderr, 30))
		}
		if !strings.Contains(r.Stderr, "SHA-256") {
			t.Errorf("the error does not say the digest differs:\n%s", tailLines(r.Stderr, 10))
		}
		waitNoTentative(t, v)
		if after := ipState(t, v); !reflect.DeepEqual(before, after) {
			t.Errorf("a refused config changed the NICs:\nbefore: %s\nafter:  %s", jsonText(before), jsonText(after))
		}
		if _, code, _ := v.Run(ctx, "test -e /sys/class/net/bond0"); code == 0 {
			t.Error("bond0 exists after a refused config")
		}

		r, err = v.Exec(ctx, fmt.Sprintf("bondstrap apply --cmdline %q", line(sum)))
		if err != nil || r.Exit != 0 {
			t.Fatalf("config URL: exit %d %v\n%s\n%s", r.Exit, err, r.Stdout, tailLines(r.Stderr, 40))
		}
		t.Logf("apply from %s:\n%s\n%s", url, r.Stdout, grepLines(r.Stderr, "fetch", "DHCPv4", "temporary", "released", "undo"))
		if !strings.Contains(r.Stderr, "fetching "+url) {
			t.Errorf("no fetch of %s in the log:\n%s", url, tailLines(r.Stderr, 40))
		}
		b := status(t, v)["bond0"]
		if b.Mode != "active-backup" || len(memberNames(b)) != 2 || len(b.Addresses) == 0 {
			t.Errorf("the fetched config was not applied: %+v", b)
		}
		// The temporary network is gone: eth0 keeps no address of its own.
		if out := v.MustRun(t, ip+" -4 -o addr show dev eth0"); strings.TrimSpace(out) != "" {
			t.Errorf("eth0 kept the temporary network's address: %s", out)
		}

		// 3. The collector got the report the guest wrote, as it wrote it.
		written := v.MustRun(t, "cat /run/bondstrap/report.json")
		if got := col.reports(); len(got) != 1 || got[0] != written {
			t.Errorf("the collector got %d report(s); want the guest's report.json (%d bytes) once:\n%s", len(got), len(written), strings.Join(got, "\n---\n"))
		} else if !strings.Contains(written, `"outcome": "ok"`) || !strings.Contains(written, `"machine"`) || !strings.Contains(written, `"inventory"`) {
			t.Errorf("the report lacks its outcome, machine or inventory:\n%s", written)
		}

		// 4. down puts the NICs back as apply found them.
		r, err = v.Exec(ctx, "bondstrap down --remove-units")
		if err != nil || r.Exit != 0 {
			t.Fatalf("down: exit %d %v\n%s\n%s", r.Exit, err, r.Stdout, tailLines(r.Stderr, 40))
		}
		t.Logf("down:\n%s\n%s", r.Stdout, grepLines(r.Stderr, "op("))
		waitNoTentative(t, v)
		if after := ipState(t, v); !reflect.DeepEqual(before, after) {
			t.Errorf("down did not put the NICs back:\nbefore: %s\nafter:  %s", jsonText(before), jsonText(after))
		}
		if u := units(t, v, "/"); len(u) != 0 {
			t.Errorf("down --remove-units left units: %v", slices.Collect(maps.Keys(u)))
		}
		r, err = v.Exec(ctx, "bondstrap down")
		if err != nil || r.Exit != 0 || !strings.Contains(r.Stdout, "nothing to do") {
			t.Errorf("second down: exit %d %v, want 0 and nothing to do\n%s\n%s", r.Exit, err, r.Stdout, tailLines(r.Stderr, 10))
		}
	})
}

// collector is an HTTP server in the test's namespace that keeps the
// reports POSTed to it.
type collector struct {
	url  string
	mu   sync.Mutex
	got  []string
	errs []string
}

func startCollector(t *testing.T, v *vm.VM) *collector {
	t.Helper()
	addr := v.Net.HostAddr(0).String() + ":8081"
	l, err := v.Net.Listen(addr)
	if err != nil {
		t.Fatal(err)
	}
	c := &collector{url: "http://" + addr + "/reports"}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
		c.mu.Lock()
		defer c.mu.Unlock()
		if r.Method != http.MethodPost || r.URL.Path != "/reports" || r.Header.Get("Content-Type") != "application/json" || err != nil {
			c.errs = append(c.errs, fmt.Sprintf("%s %s %s: %v", r.Method, r.URL, r.Header.Get("Content-Type"), err))
			http.Error(w, "not a report", http.StatusBadRequest)
			return
		}
		c.got = append(c.got, string(body))
		w.WriteHeader(http.StatusNoContent)
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() {
		_ = srv.Close()
		c.mu.Lock()
		defer c.mu.Unlock()
		if len(c.errs) > 0 {
			t.Errorf("the collector got requests that are not reports: %q", c.errs)
		}
	})
	return c
}

func (c *collector) reports() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.got)
}

// grepLines keeps the lines of s that contain any of words.
func grepLines(s string, words ...string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		for _, w := range words {
			if strings.Contains(l, w) {
				out = append(out, l)
				break
			}
		}
	}
	return strings.Join(out, "\n")
}
