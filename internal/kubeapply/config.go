package kubeapply

import (
	"fmt"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// LoadConfig loads a kubeconfig file, or the in-cluster config when path is
// empty. QPS and Burst stay unset so New picks limits meant for bulk apply.
func LoadConfig(path, userAgent string) (*rest.Config, error) {
	var (
		cfg *rest.Config
		err error
	)
	if path != "" {
		cfg, err = clientcmd.BuildConfigFromFlags("", path)
	} else {
		cfg, err = rest.InClusterConfig()
	}
	if err != nil {
		return nil, fmt.Errorf("loading Kubernetes client config: %w", err)
	}
	cfg.UserAgent = userAgent
	return cfg, nil
}
