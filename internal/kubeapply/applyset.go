package kubeapply

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
)

// ApplySet labels and annotations, as KEP-3659 and kubectl define them.
const (
	LabelApplySetID         = "applyset.kubernetes.io/id"
	LabelPartOf             = "applyset.kubernetes.io/part-of"
	AnnotationTooling       = "applyset.kubernetes.io/tooling"
	AnnotationGroupKinds    = "applyset.kubernetes.io/contains-group-kinds"
	AnnotationNamespaces    = "applyset.kubernetes.io/additional-namespaces"
	Tooling                 = toolingName + "/v1"
	toolingName             = "flotilla"
	parentPrefix            = "flotilla-"
	parentKind              = "ConfigMap"
	applySetIDFormat        = "applyset-%s-v1"
	applySetIDPartDelimiter = "."
)

// ParentName is the name of the ConfigMap that is the ApplySet parent of the
// set called name.
func ParentName(name string) string { return parentPrefix + name }

// ApplySetID is the KEP-3659 id of the set called name whose parent lives in
// namespace: "applyset-" + base64url(sha256("<name>.<ns>.ConfigMap.")) + "-v1",
// the same value kubectl computes for that parent.
func ApplySetID(name, namespace string) string {
	unencoded := strings.Join([]string{ParentName(name), namespace, parentKind, ""}, applySetIDPartDelimiter)
	sum := sha256.Sum256([]byte(unencoded))
	return fmt.Sprintf(applySetIDFormat, base64.RawURLEncoding.EncodeToString(sum[:]))
}

// validateSetName checks that a set name is a DNS label, so the parent's
// name and the id are valid too.
func validateSetName(name string) error {
	if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
		return fmt.Errorf("invalid set name %q: %s", name, strings.Join(errs, "; "))
	}
	return nil
}

// formatGroupKinds renders the contains-group-kinds annotation: sorted,
// comma-separated "Kind.group" ("Kind" for the core group).
func formatGroupKinds(gks sets.Set[schema.GroupKind]) string {
	out := make([]string, 0, gks.Len())
	for gk := range gks {
		out = append(out, gk.String())
	}
	slices.Sort(out)
	return strings.Join(out, ",")
}

// parseGroupKinds reads the contains-group-kinds annotation. The annotation
// comes from the cluster, so anything malformed is an error, not a guess.
func parseGroupKinds(s string) (sets.Set[schema.GroupKind], error) {
	out := sets.New[schema.GroupKind]()
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		gk := schema.ParseGroupKind(part)
		if !validKind(gk.Kind) || (gk.Group != "" || strings.HasSuffix(part, ".")) && len(validation.IsDNS1123Subdomain(gk.Group)) > 0 {
			return nil, fmt.Errorf("parsing group kinds %q: bad entry %q", s, part)
		}
		out.Insert(gk)
	}
	return out, nil
}

// validKind accepts what Kubernetes kinds look like: ASCII letters and
// digits, starting with a letter.
func validKind(k string) bool {
	if k == "" || len(k) > 253 {
		return false
	}
	for i, c := range k {
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if !letter && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// formatNamespaces renders the additional-namespaces annotation: sorted,
// comma-separated, without the parent's own namespace.
func formatNamespaces(nss sets.Set[string], parentNS string) string {
	out := make([]string, 0, nss.Len())
	for ns := range nss {
		if ns != "" && ns != parentNS {
			out = append(out, ns)
		}
	}
	slices.Sort(out)
	return strings.Join(out, ",")
}

// parseNamespaces reads the additional-namespaces annotation.
func parseNamespaces(s string) (sets.Set[string], error) {
	out := sets.New[string]()
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if errs := validation.IsDNS1123Label(part); len(errs) > 0 {
			return nil, fmt.Errorf("parsing namespaces %q: bad entry %q", s, part)
		}
		out.Insert(part)
	}
	return out, nil
}

// inventory is what a parent records: the group-kinds and namespaces its
// members may be in.
type inventory struct {
	groupKinds sets.Set[schema.GroupKind]
	namespaces sets.Set[string]
}

func newInventory() inventory {
	return inventory{groupKinds: sets.New[schema.GroupKind](), namespaces: sets.New[string]()}
}

func (inv inventory) union(o inventory) inventory {
	return inventory{groupKinds: inv.groupKinds.Union(o.groupKinds), namespaces: inv.namespaces.Union(o.namespaces)}
}

// parentObject builds the ApplySet parent ConfigMap for apply.
func parentObject(name, namespace string, inv inventory) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("v1")
	u.SetKind(parentKind)
	u.SetName(ParentName(name))
	u.SetNamespace(namespace)
	u.SetLabels(map[string]string{LabelApplySetID: ApplySetID(name, namespace)})
	u.SetAnnotations(map[string]string{
		AnnotationTooling:    Tooling,
		AnnotationGroupKinds: formatGroupKinds(inv.groupKinds),
		AnnotationNamespaces: formatNamespaces(inv.namespaces, namespace),
	})
	return u
}

// checkOwned checks that a parent found in the cluster is the parent of the
// set called name and belongs to our tooling.
func checkOwned(name, namespace string, labels, annotations map[string]string) error {
	if got, want := labels[LabelApplySetID], ApplySetID(name, namespace); got != want {
		return fmt.Errorf("checking parent %s/%s: label %s is %q, want %q", namespace, ParentName(name), LabelApplySetID, got, want)
	}
	// Another version of our own tooling may take over; another tool may not.
	if got := annotations[AnnotationTooling]; !strings.HasPrefix(got, toolingName+"/") {
		return fmt.Errorf("checking parent %s/%s: managed by %q, not %q", namespace, ParentName(name), got, Tooling)
	}
	return nil
}

// readInventory checks that a parent found in the cluster is ours and
// returns what it records.
func readInventory(name, namespace string, labels, annotations map[string]string) (inventory, error) {
	if err := checkOwned(name, namespace, labels, annotations); err != nil {
		return inventory{}, err
	}
	gks, err := parseGroupKinds(annotations[AnnotationGroupKinds])
	if err != nil {
		return inventory{}, err
	}
	nss, err := parseNamespaces(annotations[AnnotationNamespaces])
	if err != nil {
		return inventory{}, err
	}
	return inventory{groupKinds: gks, namespaces: nss}, nil
}
