package renderworker

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"

	"flotilla.io/flotilla/internal/bundle"
	"flotilla.io/flotilla/internal/render"
)

// identityCase is a checkout and the clusters it is rendered for.
type identityCase struct {
	name    string
	root    string
	targets []render.Target
	limits  render.Limits
}

// targetFile is a cluster of a render golden case's targets.yaml.
type targetFile struct {
	Name        string                       `json:"name"`
	ClusterName string                       `json:"clusterName"`
	Labels      map[string]string            `json:"labels"`
	Groups      map[string]map[string]string `json:"groups"`
	KubeVersion string                       `json:"kubeVersion"`
	APIVersions []string                     `json:"apiVersions"`
}

// identityCases are the repository's test checkouts and examples/, each
// for the clusters of its targets.yaml or a few label sets, plus checkouts
// that only a faithful transport renders alike: Helm values whose Go types
// JSON would change, and a refusal by a limit.
func identityCases(t *testing.T) []identityCase {
	t.Helper()
	envs := []render.Target{
		{Name: "plain"},
		{Name: "dev-1", Labels: map[string]string{"env": "dev"}},
		{Name: "prod-1", Labels: map[string]string{"env": "prod", "runtimeclass.flotilla.io/wasmtime": "true"}, KubeVersion: "v1.37.2", APIVersions: []string{"monitoring.coreos.com/v1"}},
	}
	cases := []identityCase{{name: "examples", root: filepath.Join("..", "..", "examples"), targets: envs}}
	golden, err := filepath.Glob(filepath.Join("..", "render", "testdata", "targets", "*"))
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range golden {
		data, err := os.ReadFile(filepath.Join(dir, "targets.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		var tf []targetFile
		if err := yaml.UnmarshalStrict(data, &tf); err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		c := identityCase{name: "targets/" + filepath.Base(dir), root: filepath.Join(dir, "repo")}
		for _, x := range tf {
			c.targets = append(c.targets, render.Target{Name: x.ClusterName, Labels: x.Labels, Groups: x.Groups, KubeVersion: x.KubeVersion, APIVersions: x.APIVersions})
		}
		cases = append(cases, c)
	}
	repos, err := filepath.Glob(filepath.Join("..", "render", "testdata", "*", "repo"))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range repos {
		cases = append(cases, identityCase{name: filepath.Base(filepath.Dir(r)), root: r, targets: envs[:1]})
	}

	typed := t.TempDir()
	writeFiles(t, typed, map[string]string{
		"app/fleet.yaml":        "helm:\n  values: {fromFleet: 1000000, big: 9007199254740993}\n  valuesFiles: [more.yaml]\n",
		"app/more.yaml":         "fromFile: 1000000\nhalf: 0.5\nlist: [1, 2.5, null, true, x]\nempty: {}\n",
		"app/Chart.yaml":        "apiVersion: v2\nname: typed\nversion: 0.1.0\n",
		"app/templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: typed\ndata:\n  fleet: {{ .Values.fromFleet | quote }}\n  file: {{ .Values.fromFile | quote }}\n  big: {{ .Values.big | quote }}\n  kinds: {{ printf \"%T %T %T\" .Values.fromFleet .Values.fromFile .Values.half | quote }}\n  list: {{ .Values.list | toJson | quote }}\n",
		"many/fleet.yaml":       "",
		"many/cms.yaml":         "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
		"many/more/fleet.yaml":  "",
		"many/more/config.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: d}\n",
	})
	cases = append(cases,
		identityCase{name: "typed values", root: typed, targets: envs[:1]},
		identityCase{name: "limits", root: typed, targets: envs[:1], limits: render.Limits{MaxObjects: 2, MaxBytes: 200}},
	)
	return cases
}

// TestPoolRendersAsInProcess renders every bundle of every case for every
// cluster in process and in a worker: the objects are equal (as Go
// values, not only as YAML) and so are the errors.
func TestPoolRendersAsInProcess(t *testing.T) {
	for _, c := range identityCases(t) {
		t.Run(c.name, func(t *testing.T) {
			opts := render.Options{ChartCacheDir: t.TempDir(), Limits: c.limits}
			pool := newTestPool(t, Options{Workers: 1, Render: opts})
			root, err := filepath.Abs(c.root)
			if err != nil {
				t.Fatal(err)
			}
			found, err := bundle.Discover(root, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, target := range c.targets {
				for _, b := range found {
					t.Run(target.Name+"/"+b.Path, func(t *testing.T) {
						eff, skip, err := render.Resolve(b, target)
						if err != nil || skip {
							return
						}
						eff.UseBundleName(bundle.Name("test", b.Path))
						want, wantErr := render.InProcess{Options: opts}.Render(context.Background(), root, b, eff)
						got, gotErr := pool.Render(context.Background(), root, b, eff)
						if diff := cmp.Diff(errorText(wantErr), errorText(gotErr)); diff != "" {
							t.Fatalf("error (-in process +worker):\n%s", diff)
						}
						checkSameKind(t, wantErr, gotErr)
						if diff := cmp.Diff(want, got); diff != "" {
							t.Errorf("objects (-in process +worker):\n%s", diff)
						}
					})
				}
			}
		})
	}
}

func errorText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// checkSameKind checks that a worker's error unwraps as the in-process
// one does.
func checkSameKind(t *testing.T, want, got error) {
	t.Helper()
	var wre, gre *render.Error
	if errors.As(want, &wre) != errors.As(got, &gre) {
		t.Errorf("*render.Error: in process %v, worker %v", errors.As(want, &wre), errors.As(got, &gre))
	}
	var wle, gle *render.LimitError
	if errors.As(want, &wle) != errors.As(got, &gle) {
		t.Errorf("*render.LimitError: in process %v, worker %v", errors.As(want, &wle), errors.As(got, &gle))
	} else if wle != nil && *wle != *gle {
		t.Errorf("*render.LimitError: in process %+v, worker %+v", *wle, *gle)
	}
}
