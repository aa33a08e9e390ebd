package kubeapply

import (
	"testing"
)

// The inventory annotations are read back from the cluster, where anyone
// with access may have edited them: parsing must never panic, and what
// parses must survive a format/parse round trip unchanged.

func FuzzParseGroupKinds(f *testing.F) {
	for _, s := range []string{"", "ConfigMap", "ConfigMap,Deployment.apps", "Widget.example.com, Secret", ",", ".", "a.b.c,d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		gks, err := parseGroupKinds(s)
		if err != nil {
			return
		}
		again, err := parseGroupKinds(formatGroupKinds(gks))
		if err != nil {
			t.Fatalf("reparsing %q: %v", formatGroupKinds(gks), err)
		}
		if !again.Equal(gks) {
			t.Fatalf("round trip of %q: %v != %v", s, again, gks)
		}
	})
}

func FuzzParseNamespaces(f *testing.F) {
	for _, s := range []string{"", "a", "a,b", " a , b ", "a,,b", "A"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		nss, err := parseNamespaces(s)
		if err != nil {
			return
		}
		again, err := parseNamespaces(formatNamespaces(nss, ""))
		if err != nil {
			t.Fatalf("reparsing: %v", err)
		}
		if !again.Equal(nss) {
			t.Fatalf("round trip of %q: %v != %v", s, again, nss)
		}
	})
}
