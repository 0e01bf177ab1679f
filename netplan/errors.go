package netplan

import (
	"fmt"
	"strings"
)

// Error is one problem in a configuration file: which file, which key (a dotted
// path such as "network.bonds.bond0.parameters.mode") and what was expected.
// Line is set where the YAML parser reports one (syntax errors), else 0.
type Error struct {
	File string
	Path string
	Line int
	Msg  string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Path != "" {
		b.WriteString(": ")
		b.WriteString(e.Path)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// ErrorList is every problem found in one configuration file, in a stable
// order. A config error of any kind is returned as an ErrorList, so callers can
// tell "the config is wrong" (exit status 2) from other failures with
// errors.As.
type ErrorList []*Error

func (l ErrorList) Error() string {
	msgs := make([]string, len(l))
	for i, e := range l {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}
