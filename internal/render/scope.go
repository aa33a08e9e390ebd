package render

// ClusterScoped reports whether a built-in Kubernetes kind is cluster-scoped.
// Kinds defined by CustomResourceDefinitions are not known here; Render also
// reads the scope of CRDs in the same bundle.
func ClusterScoped(group, kind string) bool {
	switch group {
	case "":
		switch kind {
		case "Namespace", "Node", "PersistentVolume", "ComponentStatus":
			return true
		}
	case "apiextensions.k8s.io":
		return kind == "CustomResourceDefinition"
	case "rbac.authorization.k8s.io":
		return kind == "ClusterRole" || kind == "ClusterRoleBinding"
	case "storage.k8s.io":
		switch kind {
		case "StorageClass", "CSIDriver", "CSINode", "VolumeAttachment", "VolumeAttributesClass":
			return true
		}
	case "scheduling.k8s.io":
		return kind == "PriorityClass"
	case "node.k8s.io":
		return kind == "RuntimeClass"
	case "networking.k8s.io":
		return kind == "IngressClass" || kind == "IPAddress" || kind == "ServiceCIDR"
	case "apiregistration.k8s.io":
		return kind == "APIService"
	case "admissionregistration.k8s.io":
		switch kind {
		case "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
			"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding",
			"MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding":
			return true
		}
	case "certificates.k8s.io":
		return kind == "CertificateSigningRequest" || kind == "ClusterTrustBundle"
	case "flowcontrol.apiserver.k8s.io":
		return kind == "FlowSchema" || kind == "PriorityLevelConfiguration"
	case "resource.k8s.io":
		return kind == "DeviceClass" || kind == "ResourceSlice"
	case "policy":
		return kind == "PodSecurityPolicy"
	}
	return false
}
