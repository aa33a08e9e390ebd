package render

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDecodeManifests(t *testing.T) {
	bomb := "a: &a [x,x,x,x,x,x,x,x,x]\n"
	for _, c := range "bcdefghi" {
		prev := string(c - 1)
		bomb += string(c) + ": &" + string(c) + " [" + strings.Repeat("*"+prev+",", 8) + "*" + prev + "]\n"
	}
	tests := []struct {
		name  string
		file  string
		in    string
		names []string
		lines []int
		err   string
	}{
		{name: "empty file", file: "a.yaml", in: ""},
		{name: "only separators", file: "a.yaml", in: "---\n---\n# c\n---\n"},
		{
			name: "lines of documents", file: "a.yaml",
			in:    "# c\napiVersion: v1\nkind: A\nmetadata: {name: a}\n---\n\n\napiVersion: v1\nkind: B\nmetadata: {name: b}\n",
			names: []string{"a", "b"}, lines: []int{2, 8},
		},
		{
			name: "separator needs its own line", file: "a.yaml",
			in:    "apiVersion: v1\nkind: A\nmetadata: {name: a}\ndata: {x: \"---\"}\n--- \t\n",
			names: []string{"a"}, lines: []int{1},
		},
		{name: "scalar document", file: "a.yaml", in: "apiVersion: v1\nkind: A\nmetadata: {name: a}\n---\njust text\n", err: "a.yaml:5: expected an object, got a string"},
		{name: "list document", file: "a.yaml", in: "- a\n", err: "a.yaml:1: expected an object, got a list"},
		{name: "List item not an object", file: "a.yaml", in: "apiVersion: v1\nkind: List\nitems: [1]\n", err: "a.yaml:1: items[0]: expected an object, got a number"},
		{name: "missing apiVersion", file: "a.yaml", in: "kind: A\nmetadata: {name: a}\n", err: "a.yaml:1: missing apiVersion"},
		{name: "name not a string", file: "a.yaml", in: "apiVersion: v1\nkind: A\nmetadata: {name: 1}\n", err: "a.yaml:1: missing metadata.name"},
		{name: "namespace not a string", file: "a.yaml", in: "apiVersion: v1\nkind: A\nmetadata: {name: a, namespace: [x]}\n", err: "a.yaml:1: metadata.namespace is not a string"},
		{name: "duplicate key", file: "a.yaml", in: "apiVersion: v1\nkind: A\nkind: B\nmetadata: {name: a}\n", err: `a.yaml:3: key "kind" already set in map`},
		{name: "alias bomb", file: "a.yaml", in: bomb, err: "a.yaml:1: document contains excessive aliasing"},
		{name: "json syntax", file: "a.json", in: "{\n\"apiVersion\": \"v1\",\n\"kind\": }\n", err: "a.json:3: invalid character '}' looking for beginning of value"},
		{name: "json object", file: "a.JSON", in: `{"apiVersion": "v1", "kind": "A", "metadata": {"name": "a"}}`, names: []string{"a"}, lines: []int{1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			items, err := decodeManifests(nil, tt.file, []byte(tt.in), nil)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("decodeManifests error = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("decodeManifests: %v", err)
			}
			var names []string
			var lines []int
			for _, it := range items {
				names = append(names, it.obj.GetName())
				lines = append(lines, it.line)
			}
			if diff := cmp.Diff(tt.names, names); diff != "" {
				t.Errorf("names (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.lines, lines); diff != "" {
				t.Errorf("lines (-want +got):\n%s", diff)
			}
		})
	}
}
