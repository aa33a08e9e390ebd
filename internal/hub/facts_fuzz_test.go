package hub

import (
	"encoding/json"
	"maps"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"

	"flotilla.io/flotilla/internal/store"
	"flotilla.io/flotilla/internal/wire"
)

// FuzzFactLabels: whatever facts an agent reports, the labels they become
// are valid Kubernetes labels under the reserved prefixes, and they never
// replace or hide the operator's own labels.
func FuzzFactLabels(f *testing.F) {
	for _, facts := range []wire.Facts{
		{Arch: "arm64", OS: "linux", KubernetesVersion: "v1.30.2+k3s1", Nodes: 3, MemoryGiB: 7, RuntimeClasses: []string{"wasmtime", "gvisor"}},
		{Arch: "_-.", KubernetesVersion: string(make([]byte, 70)), Nodes: -1, RuntimeClasses: []string{"", "a/b", "UPPER", "x..y"}},
	} {
		data, _ := json.Marshal(facts)
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var facts wire.Facts
		if json.Unmarshal(data, &facts) != nil {
			return
		}
		own := map[string]string{"env": "prod", "flotilla.io/arch": "forged"}
		got := clusterLabels(store.Cluster{Labels: own, Facts: data})
		for k, v := range factLabels(facts) {
			if !reserved(k) {
				t.Fatalf("fact label %q is outside the reserved prefixes", k)
			}
			if errs := validation.IsQualifiedName(k); len(errs) > 0 {
				t.Fatalf("fact label key %q: %v", k, errs)
			}
			if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
				t.Fatalf("fact label %s=%q: %v", k, v, errs)
			}
			if got[k] != v {
				t.Fatalf("cluster labels have %s=%q, facts say %q", k, got[k], v)
			}
		}
		if got["env"] != "prod" {
			t.Fatal("facts removed an operator label")
		}
		if !maps.Equal(factLabels(facts), factLabels(facts)) {
			t.Fatal("the same facts give different labels")
		}
	})
}
