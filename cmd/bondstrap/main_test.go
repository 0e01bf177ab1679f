package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// bondstrap runs the command line in-process and returns its exit status and
// outputs.
func bondstrap(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestExitStatus(t *testing.T) {
	badCfg := writeFile(t, "bad.yaml", "network:\n  version: 2\n  bonds:\n    bond0:\n      interfaces: [nope]\n")
	badInv := writeFile(t, "inv.json", `{"interfaces": [{"name": "eth0", "vendor_id": "80861"}]}`)
	oldReport := writeFile(t, "old-report.json", `{"version": 1, "outcome": "ok"}`)
	otherBoot := writeFile(t, "other-boot.json", `{"version": 1, "outcome": "ok", "down": {"boot_id": "0f0f0f0f-not-this-boot"}}`)
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"no command", nil, exitUsage, "usage:"},
		{"unknown command", []string{"frobnicate"}, exitUsage, `unknown command "frobnicate"`},
		{"unknown flag", []string{"validate", "--frob"}, exitUsage, "flag provided but not defined: -frob"},
		{"missing config", []string{"validate", "--cmdline", "quiet"}, exitUsage, "no config: give a config file, bondstrap.config= or dracut's bond="},
		{"stray argument", []string{"validate", "-c", "testdata/fleet.yaml", "extra"}, exitUsage, `unexpected argument "extra"`},
		{"bad output", []string{"plan", "-c", "testdata/fleet.yaml", "-o", "xml"}, exitUsage, `-o "xml": expected table or json`},
		{"config file missing", []string{"validate", "-c", "/nonexistent/bondstrap.yaml"}, exitUsage, "/nonexistent/bondstrap.yaml"},
		{"bad config", []string{"validate", "-c", badCfg}, exitUsage, badCfg + ": network.bonds.bond0.interfaces"},
		{"bad inventory", []string{"plan", "-c", "testdata/fleet.yaml", "--inventory", badInv}, exitUsage, badInv},
		{"render needs root", []string{"render", "-c", "testdata/fleet.yaml", "--inventory", "testdata/dell-r740-x710-bcm5720.json"}, exitUsage, "--root DIR are required"},
		{"down: no report", []string{"down", "--report", "/nonexistent/report.json"}, exitUsage, "/nonexistent/report.json"},
		{"down: report without a record", []string{"down", "--report", oldReport}, exitUsage, "no record of the machine before apply"},
		{"down: report of another boot", []string{"down", "--report", otherBoot}, exitUsage, "the report is from another boot"},
		{"down: root without remove-units", []string{"down", "--root", "/mnt"}, exitUsage, "it needs --remove-units"},
		{"apply: https report URL", []string{"apply", "-c", "testdata/fleet.yaml", "--report-url", "https://collector/r"}, exitUsage, "https is not supported"},
		{"selection shortfall", []string{"plan", "-c", "testdata/fleet.yaml", "--inventory", "testdata/ixgbe-no-link.json"}, exitFailed, "bond bond1: 0 member(s) selected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := bondstrap(t, tt.args...)
			if code != tt.code {
				t.Errorf("exit status %d, want %d; stderr:\n%s", code, tt.code, stderr)
			}
			if !strings.Contains(stderr, tt.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tt.stderr, stderr)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	code, stdout, stderr := bondstrap(t, "validate", "-c", "testdata/fleet.yaml")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if want := "testdata/fleet.yaml: valid: 2 ethernets id(s), 2 bond(s): bond0, bond1\n"; stdout != want {
		t.Errorf("stdout = %q, want %q", stdout, want)
	}
}

// The JSON shape of plan is an interface other tools read: check the fields
// the issue fixes.
func TestPlanJSON(t *testing.T) {
	code, stdout, stderr := bondstrap(t, "plan", "-c", "testdata/fleet.yaml",
		"--inventory", "testdata/dell-r740-x710-bcm5720.json", "-o", "json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var got struct {
		Bonds []struct {
			Name    string   `json:"name"`
			Mode    string   `json:"mode"`
			Members []string `json:"members"`
			Primary *string  `json:"primary"`
		} `json:"bonds"`
	}
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("plan -o json is not JSON: %v\n%s", err, stdout)
	}
	if len(got.Bonds) != 2 {
		t.Fatalf("bonds = %+v", got.Bonds)
	}
	b0, b1 := got.Bonds[0], got.Bonds[1]
	if b0.Name != "bond0" || b0.Mode != "802.3ad" || !reflect.DeepEqual(b0.Members, []string{"ens1f0", "ens1f1", "ens1f2"}) {
		t.Errorf("bond0 = %+v", b0)
	}
	if b0.Primary == nil || *b0.Primary != "" {
		t.Errorf("bond0 primary = %v, want present and empty", b0.Primary)
	}
	if b1.Name != "bond1" || b1.Mode != "active-backup" || b1.Primary == nil || *b1.Primary != "eno1" {
		t.Errorf("bond1 = %+v", b1)
	}
}

