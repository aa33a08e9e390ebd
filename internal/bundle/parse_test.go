package bundle

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestParse(t *testing.T) {
	three := intstr.FromInt32(3)
	quarter := intstr.FromString("25%")
	tests := []struct {
		name     string
		in       string
		want     Options
		warnings []string
		err      string
	}{
		{name: "empty", in: ""},
		{name: "comments only", in: "# nothing\n"},
		{
			name: "drift options and takeOwnership",
			in: `helm: {chart: ./chart, takeOwnership: true}
diff:
  comparePatches:
  - apiVersion: apps/v1
    kind: Deployment
    name: web
    namespace: web
    operations: [{op: remove, path: /spec/replicas}]
    jsonPointers: [/spec/template/metadata/annotations]
correctDrift: {enabled: true, force: true}
`,
			want: Options{DeploymentOptions: DeploymentOptions{
				Helm: &HelmOptions{Chart: "./chart", TakeOwnership: true},
				Diff: &DiffOptions{ComparePatches: []ComparePatch{{
					APIVersion: "apps/v1", Kind: "Deployment", Name: "web", Namespace: "web",
					Operations:   []Operation{{Op: "remove", Path: "/spec/replicas"}},
					JSONPointers: []string{"/spec/template/metadata/annotations"},
				}}},
				CorrectDrift: &CorrectDrift{Enabled: true, Force: true},
			}},
		},
		{
			name: "targets, the older name of targetCustomizations",
			in:   "targets:\n- name: dev\n  clusterName: c1\n  yaml: {overlays: [dev]}\n",
			want: Options{Targets: []TargetCustomization{{
				Target:            Target{Name: "dev", ClusterName: "c1"},
				DeploymentOptions: DeploymentOptions{YAML: &YAMLOptions{Overlays: []string{"dev"}}},
			}}},
		},
		{
			name: "namespace and kustomize",
			in:   "defaultNamespace: web\nnamespace: forced\nkustomize:\n  dir: overlays/prod\n",
			want: Options{DeploymentOptions: DeploymentOptions{
				DefaultNamespace: "web", Namespace: "forced",
				Kustomize: &KustomizeOptions{Dir: "overlays/prod"},
			}},
		},
		{
			name: "full shape",
			in: `name: my-bundle
labels: {team: edge}
paused: yes
helm:
  releaseName: web
  version: 1.2
  values:
    replicas: 2
    image: {tag: "v1"}
    ratio: 0.5
    list: [a, 1, true, null]
  valuesFiles: [values.yaml]
correctDrift: {enabled: true}
rolloutStrategy:
  maxUnavailable: 3
  autoPartitionSize: 25%
dependsOn:
  - name: base
  - selector: {matchLabels: {tier: db}}
targetCustomizations:
  - name: arm
    clusterSelector:
      matchExpressions: [{key: arch, operator: In, values: [arm64]}]
    defaultNamespace: arm-ns
    doNotDeploy: false
`,
			want: Options{
				Name:   "my-bundle",
				Labels: map[string]string{"team": "edge"},
				Paused: true,
				DeploymentOptions: DeploymentOptions{
					Helm: &HelmOptions{
						ReleaseName: "web",
						Version:     "1.2",
						Values: map[string]any{
							"replicas": int64(2),
							"image":    map[string]any{"tag": "v1"},
							"ratio":    0.5,
							"list":     []any{"a", int64(1), true, nil},
						},
						ValuesFiles: []string{"values.yaml"},
					},
					CorrectDrift: &CorrectDrift{Enabled: true},
				},
				RolloutStrategy: &RolloutStrategy{MaxUnavailable: &three, AutoPartitionSize: &quarter},
				DependsOn: []DependsOn{
					{Name: "base"},
					{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "db"}}},
				},
				TargetCustomizations: []TargetCustomization{{
					Target: Target{Name: "arm", ClusterSelector: &metav1.LabelSelector{
						MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "arch", Operator: metav1.LabelSelectorOpIn, Values: []string{"arm64"}}},
					}},
					DeploymentOptions: DeploymentOptions{DefaultNamespace: "arm-ns"},
				}},
			},
		},
		{
			name:     "anchors and merge keys",
			in:       "base: &b {dir: x}\nkustomize:\n  <<: *b\n",
			want:     Options{DeploymentOptions: DeploymentOptions{Kustomize: &KustomizeOptions{Dir: "x"}}},
			warnings: []string{`fleet.yaml:1: unknown key "base"`},
		},
		{
			name:     "unknown keys warn",
			in:       "foo: 1\nkustomize:\n  dir: a\n  bar: 2\n",
			want:     Options{DeploymentOptions: DeploymentOptions{Kustomize: &KustomizeOptions{Dir: "a"}}},
			warnings: []string{`fleet.yaml:1: unknown key "foo"`, `fleet.yaml:4: unknown key "kustomize.bar"`},
		},
		{
			name:     "second document ignored",
			in:       "defaultNamespace: a\n---\ndefaultNamespace: b\n",
			want:     Options{DeploymentOptions: DeploymentOptions{DefaultNamespace: "a"}},
			warnings: []string{"fleet.yaml:3: only the first YAML document is read"},
		},
		{name: "number as string", in: "defaultNamespace: 7\n", want: Options{DeploymentOptions: DeploymentOptions{DefaultNamespace: "7"}}},
		{name: "wrong type", in: "paused: false\n\ndefaultNamespace: [a, b]\n", err: "fleet.yaml:3: defaultNamespace: expected string"},
		{name: "nested wrong type", in: "targetCustomizations:\n- name: a\n  doNotDeploy: maybe\n", err: "fleet.yaml:3: targetCustomizations[0].doNotDeploy: expected boolean"},
		{name: "integer expected", in: "helm:\n  timeoutSeconds: soon\n", err: "fleet.yaml:2: helm.timeoutSeconds: expected integer"},
		{name: "list expected", in: "dependsOn: base\n", err: "fleet.yaml:1: dependsOn: expected a list"},
		{name: "not a mapping", in: "- a\n- b\n", err: "fleet.yaml:1: expected a mapping"},
		{name: "duplicate key", in: "namespace: a\nnamespace: b\n", err: "fleet.yaml:2: namespace: duplicate key"},
		{name: "syntax error", in: "a: b\n c: d\n  - e\n", err: "fleet.yaml:2: mapping values are not allowed in this context"},
		{name: "bad intorstring", in: "rolloutStrategy:\n  maxUnavailable: [1]\n", err: "fleet.yaml:2: rolloutStrategy.maxUnavailable: json: cannot unmarshal array into Go value of type int32"},
		{name: "dependsOn needs name", in: "dependsOn:\n- {}\n", err: "fleet.yaml: dependsOn[0]: must specify either name or selector"},
		{name: "dependsOn bad state", in: "dependsOn:\n- {name: a, acceptedStates: [Fine]}\n", err: `fleet.yaml: dependsOn[0].acceptedStates[0]: invalid state "Fine", valid states are Ready, NotReady, WaitApplied, ErrApplied, OutOfSync, Pending, Modified`},
		{name: "infinite float", in: "helm:\n  values: {x: .inf}\n", err: `fleet.yaml:2: helm.values.x: number ".inf" cannot be represented in JSON`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, warnings, err := Parse([]byte(tt.in))
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("Parse error = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse options (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.warnings, warnings); diff != "" {
				t.Errorf("Parse warnings (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseAliasBomb(t *testing.T) {
	in := `a: &a ["x","x","x","x","x","x","x","x","x"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
helm:
  values: {x: [*g,*g,*g,*g,*g,*g,*g,*g,*g]}
`
	_, _, err := Parse([]byte(in))
	if err == nil {
		t.Fatal("Parse of an alias bomb succeeded, want an error")
	}
}
