package kubeapply

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSummarize(t *testing.T) {
	ref := func(name string) ObjectRef {
		return ObjectRef{Version: "v1", Kind: "ConfigMap", Namespace: "ns", Name: name}
	}
	oh := func(name, status, msg string) ObjectHealth {
		return ObjectHealth{Ref: ref(name), Status: status, Message: msg}
	}
	tests := []struct {
		name      string
		objs      []ObjectHealth
		wantReady bool
		wantWhy   string
	}{
		{"empty set", nil, true, ""},
		{"all current", []ObjectHealth{oh("a", "Current", "ok"), oh("b", "Current", "ok")}, true, ""},
		{"one in progress", []ObjectHealth{oh("a", "Current", "ok"), oh("b", "InProgress", "Ready: 0/1")}, false, "ConfigMap/ns/b: Ready: 0/1"},
		{"failed beats in progress", []ObjectHealth{oh("a", "InProgress", "wait"), oh("b", "Failed", "deadline")}, false, "ConfigMap/ns/b: deadline"},
		{"not found beats unknown", []ObjectHealth{oh("a", "Unknown", "?"), oh("b", "NotFound", "gone")}, false, "ConfigMap/ns/b: gone"},
		{"first of equals", []ObjectHealth{oh("a", "InProgress", "one"), oh("b", "InProgress", "two")}, false, "ConfigMap/ns/a: one"},
		{"terminating", []ObjectHealth{oh("a", "Terminating", "bye")}, false, "ConfigMap/ns/a: bye"},
		{"unheard-of status", []ObjectHealth{oh("a", "InProgress", "one"), oh("b", "Weird", "two")}, false, "ConfigMap/ns/b: two"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := summarize(tt.objs)
			want := Health{Ready: tt.wantReady, Objects: tt.objs, Reason: tt.wantWhy}
			if diff := cmp.Diff(want, h); diff != "" {
				t.Errorf("summarize (-want +got):\n%s", diff)
			}
		})
	}
}
