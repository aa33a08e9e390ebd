package main

import (
	"strings"
	"testing"
)

// TestRunRefusesArguments: flag parsing stops at the first argument that
// is not a flag, so one ("agent", as `flotilla agent` takes it) would
// leave every flag after it unread; it is refused, naming it.
func TestRunRefusesArguments(t *testing.T) {
	err := run(t.Context(), []string{"agent", "--supervise", "--state-dir", t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), `unexpected argument "agent"`) {
		t.Errorf("run(agent --supervise ...) = %v, want it refused naming \"agent\"", err)
	}
}
