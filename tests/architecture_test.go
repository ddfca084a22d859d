package tests

import (
	"os/exec"
	"strings"
	"testing"
)

// The layering of DESIGN.md, which Go does not enforce for us: what each
// part of the module may import from the module itself and from outside
// the standard library.
var rules = []struct {
	prefix   string
	internal []string // module packages it may import (prefixes)
	external []string // non-standard modules it may import (prefixes)
}{
	{"switchboard/domain", []string{"switchboard/domain"}, nil},
	{"switchboard/eventstore", []string{"switchboard/eventstore"}, []string{"github.com/google/uuid"}},
	{"switchboard/commands", []string{"switchboard/commands", "switchboard/domain", "switchboard/eventstore"}, []string{"github.com/google/uuid", "github.com/ThreeDotsLabs/watermill", "golang.org/x/crypto"}},
	{"switchboard/projections", []string{"switchboard/projections", "switchboard/domain", "switchboard/eventstore"}, []string{"github.com/google/uuid"}},
	{"switchboard/adapters", []string{"switchboard/commands", "switchboard/projections", "switchboard/domain", "switchboard/eventstore"}, nil},
}

// TestImportGraph fails when a package imports across the layering, or when
// one adapter imports another.
func TestImportGraph(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "switchboard/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg, imports := fields[0], fields[1:]
		for _, r := range rules {
			if pkg != r.prefix && !strings.HasPrefix(pkg, r.prefix+"/") {
				continue
			}
			checked++
			for _, imp := range imports {
				if !strings.Contains(strings.Split(imp, "/")[0], ".") && !strings.HasPrefix(imp, "switchboard") {
					continue // standard library
				}
				if strings.HasPrefix(imp, "switchboard/") {
					if r.prefix == "switchboard/adapters" && strings.HasPrefix(imp, "switchboard/adapters/") {
						if adapterOf(imp) != adapterOf(pkg) {
							t.Errorf("%s imports another adapter, %s", pkg, imp)
						}
						continue
					}
					if !hasPrefix(imp, r.internal) {
						t.Errorf("%s may not import %s", pkg, imp)
					}
					continue
				}
				if r.external != nil && !hasPrefix(imp, r.external) {
					t.Errorf("%s may not import %s", pkg, imp)
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no package checked")
	}
}

func adapterOf(pkg string) string {
	parts := strings.Split(pkg, "/")
	if len(parts) < 3 {
		return ""
	}
	return parts[2]
}

func hasPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if s == p || strings.HasPrefix(s, p+"/") {
			return true
		}
	}
	return false
}
