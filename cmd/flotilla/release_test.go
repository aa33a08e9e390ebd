package main

import (
	"strings"
	"testing"
	"time"

	"flotilla.io/flotilla/internal/wire"
)

func TestReleaseTable(t *testing.T) {
	rs := []wire.ReleaseInfo{
		{AgentRelease: wire.AgentRelease{Version: "v1", Arch: "amd64", Digest: strings.Repeat("ab", 32)}, Targets: []string{"env=dev"}, TargetGroups: []string{"canary"}, CreatedAt: time.Now()},
		// A hub's answer is outside input: a short digest is shown as is.
		{AgentRelease: wire.AgentRelease{Version: "v2", Arch: "arm64", Digest: "abc"}, CreatedAt: time.Now()},
	}
	var b strings.Builder
	releaseTable(&b, rs)
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("table:\n%s", b.String())
	}
	if want := "v1\tamd64\tabababababab\t0\tenv=dev group:canary\t"; !strings.HasPrefix(lines[1], want) {
		t.Errorf("row %q, want it to start %q", lines[1], want)
	}
	if want := "v2\tarm64\tabc\t0\t<none>\t"; !strings.HasPrefix(lines[2], want) {
		t.Errorf("row %q, want it to start %q", lines[2], want)
	}
}
