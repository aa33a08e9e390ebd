package render

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/Masterminds/sprig/v3"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"flotilla.io/flotilla/internal/bundle"
)

// TestHubBound keeps the refused list honest against the sprig in use:
// every name on it is a sprig function, and every function sprig itself
// calls non-hermetic is on it.
func TestHubBound(t *testing.T) {
	all, hermetic := sprig.TxtFuncMap(), sprig.HermeticTxtFuncMap()
	bound := hubBound()
	for name := range bound {
		if _, ok := all[name]; !ok {
			t.Errorf("%s is refused but sprig has no such function", name)
		}
	}
	for name := range all {
		if _, ok := hermetic[name]; !ok && bound[name] == "" {
			t.Errorf("sprig calls %s non-hermetic, but ${ } templating keeps it", name)
		}
	}
}

func TestTemplateHubFunctions(t *testing.T) {
	tests := []struct {
		name    string
		value   string
		want    string // the templated value, or
		wantErr string
	}{
		{name: "getHostByName", value: `${ getHostByName "metadata.google.internal" }`,
			wantErr: "getHostByName is not available in helm.values templates: it resolves names through the hub's network"},
		{name: "getHostByName in a pipeline", value: `${ "x" | getHostByName }`, wantErr: "getHostByName is not available"},
		{name: "env", value: `${ env "HOME" }`, wantErr: "env is not available in helm.values templates: it reads the hub's environment"},
		{name: "expandenv", value: `${ expandenv "$HOME" }`, wantErr: "expandenv is not available"},
		{name: "now", value: `${ now }`, wantErr: "now is not available in helm.values templates: it reads the hub's clock"},
		{name: "random", value: `${ randAlphaNum 8 }`, wantErr: "randAlphaNum is not available"},
		{name: "uuid", value: `${ uuidv4 }`, wantErr: "uuidv4 is not available"},
		{name: "only when called", value: `${ if false }${ env "HOME" }${ end }ok`, want: "ok"},
		{name: "deterministic functions stay", value: `${ .ClusterName | upper }-${ "a" | sha256sum | trunc 8 }`, want: "C1-ca978112"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fleet := "helm: {chart: c, values: {x: '" + tt.value + "'}}"
			got, err := resolvedValues(parseBundle(t, "b", fleet), Target{Name: "c1"})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got["x"] != tt.want {
				t.Fatalf("x = %v, want %q", got["x"], tt.want)
			}
		})
	}
}

// resolvedValues resolves b for tg and runs its values template as
// RenderEffective does: the values Helm is given.
func resolvedValues(b bundle.Bundle, tg Target) (map[string]any, error) {
	eff, _, err := Resolve(b, tg)
	if err != nil || eff.ValuesTemplate == nil {
		return eff.Values, err
	}
	return templateValues(context.Background(), eff.Values, *eff.ValuesTemplate)
}

