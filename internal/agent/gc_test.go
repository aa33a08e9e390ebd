package agent

import (
	"runtime/debug"
	"testing"
)

func TestTuneGC(t *testing.T) {
	tests := []struct {
		name string
		gogc string
		want int
	}{
		{"default when GOGC is unset", "", defaultGCPercent},
		{"GOGC wins", "200", 123}, // the runtime already applied it; left alone
		{"GOGC=off wins", "off", 123},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orig := debug.SetGCPercent(123)
			t.Cleanup(func() { debug.SetGCPercent(orig) })
			tuneGC(func(k string) string {
				if k == "GOGC" {
					return tt.gogc
				}
				return ""
			})
			if got := debug.SetGCPercent(123); got != tt.want {
				t.Errorf("GC percent = %d, want %d", got, tt.want)
			}
		})
	}
}
