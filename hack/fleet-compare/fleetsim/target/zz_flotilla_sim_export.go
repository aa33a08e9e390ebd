//go:build fleetsim

// This file is copied by hack/fleet-compare/run.sh into Fleet's
// internal/cmd/controller/target package (it is not part of Flotilla). It
// exposes the controller's Helm values pre-processing to fleetsim.

package target

import (
	"github.com/go-logr/logr"

	fleet "github.com/rancher/fleet/pkg/apis/fleet.cattle.io/v1alpha1"
)

// FlotillaPreprocessHelmValues runs the pre-processing the controller applies
// to a BundleDeployment's Helm values for cluster: global.fleet.clusterLabels
// references and ${ } templates.
func FlotillaPreprocessHelmValues(opts *fleet.BundleDeploymentOptions, cluster *fleet.Cluster) error {
	return preprocessHelmValues(logr.Discard(), opts, cluster)
}
