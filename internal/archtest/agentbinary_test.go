package archtest

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestAgentBinaryIsSlim checks that cmd/flotilla-agent links none of what
// only the hub or the CLI needs, and none of client-go's typed scheme: that
// is what keeps it small on an edge box (docs/benchmarks.md, section
// "Agent").
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
		// The typed scheme registers every built-in API group (56 of
		// them): half the binary and its pages, a few MB of heap at
		// start. client-go's discovery and restmapper packages import it;
		// kubeapply discovers with plain requests instead.
		"k8s.io/client-go/kubernetes",
		"k8s.io/client-go/discovery",
		"k8s.io/client-go/restmapper",
		"k8s.io/client-go/informers",
		"k8s.io/client-go/tools/cache",
		"k8s.io/api",
	}
	// kstatus names core/v1's condition constants, which links that one
	// group's types.
	allowed := []string{"k8s.io/api/core/v1"}
	for _, dep := range strings.Fields(string(out)) {
		if slices.Contains(allowed, dep) {
			continue
		}
		for _, f := range forbidden {
			if dep == f || strings.HasPrefix(dep, f+"/") {
				t.Errorf("cmd/flotilla-agent links %s", dep)
			}
		}
	}
}
