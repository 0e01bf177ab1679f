package kernel

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/bondstrap/bondstrap/netplan/spec"
)

// The JSON form of a Snapshot, so a report can carry what apply found and
// `bondstrap down` can Restore it later. Everything Restore reads goes
// through: names, kinds, MACs as text, MTU, admin state, master, a bond's
// mode, settings (by YAML key, with the value the kernel reported) and
// primary, a VLAN, a bridge's and a bridge port's settings, LRO, IPv6
// settings, addresses (remaining lifetimes as Go durations) and routes.
// Left out is what is state, not configuration: counters, a bond's 802.3ad
// aggregator, a port's LACP and MII state.

type snapshotJSON struct {
	Taken  time.Time           `json:"taken"`
	Links  []linkJSON          `json:"links"`
	Addrs  []addrJSON          `json:"addrs,omitempty"`
	Routes []routeJSON         `json:"routes,omitempty"`
	LRO    []string            `json:"lro_on,omitempty"`
	IPv6   map[string]ipv6JSON `json:"ipv6,omitempty"`
}

type linkJSON struct {
	Index      int             `json:"index"`
	Name       string          `json:"name"`
	Kind       string          `json:"kind,omitempty"`
	MAC        string          `json:"mac,omitempty"`
	PermMAC    string          `json:"perm_mac,omitempty"`
	MTU        int             `json:"mtu"`
	Up         bool            `json:"up"`
	Carrier    bool            `json:"carrier"`
	OperState  string          `json:"operstate,omitempty"`
	Master     string          `json:"master,omitempty"`
	Bond       *bondJSON       `json:"bond,omitempty"`
	Port       *portJSON       `json:"port,omitempty"`
	VLAN       *VLAN           `json:"vlan,omitempty"`
	Bridge     *bridgeJSON     `json:"bridge,omitempty"`
	BridgePort *bridgePortJSON `json:"bridge_port,omitempty"`
	ParentBus  string          `json:"parent_bus,omitempty"`
	ParentDev  string          `json:"parent_dev,omitempty"`
	EncapType  string          `json:"encap_type,omitempty"`
}

type bondJSON struct {
	Mode       string        `json:"mode"`
	Settings   []settingJSON `json:"settings,omitempty"`
	Primary    string        `json:"primary,omitempty"`
	ActivePort string        `json:"active_port,omitempty"`
}

// settingJSON is a bond setting as the kernel reported it: its raw value,
// not checked against the config's rules (the kernel may hold values a
// config may not ask for, such as an all-zero actor system MAC).
type settingJSON struct {
	Key   string   `json:"key"`
	N     int64    `json:"n,omitempty"`
	Addrs []string `json:"addrs,omitempty"`
	MAC   string   `json:"mac,omitempty"`
}

type portJSON struct {
	PermMAC string `json:"perm_mac,omitempty"`
	QueueID uint16 `json:"queue_id,omitempty"`
}

type bridgeJSON struct {
	STP          bool   `json:"stp"`
	ForwardDelay string `json:"forward_delay"`
	HelloTime    string `json:"hello_time"`
	MaxAge       string `json:"max_age"`
	AgeingTime   string `json:"ageing_time"`
	Priority     int    `json:"priority"`
}

type bridgePortJSON struct {
	Cost     int `json:"cost"`
	Priority int `json:"priority"`
}

type addrJSON struct {
	Link      string `json:"link"`
	Prefix    string `json:"prefix"`
	Valid     string `json:"valid,omitempty"`
	Preferred string `json:"preferred,omitempty"`
	Permanent bool   `json:"permanent,omitempty"`
	Broadcast string `json:"broadcast,omitempty"`
	Flags     int    `json:"flags,omitempty"`
}

type routeJSON struct {
	Link     string `json:"link"`
	Dst      string `json:"dst"`
	Gw       string `json:"gw,omitempty"`
	Src      string `json:"src,omitempty"`
	Table    int    `json:"table,omitempty"`
	Metric   int    `json:"metric,omitempty"`
	Protocol int    `json:"protocol,omitempty"`
	Scope    int    `json:"scope,omitempty"`
	OnLink   bool   `json:"onlink,omitempty"`
}

type ipv6JSON struct {
	AcceptRA int  `json:"accept_ra"`
	Autoconf bool `json:"autoconf"`
}

