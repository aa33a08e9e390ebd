package main

import (
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"flotilla.io/flotilla/internal/hubserver"
)

func TestHubLimitFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		err  string // "" for accepted
	}{
		{"defaults", nil, ""},
		{"zero refused, naming the flag and -1", []string{"--max-agent-in-flight", "0"}, "--max-agent-in-flight 0 is not a limit: -1 turns it off"},
		{"zero duration refused", []string{"--unauth-body-timeout", "0s"}, "--unauth-body-timeout 0s is not a limit: -1 turns it off"},
		{"zero rate refused", []string{"--enroll-rate", "0"}, "--enroll-rate 0 is not a limit"},
		{"no -1 where nothing turns off", []string{"--max-repo-files", "-1"}, "--max-repo-files -1: want a positive value"},
		{"zero where nothing turns off", []string{"--enroll-burst", "0"}, "--enroll-burst 0: want a positive value"},
		{"-1 turns limits off", []string{"--max-unauth-conns", "-1", "--render-timeout", "-1", "--tls-handshake-timeout=-1s", "--enroll-rate", "-1"}, ""},
		{"positive values", []string{"--max-agent-in-flight", "10", "--render-timeout", "1m"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var cfg hubserver.Config
			var noLimitFrom []string
			f := pflag.NewFlagSet("hub", pflag.ContinueOnError)
			l := addHubLimitFlags(f, &cfg, &noLimitFrom)
			if err := f.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			err := l.check()
			switch {
			case tc.err == "" && err != nil:
				t.Errorf("check = %v, want accepted", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Errorf("check = %v, want an error with %q", err, tc.err)
			}
		})
	}
	t.Run("-1 reaches the limits", func(t *testing.T) {
		var cfg hubserver.Config
		f := pflag.NewFlagSet("hub", pflag.ContinueOnError)
		addHubLimitFlags(f, &cfg, new([]string))
		if err := f.Parse([]string{"--render-timeout", "-1", "--max-unauth-conns", "-1"}); err != nil {
			t.Fatal(err)
		}
		if cfg.Render.Limits.Timeout >= 0 || cfg.Limits.MaxUnauthConns >= 0 {
			t.Errorf("render timeout %v, unauth conns %d: want both negative (no limit)", cfg.Render.Limits.Timeout, cfg.Limits.MaxUnauthConns)
		}
		if cfg.Limits.HandshakeTimeout != 10*time.Second {
			t.Errorf("handshake timeout %v, want its default", cfg.Limits.HandshakeTimeout)
		}
	})
}
