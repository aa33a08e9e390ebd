package archtest

import (
	"os/exec"
	"strings"
	"testing"
)

// TestAgentBinaryIsSlim checks that cmd/flotilla-agent links none of what
// only the hub or the CLI needs: that is what keeps it small on an edge box.
func TestAgentBinaryIsSlim(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "flotilla.io/flotilla/cmd/flotilla-agent").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	forbidden := []string{
		"helm.sh/helm",
		"sigs.k8s.io/kustomize",
		"github.com/go-git/go-git",
		"modernc.org/sqlite",
		"github.com/jackc/pgx",
		"github.com/spf13/cobra",
		mod + "hub",
		mod + "hubserver",
		mod + "store",
		mod + "render",
		mod + "bundle",
		mod + "gitsource",
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if dep == f || strings.HasPrefix(dep, f+"/") {
				t.Errorf("cmd/flotilla-agent links %s", dep)
			}
		}
	}
}
