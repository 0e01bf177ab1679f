// Command mkinitrd builds the bondstrap test initramfs from the setup cache
// (see test/setup.sh), for booting a test VM by hand:
//
//	go run ./test/initrd/mkinitrd -o /tmp/initrd.cpio.gz -bondstrap /tmp/bondstrap
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/bondstrap/bondstrap/test/initrd"
)

func main() {
	cache := os.Getenv("BONDSTRAP_CACHE")
	if cache == "" {
		cache = "/var/cache/bondstrap"
	}
	out := flag.String("o", "initrd.cpio.gz", "output file")
	kernel := flag.String("kernel-dir", filepath.Join(cache, "current"), "kernel directory of the setup cache")
	bondstrap := flag.String("bondstrap", "", "static bondstrap binary to include as "+initrd.BondstrapPath)
	busybox := flag.String("busybox", "/bin/busybox", "static busybox")
	gz := flag.Bool("gzip", true, "gzip the archive")
	flag.Parse()
	s := initrd.Spec{KernelDir: *kernel, Busybox: *busybox, Bondstrap: *bondstrap, Gzip: *gz}
	if err := initrd.BuildFile(s, *out); err != nil {
		fmt.Fprintln(os.Stderr, "mkinitrd:", err)
		os.Exit(1)
	}
}
