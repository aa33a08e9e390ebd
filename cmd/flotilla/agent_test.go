package main

import (
	"strings"
	"testing"
)

// TestAgentRefusesUpdateFlags: the all-in-one binary cannot be supervised
// (a release is a flotilla-agent build, which takes no "agent"
// subcommand), so its update flags are refused, saying what to run, before
// anything starts.
func TestAgentRefusesUpdateFlags(t *testing.T) {
	for _, args := range [][]string{
		{"agent", "--supervise", "--state-dir", t.TempDir()},
		{"agent", "--install-dir", t.TempDir()},
		{"agent", "--update-deadline", "1m"},
	} {
		_, _, err := runCLI(t, args...)
		if err == nil || !strings.Contains(err.Error(), "flotilla-agent --supervise") {
			t.Errorf("flotilla %s = %v; want a refusal pointing at flotilla-agent --supervise", strings.Join(args, " "), err)
		}
	}
}