// MarshalJSON writes the snapshot's JSON form.
func (s Snapshot) MarshalJSON() ([]byte, error) {
	out := snapshotJSON{Taken: s.Taken, Links: make([]linkJSON, 0, len(s.Links))}
	for _, l := range s.Links {
		out.Links = append(out.Links, linkToJSON(l))
	}
	for _, a := range s.Addrs {
		aj := addrJSON{Link: a.Link, Prefix: a.Prefix.String(), Valid: durationText(a.Valid),
			Preferred: durationText(a.Preferred), Permanent: a.Permanent, Flags: a.Flags}
		if a.Broadcast.IsValid() {
			aj.Broadcast = a.Broadcast.String()
		}
		out.Addrs = append(out.Addrs, aj)
	}
	for _, r := range s.Routes {
		rj := routeJSON{Link: r.Link, Dst: r.Dst.String(), Table: r.Table, Metric: r.Metric,
			Protocol: r.Protocol, Scope: r.Scope, OnLink: r.OnLink}
		if r.Gw.IsValid() {
			rj.Gw = r.Gw.String()
		}
		if r.Src.IsValid() {
			rj.Src = r.Src.String()
		}
		out.Routes = append(out.Routes, rj)
	}
	for name, on := range s.LRO {
		if on {
			out.LRO = append(out.LRO, name)
		}
	}
	slices.Sort(out.LRO)
	if len(s.IPv6) > 0 {
		out.IPv6 = make(map[string]ipv6JSON, len(s.IPv6))
		for name, c := range s.IPv6 {
			out.IPv6[name] = ipv6JSON(c)
		}
	}
	return json.Marshal(out)
}

// UnmarshalJSON reads what MarshalJSON writes. A bond setting of a key this
// bondstrap does not know is an error: restoring without it would leave it
// changed.
func (s *Snapshot) UnmarshalJSON(b []byte) error {
	var in snapshotJSON
	if err := json.Unmarshal(b, &in); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	out := Snapshot{Taken: in.Taken}
	for _, lj := range in.Links {
		l, err := linkFromJSON(lj)
		if err != nil {
			return fmt.Errorf("snapshot: link %s: %w", lj.Name, err)
		}
		out.Links = append(out.Links, l)
	}
	for _, aj := range in.Addrs {
		a := Addr{Link: aj.Link, Permanent: aj.Permanent, Flags: aj.Flags}
		err := firstError(
			a.Prefix.UnmarshalText([]byte(aj.Prefix)),
			a.Broadcast.UnmarshalText([]byte(aj.Broadcast)),
			parseDuration(aj.Valid, &a.Valid),
			parseDuration(aj.Preferred, &a.Preferred))
		if err != nil {
			return fmt.Errorf("snapshot: address %s on %s: %w", aj.Prefix, aj.Link, err)
		}
		out.Addrs = append(out.Addrs, a)
	}
	for _, rj := range in.Routes {
		r := Route{Link: rj.Link, Table: rj.Table, Metric: rj.Metric, Protocol: rj.Protocol, Scope: rj.Scope, OnLink: rj.OnLink}
		err := firstError(
			r.Dst.UnmarshalText([]byte(rj.Dst)),
			r.Gw.UnmarshalText([]byte(rj.Gw)),
			r.Src.UnmarshalText([]byte(rj.Src)))
		if err != nil {
			return fmt.Errorf("snapshot: route %s on %s: %w", rj.Dst, rj.Link, err)
		}
		out.Routes = append(out.Routes, r)
	}
	for _, name := range in.LRO {
		if out.LRO == nil {
			out.LRO = map[string]bool{}
		}
		out.LRO[name] = true
	}
	for name, c := range in.IPv6 {
		if out.IPv6 == nil {
			out.IPv6 = map[string]IPv6Config{}
		}
		out.IPv6[name] = IPv6Config(c)
	}
	*s = out
	return nil
}

