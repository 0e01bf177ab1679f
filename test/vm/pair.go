package vm

import (
	"context"
	"errors"
	"fmt"
)

// StartPair boots two VMs at once in one network namespace made from a's
// Segments (default one segment with DHCP), under dir, so they can be wired
// to each other (UDPLink) as well as to the segments. Without an error,
// both VMs and the network are running. With one, the VM that did boot is
// returned too, and the network when it was made: the caller closes what
// it got.
func StartPair(ctx context.Context, dir string, a, b Config) ([2]*VM, *Network, error) {
	var vms [2]*VM
	if a.Segments == nil {
		a.Segments = []Segment{{DHCP: &DHCP{}}}
	}
	net, err := NewNetwork(ctx, dir, a.Segments, a.Logger)
	if err != nil {
		return vms, nil, err
	}
	for i, s := range a.Segments {
		if s.DHCP != nil {
			if err := net.StartDHCP(ctx, i); err != nil {
				net.Close()
				return vms, nil, err
			}
		}
	}
	a.Network, b.Network = net, net
	type started struct {
		v   *VM
		err error
	}
	results := make([]chan started, 2)
	for i, c := range []Config{a, b} {
		results[i] = make(chan started, 1)
		go func() {
			v, err := Start(ctx, c)
			results[i] <- started{v, err}
		}()
	}
	var errs []error
	for i := range results {
		r := <-results[i]
		vms[i] = r.v
		if r.err != nil {
			errs = append(errs, r.err)
		}
	}
	return vms, net, errors.Join(errs...)
}

// PartnerBondScript is the shell script that makes a LACP test partner's
// bond0 over its NICs a and b in mode (802.3ad: with lacp_rate rate), with
// 203.0.113.1/24 and busybox udhcpd serving 203.0.113.100-150 on it. It
// prints the bond's MAC.
func PartnerBondScript(a, b, mode, rate string) string {
	return fmt.Sprintf(`killall udhcpd 2>/dev/null
[ -e /sys/class/net/bond0 ] && echo -bond0 > /sys/class/net/bonding_masters
ip link set %[1]s down; ip link set %[2]s down
echo +bond0 > /sys/class/net/bonding_masters
echo %[3]s > /sys/class/net/bond0/bonding/mode
echo 100 > /sys/class/net/bond0/bonding/miimon
[ %[3]s = 802.3ad ] && echo %[4]s > /sys/class/net/bond0/bonding/lacp_rate
echo +%[1]s > /sys/class/net/bond0/bonding/slaves
echo +%[2]s > /sys/class/net/bond0/bonding/slaves
ip link set bond0 up
ip addr add 203.0.113.1/24 dev bond0
cat >/tmp/udhcpd.conf <<EOF
start 203.0.113.100
end 203.0.113.150
interface bond0
option subnet 255.255.255.0
option router 203.0.113.1
option lease 600
lease_file /tmp/udhcpd.leases
EOF
rm -f /tmp/udhcpd.leases; touch /tmp/udhcpd.leases
udhcpd /tmp/udhcpd.conf
cat /sys/class/net/bond0/address`, a, b, mode, rate)
}
