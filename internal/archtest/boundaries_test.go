package archtest

import (
	"os/exec"
	"strings"
	"testing"
)

const mod = "flotilla.io/flotilla/internal/"

func TestBoundaries(t *testing.T) {
	tests := []struct {
		pkg       string
		forbidden []string // internal packages it must not depend on, directly or not
	}{
		{"agent", []string{"hub", "store", "render", "bundle", "gitsource", "hubserver"}},
		{"kubeapply", []string{"hub", "store", "render", "agent", "wire"}},
		{"wire", []string{""}}, // nothing internal at all
		{"render", []string{"hub", "store", "agent", "kubeapply", "gitsource", "renderworker"}},
		{"renderworker", []string{"hub", "store", "agent", "kubeapply", "gitsource"}},
		{"hub", []string{"kubeapply", "agent", "hub/api"}},
		{"store", []string{""}},
	}
	for _, tc := range tests {
		t.Run(tc.pkg, func(t *testing.T) {
			out, err := exec.Command("go", "list", "-deps", mod+tc.pkg).CombinedOutput()
			if err != nil {
				t.Fatalf("go list: %v\n%s", err, out)
			}
			for _, dep := range strings.Fields(string(out)) {
				rest, ok := strings.CutPrefix(dep, mod)
				if !ok || rest == tc.pkg {
					continue
				}
				for _, f := range tc.forbidden {
					if f == "" || rest == f || strings.HasPrefix(rest, f+"/") {
						t.Errorf("%s depends on %s", tc.pkg, dep)
					}
				}
			}
		})
	}
}
