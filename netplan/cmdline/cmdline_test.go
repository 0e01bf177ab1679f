package cmdline

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/bondstrap/bondstrap/netplan"
)

func TestParse(t *testing.T) {
	const sum = "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08"
	b, err := Parse(`BOOT_IMAGE=/vmlinuz root=UUID=1234 ro quiet` +
		` bondstrap.config=http://192.0.2.1:8080/fleet/bondstrap.yaml bondstrap.config-sha256=` + sum +
		` bondstrap.report-url=http://deploy.example/report "bondstrap.log=debug"` +
		` BOOTIF=01-52-54-00-AB-CD-EF rd.neednet bond=bond0:eth0,eth1 ip=bond0:dhcp ifname=boot:52:54:00:ab:cd:ef` +
		` -- bondstrap.config=/init/arg ip=none` + "\n")
	if err != nil {
		t.Fatal(err)
	}
	if b.Config != "http://192.0.2.1:8080/fleet/bondstrap.yaml" || b.ConfigSHA256 != strings.ToLower(sum) ||
		b.ReportURL != "http://deploy.example/report" || b.BootIF.String() != "52:54:00:ab:cd:ef" ||
		b.NeedNet == nil || !*b.NeedNet {
		t.Errorf("Parse = %+v", b)
	}
	if got := b.NetworkOptions(); !reflect.DeepEqual(got, []string{"bond=bond0:eth0,eth1", "ip=bond0:dhcp"}) {
		t.Errorf("NetworkOptions = %q (what follows -- is init's)", got)
	}
	if len(b.Warnings) != 0 {
		t.Errorf("warnings %q", b.Warnings)
	}

	for _, tc := range []struct {
		line string
		want Boot
	}{
		{"bondstrap.config=/etc/bondstrap.yaml", Boot{Config: "/etc/bondstrap.yaml"}},
		// The last value counts, as in the kernel and dracut.
		{"bondstrap.config=/a.yaml bondstrap.config=/b.yaml", Boot{Config: "/b.yaml",
			Warnings: []string{"bondstrap.config is given more than once: bondstrap.config=/b.yaml counts, bondstrap.config=/a.yaml is ignored"}}},
		{`bondstrap.config="/srv/my configs/b.yaml"`, Boot{Config: "/srv/my configs/b.yaml"}},
		{"BOOTIF=52-54-00-ab-cd-ef", Boot{BootIF: mac(t, "52:54:00:ab:cd:ef")}},
		{"BOOTIF=52:54:00:AB:CD:EF", Boot{BootIF: mac(t, "52:54:00:ab:cd:ef")}},
		{"BOOTIF=01-52-54-00-ab-cd-ef rd.bootif=0", Boot{}},
		{"rd.bootif=0 BOOTIF=01-52-54-00-ab-cd-ef", Boot{}},
		{"BOOTIF=01-52-54-00-ab-cd-ef rd.bootif=1", Boot{BootIF: mac(t, "52:54:00:ab:cd:ef")}},
		{"rd.neednet=0", Boot{NeedNet: new(false)}},
		{"rd.neednet=1", Boot{NeedNet: new(true)}},
		{"bondstrap.confg=/x", Boot{Warnings: []string{"bondstrap.confg=/x: unknown bondstrap option, ignored (bondstrap reads bondstrap.config, bondstrap.config-sha256, bondstrap.report-url, bondstrap.log, bondstrap.log-target)"}}},
		{"", Boot{}},
		{"  --  ", Boot{}},
	} {
		got, err := Parse(tc.line)
		if err != nil {
			t.Errorf("%s: %v", tc.line, err)
			continue
		}
		got.network, got.ignored = nil, nil
		if !reflect.DeepEqual(*got, tc.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.line, *got, tc.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ line, path, msg string }{
		{"bondstrap.config=", "bondstrap.config=", "has no value"},
		{"bondstrap.config=etc/b.yaml", "bondstrap.config=etc/b.yaml", "relative path"},
		{"bondstrap.config=tftp://192.0.2.1/b.yaml", "bondstrap.config=tftp://192.0.2.1/b.yaml", "scheme tftp is not supported"},
		{"bondstrap.config=http:///b.yaml", "bondstrap.config=http:///b.yaml", "no host"},
		{"bondstrap.config=http://[::1/b.yaml", "bondstrap.config=http://[::1/b.yaml", "is not a URL"},
		{"bondstrap.config-sha256=abc", "bondstrap.config-sha256=abc", "64 hex digits"},
		{"bondstrap.config-sha256=" + strings.Repeat("g", 64), "", "64 hex digits"},
		{"bondstrap.report-url=/var/report", "bondstrap.report-url=/var/report", "expected an http:// URL"},
		{"bondstrap.report-url=https://c/r", "bondstrap.report-url=https://c/r", "https is not supported"},
		{"bondstrap.config=https://c/f.yaml", "bondstrap.config=https://c/f.yaml", "pin the config with bondstrap.config-sha256="},
		{"BOOTIF=02-52-54-00-ab-cd-ef", "BOOTIF=02-52-54-00-ab-cd-ef", `hardware type "02" is not Ethernet`},
		{"BOOTIF=01-52-54-00-ab-cd", "BOOTIF=01-52-54-00-ab-cd", "01-aa-bb-cc-dd-ee-ff"},
		{"BOOTIF=01-52-54-00-ab-cd-eg", "BOOTIF=01-52-54-00-ab-cd-eg", "01-aa-bb-cc-dd-ee-ff"},
		{"BOOTIF=01-5-54-00-ab-cd-ef", "BOOTIF=01-5-54-00-ab-cd-ef", "01-aa-bb-cc-dd-ee-ff"},
		{"BOOTIF=01-01-00-5e-00-00-01", "BOOTIF=01-01-00-5e-00-00-01", "multicast or all zeros"},
		// A broken BOOTIF is an error even when rd.bootif=0 turns it off:
		// the line is wrong either way.
		{"rd.bootif=0 BOOTIF=junk", "BOOTIF=junk", "pxelinux"},
	} {
		_, err := Parse(tc.line)
		checkError(t, tc.line, err, tc.path, tc.msg)
	}
}

// checkError checks that err is a netplan.ErrorList with an error on the
// command line at path (any path when path is "") whose message has msg.
func checkError(t *testing.T, line string, err error, path, msg string) {
	t.Helper()
	var list netplan.ErrorList
	if !errors.As(err, &list) {
		t.Errorf("%s: error %v, want a netplan.ErrorList", line, err)
		return
	}
	for _, e := range list {
		if e.File != File {
			t.Errorf("%s: error names the file %q, want %q", line, e.File, File)
		}
		if (path == "" || e.Path == path) && strings.Contains(e.Msg, msg) {
			return
		}
	}
	t.Errorf("%s: errors\n%v\nwant one at %q containing %q", line, err, path, msg)
}

func TestLookup(t *testing.T) {
	line := `BOOT_IMAGE=/vmlinuz root=UUID=1234 ro quiet bondstrap.config=/etc/b.yaml bondstrap.log=debug foo="a b" bondstrap.config=/run/b.yaml -- bondstrap.log=error` + "\n"
	for key, want := range map[string]string{
		"BOOT_IMAGE": "/vmlinuz", "root": "UUID=1234", "ro": "", "quiet": "", "absent": "",
		// The last value counts; what follows "--" is init's.
		"bondstrap.config": "/run/b.yaml", "bondstrap.log": "debug", "foo": "a b",
	} {
		if got := Lookup(line, key); got != want {
			t.Errorf("Lookup(%q) = %q, want %q", key, got, want)
		}
	}
}
