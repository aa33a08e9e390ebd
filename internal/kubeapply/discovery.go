package kubeapply

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path"
	"time"

	metainternalversionscheme "k8s.io/apimachinery/pkg/apis/meta/internalversion/scheme"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/client-go/rest"
)

// discoveryTimeout bounds one discovery request, as client-go's discovery
// client does.
const discoveryTimeout = 32 * time.Second

// discoverer reads the server's discovery documents one at a time, as
// plain JSON: the version, the group list, one group, or one group
// version's resources. client-go's discovery client would do the same
// through the typed scheme of every built-in API group (most of the agent
// binary's pages and a few MB of heap at start-up), and its cached form
// fetches the aggregated document of every group at once; the agent needs
// neither.
type discoverer struct {
	client rest.Interface
}

// newDiscoverer returns a discoverer sharing httpClient; cfg is copied.
func newDiscoverer(cfg *rest.Config, httpClient *http.Client) (*discoverer, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.APIPath = ""
	cfg.GroupVersion = nil
	cfg.ContentType = "application/json"
	cfg.AcceptContentTypes = "application/json"
	// Only the errors go through the serializer (a Status, as a metadata
	// client reads them); the documents are decoded below.
	cfg.NegotiatedSerializer = metainternalversionscheme.Codecs.WithoutConversion()
	if cfg.Timeout == 0 {
		cfg.Timeout = discoveryTimeout
	}
	c, err := rest.UnversionedRESTClientForConfigAndClient(cfg, httpClient)
	if err != nil {
		return nil, fmt.Errorf("creating discovery client: %w", err)
	}
	return &discoverer{client: c}, nil
}

// get decodes the JSON document at path into out. A missing document gives
// an error for which apierrors.IsNotFound is true.
func (d *discoverer) get(ctx context.Context, out any, elems ...string) error {
	raw, err := d.client.Get().AbsPath(elems...).Do(ctx).Raw()
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("decoding %s: %w", path.Join(elems...), err)
	}
	return nil
}

// serverVersion reads /version.
func (d *discoverer) serverVersion(ctx context.Context) (version.Info, error) {
	var v version.Info
	if err := d.get(ctx, &v, "/version"); err != nil {
		return v, fmt.Errorf("reading server version: %w", err)
	}
	return v, nil
}

// groupVersions lists every served group/version ("v1" for the core
// group), from /api and /apis without their resources.
func (d *discoverer) groupVersions(ctx context.Context) ([]string, error) {
	var core metav1.APIVersions
	if err := d.get(ctx, &core, "/api"); err != nil {
		return nil, fmt.Errorf("listing API groups: %w", err)
	}
	var groups metav1.APIGroupList
	if err := d.get(ctx, &groups, "/apis"); err != nil {
		return nil, fmt.Errorf("listing API groups: %w", err)
	}
	out := append([]string(nil), core.Versions...)
	for _, g := range groups.Groups {
		for _, gv := range g.Versions {
			out = append(out, gv.GroupVersion)
		}
	}
	return out, nil
}

// group reads one API group's versions, preferred first. The core group
// is not a document of its own: it serves v1.
func (d *discoverer) group(ctx context.Context, name string) ([]string, error) {
	if name == "" {
		return []string{"v1"}, nil
	}
	var g metav1.APIGroup
	if err := d.get(ctx, &g, "/apis", name); err != nil {
		return nil, err
	}
	out := []string{}
	if g.PreferredVersion.Version != "" {
		out = append(out, g.PreferredVersion.Version)
	}
	for _, v := range g.Versions {
		if v.Version != g.PreferredVersion.Version {
			out = append(out, v.Version)
		}
	}
	return out, nil
}

// resources reads the resources one group version serves.
func (d *discoverer) resources(ctx context.Context, gv schema.GroupVersion) ([]metav1.APIResource, error) {
	elems := []string{"/apis", gv.Group, gv.Version}
	if gv.Group == "" {
		elems = []string{"/api", gv.Version}
	}
	var list metav1.APIResourceList
	if err := d.get(ctx, &list, elems...); err != nil {
		return nil, err
	}
	return list.APIResources, nil
}
