package main

import (
	"testing"

	"flotilla.io/flotilla/internal/wire"
)

func TestAgentColumn(t *testing.T) {
	tests := []struct {
		name string
		c    wire.ClusterInfo
		want string
	}{
		{"not reported", wire.ClusterInfo{}, "<none>"},
		{"running what is wanted", wire.ClusterInfo{AgentVersion: "v3", DesiredAgentVersion: "v3"}, "v3"},
		{"moving", wire.ClusterInfo{AgentVersion: "v2", DesiredAgentVersion: "v3"}, "v2 (to v3)"},
		{"updated", wire.ClusterInfo{AgentVersion: "v3", DesiredAgentVersion: "v3", AgentUpdate: &wire.AgentUpdate{Version: "v3", State: wire.UpdateDone}}, "v3"},
		{"rolled back", wire.ClusterInfo{AgentVersion: "v3", DesiredAgentVersion: "v4", AgentUpdate: &wire.AgentUpdate{Version: "v4", State: wire.UpdateFailed}}, "v3 (v4 Failed)"},
		{"refused", wire.ClusterInfo{AgentVersion: "v3", DesiredAgentVersion: "v4", AgentUpdate: &wire.AgentUpdate{Version: "v4", State: wire.UpdateRefused}}, "v3 (v4 Refused)"},
	}
	for _, tc := range tests {
		if got := agentColumn(tc.c); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}