func linkToJSON(l Link) linkJSON {
	lj := linkJSON{Index: l.Index, Name: l.Name, Kind: l.Kind, MAC: macText(l.MAC), PermMAC: macText(l.PermMAC),
		MTU: l.MTU, Up: l.Up, Carrier: l.Carrier, OperState: l.OperState, Master: l.Master, ParentBus: l.ParentBus,
		ParentDev: l.ParentDev, EncapType: l.EncapType}
	if b := l.Bond; b != nil {
		bj := &bondJSON{Mode: b.Mode, Primary: b.Primary, ActivePort: b.ActivePort}
		for _, st := range b.Settings {
			sj := settingJSON{Key: st.Param.Key, N: st.N, MAC: macText(st.MAC)}
			for _, a := range st.Addrs {
				sj.Addrs = append(sj.Addrs, a.String())
			}
			bj.Settings = append(bj.Settings, sj)
		}
		lj.Bond = bj
	}
	if p := l.Port; p != nil {
		lj.Port = &portJSON{PermMAC: macText(p.PermMAC), QueueID: p.QueueID}
	}
	if v := l.VLAN; v != nil {
		c := *v
		lj.VLAN = &c
	}
	if br := l.Bridge; br != nil {
		lj.Bridge = &bridgeJSON{STP: br.STP, ForwardDelay: br.ForwardDelay.String(), HelloTime: br.HelloTime.String(),
			MaxAge: br.MaxAge.String(), AgeingTime: br.AgeingTime.String(), Priority: br.Priority}
	}
	if bp := l.BridgePort; bp != nil {
		lj.BridgePort = &bridgePortJSON{Cost: bp.Cost, Priority: bp.Priority}
	}
	return lj
}

func linkFromJSON(lj linkJSON) (Link, error) {
	l := Link{Index: lj.Index, Name: lj.Name, Kind: lj.Kind, MTU: lj.MTU, Up: lj.Up, Carrier: lj.Carrier,
		OperState: lj.OperState, Master: lj.Master, ParentBus: lj.ParentBus, ParentDev: lj.ParentDev, EncapType: lj.EncapType}
	var err error
	if l.MAC, err = parseMACText(lj.MAC); err != nil {
		return l, err
	}
	if l.PermMAC, err = parseMACText(lj.PermMAC); err != nil {
		return l, err
	}
	if bj := lj.Bond; bj != nil {
		b := &Bond{Mode: bj.Mode, Primary: bj.Primary, ActivePort: bj.ActivePort}
		for _, sj := range bj.Settings {
			st, err := settingFromJSON(sj)
			if err != nil {
				return l, err
			}
			b.Settings = b.Settings.Set(st)
		}
		l.Bond = b
	}
	if pj := lj.Port; pj != nil {
		p := &Port{QueueID: pj.QueueID}
		if p.PermMAC, err = parseMACText(pj.PermMAC); err != nil {
			return l, err
		}
		l.Port = p
	}
	if v := lj.VLAN; v != nil {
		c := *v
		l.VLAN = &c
	}
	if bj := lj.Bridge; bj != nil {
		br := &BridgeConfig{STP: bj.STP, Priority: bj.Priority}
		err := firstError(
			parseDuration(bj.ForwardDelay, &br.ForwardDelay),
			parseDuration(bj.HelloTime, &br.HelloTime),
			parseDuration(bj.MaxAge, &br.MaxAge),
			parseDuration(bj.AgeingTime, &br.AgeingTime))
		if err != nil {
			return l, fmt.Errorf("bridge: %w", err)
		}
		l.Bridge = br
	}
	if bp := lj.BridgePort; bp != nil {
		l.BridgePort = &BridgePort{Cost: bp.Cost, Priority: bp.Priority}
	}
	return l, nil
}

func settingFromJSON(sj settingJSON) (spec.Setting, error) {
	p, ok := spec.Lookup(sj.Key)
	if !ok || p.Key != sj.Key {
		return spec.Setting{}, fmt.Errorf("bond setting %q: not a parameter this bondstrap knows", sj.Key)
	}
	st := spec.Setting{Param: p, N: sj.N}
	var err error
	if st.MAC, err = parseMACText(sj.MAC); err != nil {
		return st, fmt.Errorf("bond setting %s: %w", sj.Key, err)
	}
	for _, text := range sj.Addrs {
		var a netip.Addr
		if err := a.UnmarshalText([]byte(text)); err != nil {
			return st, fmt.Errorf("bond setting %s: %w", sj.Key, err)
		}
		st.Addrs = append(st.Addrs, a)
	}
	return st, nil
}

func macText(mac net.HardwareAddr) string {
	if len(mac) == 0 {
		return ""
	}
	return mac.String()
}

func parseMACText(s string) (net.HardwareAddr, error) {
	if s == "" {
		return nil, nil
	}
	return net.ParseMAC(s)
}

// durationText writes a duration as Go does ("59m30s"); zero as "".
func durationText(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

func parseDuration(s string, d *time.Duration) error {
	if s == "" {
		*d = 0
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
