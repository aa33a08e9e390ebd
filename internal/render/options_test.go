package render

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"flotilla.io/flotilla/internal/egress"
	"flotilla.io/flotilla/internal/helmrepo"
)

// TestOptionsFetchPolicyAsJSON checks that the fetch policy survives the
// trip to a render worker process: it is data, not a client.
func TestOptionsFetchPolicyAsJSON(t *testing.T) {
	in := Options{
		ChartCacheDir: "/var/lib/flotilla/hub/charts",
		Egress: egress.Policy{
			AllowHosts:            []string{"charts.internal", "*.corp.example", "10.0.0.0/8"},
			ResponseHeaderTimeout: 5 * time.Second,
			Timeout:               2 * time.Minute,
		},
		ChartLimits: helmrepo.Limits{MaxIndexBytes: 32 << 20},
	}
	data, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out Options
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(in.Egress, out.Egress); diff != "" {
		t.Errorf("Egress after JSON (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(in.ChartLimits, out.ChartLimits); diff != "" {
		t.Errorf("ChartLimits after JSON (-want +got):\n%s", diff)
	}
}
