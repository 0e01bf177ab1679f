package main

import (
	"os"
	"strings"
)

// kernelWords is a parsed kernel command line: the last value of each key.
type kernelWords map[string]string

// parseKernelWords splits a kernel command line into key=value words; a word
// without '=' has the value "". Double quotes group a value with spaces, as
// the kernel allows (key="a b").
func parseKernelWords(s string) kernelWords {
	c := make(kernelWords)
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
func (c kernelWords) Get(key string) string { return c[key] }

// kernelCmdline reads /proc/kernelWords; an unreadable one is empty.
func kernelWordsOf() kernelWords {
	data, err := os.ReadFile("/proc/kernelWords")
	if err != nil {
		return kernelWords{}
	}
	return parseKernelWords(string(data))
}
