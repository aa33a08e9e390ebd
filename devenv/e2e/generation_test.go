package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"flotilla.io/flotilla/internal/agent"
)

// TestNewGenerationWritesOnlyWhatChanged: a commit that changes one
// bundle moves the cluster to a new generation; the agent makes API
// requests for that bundle only. The resync is long so that no health
// re-check runs meanwhile.
func TestNewGenerationWritesOnlyWhatChanged(t *testing.T) {
	nss := map[string]string{"a": "e2e-only-a", "b": "e2e-only-b", "c": "e2e-only-c"}
	cs := clientset(t, prod)
	files := map[string]string{}
	for dir, ns := range nss {
		if err := ensureNamespace(cs, ns); err != nil {
			t.Fatal(err)
		}
		files[dir+"/fleet.yaml"] = "defaultNamespace: " + ns + "\n"
		files[dir+"/cms.yaml"] = gapCMs(3)
	}
	reqs := &requestLog{}
	f := startGapAgent(t, "only", prod, prod.Config(), files, reqs.wrap, func(o *agent.Options) { o.Resync = time.Hour })
	before, err := f.cluster("only")
	if err != nil {
		t.Fatal(err)
	}
	reqs.take()

	f.work.WriteFile(t, "a/cms.yaml", strings.Replace(gapCMs(3), `v: "1"`, `v: "2"`, 1))
	f.work.CommitAndPush(t, "a: gap-00 is 2")
	eventually(t, 30*time.Second, "the change applied", wantValue(cs, nss["a"], "gap-00", "v", "2"))
	eventually(t, 30*time.Second, "the new generation reported", func() error {
		c, err := f.cluster("only")
		if err != nil {
			return err
		}
		if c.AppliedGeneration <= before.AppliedGeneration || c.AppliedGeneration != c.DesiredGeneration {
			return fmt.Errorf("applied %d of %d (was %d)", c.AppliedGeneration, c.DesiredGeneration, before.AppliedGeneration)
		}
		return nil
	})
	got := reqs.take()
	t.Logf("%d requests for the new generation:\n%s", len(got), strings.Join(got, "\n"))
	if others := mentioning(got, nss["b"], nss["c"], "flotilla-only-b", "flotilla-only-c"); len(others) > 0 {
		t.Errorf("requests for the unchanged bundles:\n%s", strings.Join(others, "\n"))
	}
	if w := writes(mentioning(got, nss["a"])); len(w) == 0 {
		t.Errorf("no write for the changed bundle")
	}

	// A restart with nothing changed reads (health, and a check of every
	// member after the watch's first list) and writes nothing.
	f.stopAgent("only")
	reqs.take()
	f.startAgentWith("only", prod, "", func(o *agent.Options) {
		via(t, prod.Config(), reqs.wrap)(o)
		o.Resync = time.Hour
	})
	members := 3 * len(nss)
	eventually(t, 30*time.Second, "every member checked after the restart", func() error {
		reqs.mu.Lock()
		defer reqs.mu.Unlock()
		if n := len(mentioning(reqs.reqs, "dryRun=")); n < members {
			return fmt.Errorf("%d of %d members checked", n, members)
		}
		return nil
	})
	got = reqs.take()
	t.Logf("%d requests for the restart", len(got))
	if w := writes(got); len(w) > 0 {
		t.Errorf("writes at a restart with nothing changed:\n%s", strings.Join(w, "\n"))
	}
}