func TestPlanTable(t *testing.T) {
	code, stdout, stderr := bondstrap(t, "plan", "-c", "testdata/fleet.yaml",
		"--inventory", "testdata/dell-r740-x710-bcm5720.json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{
		"bond0  mode 802.3ad  speed 10G",
		"1. ens1f0",
		"0000:3b:00.0",
		"ens1f3",
		"speed unknown",
		"bond1  mode active-backup  primary eno1",
		"unused: eno2, ens1f3",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("plan table lacks %q:\n%s", want, stdout)
		}
	}
}

func TestRenderIsIdempotent(t *testing.T) {
	root := t.TempDir()
	args := []string{"render", "-c", "testdata/fleet.yaml", "--inventory", "testdata/dell-r740-x710-bcm5720.json", "--root", root}
	code, stdout, stderr := bondstrap(t, args...)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "wrote etc/systemd/network/") {
		t.Errorf("first render wrote nothing:\n%s", stdout)
	}
	entries, err := os.ReadDir(filepath.Join(root, "etc/systemd/network"))
	if err != nil {
		t.Fatal(err)
	}
	// Two bonds: .netdev + .network each, and one .network per member (3 + 1).
	if len(entries) != 8 {
		t.Errorf("%d files rendered, want 8", len(entries))
	}
	code, stdout, stderr = bondstrap(t, args...)
	if code != exitOK {
		t.Fatalf("second render: exit %d: %s", code, stderr)
	}
	if want := "no changes: 8 unit(s) already up to date\n"; stdout != want {
		t.Errorf("second render = %q, want %q", stdout, want)
	}
}

func TestVersion(t *testing.T) {
	code, stdout, _ := bondstrap(t, "version")
	if code != exitOK || !strings.HasPrefix(stdout, "bondstrap ") {
		t.Errorf("version: exit %d, %q", code, stdout)
	}
}

// The log's level and target come from the kernel command line when the
// environment does not set them.
func TestLogFromKernelCmdline(t *testing.T) {
	t.Setenv("BONDSTRAP_LOG", "")
	t.Setenv("BONDSTRAP_LOG_TARGET", "")
	old := procCmdline
	t.Cleanup(func() { procCmdline = old })
	procCmdline = writeFile(t, "cmdline", "BOOT_IMAGE=/vmlinuz quiet bondstrap.log=debug bondstrap.log-target=syslog\n")
	code, _, stderr := bondstrap(t, "validate", "-c", "/nonexistent/bondstrap.yaml")
	if code != exitUsage || !strings.Contains(stderr, `log target \"syslog\": want auto, journal, kmsg or stderr`) {
		t.Errorf("bondstrap.log-target= not read: exit %d, stderr:\n%s", code, stderr)
	}
	// At level error, the warning about the target is not logged either.
	procCmdline = writeFile(t, "cmdline2", "bondstrap.log=error bondstrap.log-target=stderr bondstrap.confg=/x\n")
	if _, _, stderr := bondstrap(t, "validate", "-c", "/nonexistent/bondstrap.yaml"); strings.Contains(stderr, "level=WARN") {
		t.Errorf("bondstrap.log=error not read: a warning was logged:\n%s", stderr)
	}
}

