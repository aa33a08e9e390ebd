package agent

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"flotilla.io/flotilla/internal/kubeapply"
	"flotilla.io/flotilla/internal/wire"
)

// scriptedApplier answers health per set and drift from a script, and
// records every call by set.
type scriptedApplier struct {
	fakeApplier
	mu       sync.Mutex // guards the following
	notReady map[string]bool
	// missing are the members Health reports not found, by set.
	missing  map[string][]kubeapply.ObjectRef
	drifts   []kubeapply.Drift
	driftErr error
	// failApply makes the next Apply of these sets fail.
	failApply map[string]bool
	applies   []string
	healths   []string
	checks    []driftCall
	restores  []driftCall
}

type driftCall struct {
	Set  string
	Refs []kubeapply.ObjectRef
}

func (s *scriptedApplier) Apply(ctx context.Context, set kubeapply.Set) (kubeapply.Result, error) {
	s.mu.Lock()
	s.applies = append(s.applies, set.Name)
	fail := s.failApply[set.Name]
	delete(s.failApply, set.Name)
	s.mu.Unlock()
	if fail {
		return kubeapply.Result{}, errors.New("scripted failure")
	}
	return s.fakeApplier.Apply(ctx, set)
}

func (s *scriptedApplier) Health(_ context.Context, set kubeapply.Set) (kubeapply.Health, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.healths = append(s.healths, set.Name)
	var objs []kubeapply.ObjectHealth
	for _, ref := range s.missing[set.Name] {
		objs = append(objs, kubeapply.ObjectHealth{Ref: ref, Status: "NotFound"})
	}
	if s.notReady[set.Name] || len(objs) > 0 {
		return kubeapply.Health{Reason: "ConfigMap/x: starting", Objects: objs}, nil
	}
	return kubeapply.Health{Ready: true}, nil
}

func (s *scriptedApplier) Drifted(_ context.Context, set kubeapply.Set, refs []kubeapply.ObjectRef, _ []kubeapply.IgnoreRule) ([]kubeapply.Drift, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checks = append(s.checks, driftCall{set.Name, refs})
	return s.drifts, s.driftErr
}

func (s *scriptedApplier) Restore(_ context.Context, set kubeapply.Set, refs []kubeapply.ObjectRef) (kubeapply.Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.restores = append(s.restores, driftCall{set.Name, refs})
	return kubeapply.Result{}, nil
}

// calls returns and forgets the calls recorded: "apply X", "health X",
// "drift X", "restore X".
func (s *scriptedApplier) calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, n := range s.applies {
		out = append(out, "apply "+n)
	}
	for _, n := range s.healths {
		out = append(out, "health "+n)
	}
	for _, c := range s.checks {
		out = append(out, "drift "+c.Set)
	}
	for _, c := range s.restores {
		out = append(out, "restore "+c.Set)
	}
	s.applies, s.healths, s.checks, s.restores = nil, nil, nil, nil
	return out
}

// desiredOf builds a verified-looking desired state (not signed: these
// tests exercise the reconciler, not verification).
// Each bundle holds one ConfigMap, <name>-cm, with the value "1".
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

