package kubeapiserver

import (
	"context"
	"fmt"
	"io"
	"net"

	"github.com/spf13/pflag"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apiserver/pkg/util/compatibility"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	basecompatibility "k8s.io/component-base/compatibility"
	aggregatorapiserver "k8s.io/kube-aggregator/pkg/apiserver"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
	"k8s.io/kubernetes/cmd/kube-apiserver/app/options"
)

// newAPIServer configures a kube-apiserver chain that serves on ln and
// stores in the etcd at etcdURL, the way the kube-apiserver command does,
// minus its process-wide set-up (signal handler, log flags, metrics).
func newAPIServer(ctx context.Context, ln net.Listener, etcdURL string, p pki) (*aggregatorapiserver.APIAggregator, error) {
	// NewServerRunOptions registers the default kube component with a
	// check-then-register that panics when two servers start at once;
	// registering it atomically first makes that check a no-op.
	compatibility.DefaultComponentGlobalsRegistry.ComponentGlobalsOrRegister(
		basecompatibility.DefaultKubeComponent, compatibility.DefaultBuildEffectiveVersion(), utilfeature.DefaultMutableFeatureGate)

	// Each server gets its own registry and a copy of the feature gate,
	// as the upstream test server does, so that Set() of one server does
	// not write state another is reading.
	registry := basecompatibility.NewComponentGlobalsRegistry()
	if err := registry.Register(basecompatibility.DefaultKubeComponent,
		compatibility.DefaultBuildEffectiveVersion(), utilfeature.DefaultMutableFeatureGate.DeepCopy()); err != nil {
		return nil, fmt.Errorf("registering component globals: %w", err)
	}
	s := options.NewServerRunOptions()
	s.GenericServerRunOptions.ComponentGlobalsRegistry = registry

	fs := pflag.NewFlagSet("kube-apiserver", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	for _, f := range s.Flags().FlagSets {
		fs.AddFlagSet(f)
	}
	if err := fs.Parse(apiServerArgs(etcdURL, p)); err != nil {
		return nil, fmt.Errorf("parsing flags: %w", err)
	}
	s.SecureServing.Listener = ln
	s.SecureServing.BindPort = ln.Addr().(*net.TCPAddr).Port

	if err := registry.Set(); err != nil {
		return nil, fmt.Errorf("setting component globals: %w", err)
	}
	completed, err := s.Complete(ctx)
	if err != nil {
		return nil, fmt.Errorf("completing options: %w", err)
	}
	if errs := completed.Validate(); len(errs) != 0 {
		return nil, fmt.Errorf("validating options: %w", utilerrors.NewAggregate(errs))
	}
	cfg, err := app.NewConfig(completed)
	if err != nil {
		return nil, fmt.Errorf("building config: %w", err)
	}
	cc, err := cfg.Complete()
	if err != nil {
		return nil, fmt.Errorf("completing config: %w", err)
	}
	chain, err := app.CreateServerChain(cc)
	if err != nil {
		return nil, fmt.Errorf("creating server chain: %w", err)
	}
	return chain, nil
}

// apiServerArgs are the kube-apiserver flags of a one-node test cluster.
func apiServerArgs(etcdURL string, p pki) []string {
	return []string{
		"--etcd-servers=" + etcdURL,
		"--cert-dir=" + p.servingCerts,
		"--client-ca-file=" + p.clientCA,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		// The lease reconciler refuses a loopback advertise address.
		"--endpoint-reconciler-type=none",
		"--authorization-mode=RBAC",
		"--service-cluster-ip-range=10.96.0.0/16",
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file=" + p.saKey,
		"--service-account-signing-key-file=" + p.saKey,
		// No controller-manager makes default ServiceAccounts, so the
		// admission plugin that requires them would refuse every Pod.
		"--disable-admission-plugins=ServiceAccount",
	}
}
