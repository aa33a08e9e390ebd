package kubeapiserver

import (
	"context"
	"log/slog"
	"sync"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2"
)

// klogLevelShift demotes everything the API server and etcd client log:
// their errors become Info, their info becomes below Debug. A test that
// wants to read them sets its handler's level that low.
const klogLevelShift = slog.LevelError - slog.LevelInfo

// klogOnce guards the process-wide klog setup. klog is a global logger that
// writes to stderr by default; the API server logs through it in places that
// take no context, so the only way to quiet it is to replace its logger once
// per process. The first Start decides where those messages go.
var klogOnce sync.Once

// routeKlog sends klog's global output to logger, demoted, or drops it
// when logger is nil. Only the first call in a process has an effect.
func routeKlog(logger *slog.Logger) {
	klogOnce.Do(func() {
		klog.SetLogger(klogLogger(logger))
	})
}

// klogLogger returns a logr.Logger that writes to logger's handler with
// every level lowered by klogLevelShift, or a discarding one.
func klogLogger(logger *slog.Logger) logr.Logger {
	if logger == nil {
		return logr.Discard()
	}
	return logr.FromSlogHandler(demoted{logger.Handler()})
}

// demoted is a slog.Handler that lowers record levels before passing them
// on, so a chatty library does not flood a handler set at Info.
type demoted struct{ next slog.Handler }

func (d demoted) Enabled(ctx context.Context, l slog.Level) bool {
	return d.next.Enabled(ctx, l-klogLevelShift)
}

func (d demoted) Handle(ctx context.Context, r slog.Record) error {
	r.Level -= klogLevelShift
	return d.next.Handle(ctx, r)
}

func (d demoted) WithAttrs(attrs []slog.Attr) slog.Handler {
	return demoted{d.next.WithAttrs(attrs)}
}

func (d demoted) WithGroup(name string) slog.Handler {
	return demoted{d.next.WithGroup(name)}
}
