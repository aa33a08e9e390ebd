package bundle

import (
	"strings"
	"testing"
)

func TestName(t *testing.T) {
	long := strings.Repeat("very-long-directory-name/", 5)
	tests := []struct {
		name, source, path, want string
	}{
		{name: "root", source: "repo", path: "", want: "repo"},
		{name: "dot", source: "repo", path: ".", want: "repo"},
		{name: "nested", source: "repo", path: "apps/web", want: "repo-apps-web"},
		{name: "lowercased and cleaned", source: "My_Repo", path: "Apps/Web.v2/", want: "my-repo-apps-web-v2"},
		{name: "trimmed", source: "_repo", path: "x_", want: "repo-x"},
		{name: "empty", source: "", path: "", want: "bundle"},
		{name: "long", source: "repo", path: long, want: "repo-very-long-directory-name-very-long-directory-name-ve-821c4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Name(tt.source, tt.path)
			if got != tt.want {
				t.Errorf("Name(%q, %q) = %q, want %q", tt.source, tt.path, got, tt.want)
			}
			if len(got) > maxNameLen {
				t.Errorf("Name(%q, %q) has %d characters", tt.source, tt.path, len(got))
			}
		})
	}
	if Name("repo", long) == Name("repo", long+"x") {
		t.Error("different long paths give the same name")
	}
}
