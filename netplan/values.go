package netplan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/bondstrap/bondstrap/netplan/spec"
)

// The kernel's bonding modes by their canonical names (spec.Modes).
const (
	ModeBalanceRR    BondMode = spec.BalanceRR
	ModeActiveBackup BondMode = spec.ActiveBackup
	ModeBalanceXOR   BondMode = spec.BalanceXOR
	ModeBroadcast    BondMode = spec.Broadcast
	Mode8023AD       BondMode = spec.LACP
	ModeBalanceTLB   BondMode = spec.BalanceTLB
	ModeBalanceALB   BondMode = spec.BalanceALB
)

// ParseBondMode returns the canonical mode for a name or a kernel number
// ("0"–"6"). It is case-sensitive, as netplan and the kernel are.
func ParseBondMode(s string) (BondMode, error) {
	m, err := spec.ParseMode(s)
	return BondMode(m.Name), err
}

// Number returns the kernel's number for the mode (0 for balance-rr, 4 for
// 802.3ad, ...); -1 for a mode that is not valid (Parse never leaves one).
func (m BondMode) Number() int {
	if mode, ok := spec.LookupMode(string(m)); ok {
		return mode.Number
	}
	return -1
}

// String returns the canonical name; the empty mode reads as balance-rr.
func (m BondMode) String() string {
	if m == "" {
		return spec.DefaultMode
	}
	return string(m)
}

// UnmarshalJSON accepts a mode name or the kernel's number, as a JSON number
// or a string, and stores the canonical name.
func (m *BondMode) UnmarshalJSON(data []byte) error {
	s, err := scalarText(data)
	if err != nil {
		return err
	}
	mode, err := ParseBondMode(s)
	if err != nil {
		return err
	}
	*m = mode
	return nil
}

// UnmarshalJSON reads a parameters mapping: mode and primary, and every other
// key through its spec.Param. The tree walker has reported what is wrong
// with the key path; this decode fails closed on anything it let through.
func (p *BondParameters) UnmarshalJSON(data []byte) error {
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return err
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	*p = BondParameters{}
	for _, k := range keys {
		v := m[k]
		switch k {
		case "mode":
			s, ok := scalarString(v)
			if !ok {
				return fmt.Errorf("mode: not a scalar")
			}
			mode, err := ParseBondMode(s)
			if err != nil {
				return err
			}
			p.Mode = mode
		case "primary":
			s, ok := v.(string)
			if !ok {
				return fmt.Errorf("primary: not a string")
			}
			p.Primary = s
		default:
			param, ok := spec.Lookup(k)
			if !ok {
				return fmt.Errorf("unknown parameter %q", k)
			}
			s, err := param.Parse(v)
			if err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
			if _, dup := p.Settings.Get(param.Key); dup {
				return fmt.Errorf("%s given twice", param.Key)
			}
			p.Settings = p.Settings.Set(s)
		}
	}
	return nil
}

// MarshalJSON writes the parameters as a config does: mode, primary and
// every setting by its key, which UnmarshalJSON reads back the same.
func (p BondParameters) MarshalJSON() ([]byte, error) {
	m := make(map[string]any, len(p.Settings)+2)
	if p.Mode != "" {
		m["mode"] = string(p.Mode)
	}
	if p.Primary != "" {
		m["primary"] = p.Primary
	}
	for _, s := range p.Settings {
		m[s.Param.Key] = s.Value()
	}
	return json.Marshal(m)
}

// Get returns the setting of the parameter with key, if the config gives it.
func (p *BondParameters) Get(key string) (spec.Setting, bool) {
	if p == nil {
		return spec.Setting{}, false
	}
	return p.Settings.Get(key)
}

// UnmarshalJSON accepts a single string or a list of strings.
func (l *StringList) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	if len(data) > 0 && data[0] == '"' {
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return err
		}
		*l = StringList{s}
		return nil
	}
	var list []string
	if err := json.Unmarshal(data, &list); err != nil {
		return fmt.Errorf("expected a string or a list of strings: %w", err)
	}
	*l = list
	return nil
}

// scalarText is a JSON string's contents, or a JSON number's text: the values
// that may be written either way in YAML (mode: 1, mode: "1").
func scalarText(data []byte) (string, error) {
	if len(data) > 0 && data[0] == '"' {
		var s string
		err := json.Unmarshal(data, &s)
		return s, err
	}
	return string(data), nil
}
