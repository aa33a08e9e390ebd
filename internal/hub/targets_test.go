package hub

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/labels"

	"flotilla.io/flotilla/internal/store"
	"flotilla.io/flotilla/internal/wire"
)

func mustSelectors(t *testing.T, raw ...string) []labels.Selector {
	t.Helper()
	var out []labels.Selector
	for _, r := range raw {
		s, err := labels.Parse(r)
		if err != nil {
			t.Fatalf("parsing %q: %v", r, err)
		}
		out = append(out, s)
	}
	return out
}

func TestTargeted(t *testing.T) {
	tg := targets{
		selectors: map[string][]labels.Selector{
			"eu-dev": mustSelectors(t, "env=dev,region in (eu,us)"),
			"any":    mustSelectors(t, "env=prod", "tier!=edge,env"),
		},
		groups: map[string][]labels.Selector{
			"arm": mustSelectors(t, "flotilla.io/arch=arm64"),
		},
	}
	sources := []string{"eu-dev", "any", "arm", "none"}
	tests := []struct {
		name   string
		labels map[string]string
		want   []string
	}{
		{"eu dev", map[string]string{"env": "dev", "region": "eu"}, []string{"eu-dev", "any"}},
		{"asia dev", map[string]string{"env": "dev", "region": "asia"}, []string{"any"}},
		{"prod", map[string]string{"env": "prod"}, []string{"any"}},
		{"edge tier without prod", map[string]string{"env": "test", "tier": "edge"}, nil},
		{"arm through a target group", map[string]string{"flotilla.io/arch": "arm64", "tier": "edge"}, []string{"arm"}},
		{"no labels", nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, s := range sources {
				if tg.targeted(s, labels.Set(tc.labels)) {
					got = append(got, s)
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("targeted sources (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFactLabels(t *testing.T) {
	got := clusterLabels(store.Cluster{
		Labels: map[string]string{"env": "dev"},
		Facts:  []byte(`{"arch":"arm64","os":"linux","kubernetesVersion":"v1.30.2+k3s1","nodes":3,"memoryGiB":4,"runtimeClasses":["wasmtime","spin"]}`),
	})
	want := map[string]string{
		"env":                               "dev",
		"flotilla.io/arch":                  "arm64",
		"flotilla.io/os":                    "linux",
		"flotilla.io/kubernetes-version":    "v1.30.2_k3s1",
		"flotilla.io/nodes":                 "3",
		"flotilla.io/memory-gib":            "4",
		"runtimeclass.flotilla.io/wasmtime": "true",
		"runtimeclass.flotilla.io/spin":     "true",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
	if err := validateLabels(map[string]string{"runtimeclass.flotilla.io/x": "true"}); err == nil {
		t.Error("an operator may set a reserved label")
	}
}

func TestClusterState(t *testing.T) {
	ready := wire.BundleStatus{Name: "a", State: wire.StateReady}
	notReady := wire.BundleStatus{Name: "b", State: wire.StateNotReady, Message: "Deployment/x: 0/1"}
	failed := wire.BundleStatus{Name: "c", State: wire.StateErrApplied, Message: "boom"}
	tests := []struct {
		name      string
		reported  bool
		report    wire.StatusReport
		desired   int64
		wantState string
		wantMsg   string
	}{
		{"never reported", false, wire.StatusReport{}, 1, wire.StatePending, "agent has not reported yet"},
		{"agent error", true, wire.StatusReport{AppliedGeneration: 1, Error: "refused"}, 1, wire.StateErrApplied, "refused"},
		{"behind", true, wire.StatusReport{AppliedGeneration: 1, Bundles: []wire.BundleStatus{ready}}, 2, wire.StateWaitApplied, "applied generation 1, desired 2"},
		{"all ready", true, wire.StatusReport{AppliedGeneration: 2, Bundles: []wire.BundleStatus{ready}}, 2, wire.StateReady, ""},
		{"no bundles", true, wire.StatusReport{AppliedGeneration: 2}, 2, wire.StateReady, ""},
		{"worst wins", true, wire.StatusReport{AppliedGeneration: 2, Bundles: []wire.BundleStatus{ready, failed, notReady}}, 2, wire.StateErrApplied, "c: boom"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			state, msg := clusterState(tc.reported, tc.report, tc.desired)
			if state != tc.wantState || msg != tc.wantMsg {
				t.Errorf("clusterState = %q %q, want %q %q", state, msg, tc.wantState, tc.wantMsg)
			}
		})
	}
}

func TestSourceFromSpec(t *testing.T) {
	tests := []struct {
		name    string
		spec    wire.SourceSpec
		wantErr bool
	}{
		{"minimal", wire.SourceSpec{Name: "apps", Repo: "https://git.example/x.git"}, false},
		{"bad name", wire.SourceSpec{Name: "Apps_1", Repo: "x"}, true},
		{"no repo", wire.SourceSpec{Name: "apps"}, true},
		{"bad selector", wire.SourceSpec{Name: "apps", Repo: "x", Targets: []string{"env in (a"}}, true},
		{"escaping path", wire.SourceSpec{Name: "apps", Repo: "x", Paths: []string{"a/../../b"}}, true},
		{"tiny poll", wire.SourceSpec{Name: "apps", Repo: "x", Poll: wire.Duration(1)}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := sourceFromSpec(tc.spec)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if err == nil && (s.Branch != "main" || s.Poll != DefaultPoll) {
				t.Errorf("defaults not applied: %+v", s)
			}
		})
	}
}

// TestGroupLabelsReachClusterGroupSelector: a group's own labels are what
// fleet.yaml's clusterGroupSelector matches, as with Fleet's ClusterGroups.
func TestGroupLabelsReachClusterGroupSelector(t *testing.T) {
	ctx := context.Background()
	fetcher := &dirFetcher{}
	h, db := newTestHub(t, fetcher)
	if err := db.CreateCluster(ctx, store.Cluster{ID: "c1", Name: "prod-1", Labels: map[string]string{"env": "prod"}, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	fetcher.commit(t, "commit-1", map[string]string{
		"app/fleet.yaml": "defaultNamespace: plain\ntargetCustomizations:\n- name: core\n  clusterGroupSelector: {matchLabels: {tier: core}}\n  namespace: core-ns\n",
		"app/cm.yaml":    configMapYAML("cm", "v"),
	})
	if _, err := h.AddSource(ctx, wire.SourceSpec{Name: "s", Repo: "https://git.example/fleet", Targets: []string{"env"}}); err != nil {
		t.Fatal(err)
	}
	h.syncByName(ctx, "s")
	settle(t, h)
	namespaceOf := func() string {
		t.Helper()
		m, err := db.GetManifest(ctx, "c1")
		if err != nil {
			t.Fatal(err)
		}
		content, err := h.content(ctx, m.Digest)
		if err != nil {
			t.Fatal(err)
		}
		var refs []wire.BundleRef
		if err := json.Unmarshal(content, &refs); err != nil || len(refs) != 1 {
			t.Fatalf("refs %s: %v", content, err)
		}
		objs, err := db.GetObjects(ctx, refs[0].Objects)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			var u struct {
				Kind     string `json:"kind"`
				Metadata struct {
					Namespace string `json:"namespace"`
				} `json:"metadata"`
			}
			if json.Unmarshal(o, &u) == nil && u.Kind == "ConfigMap" {
				return u.Metadata.Namespace
			}
		}
		t.Fatal("no ConfigMap rendered")
		return ""
	}
	tests := []struct {
		name   string
		labels map[string]string
		want   string
	}{
		{"group without labels", nil, "plain"},
		{"group labelled tier=core", map[string]string{"tier": "core"}, "core-ns"},
		{"label changes", map[string]string{"tier": "edge"}, "plain"},
	}
	for _, tc := range tests {
		if _, err := h.PutGroup(ctx, wire.GroupSpec{Name: "core", Selector: "env=prod", Labels: tc.labels}); err != nil {
			t.Fatal(err)
		}
		settle(t, h)
		if got := namespaceOf(); got != tc.want {
			t.Errorf("%s: ConfigMap in %q, want %q", tc.name, got, tc.want)
		}
	}
	if _, err := h.PutGroup(ctx, wire.GroupSpec{Name: "core", Selector: "env=prod", Labels: map[string]string{"flotilla.io/arch": "arm64"}}); err == nil {
		t.Error("a group with a reserved label was accepted")
	}
}
