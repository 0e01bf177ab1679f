package spec

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var updateDocs = flag.Bool("update", false, "rewrite the generated tables of docs/config.md")

// docs/config.md shows the tables made from Params and Modes, as they are.
func TestDocsTables(t *testing.T) {
	path := filepath.Join("..", "..", "docs", "config.md")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	for _, block := range []struct{ name, content string }{
		{"parameters", MarkdownParameters()},
		{"modes", MarkdownModes()},
	} {
		begin, end := "<!-- "+block.name+":begin -->\n", "<!-- "+block.name+":end -->"
		i, j := strings.Index(doc, begin), strings.Index(doc, end)
		if i < 0 || j < i {
			t.Fatalf("%s lacks the markers of the %s table", path, block.name)
		}
		have := doc[i+len(begin) : j]
		if have == block.content {
			continue
		}
		if *updateDocs {
			doc = doc[:i+len(begin)] + block.content + doc[j:]
			continue
		}
		t.Errorf("the %s table of %s is not what spec says (go test ./netplan/spec -update rewrites it):\n%s", block.name, path, block.content)
	}
	if *updateDocs {
		if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