// withValue returns d at generation gen with the ConfigMap of bundle name
// set to value, and the bundles changed by edit (when not nil).
func withValue(t *testing.T, d *desired, gen int64, name, value string, edit func(*wire.BundleRef)) *desired {
	t.Helper()
	n := &desired{manifest: d.manifest, objects: maps.Clone(d.objects)}
	n.manifest.Generation = gen
	n.manifest.Bundles = slices.Clone(d.manifest.Bundles)
	for i := range n.manifest.Bundles {
		b := &n.manifest.Bundles[i]
		if b.Name != name {
			continue
		}
		if value != "" {
			data, err := wire.Canonical(configMap(b.Name+"-cm", value))
			if err != nil {
				t.Fatal(err)
			}
			h := wire.Hash(data)
			n.objects[h] = data
			b.Objects = []string{h}
		}
		if edit != nil {
			edit(b)
		}
	}
	return n
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
			r := newReconciler()
			a.applyAll(context.Background(), r, desiredOf(t, 1, tc.bundles...))
			states, retry := r.states, r.retry
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
		name         string
		policy       *wire.DriftPolicy
		drifts       []kubeapply.Drift
		wantState    string
		wantRestores int
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
			r := newReconciler()
			a.applyAll(context.Background(), r, d)
			ap.calls()
			a.checkDrift(context.Background(), r, d, map[string][]kubeapply.ObjectRef{"b": {ref}})
			got := r.withModified()
			if got[0].State != tc.wantState {
				t.Errorf("state = %s (%s), want %s", got[0].State, got[0].Message, tc.wantState)
			}
			if tc.wantState == wire.StateModified && !strings.Contains(got[0].Message, "ConfigMap/default/b-cm modified") {
				t.Errorf("message %q does not name the drifted object", got[0].Message)
			}
			if len(ap.restores) != tc.wantRestores {
				t.Errorf("%d restores, want %d", len(ap.restores), tc.wantRestores)
			}
			if len(ap.applies) != 0 {
				t.Errorf("drift corrected by applying the whole set: %v", ap.applies)
			}
			if tc.wantRestores > 0 {
				if diff := cmp.Diff([]kubeapply.ObjectRef{ref}, ap.restores[0].Refs); diff != "" {
					t.Errorf("restored (-want +got):\n%s", diff)
				}
			}
		})
	}
}