// A bad config changes nothing: render writes no file and creates no
// directory, and apply stops before it touches a NIC.
func TestBadConfigChangesNothing(t *testing.T) {
	bad := writeFile(t, "bad.yaml", "network:\n  version: 2\n  bonds:\n    bond0:\n      interfaces: [up]\n      parameters: {mode: lacp}\n")
	root := filepath.Join(t.TempDir(), "root")
	code, _, stderr := bondstrap(t, "render", "-c", bad, "--inventory", "testdata/dell-r740-x710-bcm5720.json", "--root", root)
	if code != exitUsage || !strings.Contains(stderr, bad+": network.bonds.bond0.parameters.mode") {
		t.Errorf("render: exit %d, stderr:\n%s", code, stderr)
	}
	if _, err := os.Stat(root); !os.IsNotExist(err) {
		t.Errorf("render of a bad config created %s: %v", root, err)
	}
	report := filepath.Join(t.TempDir(), "report.json")
	code, _, stderr = bondstrap(t, "apply", "-c", bad, "--root", root, "--report", report)
	if code != exitUsage || !strings.Contains(stderr, bad+": ") {
		t.Errorf("apply: exit %d, stderr:\n%s", code, stderr)
	}
	for _, p := range []string{root, report} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("apply of a bad config created %s: %v", p, err)
		}
	}
}

func TestPlanTableStack(t *testing.T) {
	code, stdout, stderr := bondstrap(t, "plan", "-c", "testdata/kvm-host.yaml",
		"--inventory", "testdata/dell-r740-x710-bcm5720.json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{
		"bond0  mode 802.3ad  speed 10G",
		"standalone NICs",
		"onboard  eno1 → mgmt0",
		"bond0.10  vlan 10          on bond0",
		"br0       bridge, stp off  on bond0  mac 3c:fd:fe:a0:00:00",
		"unused: eno2",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("plan table lacks %q:\n%s", want, stdout)
		}
	}
	code, stdout, stderr = bondstrap(t, "plan", "-o", "json", "-c", "testdata/kvm-host.yaml",
		"--inventory", "testdata/dell-r740-x710-bcm5720.json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{`"virtuals"`, `"kind": "bridge"`, `"ports": [`, `"vlan_id": 10`, `"ethernets"`, `"name": "mgmt0"`} {
		if !strings.Contains(stdout, want) {
			t.Errorf("plan JSON lacks %s:\n%s", want, stdout)
		}
	}
}

// TestPlanFleet is the fleet lint: one config against a directory of saved
// inventories (eight hardware models), one table, exit 1 because one model
// fails; and the same as JSON.
func TestPlanFleet(t *testing.T) {
	dir := filepath.Join("..", "..", "netplan", "testdata", "inventories")
	cfg := filepath.Join("..", "..", "netplan", "testdata", "fleet.yaml")
	code, stdout, stderr := bondstrap(t, "plan", "-c", cfg, "--inventory", dir)
	if code != exitFailed {
		t.Fatalf("exit %d, want %d (a model fails): %s", code, exitFailed, stderr)
	}
	for _, want := range []string{
		"MODEL", "dell-r740-x710-bcm5720  bond0",
		"10G,10G,10G  ok",
		"ixgbe-no-link           bond1      -              -",
		"FAILS: 0 member(s) selected, min-members is 1",
		"supermicro-connectx",
		"1 of 8 models fail",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("fleet table lacks %q:\n%s", want, stdout)
		}
	}
	if !strings.Contains(stderr, "1 of 8 models") {
		t.Errorf("stderr %q", stderr)
	}
	// Two files given one by one: the same lint, here all passing.
	code, stdout, stderr = bondstrap(t, "plan", "-c", cfg, "-o", "json",
		"--inventory", filepath.Join(dir, "dell-r740-x710-bcm5720.json"), "--inventory", filepath.Join(dir, "hpe-dl380-e810-i350.json"))
	if code != exitOK {
		t.Fatalf("two passing models: exit %d: %s", code, stderr)
	}
	var r struct {
		Models []struct {
			Model string `json:"model"`
			OK    bool   `json:"ok"`
		} `json:"models"`
		Failed int `json:"failed"`
	}
	if err := json.Unmarshal([]byte(stdout), &r); err != nil || len(r.Models) != 2 || !r.Models[0].OK || r.Failed != 0 {
		t.Errorf("fleet JSON %+v (%v):\n%s", r, err, stdout)
	}
	// A bad inventory is the usage exit, naming the file.
	code, _, stderr = bondstrap(t, "plan", "-c", cfg, "--inventory", dir, "--inventory", filepath.Join(dir, "nope.json"))
	if code != exitUsage || !strings.Contains(stderr, "nope.json") {
		t.Errorf("missing inventory: exit %d, %s", code, stderr)
	}
}

