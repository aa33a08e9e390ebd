package render

import (
	"strings"
	"testing"

	"github.com/Masterminds/sprig/v3"
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
			eff, _, err := Resolve(parseBundle(t, "b", fleet), Target{Name: "c1"})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := eff.Values["x"]; got != tt.want {
				t.Fatalf("x = %v, want %q", got, tt.want)
			}
		})
	}
}
