package vm

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestBootTimeoutCleansUp: a VM that does not answer within its boot timeout is an
// error, and nothing of it stays behind (namespace, QEMU, dnsmasq).
func TestBootTimeoutCleansUp(t *testing.T) {
	Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := time.Now()
	v, err := Start(ctx, Config{NICs: []NIC{E1000()}, BootTimeout: 500 * time.Millisecond, Dir: t.TempDir(), Logger: TestLogger(t)})
	if err == nil {
		v.Close()
		t.Fatal("a VM booted within 500 ms under TCG")
	}
	t.Logf("error after %v: %.300s", time.Since(start).Round(time.Millisecond), err)
	if !strings.Contains(err.Error(), "boot timeout") {
		t.Errorf("error %q does not name the boot timeout", err)
	}
	// Only this process's namespaces: other test binaries may be running VMs.
	out, _ := exec.Command("ip", "netns", "list").Output()
	if strings.Contains(string(out), fmt.Sprintf("%s%d-", nsPrefix, os.Getpid())) {
		t.Errorf("namespace left behind:\n%s", out)
	}
}
