package render

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/ignore"

	"flotilla.io/flotilla/internal/bundle"
	"flotilla.io/flotilla/internal/helmrepo"
)

// maxChartFiles bounds the files of a local chart.
const maxChartFiles = 10000

// helmChart says where a bundle's chart comes from; nil means the bundle
// is not rendered with Helm.
func helmChart(c *bundle.Checkout, b bundle.Bundle, e Effective) *bundle.HelmOptions {
	h := e.Options.Helm
	if h != nil && (h.Chart != "" || h.Repo != "") {
		return h
	}
	if fileExists(c, joinRel(b.Path, "Chart.yaml")) {
		out := bundle.HelmOptions{}
		if h != nil {
			out = *h
		}
		out.Chart = "."
		return &out
	}
	return nil
}

func fileExists(c *bundle.Checkout, rel string) bool {
	info, err := c.Stat(rel)
	return err == nil && !info.IsDir()
}

// renderHelm renders a chart as `helm template` does, through the Helm
// SDK's install action in client-only dry-run mode: that is what Fleet
// itself runs (so the output matches `fleet test`), and it keeps Helm's
// own handling of dependencies (conditions, tags, import-values), schema
// validation and manifest ordering that calling the engine directly
// would have to repeat. lookup returns empty in this mode and nothing
// contacts a cluster. It returns the release manifest: hooks are left
// out, as in Fleet's release manifest, since the agent has no hook
// lifecycle to run them in; CRDs under crds/ are included, since the
// agent installs them as Helm would.
func renderHelm(ctx context.Context, c *bundle.Checkout, b bundle.Bundle, e Effective, h *bundle.HelmOptions, opts Options) ([]byte, string, error) {
	ch, where, err := loadChart(ctx, c, b, h, opts)
	if err != nil {
		return nil, "", err
	}
	values := helmValues(e)
	if h.SkipSchemaValidation {
		ch.Schema = nil
	}
	cfg := &action.Configuration{Log: func(format string, v ...any) {
		opts.Logger.Debug("helm message", "bundle", b.Path, "text", fmt.Sprintf(format, v...))
	}}
	inst := action.NewInstall(cfg)
	inst.ClientOnly = true
	inst.DryRun = true
	inst.Replace = true
	inst.IncludeCRDs = true
	inst.ReleaseName = e.ReleaseName
	inst.Namespace = releaseNamespace(e.Options)
	inst.TakeOwnership = h.TakeOwnership
	inst.SkipSchemaValidation = h.SkipSchemaValidation
	// DNS lookups in templates would make the render depend on the hub's
	// network; they stay off (getHostByName returns "").
	inst.EnableDNS = false
	if e.KubeVersion != "" {
		kv, err := chartutil.ParseKubeVersion(e.KubeVersion)
		if err != nil {
			return nil, "", fmt.Errorf("rendering bundle %s: cluster Kubernetes version %q: %w", b.Path, e.KubeVersion, err)
		}
		inst.KubeVersion = kv
	}
	inst.APIVersions = chartutil.VersionSet(e.APIVersions)
	rel, err := inst.RunWithContext(ctx, ch, values)
	if err != nil {
		return nil, "", errorf(where, 0, "rendering chart: %w", err)
	}
	return []byte(rel.Manifest), where, nil
}

// releaseNamespace is the namespace Fleet installs a release into.
func releaseNamespace(o bundle.DeploymentOptions) string {
	if o.Namespace != "" {
		return o.Namespace
	}
	if o.DefaultNamespace != "" {
		return o.DefaultNamespace
	}
	return fleetDefaultNamespace
}

