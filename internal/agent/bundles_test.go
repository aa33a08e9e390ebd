package agent

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"flotilla.io/flotilla/internal/kubeapply"
	"flotilla.io/flotilla/internal/wire"
)

// scriptedApplier answers health per set and drift from a script.
type scriptedApplier struct {
	fakeApplier
	mu       sync.Mutex // guards the following
	notReady map[string]bool
	drifts   []kubeapply.Drift
	applies  []string
}

func (s *scriptedApplier) Apply(ctx context.Context, set kubeapply.Set) (kubeapply.Result, error) {
	s.mu.Lock()
	s.applies = append(s.applies, set.Name)
	s.mu.Unlock()
	return s.fakeApplier.Apply(ctx, set)
}

func (s *scriptedApplier) Health(_ context.Context, set kubeapply.Set) (kubeapply.Health, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.notReady[set.Name] {
		return kubeapply.Health{Reason: "ConfigMap/x: starting"}, nil
	}
	return kubeapply.Health{Ready: true}, nil
}

func (s *scriptedApplier) Drifted(context.Context, kubeapply.Set, []kubeapply.ObjectRef, []kubeapply.IgnoreRule) ([]kubeapply.Drift, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.drifts, nil
}

// desiredOf builds a verified-looking desired state (not signed: these
// tests exercise the reconciler, not verification).
func desiredOf(t *testing.T, gen int64, bundles ...wire.BundleRef) *desired {
	t.Helper()
	d := &desired{manifest: wire.Manifest{ClusterID: "c1", Generation: gen}, objects: map[string][]byte{}}
	for _, b := range bundles {
		data, err := wire.Canonical(configMap(b.Name+"-cm", "1"))
		if err != nil {
			t.Fatal(err)
		}
		h := wire.Hash(data)
		d.objects[h] = data
		b.Objects = []string{h}
		d.manifest.Bundles = append(d.manifest.Bundles, b)
	}
	return d
}

func TestApplyAllDependsOnAndPaused(t *testing.T) {
	tests := []struct {
		name     string
		bundles  []wire.BundleRef
		notReady map[string]bool
		want     map[string]string // bundle → state
		applied  []string
		retry    bool
	}{
		{
			name:    "dependency applied first, whatever the name order",
			bundles: []wire.BundleRef{{Name: "a-app", DependsOn: []string{"z-db"}}, {Name: "z-db"}},
			want:    map[string]string{"a-app": wire.StateReady, "z-db": wire.StateReady},
			applied: []string{"z-db", "a-app"},
		},
		{
			name:     "dependency not Ready: Pending, retried",
			bundles:  []wire.BundleRef{{Name: "app", DependsOn: []string{"db"}}, {Name: "db"}},
			notReady: map[string]bool{"db": true},
			want:     map[string]string{"app": wire.StatePending, "db": wire.StateNotReady},
			applied:  []string{"db"},
			retry:    true,
		},
		{
			name:    "dependency not on this cluster",
			bundles: []wire.BundleRef{{Name: "app", DependsOn: []string{"elsewhere"}}},
			want:    map[string]string{"app": wire.StatePending},
			retry:   true,
		},
		{
			name:    "cycle",
			bundles: []wire.BundleRef{{Name: "a", DependsOn: []string{"b"}}, {Name: "b", DependsOn: []string{"a"}}},
			want:    map[string]string{"a": wire.StatePending, "b": wire.StatePending},
			retry:   true,
		},
		{
			name:    "paused is neither applied nor pruned",
			bundles: []wire.BundleRef{{Name: "p", Paused: true}, {Name: "q"}},
			want:    map[string]string{"p": wire.StateReady, "q": wire.StateReady},
			applied: []string{"q"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ap := &scriptedApplier{notReady: tc.notReady}
			a, err := New(Options{StateDir: t.TempDir(), Applier: ap})
			if err != nil {
				t.Fatal(err)
			}
			states, retry := a.applyAll(context.Background(), desiredOf(t, 1, tc.bundles...))
			got := map[string]string{}
			for _, st := range states {
				got[st.Name] = st.State
				if st.State == wire.StatePending && st.Message == "" {
					t.Errorf("%s is Pending without a message", st.Name)
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("states (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.applied, ap.applies); diff != "" {
				t.Errorf("applied (-want +got):\n%s", diff)
			}
			if retry != tc.retry {
				t.Errorf("retry = %v, want %v", retry, tc.retry)
			}
		})
	}
}

func TestCheckDrift(t *testing.T) {
	ref := kubeapply.ObjectRef{Version: "v1", Kind: "ConfigMap", Namespace: "default", Name: "b-cm"}
	tests := []struct {
		name        string
		policy      *wire.DriftPolicy
		drifts      []kubeapply.Drift
		wantState   string
		wantApplies int
	}{
		{"nil policy corrects", nil, []kubeapply.Drift{{Ref: ref, Reason: "deleted"}}, wire.StateReady, 1},
		{"correct true corrects", &wire.DriftPolicy{Correct: true}, []kubeapply.Drift{{Ref: ref, Reason: "modified"}}, wire.StateReady, 1},
		{"correct false reports Modified", &wire.DriftPolicy{Correct: false}, []kubeapply.Drift{{Ref: ref, Reason: "modified"}}, wire.StateModified, 0},
		{"no drift after all", &wire.DriftPolicy{Correct: false}, nil, wire.StateReady, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ap := &scriptedApplier{drifts: tc.drifts}
			a, err := New(Options{StateDir: t.TempDir(), Applier: ap})
			if err != nil {
				t.Fatal(err)
			}
			d := desiredOf(t, 1, wire.BundleRef{Name: "b", Drift: tc.policy})
			r := &reconciler{modified: map[string]map[string]string{}}
			r.states, _ = a.applyAll(context.Background(), d)
			ap.applies = nil
			a.checkDrift(context.Background(), r, d, map[string][]kubeapply.ObjectRef{"b": {ref}})
			got := r.withModified()
			if got[0].State != tc.wantState {
				t.Errorf("state = %s (%s), want %s", got[0].State, got[0].Message, tc.wantState)
			}
			if tc.wantState == wire.StateModified && !strings.Contains(got[0].Message, "ConfigMap/default/b-cm modified") {
				t.Errorf("message %q does not name the drifted object", got[0].Message)
			}
			if len(ap.applies) != tc.wantApplies {
				t.Errorf("%d applies, want %d", len(ap.applies), tc.wantApplies)
			}
		})
	}
}

func TestReportOnlyBundleIsNotReapplied(t *testing.T) {
	dir := t.TempDir()
	ap := &scriptedApplier{}
	a, err := New(Options{StateDir: dir, Applier: ap})
	if err != nil {
		t.Fatal(err)
	}
	d := desiredOf(t, 1, wire.BundleRef{Name: "w", Drift: &wire.DriftPolicy{Correct: false}}, wire.BundleRef{Name: "c"})
	a.applyAll(context.Background(), d)
	// A restart: a new agent on the same state directory.
	ap2 := &scriptedApplier{}
	a2, err := New(Options{StateDir: dir, Applier: ap2})
	if err != nil {
		t.Fatal(err)
	}
	if a2.outbox, err = openOutbox(dir); err != nil {
		t.Fatal(err)
	}
	a2.applyAll(context.Background(), d)
	if diff := cmp.Diff([]string{"c"}, ap2.applies); diff != "" {
		t.Errorf("applied after restart (-want +got):\n%s", diff)
	}
	if drift := a2.takeDrift(); len(drift["w"]) != 1 {
		t.Errorf("no whole-set drift check queued for w: %v", drift)
	}
}
