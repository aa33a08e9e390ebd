package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	_ "modernc.org/sqlite"

	"flotilla.io/flotilla/internal/wire"
)

const (
	rawFleet = "defaultNamespace: e2e-raw\n"
	rawNS    = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: e2e-raw\n"
	extraCM  = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\ndata:\n  k: v\n"
	kustFile = `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: e2e-kust
resources: [ns.yaml, cm.yaml]
commonLabels:
  team: edge
`
	kustNS = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: e2e-kust\n"
	kustCM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: kust-config\ndata:\n  mode: base\n"
)

func appConfig(color string) string {
	return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-config\ndata:\n  color: " + color + "\n"
}

// configValue reads data[key] of a ConfigMap, or an error saying why not.
func configValue(cs kubernetes.Interface, ns, name, key string) (string, error) {
	cm, err := cs.CoreV1().ConfigMaps(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	return cm.Data[key], nil
}

func wantValue(cs kubernetes.Interface, ns, name, key, want string) func() error {
	return func() error {
		got, err := configValue(cs, ns, name, key)
		if err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("%s/%s %s = %q, want %q", ns, name, key, got, want)
		}
		return nil
	}
}

func wantGone(cs kubernetes.Interface, ns, name string) func() error {
	return func() error {
		_, err := cs.CoreV1().ConfigMaps(ns).Get(context.Background(), name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("%s/%s still exists (err %v)", ns, name, err)
	}
}

// TestFleetLoop walks the whole loop: a commit reaches the targeted
// cluster and no other; edits update, deletions prune; a broken bundle is
// reported and the others keep working; tampered objects and an older
// generation are refused.
func TestFleetLoop(t *testing.T) {
	ctx := context.Background()
	devCS, prodCS := clientset(t, dev), clientset(t, prod)
	f := newFleet(t)

	f.work.WriteFile(t, "raw/fleet.yaml", rawFleet)
	f.work.WriteFile(t, "raw/namespace.yaml", rawNS)
	f.work.WriteFile(t, "raw/app.yaml", appConfig("blue"))
	f.work.WriteFile(t, "raw/nested/extra.yaml", extraCM)
	f.work.WriteFile(t, "kust/fleet.yaml", "# a Kustomize bundle\n")
	f.work.WriteFile(t, "kust/kustomization.yaml", kustFile)
	f.work.WriteFile(t, "kust/ns.yaml", kustNS)
	f.work.WriteFile(t, "kust/cm.yaml", kustCM)
	f.work.CommitAndPush(t, "two bundles")

	f.startHub()
	if _, err := f.op.AddSource(ctx, wire.SourceSpec{Name: "fleet", Repo: f.repoURL, Poll: wire.Duration(time.Second), Targets: []string{"env=dev"}}); err != nil {
		t.Fatalf("adding source: %v", err)
	}
	f.startAgent("dev", dev, f.token("dev"))
	f.startAgent("prod", prod, f.token("prod"))

	t.Run("targeted cluster converges, other gets nothing", func(t *testing.T) {
		// Both bundles: a cluster that enrolls before the source's first
		// fetch is Ready on an empty first generation.
		eventually(t, time.Minute, "dev to converge on both bundles", func() error { return f.convergedOn("dev", 2) })
		eventually(t, time.Minute, "prod to converge", func() error { return f.converged("prod") })
		for _, check := range []func() error{
			wantValue(devCS, "e2e-raw", "app-config", "color", "blue"),
			wantValue(devCS, "e2e-raw", "extra", "k", "v"),
			wantValue(devCS, "e2e-kust", "kust-config", "mode", "base"),
		} {
			if err := check(); err != nil {
				t.Error(err)
			}
		}
		cm, err := devCS.CoreV1().ConfigMaps("e2e-kust").Get(ctx, "kust-config", metav1.GetOptions{})
		if err != nil || cm.Labels["team"] != "edge" {
			t.Errorf("kustomize labels not applied: %v %v", cm.Labels, err)
		}
		if _, err := prodCS.CoreV1().Namespaces().Get(ctx, "e2e-raw", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("prod cluster got namespace e2e-raw (err %v)", err)
		}
		p, err := f.cluster("prod")
		if err != nil || len(p.Bundles) != 0 {
			t.Errorf("prod bundles = %+v (%v), want none", p.Bundles, err)
		}
		b, err := f.bundle("fleet-raw")
		if err != nil || b.Clusters != 1 || b.States[wire.StateReady] != 1 || b.Objects != 3 {
			t.Errorf("bundle fleet-raw = %+v (%v), want 3 objects, 1 cluster Ready", b, err)
		}
	})

	t.Run("an edit updates the object", func(t *testing.T) {
		f.work.WriteFile(t, "raw/app.yaml", appConfig("green"))
		f.work.CommitAndPush(t, "green")
		eventually(t, 30*time.Second, "the edit to arrive", wantValue(devCS, "e2e-raw", "app-config", "color", "green"))
	})

	t.Run("a deleted file is pruned", func(t *testing.T) {
		f.work.Remove(t, "raw/nested/extra.yaml")
		f.work.CommitAndPush(t, "drop extra")
		eventually(t, 30*time.Second, "the object to be pruned", wantGone(devCS, "e2e-raw", "extra"))
		if err := wantValue(devCS, "e2e-raw", "app-config", "color", "green")(); err != nil {
			t.Errorf("pruning touched a kept object: %v", err)
		}
	})

	t.Run("a broken bundle is reported, the others keep working", func(t *testing.T) {
		f.work.WriteFile(t, "broken/fleet.yaml", "defaultNamespace: e2e-raw\n")
		f.work.WriteFile(t, "broken/bad.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: [unclosed\n")
		f.work.WriteFile(t, "raw/app.yaml", appConfig("red"))
		f.work.CommitAndPush(t, "broken bundle and an edit")
		eventually(t, 30*time.Second, "the edit beside the broken bundle", wantValue(devCS, "e2e-raw", "app-config", "color", "red"))
		eventually(t, 30*time.Second, "the bundle error", func() error {
			b, err := f.bundle("fleet-broken")
			if err != nil {
				return err
			}
			if !strings.Contains(b.Error, "bad.yaml") {
				return fmt.Errorf("bundle error %q does not name bad.yaml", b.Error)
			}
			return nil
		})
		eventually(t, 30*time.Second, "dev to show the bundle error", func() error {
			c, err := f.cluster("dev")
			if err != nil {
				return err
			}
			for _, b := range c.Bundles {
				if b.Name == "fleet-broken" && b.State == wire.StateErrApplied && strings.Contains(b.Message, "bad.yaml") {
					return nil
				}
			}
			return fmt.Errorf("dev bundles %+v", c.Bundles)
		})
		f.work.Remove(t, "broken/bad.yaml")
		f.work.Remove(t, "broken/fleet.yaml")
		f.work.CommitAndPush(t, "remove broken bundle")
		eventually(t, 30*time.Second, "dev to recover", func() error { return f.converged("dev") })
	})

	t.Run("a tampered object is refused and nothing is applied", func(t *testing.T) {
		f.stopAgent("dev")
		f.work.WriteFile(t, "raw/app.yaml", appConfig("yellow"))
		commit := f.work.CommitAndPush(t, "yellow")
		eventually(t, 30*time.Second, "the hub to render the commit", func() error {
			b, err := f.bundle("fleet-raw")
			if err != nil || b.Commit != commit {
				return fmt.Errorf("bundle at %q (%v), want %s", b.Commit, err, commit)
			}
			return nil
		})
		db := openHubDB(t, f)
		tamper(t, db, "yellow", "YELLOW")
		f.startAgent("dev", dev, "")
		eventually(t, 30*time.Second, "the refusal in the cluster status", func() error {
			c, err := f.cluster("dev")
			if err != nil {
				return err
			}
			if !strings.Contains(c.Message, "does not match its hash") {
				return fmt.Errorf("dev is %s: %q", c.State, c.Message)
			}
			return nil
		})
		if err := wantValue(devCS, "e2e-raw", "app-config", "color", "red")(); err != nil {
			t.Errorf("tampered content reached the cluster: %v", err)
		}
		tamper(t, db, "YELLOW", "yellow")
		eventually(t, 2*time.Minute, "the genuine object after the repair", wantValue(devCS, "e2e-raw", "app-config", "color", "yellow"))
		eventually(t, 30*time.Second, "dev to converge", func() error { return f.converged("dev") })
	})

	t.Run("an older generation is refused", func(t *testing.T) {
		// Back up the hub, move on, then restore the backup: the restored
		// hub offers a generation the agent has already passed.
		f.stopHub()
		backup := filepath.Join(f.dir, "hub-backup")
		copyDir(t, f.hubDir(), backup)
		f.startHub()
		before, err := f.cluster("dev")
		if err != nil {
			t.Fatal(err)
		}
		// Two generations on, so that whatever the restored hub issues
		// first (its old manifest, or one for the newest commit) is older.
		for i, color := range []string{"purple", "orange"} {
			f.work.WriteFile(t, "raw/app.yaml", appConfig(color))
			f.work.CommitAndPush(t, color)
			eventually(t, 30*time.Second, color, wantValue(devCS, "e2e-raw", "app-config", "color", color))
			eventually(t, 30*time.Second, "dev to report its generation", func() error {
				c, err := f.cluster("dev")
				if err != nil || c.AppliedGeneration < before.DesiredGeneration+int64(i)+1 {
					return fmt.Errorf("applied %d (%v)", c.AppliedGeneration, err)
				}
				return nil
			})
		}
		f.stopHub()
		if err := os.RemoveAll(f.hubDir()); err != nil {
			t.Fatal(err)
		}
		copyDir(t, backup, f.hubDir())
		f.startHub()
		eventually(t, time.Minute, "the agent to refuse the older generation", func() error {
			if !strings.Contains(f.agents["dev"].logs.String(), wire.ErrOlderGeneration.Error()) {
				return fmt.Errorf("no refusal logged yet")
			}
			return nil
		})
		// The hub learns the applied generation from the status and
		// reissues above it; the fleet converges on the current commit.
		eventually(t, time.Minute, "dev to converge on the restored hub", func() error {
			if err := f.converged("dev"); err != nil {
				return err
			}
			return wantValue(devCS, "e2e-raw", "app-config", "color", "orange")()
		})
	})
}

func openHubDB(t *testing.T, f *fleet) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(f.hubDir(), "hub.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// tamper rewrites stored objects behind the hub's back.
func tamper(t *testing.T, db *sql.DB, from, to string) {
	t.Helper()
	res, err := db.Exec(`UPDATE objects SET data = CAST(replace(CAST(data AS TEXT), ?, ?) AS BLOB) WHERE CAST(data AS TEXT) LIKE ?`, from, to, "%"+from+"%")
	if err != nil {
		t.Fatalf("tampering: %v", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		t.Fatalf("tampering changed no object containing %q", from)
	}
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o700)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		return os.WriteFile(dst, data, info.Mode().Perm())
	})
	if err != nil {
		t.Fatalf("copying %s: %v", from, err)
	}
}