// loadChart loads a local chart from the checkout, or a remote one from its
// repository. where names it in errors.
func loadChart(ctx context.Context, c *bundle.Checkout, b bundle.Bundle, h *bundle.HelmOptions, opts Options) (*chart.Chart, string, error) {
	fleetFile := joinRel(b.Path, "fleet.yaml")
	if h.Repo != "" {
		if h.Chart == "" {
			return nil, "", errorf(fleetFile, 0, "helm.repo needs helm.chart")
		}
		data, err := helmrepo.Fetch(ctx, helmrepo.Chart{Repo: h.Repo, Name: h.Chart, Version: h.Version},
			helmrepo.Options{CacheDir: opts.ChartCacheDir, Egress: opts.Egress, Limits: opts.ChartLimits, Logger: opts.Logger})
		if err != nil {
			return nil, "", &Error{File: fleetFile, Err: err}
		}
		ch, err := loader.LoadArchive(bytes.NewReader(data))
		if err != nil {
			return nil, "", errorf(fleetFile, 0, "loading chart %s: %w", h.Chart, err)
		}
		return ch, fleetFile, nil
	}
	if strings.Contains(h.Chart, "://") || strings.HasPrefix(h.Chart, "oci:") {
		return nil, "", errorf(fleetFile, 0, "helm.chart %q: only a path in the checkout, or a name with helm.repo, is supported", h.Chart)
	}
	if path.IsAbs(h.Chart) {
		return nil, "", errorf(fleetFile, 0, "helm.chart %q must be relative to the bundle directory", h.Chart)
	}
	dir, err := bundle.CleanRel(path.Join(b.Path, h.Chart))
	if err != nil {
		return nil, "", errorf(fleetFile, 0, "helm.chart %q leads outside the checkout", h.Chart)
	}
	info, err := c.Stat(dir)
	if errors.Is(err, bundle.ErrEscape) {
		return nil, "", errorf(fleetFile, 0, "helm.chart %q: %w", h.Chart, err)
	}
	if err != nil {
		return nil, "", errorf(fleetFile, 0, "helm.chart %q does not exist", h.Chart)
	}
	if !info.IsDir() {
		data, err := readFile(c, dir, nil)
		if err != nil {
			return nil, "", err
		}
		ch, err := loader.LoadArchive(bytes.NewReader(data))
		if err != nil {
			return nil, "", errorf(dir, 0, "loading chart: %w", err)
		}
		return ch, dir, nil
	}
	files, err := chartFiles(ctx, c, dir)
	if err != nil {
		return nil, "", err
	}
	ch, err := loader.LoadFiles(files)
	if err != nil {
		return nil, "", errorf(dir, 0, "loading chart: %w", err)
	}
	return ch, dir, nil
}

// chartFiles reads a chart directory from the checkout, honouring its
// .helmignore as Helm's loader does, and refusing symlinks that leave the
// checkout (Helm's own loader would follow them, and open files by their
// path outside any os.Root).
func chartFiles(ctx context.Context, c *bundle.Checkout, dir string) ([]*loader.BufferedFile, error) {
	rules := ignore.Empty()
	if data, err := c.ReadFile(joinRel(dir, ignore.HelmIgnore), maxFileBytes); err == nil {
		if r, err := ignore.Parse(bytes.NewReader(data)); err == nil {
			rules = r
		}
	}
	rules.AddDefaults()
	var files []*loader.BufferedFile
	err := c.Walk(dir, bundle.WalkOptions{}, func(e bundle.Entry) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if e.Err != nil {
			return &Error{File: e.Path, Err: e.Err}
		}
		rel := bundleRel(dir, e.Path)
		if rules.Ignore(rel, entryInfo{e}) {
			if e.Dir {
				return fs.SkipDir
			}
			return nil
		}
		if e.Dir {
			return nil
		}
		if len(files) >= maxChartFiles {
			return errorf(dir, 0, "chart has more than %d files", maxChartFiles)
		}
		data, err := readEntry(e, nil)
		if err != nil {
			return err
		}
		files = append(files, &loader.BufferedFile{Name: rel, Data: data})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return files, nil
}

// entryInfo is what .helmignore rules look at of a walked entry: its
// name and whether it is a directory, known without a stat.
type entryInfo struct{ e bundle.Entry }

func (i entryInfo) Name() string       { return path.Base(i.e.Path) }
func (i entryInfo) Size() int64        { return 0 }
func (i entryInfo) ModTime() time.Time { return time.Time{} }
func (i entryInfo) IsDir() bool        { return i.e.Dir }
func (i entryInfo) Sys() any           { return nil }

func (i entryInfo) Mode() fs.FileMode {
	if i.e.Dir {
		return fs.ModeDir
	}
	return 0
}

// helmValues gives Helm the values Resolve merged, as a copy: Helm
// coalesces chart defaults into what it is given, and Effective.Values
// may share slices and scalars with the bundle.
func helmValues(e Effective) map[string]any {
	if e.Values == nil {
		return map[string]any{}
	}
	return copyValues(e.Values).(map[string]any)
}

// shortReleaseName fits a name into Helm's 53 characters, keeping it
// unique with a hash suffix.
func shortReleaseName(name string) string {
	const maxLen = 53
	if len(name) <= maxLen {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	return strings.TrimRight(name[:maxLen-6], "-") + "-" + hex.EncodeToString(sum[:])[:5]
}
