package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"flotilla.io/flotilla/internal/store"
	"flotilla.io/flotilla/internal/wire"
)

// agentFacts is facts of an agent on arch with n API versions.
func agentFacts(t testing.TB, arch string, n int) []byte {
	t.Helper()
	f := wire.Facts{Arch: arch, Agent: &wire.AgentInfo{Version: "v0", Arch: arch}}
	for i := range n {
		f.APIVersions = append(f.APIVersions, fmt.Sprintf("group%d.example/v1", i))
	}
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestReleaseForWithoutReleasesReadsNothing: with no release pushed, a
// pass spends nothing on a cluster's agent release.
func TestReleaseForWithoutReleasesReadsNothing(t *testing.T) {
	c := store.Cluster{ID: "c1", Labels: map[string]string{"env": "dev"}, Facts: agentFacts(t, "arm64", 60)}
	var tg targets
	if allocs := testing.AllocsPerRun(100, func() {
		if tg.releaseFor(c) != nil {
			t.Fatal("a release without releases")
		}
	}); allocs != 0 {
		t.Errorf("releaseFor without releases: %v allocations, want 0", allocs)
	}
}

// TestReleaseOncePerFingerprint: clusters with the same labels and facts
// share the release found for the first of them.
func TestReleaseOncePerFingerprint(t *testing.T) {
	h, _ := newTestHub(t, &dirFetcher{})
	dev := targetRelease{r: store.Release{Version: "v1", Arch: "arm64", Digest: "d1"}, selectors: mustSelectors(t, "env=dev")}
	p := &pass{t: targets{releases: []targetRelease{dev}}, contents: map[string]encoded{}, byTarget: map[string]*resolvedRefs{}, agents: map[string]*targetRelease{}, jobs: map[renderID]renderJob{}}
	arm, amd := agentFacts(t, "arm64", 60), agentFacts(t, "amd64", 60)
	tests := []struct {
		c    store.Cluster
		want string
	}{
		{store.Cluster{ID: "a", Name: "a", Labels: map[string]string{"env": "dev"}, Facts: arm}, "d1"},
		{store.Cluster{ID: "b", Name: "b", Labels: map[string]string{"env": "dev"}, Facts: arm}, "d1"},
		{store.Cluster{ID: "c", Name: "c", Labels: map[string]string{"env": "dev"}, Facts: amd}, ""},
		{store.Cluster{ID: "d", Name: "d", Labels: map[string]string{"env": "prod"}, Facts: arm}, ""},
		{store.Cluster{ID: "e", Name: "e", Labels: map[string]string{"env": "prod"}, Facts: arm}, ""},
	}
	for _, tc := range tests {
		if _, agent := h.resolveFor(context.Background(), p, tc.c); agent.digest() != tc.want {
			t.Errorf("cluster %s gets release %q, want %q", tc.c.ID, agent.digest(), tc.want)
		}
	}
	if len(p.agents) != 3 {
		t.Errorf("releases found for %d fingerprints, want 3", len(p.agents))
	}
}
