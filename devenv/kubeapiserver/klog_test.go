package kubeapiserver

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestKlogLoggerDemotes(t *testing.T) {
	tests := []struct {
		name  string
		level slog.Level // of the handler
		want  []string   // lines written
	}{
		{name: "info handler sees klog errors only", level: slog.LevelInfo, want: []string{"level=INFO msg=bad err=boom"}},
		{name: "debug handler sees no klog info", level: slog.LevelDebug, want: []string{"level=INFO msg=bad err=boom"}},
		{name: "low handler sees klog info", level: slog.LevelDebug - 8, want: []string{"level=DEBUG-4 msg=chatter", "level=INFO msg=bad err=boom"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			h := slog.NewTextHandler(&buf, &slog.HandlerOptions{
				Level: tt.level,
				ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
					if a.Key == slog.TimeKey {
						return slog.Attr{}
					}
					return a
				},
			})
			l := klogLogger(slog.New(h))
			l.Info("chatter")
			l.Error(errString("boom"), "bad")
			got := strings.Split(strings.TrimSpace(buf.String()), "\n")
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("lines (-want +got):\n%s", diff)
			}
		})
	}
}

func TestKlogLoggerNil(t *testing.T) {
	if l := klogLogger(nil); l.Enabled() {
		t.Error("a nil logger gives an enabled klog logger, want a discarding one")
	}
}

type errString string

func (e errString) Error() string { return string(e) }