// TestCmdlineSources: the config from the kernel command line (--cmdline
// stands for /proc/cmdline): dracut's options, bondstrap.config= with its
// digest, and the refusals that exit 2.
func TestCmdlineSources(t *testing.T) {
	dracut := "BOOT_IMAGE=/vmlinuz quiet bond=bond0:eth0,eth1:mode=active-backup,miimon=100,primary=eth1 ip=bond0:dhcp"
	code, stdout, stderr := bondstrap(t, "validate", "--cmdline", dracut)
	if code != exitOK || !strings.Contains(stdout, "valid: 2 ethernets id(s), 1 bond(s): bond0") {
		t.Errorf("dracut options: exit %d, %q %q", code, stdout, stderr)
	}
	inv := filepath.Join("..", "..", "netplan", "testdata", "inventories", "qemu-virtio-e1000.json")
	code, stdout, stderr = bondstrap(t, "plan", "--cmdline", dracut, "--inventory", inv)
	if code != exitOK || !strings.Contains(stdout, "bond0  mode active-backup  primary eth1") {
		t.Errorf("plan from dracut options: exit %d, %s %s", code, stdout, stderr)
	}

	cfg := writeFile(t, "pinned.yaml", "network:\n  version: 2\n  ethernets: {eth0: {}}\n  bonds: {bond0: {interfaces: [eth0], dhcp4: true}}\n")
	sum := sha256.Sum256([]byte("network:\n  version: 2\n  ethernets: {eth0: {}}\n  bonds: {bond0: {interfaces: [eth0], dhcp4: true}}\n"))
	good := fmt.Sprintf("bondstrap.config=%s bondstrap.config-sha256=%x", cfg, sum)
	if code, stdout, stderr = bondstrap(t, "validate", "--cmdline", good); code != exitOK {
		t.Errorf("pinned file: exit %d, %s %s", code, stdout, stderr)
	}
	bad := fmt.Sprintf("bondstrap.config=%s bondstrap.config-sha256=%064x", cfg, 0)
	if code, _, stderr = bondstrap(t, "validate", "--cmdline", bad); code != exitUsage || !strings.Contains(stderr, "SHA-256") {
		t.Errorf("wrong digest: exit %d, %s", code, stderr)
	}
	if code, _, stderr = bondstrap(t, "validate", "--cmdline", "bondstrap.config=https://deploy.example/f.yaml"); code != exitUsage ||
		!strings.Contains(stderr, "https is not supported") {
		t.Errorf("https: exit %d, %s", code, stderr)
	}
	// -c wins over the kernel command line, and its digest is not applied
	// to -c's file.
	if code, _, stderr = bondstrap(t, "validate", "-c", cfg, "--cmdline", bad+" "+dracut); code != exitOK {
		t.Errorf("-c with a kernel command line: exit %d, %s", code, stderr)
	}
}

// A log target that does not exist is said, and the log goes to stderr.
func TestLogTargetUnknown(t *testing.T) {
	t.Setenv("BONDSTRAP_LOG_TARGET", "syslog")
	code, _, stderr := bondstrap(t, "validate", "-c", "/nonexistent/bondstrap.yaml")
	if code != exitUsage || !strings.Contains(stderr, `level=WARN msg="logging to stderr" error="log target \"syslog\": want auto, journal, kmsg or stderr"`) {
		t.Errorf("exit %d, stderr:\n%s", code, stderr)
	}
}

// The binary links no crypto package: crypto/rand and Go's FIPS module
// (which any crypto package pulls in, with its DRBG) may wait for the
// kernel's entropy pool early in boot, and the module alone weighs 640 KB
// in every initramfs (stages/sha256.go, stages/random_linux.go).
func TestNoCryptoInTheBinary(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	for _, p := range strings.Fields(string(out)) {
		if p == "crypto" || strings.HasPrefix(p, "crypto/") || strings.Contains(p, "/crypto/") {
			t.Errorf("bondstrap links %s", p)
		}
	}
}
