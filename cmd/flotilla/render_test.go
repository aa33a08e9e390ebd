package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCLI(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := newRootCmd()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	err = cmd.Execute()
	return out.String(), errOut.String(), err
}

func TestRenderCommand(t *testing.T) {
	examples := filepath.Join("..", "..", "examples")
	broken := t.TempDir()
	for name, content := range map[string]string{
		"good/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: good}\n",
		"bad/cm.yaml":  "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: [}\n",
	} {
		p := filepath.Join(broken, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name       string
		args       []string
		wantOut    []string // substrings of stdout
		notOut     []string
		wantErr    bool
		wantErrMsg string // the whole error, when set
		wantStderr string
	}{
		{name: "wasm cluster", args: []string{"render", examples, "--path", "wasm", "--label", "runtimeclass.flotilla.io/wasmtime=true"},
			wantOut: []string{"kind: Deployment", "runtimeClassName: wasmtime"}},
		{name: "other cluster", args: []string{"render", examples, "--path", "wasm", "--label", "env=dev"}, notOut: []string{"kind:"}},
		{name: "bad label", args: []string{"render", examples, "--label", "novalue"}, wantErr: true},
		{name: "bad chart host, the flag named once", args: []string{"render", examples, "--allow-chart-host", "http://x/"}, wantErr: true,
			wantErrMsg: `--allow-chart-host "http://x/": not a host name, *.suffix, IP address or CIDR prefix`},
		{name: "one bundle fails", args: []string{"render", broken}, wantOut: []string{"name: good"}, wantErr: true, wantStderr: "bad/cm.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, err := runCLI(t, tt.args...)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v (stderr %q)", err, tt.wantErr, errOut)
			}
			if tt.wantErrMsg != "" && err.Error() != tt.wantErrMsg {
				t.Errorf("err = %q, want %q", err, tt.wantErrMsg)
			}
			for _, s := range tt.wantOut {
				if !strings.Contains(out, s) {
					t.Errorf("stdout lacks %q:\n%s", s, out)
				}
			}
			for _, s := range tt.notOut {
				if strings.Contains(out, s) {
					t.Errorf("stdout has %q:\n%s", s, out)
				}
			}
			if !strings.Contains(errOut, tt.wantStderr) {
				t.Errorf("stderr %q lacks %q", errOut, tt.wantStderr)
			}
		})
	}
}
