package agent

import (
	"context"
	"os"

	"flotilla.io/flotilla/internal/kubeapply"
)

// RunCluster runs an agent against the cluster a kubeconfig names (the
// in-cluster config when kubeconfig is empty), applying with kubeapply.
// Both agent binaries start here; opts.Applier is set by it, and the
// collector's target is lowered unless GOGC sets it (see tuneGC).
func RunCluster(ctx context.Context, kubeconfig, userAgent string, opts Options) error {
	tuneGC(os.Getenv)
	cfg, err := kubeapply.LoadConfig(kubeconfig, userAgent)
	if err != nil {
		return err
	}
	applier, err := kubeapply.New(cfg, kubeapply.Options{FieldManager: "flotilla", ParentNamespace: "flotilla-system", Logger: opts.Logger})
	if err != nil {
		return err
	}
	opts.Applier = applier
	a, err := New(opts)
	if err != nil {
		return err
	}
	a.sup = supervisedFromEnv()
	return a.Run(ctx)
}
