package stages

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/bondstrap/bondstrap/detect/kernel"
)

// resolvedDir is where systemd-resolved keeps the files /etc/resolv.conf
// links to when it owns the resolver configuration.
const resolvedDir = "/run/systemd/resolve/"

// dnsConfig gathers the DNS servers and search domains of every interface, in
// bond order, without repeats.
type dnsConfig struct {
	Servers []netip.Addr
	Search  []string
}

func (d *dnsConfig) add(servers []netip.Addr, search []string) {
	for _, a := range servers {
		if !slices.Contains(d.Servers, a) {
			d.Servers = append(d.Servers, a)
		}
	}
	for _, s := range search {
		if !slices.Contains(d.Search, s) {
			d.Search = append(d.Search, s)
		}
	}
}

func (d dnsConfig) empty() bool { return len(d.Servers) == 0 && len(d.Search) == 0 }

// resolvConf renders the resolver file.
func (d dnsConfig) resolvConf() []byte {
	var b bytes.Buffer
	b.WriteString("# Written by bondstrap apply; systemd-networkd takes over after boot.\n")
	for _, a := range d.Servers {
		fmt.Fprintf(&b, "nameserver %s\n", a)
	}
	if len(d.Search) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(d.Search, " "))
	}
	return b.Bytes()
}

// writeDNS writes the gathered DNS configuration where the running system
// reads it, once, after every interface is configured.
func (s *state) writeDNS() error {
	if s.dns.empty() {
		s.note("no DNS servers or search domains: resolver file left alone")
		return nil
	}
	dr := &DNSReport{Path: s.opts.ResolvConf, Search: s.dns.Search}
	for _, a := range s.dns.Servers {
		dr.Servers = append(dr.Servers, a.String())
	}
	s.rep.DNS = dr

	target, managed, err := resolvTarget(s.opts.ResolvConf)
	if err != nil {
		return err
	}
	if managed {
		dr.Note = "managed by systemd-resolved (" + target + "); left alone"
		s.note("resolver file belongs to systemd-resolved; not writing it", "path", s.opts.ResolvConf, "target", target)
		return nil
	}
	dr.Path = target
	want := s.dns.resolvConf()
	old, err := os.ReadFile(target)
	existed := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("read %s: %w", target, err)
	}
	if existed && bytes.Equal(old, want) {
		s.note("resolver file already as wanted", "path", target)
		return nil
	}
	if err := s.change("writing DNS to "+target, "restore "+target, "", func() (kernel.Undo, error) {
		if err := writeFileAtomic(target, want, 0o644); err != nil {
			return nil, err
		}
		return func(context.Context) error {
			if !existed {
				return os.Remove(target)
			}
			return writeFileAtomic(target, old, 0o644)
		}, nil
	}); err != nil {
		return err
	}
	dr.Written = true
	dr.Before = &FileBefore{Path: target, Existed: existed, Content: string(old), Written: string(want)}
	return nil
}

// resolvTarget resolves the resolver file's symlinks: the file to write, and
// whether systemd-resolved owns it (then bondstrap leaves it alone: resolved
// rewrites its files at will, and networkd will hand it the DNS of the
// persisted units). Another symlink (resolvconf, a read-only /etc pointing
// into /run) has its target written, so the link stays.
func resolvTarget(path string) (string, bool, error) {
	target := path
	for range 16 {
		fi, err := os.Lstat(target)
		if errors.Is(err, fs.ErrNotExist) {
			break
		}
		if err != nil {
			return "", false, fmt.Errorf("resolver file: %w", err)
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			break
		}
		dest, err := os.Readlink(target)
		if err != nil {
			return "", false, fmt.Errorf("resolver file: %w", err)
		}
		if !filepath.IsAbs(dest) {
			dest = filepath.Join(filepath.Dir(target), dest)
		}
		target = filepath.Clean(dest)
	}
	return target, strings.HasPrefix(target, resolvedDir), nil
}

// writeFileAtomic replaces path with data: a temporary file in the same
// directory, synced, renamed over path, and the directory synced, so a crash
// leaves the old file or the new one, never half of one.
func writeFileAtomic(path string, data []byte, perm fs.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	ok = true
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
