package bundle

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Options is the content of a fleet.yaml, shaped like Rancher Fleet's
// FleetYAML. Field tags name the fleet.yaml keys; Parse reads them from the
// tags, so adding a field here is all it takes to accept a new key.
type Options struct {
	// Name overrides the generated bundle name.
	Name string `json:"name"`
	// Labels are set on the bundle; dependsOn selectors match them.
	Labels map[string]string `json:"labels"`

	DeploymentOptions

	// Paused stops rollouts: clusters keep what they run.
	Paused          bool             `json:"paused"`
	RolloutStrategy *RolloutStrategy `json:"rolloutStrategy"`
	// DependsOn names bundles that must be ready before this one deploys.
	DependsOn []DependsOn `json:"dependsOn"`
	// TargetCustomizations are evaluated in order; the first that matches a
	// cluster customizes the bundle for it.
	TargetCustomizations []TargetCustomization `json:"targetCustomizations"`
	// Targets is the older name of targetCustomizations, still used by
	// many repositories (rancher/fleet-examples among them); Fleet puts
	// these entries before the targetCustomizations.
	Targets []TargetCustomization `json:"targets"`
	// OverrideTargets replace the targets given by the source.
	OverrideTargets []Target `json:"overrideTargets"`
}

// DeploymentOptions are the options a target customization may override,
// as in Fleet's BundleDeploymentOptions.
type DeploymentOptions struct {
	// DefaultNamespace is set on namespaced objects that have none.
	DefaultNamespace string `json:"defaultNamespace"`
	// Namespace is forced on every namespaced object; a cluster-scoped
	// object in the bundle is then an error.
	Namespace            string            `json:"namespace"`
	NamespaceLabels      map[string]string `json:"namespaceLabels"`
	NamespaceAnnotations map[string]string `json:"namespaceAnnotations"`
	ServiceAccount       string            `json:"serviceAccount"`
	Kustomize            *KustomizeOptions `json:"kustomize"`
	Helm                 *HelmOptions      `json:"helm"`
	YAML                 *YAMLOptions      `json:"yaml"`
	Diff                 *DiffOptions      `json:"diff"`
	Ignore               *IgnoreOptions    `json:"ignore"`
	CorrectDrift         *CorrectDrift     `json:"correctDrift"`
	KeepResources        bool              `json:"keepResources"`
	DeleteNamespace      bool              `json:"deleteNamespace"`
	DeleteCRDResources   bool              `json:"deleteCRDResources"`
	ForceSyncGeneration  int64             `json:"forceSyncGeneration"`
}

// KustomizeOptions select the kustomization to build.
type KustomizeOptions struct {
	// Dir holds the kustomization, relative to the bundle directory.
	Dir string `json:"dir"`
}

// HelmOptions describe a Helm chart and how to render it.
type HelmOptions struct {
	Chart                   string         `json:"chart"`
	Repo                    string         `json:"repo"`
	ReleaseName             string         `json:"releaseName"`
	Version                 string         `json:"version"`
	TimeoutSeconds          int            `json:"timeoutSeconds"`
	Values                  map[string]any `json:"values"`
	ValuesFiles             []string       `json:"valuesFiles"`
	ValuesFrom              []ValuesFrom   `json:"valuesFrom"`
	Force                   bool           `json:"force"`
	TakeOwnership           bool           `json:"takeOwnership"`
	MaxHistory              int            `json:"maxHistory"`
	WaitForJobs             bool           `json:"waitForJobs"`
	Atomic                  bool           `json:"atomic"`
	DisablePreProcess       bool           `json:"disablePreProcess"`
	DisableDNS              bool           `json:"disableDNS"`
	SkipSchemaValidation    bool           `json:"skipSchemaValidation"`
	DisableDependencyUpdate bool           `json:"disableDependencyUpdate"`
}

// ValuesFrom loads Helm values from a ConfigMap or Secret key.
type ValuesFrom struct {
	ConfigMapKeyRef *KeyRef `json:"configMapKeyRef"`
	SecretKeyRef    *KeyRef `json:"secretKeyRef"`
}

// KeyRef names one key of a ConfigMap or Secret.
type KeyRef struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	Key       string `json:"key"`
}

// YAMLOptions select overlays/{name} directories for raw YAML bundles.
type YAMLOptions struct {
	Overlays []string `json:"overlays"`
}

// DiffOptions ignore parts of objects when looking for drift.
type DiffOptions struct {
	ComparePatches []ComparePatch `json:"comparePatches"`
}

// ComparePatch matches an object and removes fields from drift checks.
type ComparePatch struct {
	Kind         string      `json:"kind"`
	APIVersion   string      `json:"apiVersion"`
	Namespace    string      `json:"namespace"`
	Name         string      `json:"name"`
	Operations   []Operation `json:"operations"`
	JSONPointers []string    `json:"jsonPointers"`
}

// Operation is a JSON patch operation, usually "remove".
type Operation struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value string `json:"value"`
}

// IgnoreOptions ignore object conditions when assessing health.
type IgnoreOptions struct {
	Conditions []map[string]string `json:"conditions"`
}

// CorrectDrift says whether and how drifted objects are put back.
type CorrectDrift struct {
	Enabled         bool `json:"enabled"`
	Force           bool `json:"force"`
	KeepFailHistory bool `json:"keepFailHistory"`
}

// RolloutStrategy controls how a bundle change spreads over clusters.
type RolloutStrategy struct {
	MaxUnavailable           *intstr.IntOrString `json:"maxUnavailable"`
	MaxUnavailablePartitions *intstr.IntOrString `json:"maxUnavailablePartitions"`
	AutoPartitionSize        *intstr.IntOrString `json:"autoPartitionSize"`
	Partitions               []Partition         `json:"partitions"`
}

// Partition is one group of clusters in a rollout.
type Partition struct {
	Name                 string                `json:"name"`
	MaxUnavailable       *intstr.IntOrString   `json:"maxUnavailable"`
	ClusterName          string                `json:"clusterName"`
	ClusterSelector      *metav1.LabelSelector `json:"clusterSelector"`
	ClusterGroup         string                `json:"clusterGroup"`
	ClusterGroupSelector *metav1.LabelSelector `json:"clusterGroupSelector"`
}

// DependsOn names a bundle, or selects bundles by label, that must be
// ready first.
type DependsOn struct {
	Name           string                `json:"name"`
	Selector       *metav1.LabelSelector `json:"selector"`
	AcceptedStates []string              `json:"acceptedStates"`
}

// Target selects clusters.
type Target struct {
	Name                 string                `json:"name"`
	ClusterName          string                `json:"clusterName"`
	ClusterSelector      *metav1.LabelSelector `json:"clusterSelector"`
	ClusterGroup         string                `json:"clusterGroup"`
	ClusterGroupSelector *metav1.LabelSelector `json:"clusterGroupSelector"`
}

// TargetCustomization selects clusters and overrides deployment options
// for them.
type TargetCustomization struct {
	Target
	DeploymentOptions
	// DoNotDeploy keeps the bundle off the matching clusters.
	DoNotDeploy bool `json:"doNotDeploy"`
}

// Customizations returns the target customizations in the order Fleet
// evaluates them: targets, then targetCustomizations.
func (o Options) Customizations() []TargetCustomization {
	if len(o.Targets) == 0 {
		return o.TargetCustomizations
	}
	return append(append([]TargetCustomization(nil), o.Targets...), o.TargetCustomizations...)
}