// TestTemplateInput checks what Resolve keeps of the cluster for a
// values template, and that the template renders the same from that
// alone as from the whole cluster.
func TestTemplateInput(t *testing.T) {
	target := Target{Name: "c1", Labels: map[string]string{"env": "dev", "region": "eu"}}
	all := ValuesTemplate{ClusterName: "c1", ClusterLabels: target.Labels}
	env := map[string]string{"env": "dev"}
	tests := []struct {
		name, tpl string
		want      ValuesTemplate
	}{
		{"reads nothing", `${ "a" | upper }`, ValuesTemplate{}},
		{"name", `${ .ClusterName }`, ValuesTemplate{ClusterName: "c1"}},
		{"one label", `${ .ClusterLabels.env }`, ValuesTemplate{ClusterLabels: env}},
		{"a label the cluster lacks", `${ .ClusterLabels.zone }`, ValuesTemplate{}},
		{"constant fields", `${ .ClusterNamespace }${ len .ClusterAnnotations }`, ValuesTemplate{}},
		{"labels by index", `${ index .ClusterLabels "env" }`, ValuesTemplate{ClusterLabels: target.Labels}},
		{"labels as dot", `${ with .ClusterLabels }${ .env }${ end }`, ValuesTemplate{ClusterLabels: target.Labels}},
		{"labels ranged", `${ range $k, $v := .ClusterLabels }${ $k }${ end }`, ValuesTemplate{ClusterLabels: target.Labels}},
		{"labels in a chain", `${ (.ClusterLabels).env }`, ValuesTemplate{ClusterLabels: target.Labels}},
		{"a variable", `${ $e := .ClusterLabels.env }${ $e }`, ValuesTemplate{ClusterLabels: env}},
		{"root variable", `${ $.ClusterName }`, ValuesTemplate{ClusterName: "c1"}},
		{"the whole data", `${ toJson . }`, all},
		{"the whole data as $", `${ range until 1 }${ toJson $ }${ end }`, all},
		{"branches", `${ if eq .ClusterLabels.env "dev" }x${ else }${ .ClusterName }${ end }`, ValuesTemplate{ClusterName: "c1", ClusterLabels: env}},
		{"a defined template given the data", `${ define "n" }${ .ClusterLabels.env }${ end }${ template "n" . }`, all},
		{"a defined template given a label", `${ define "n" }${ . }${ end }${ template "n" .ClusterLabels.env }`, all},
		{"does not parse", `${ .ClusterName `, ValuesTemplate{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			values := map[string]any{"x": tt.tpl}
			data, err := yaml.Marshal(values)
			if err != nil {
				t.Fatal(err)
			}
			got := templateInput(string(data), target)
			if diff := cmp.Diff(tt.want, *got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("input (-want +got):\n%s", diff)
			}
			want, wantErr := templateValues(context.Background(), values, all)
			out, err := templateValues(context.Background(), values, *got)
			if diff := cmp.Diff(errorText(wantErr), errorText(err)); diff != "" {
				t.Errorf("error from the whole cluster and from the input (-whole +input):\n%s", diff)
			}
			if diff := cmp.Diff(want, out); diff != "" {
				t.Errorf("values from the whole cluster and from the input (-whole +input):\n%s", diff)
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

// templateChart is a chart bundle whose ConfigMap shows helm values x.
func templateChart(values string) map[string]string {
	return map[string]string{
		"app/fleet.yaml":        "helm:\n  values:\n" + values,
		"app/Chart.yaml":        "apiVersion: v2\nname: tpl\nversion: 0.1.0\n",
		"app/templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: tpl\ndata:\n  x: {{ .Values.x | quote }}\n",
	}
}

// TestValuesTemplateShared checks that templating in the render keeps
// renders shared: clusters that give the template the same input have
// one key, and the render gives each the templated values.
func TestValuesTemplateShared(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, templateChart("    x: ${ .ClusterLabels.env | upper }-${ len .ClusterAnnotations }\n"))
	b := findBundle(t, root, "app")
	a := Target{Name: "a", Labels: map[string]string{"env": "dev", "fact": "1"}}
	same := Target{Name: "b", Labels: map[string]string{"env": "dev", "fact": "2"}}
	other := Target{Name: "c", Labels: map[string]string{"env": "prod"}}
	keys := map[string]string{}
	for _, tg := range []Target{a, same, other} {
		eff, _, err := Resolve(b, tg)
		if err != nil {
			t.Fatal(err)
		}
		if eff.ValuesTemplate == nil || eff.Values["x"] != "${ .ClusterLabels.env | upper }-${ len .ClusterAnnotations }" {
			t.Fatalf("%s: Resolve templated the values: %v, %+v", tg.Name, eff.Values, eff.ValuesTemplate)
		}
		keys[tg.Name] = eff.Key()
		objs, err := RenderEffective(context.Background(), root, b, eff, Options{})
		if err != nil {
			t.Fatal(err)
		}
		want := strings.ToUpper(tg.Labels["env"]) + "-0"
		if got, _, _ := unstructured.NestedString(objs[0].Object, "data", "x"); got != want {
			t.Errorf("%s: x = %q, want %q", tg.Name, got, want)
		}
	}
	if keys["a"] != keys["b"] {
		t.Errorf("clusters with the same env label and other names do not share a render")
	}
	if keys["a"] == keys["c"] {
		t.Errorf("clusters with other env labels share a render")
	}
}

// TestValuesTemplateLimits checks that a values template runs in the
// render, not in Resolve, and cannot build or write much there.
func TestValuesTemplateLimits(t *testing.T) {
	tests := []struct {
		name, x string
		err     string // in the render's error
	}{
		{"repeat", `${ len (repeat 200000000 "x") }`, `error calling repeat: 200000000 copies of a 1-byte string would be more than 32Mi, the most a helm.values template function may build`},
		{"until", `${ len (until 100000000) }`, `error calling until: 100000000 numbers would be more than 4194304, the most a helm.values template function may build`},
		{"untilStep", `${ len (untilStep 0 100000000 1) }`, `error calling untilStep: 100000000 numbers would be more than 4194304`},
		{"untilStep overflowing", `${ len (untilStep 0 9223372036854775807 4611686018427387904) }`, ""},
		{"seq", `${ len (seq 100000000) }`, `error calling seq: 100000000 numbers would be more than 4194304`},
		{"indent", `${ len (indent 200000000 "x") }`, `error calling indent: 200000000 spaces on each of 1 lines would be more than 32Mi`},
		{"nindent", `${ len (nindent 20000000 "a\nb") }`, `error calling nindent: 20000000 spaces on each of 2 lines would be more than 32Mi`},
		{"replace", `${ len (replace "" (repeat 10000 "y") (repeat 10000 "x")) }`, `error calling replace: 10001 replacements 10000 bytes longer in a 10000-byte string would be more than 32Mi`},
		{"output", `${ range until 40 }${ repeat 1048576 "x" }${ end }`, `the template writes more than 32Mi, the most a helm.values template may write`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			writeFiles(t, root, templateChart("    x: '"+tt.x+"'\n"))
			b := findBundle(t, root, "app")
			eff, _, err := Resolve(b, Target{Name: "c1"})
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if eff.ValuesTemplate == nil || eff.Values["x"] != tt.x {
				t.Fatalf("Resolve templated the values: %v", eff.Values)
			}
			_, err = InProcess{}.Render(context.Background(), root, b, eff)
			if tt.err == "" {
				if err != nil {
					t.Fatalf("Render: %v", err)
				}
				return
			}
			var re *Error
			if !errors.As(err, &re) || re.File != "app/fleet.yaml" || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("Render error = %v, want app/fleet.yaml: ... %s", err, tt.err)
			}
		})
	}
}

// TestValuesTemplateTimeout checks that a values template that loops for
// hours is the render's to stop: Resolve returns at once, the render
// ends at its time limit, and the template at its next write.
func TestValuesTemplateTimeout(t *testing.T) {
	const loop = `${ range until 1000000 }${ range until 1000000 }x${ end }${ end }`
	root := t.TempDir()
	writeFiles(t, root, templateChart("    x: '"+loop+"'\n"))
	b := findBundle(t, root, "app")
	eff, _, err := Resolve(b, Target{Name: "c1"})
	if err != nil || eff.ValuesTemplate == nil {
		t.Fatalf("Resolve: %v, template %v", err, eff.ValuesTemplate)
	}
	r := InProcess{Options: Options{Limits: Limits{Timeout: 50 * time.Millisecond}}}
	_, err = r.Render(context.Background(), root, b, eff)
	var le *LimitError
	if !errors.As(err, &le) || le.Flag != FlagRenderTimeout {
		t.Fatalf("Render error = %v, want the timeout", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = templateValues(ctx, eff.Values, *eff.ValuesTemplate)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("templating with a canceled context: %v, want context.Canceled", err)
	}
}

// TestCappedBuilders checks that the capped builders return what sprig's
// do below their caps.
func TestCappedBuilders(t *testing.T) {
	sprigs, capped := sprig.TxtFuncMap(), cappedBuilders()
	calls := []struct {
		fn   string
		args []any
	}{
		{"repeat", []any{3, "ab"}}, {"repeat", []any{0, "ab"}}, {"repeat", []any{5, ""}},
		{"indent", []any{2, "a\nb\n"}}, {"indent", []any{0, "a"}}, {"nindent", []any{4, "a\n\nb"}},
		{"replace", []any{"a", "xyz", "banana"}}, {"replace", []any{"", "-", "héllo"}}, {"replace", []any{"an", "", "banana"}},
		{"until", []any{5}}, {"until", []any{-3}}, {"until", []any{0}},
		{"untilStep", []any{0, 10, 3}}, {"untilStep", []any{10, 0, -4}}, {"untilStep", []any{0, 10, -1}}, {"untilStep", []any{3, 3, 1}},
		{"seq", []any{}}, {"seq", []any{3}}, {"seq", []any{-2}}, {"seq", []any{2, 5}}, {"seq", []any{5, 2}},
		{"seq", []any{1, 2, 9}}, {"seq", []any{9, -3, 1}}, {"seq", []any{9, 3, 1}}, {"seq", []any{1, 2, 3, 4}},
	}
	for _, c := range calls {
		args := make([]reflect.Value, len(c.args))
		for i, a := range c.args {
			args[i] = reflect.ValueOf(a)
		}
		want := reflect.ValueOf(sprigs[c.fn]).Call(args)[0].Interface()
		out := reflect.ValueOf(capped[c.fn]).Call(args)
		if err, _ := out[1].Interface().(error); err != nil {
			t.Errorf("%s %v: %v", c.fn, c.args, err)
			continue
		}
		if diff := cmp.Diff(want, out[0].Interface()); diff != "" {
			t.Errorf("%s %v (-sprig +capped):\n%s", c.fn, c.args, diff)
		}
	}
}
