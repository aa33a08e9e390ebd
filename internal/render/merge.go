package render

import (
	"maps"

	"flotilla.io/flotilla/internal/bundle"
)

// mergeOptions lays a target customization over the bundle's options as
// Fleet does: a field the customization sets replaces the bundle's, maps
// of namespace labels and annotations merge, and booleans can only be
// turned on. Helm values are merged separately (mergedValues).
func mergeOptions(base, custom bundle.DeploymentOptions) bundle.DeploymentOptions {
	out := base
	setString(&out.DefaultNamespace, custom.DefaultNamespace)
	setString(&out.Namespace, custom.Namespace)
	setString(&out.ServiceAccount, custom.ServiceAccount)
	out.NamespaceLabels = mergeStrings(base.NamespaceLabels, custom.NamespaceLabels)
	out.NamespaceAnnotations = mergeStrings(base.NamespaceAnnotations, custom.NamespaceAnnotations)
	if custom.Kustomize != nil && custom.Kustomize.Dir != "" {
		out.Kustomize = &bundle.KustomizeOptions{Dir: custom.Kustomize.Dir}
	}
	if custom.Helm != nil {
		out.Helm = mergeHelm(base.Helm, custom.Helm)
	}
	if custom.YAML != nil {
		out.YAML = custom.YAML
	}
	if custom.Diff != nil {
		out.Diff = custom.Diff
	}
	if custom.Ignore != nil {
		out.Ignore = custom.Ignore
	}
	if custom.CorrectDrift != nil {
		out.CorrectDrift = custom.CorrectDrift
	}
	out.KeepResources = base.KeepResources || custom.KeepResources
	out.DeleteNamespace = base.DeleteNamespace || custom.DeleteNamespace
	out.DeleteCRDResources = base.DeleteCRDResources || custom.DeleteCRDResources
	if custom.ForceSyncGeneration > 0 {
		out.ForceSyncGeneration = custom.ForceSyncGeneration
	}
	return out
}

func mergeHelm(base, custom *bundle.HelmOptions) *bundle.HelmOptions {
	if base == nil {
		c := *custom
		return &c
	}
	out := *base
	setString(&out.Chart, custom.Chart)
	setString(&out.Repo, custom.Repo)
	setString(&out.ReleaseName, custom.ReleaseName)
	setString(&out.Version, custom.Version)
	if custom.TimeoutSeconds > 0 {
		out.TimeoutSeconds = custom.TimeoutSeconds
	}
	if custom.MaxHistory > 0 {
		out.MaxHistory = custom.MaxHistory
	}
	out.ValuesFrom = append(append([]bundle.ValuesFrom(nil), base.ValuesFrom...), custom.ValuesFrom...)
	out.Force = out.Force || custom.Force
	out.TakeOwnership = out.TakeOwnership || custom.TakeOwnership
	out.WaitForJobs = out.WaitForJobs || custom.WaitForJobs
	out.Atomic = out.Atomic || custom.Atomic
	out.DisablePreProcess = out.DisablePreProcess || custom.DisablePreProcess
	out.DisableDNS = out.DisableDNS || custom.DisableDNS
	out.SkipSchemaValidation = out.SkipSchemaValidation || custom.SkipSchemaValidation
	out.DisableDependencyUpdate = out.DisableDependencyUpdate || custom.DisableDependencyUpdate
	return &out
}

func setString(dst *string, v string) {
	if v != "" {
		*dst = v
	}
}

func mergeStrings(base, custom map[string]string) map[string]string {
	if len(base) == 0 && len(custom) == 0 {
		return nil
	}
	out := maps.Clone(base)
	if out == nil {
		out = make(map[string]string, len(custom))
	}
	maps.Copy(out, custom)
	return out
}

// mergeValues lays src over dest as Helm and Fleet do: maps merge
// recursively, anything else in src replaces what dest holds. dest is
// modified and returned; src is not.
func mergeValues(dest, src map[string]any) map[string]any {
	if dest == nil {
		dest = make(map[string]any, len(src))
	}
	for k, v := range src {
		next, isMap := v.(map[string]any)
		cur, curIsMap := dest[k].(map[string]any)
		if isMap && curIsMap {
			dest[k] = mergeValues(cur, next)
			continue
		}
		if isMap {
			v = mergeValues(nil, next) // copy, so later layers never write into src
		}
		dest[k] = v
	}
	return dest
}