// TestNewGenerationAppliesOnlyWhatChanged: a bundle whose objects and
// apply options are as the last pass left them costs a new generation no
// call at all; everything else is applied (or assessed) as before.
func TestNewGenerationAppliesOnlyWhatChanged(t *testing.T) {
	bundles := []wire.BundleRef{
		{Name: "a", Commit: "c1"},
		{Name: "b", Commit: "c1"},
		{Name: "p", Commit: "c1", Paused: true},
		{Name: "w", Commit: "c1", Drift: &wire.DriftPolicy{Correct: false}},
	}
	newCommit := func(b *wire.BundleRef) { b.Commit = "c2" }
	tests := []struct {
		name      string
		failFirst string // bundle whose first apply fails
		next      func(t *testing.T, d *desired) *desired
		want      []string
		wantState map[string]string
	}{
		{
			name: "new commit, same objects: nothing",
			next: func(t *testing.T, d *desired) *desired {
				d = withValue(t, d, 2, "a", "", newCommit)
				return withValue(t, d, 2, "b", "", newCommit)
			},
		},
		{
			name: "one bundle changed: only it",
			next: func(t *testing.T, d *desired) *desired { return withValue(t, d, 2, "a", "2", newCommit) },
			want: []string{"apply a", "health a"},
		},
		{
			name:      "failed before, same objects: applied again",
			failFirst: "b",
			next:      func(t *testing.T, d *desired) *desired { return withValue(t, d, 2, "a", "", newCommit) },
			want:      []string{"apply b", "health b"},
		},
		{
			name: "unpaused: applied",
			next: func(t *testing.T, d *desired) *desired {
				return withValue(t, d, 2, "p", "", func(b *wire.BundleRef) { b.Paused = false })
			},
			want: []string{"apply p", "health p"},
		},
		{
			name: "paused: assessed, not applied",
			next: func(t *testing.T, d *desired) *desired {
				return withValue(t, d, 2, "a", "", func(b *wire.BundleRef) { b.Paused = true })
			},
			want: []string{"health a"},
		},
		{
			name: "drift policy changed: checked, not applied",
			next: func(t *testing.T, d *desired) *desired {
				return withValue(t, d, 2, "w", "", func(b *wire.BundleRef) { b.Drift = nil })
			},
			want: []string{"drift w"},
		},
		{
			name: "render error: reported, nothing called",
			next: func(t *testing.T, d *desired) *desired {
				return withValue(t, d, 2, "b", "", func(b *wire.BundleRef) { b.Error = "render failed" })
			},
			wantState: map[string]string{"b": wire.StateErrApplied},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ap := &scriptedApplier{failApply: map[string]bool{tc.failFirst: true}}
			a, err := New(Options{StateDir: t.TempDir(), Applier: ap})
			if err != nil {
				t.Fatal(err)
			}
			r := newReconciler()
			d := desiredOf(t, 1, bundles...)
			a.reconcile(context.Background(), r, d, false)
			ap.calls()
			a.reconcile(context.Background(), r, tc.next(t, d), false)
			if diff := cmp.Diff(tc.want, ap.calls()); diff != "" {
				t.Errorf("calls (-want +got):\n%s", diff)
			}
			for _, st := range r.states {
				want := cmpOr(tc.wantState[st.Name], wire.StateReady)
				if st.State != want || st.Generation != 2 {
					t.Errorf("%s is %s (%s) at generation %d, want %s at 2", st.Name, st.State, st.Message, st.Generation, want)
				}
			}
		})
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// TestRestartAppliesOnlyWhatChanged: after a restart, a bundle applied as
// it is is only assessed (the drift watch's first list checks its
// members), so a report-only bundle keeps its drift; a bundle changed
// while the agent was down is applied.
func TestRestartAppliesOnlyWhatChanged(t *testing.T) {
	dir := t.TempDir()
	ap := &scriptedApplier{}
	a, err := New(Options{StateDir: dir, Applier: ap})
	if err != nil {
		t.Fatal(err)
	}
	d := desiredOf(t, 1, wire.BundleRef{Name: "w", Drift: &wire.DriftPolicy{Correct: false}}, wire.BundleRef{Name: "c"}, wire.BundleRef{Name: "x"})
	a.reconcile(context.Background(), newReconciler(), d, false)
	// A restart: a new agent on the same state directory, and a new
	// generation that changed x.
	ap2 := &scriptedApplier{}
	a2, err := New(Options{StateDir: dir, Applier: ap2})
	if err != nil {
		t.Fatal(err)
	}
	if a2.outbox, err = openOutbox(dir); err != nil {
		t.Fatal(err)
	}
	a2.reconcile(context.Background(), newReconciler(), withValue(t, d, 2, "x", "2", nil), false)
	if diff := cmp.Diff([]string{"apply x", "health w", "health c", "health x"}, ap2.calls()); diff != "" {
		t.Errorf("calls after restart (-want +got):\n%s", diff)
	}
}

// TestResyncChecksWhatTheWatchMayHaveMissed: kinds whose watch was
// interrupted, members whose check failed, and members health finds
// missing are checked at the next resync, and not before.
func TestResyncChecksWhatTheWatchMayHaveMissed(t *testing.T) {
	cm := kubeapply.ObjectRef{Version: "v1", Kind: "ConfigMap", Namespace: "default", Name: "b-cm"}
	kind := kubeapply.ObjectRef{Kind: "ConfigMap"}
	ap := &scriptedApplier{}
	a, err := New(Options{StateDir: t.TempDir(), Applier: ap})
	if err != nil {
		t.Fatal(err)
	}
	r := newReconciler()
	d := desiredOf(t, 1, wire.BundleRef{Name: "b"}, wire.BundleRef{Name: "q"})
	ctx := context.Background()
	a.reconcile(ctx, r, d, false)
	ap.calls()

	a.noteDrift(kubeapply.DriftEvent{Set: "b", Ref: kind, Interrupted: true})
	a.reconcile(ctx, r, d, false)
	if got := ap.calls(); len(got) != 0 {
		t.Errorf("checked before the resync: %v", got)
	}
	a.reconcile(ctx, r, d, true)
	if diff := cmp.Diff([]driftCall{{"b", []kubeapply.ObjectRef{kind}}}, ap.checks); diff != "" {
		t.Errorf("checks at the resync (-want +got):\n%s", diff)
	}
	ap.calls()

	// A failed check is tried again at the next resync.
	ap.driftErr = errors.New("connection refused")
	a.noteDrift(kubeapply.DriftEvent{Set: "b", Ref: cm, Deleted: true})
	a.reconcile(ctx, r, d, false)
	ap.driftErr = nil
	ap.missing = map[string][]kubeapply.ObjectRef{"q": {{Version: "v1", Kind: "ConfigMap", Namespace: "default", Name: "q-cm"}}}
	ap.calls()
	a.reconcile(ctx, r, d, true)
	want := []driftCall{{"b", []kubeapply.ObjectRef{cm}}, {"q", ap.missing["q"]}}
	sortCalls := cmpopts.SortSlices(func(x, y driftCall) bool { return x.Set < y.Set })
	if diff := cmp.Diff(want, ap.checks, sortCalls); diff != "" {
		t.Errorf("checks at the next resync (-want +got):\n%s", diff)
	}
}
