package main

import (
	"os"
	"strings"
)

// cmdline is a parsed kernel command line: the last value of each key.
type cmdline map[string]string

// parseCmdline splits a kernel command line into key=value words; a word
// without '=' has the value "". Double quotes group a value with spaces, as
// the kernel allows (key="a b").
func parseCmdline(s string) cmdline {
	c := make(cmdline)
	var word strings.Builder
	quoted := false
	flush := func() {
		if word.Len() == 0 {
			return
		}
		k, v, _ := strings.Cut(word.String(), "=")
		c[k] = v
		word.Reset()
	}
	for _, r := range s {
		switch {
		case r == '"':
			quoted = !quoted
		case !quoted && (r == ' ' || r == '\t' || r == '\n'):
			flush()
		default:
			word.WriteRune(r)
		}
	}
	flush()
	return c
}

// Get returns the value of key, or "".
func (c cmdline) Get(key string) string { return c[key] }

// kernelCmdline reads /proc/cmdline; an unreadable one is empty.
func kernelCmdline() cmdline {
	data, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return cmdline{}
	}
	return parseCmdline(string(data))
}
