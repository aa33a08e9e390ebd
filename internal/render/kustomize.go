package render

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"sync"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"flotilla.io/flotilla/internal/bundle"
)

// mount is where the checkout sits in Kustomize's in-memory file system.
// Nothing else exists there, so a path that climbs out finds nothing.
const mount = "/flotilla-checkout"

// maxCheckoutBytes bounds the checkout loaded into memory for Kustomize.
const maxCheckoutBytes = 256 << 20

var errCheckoutTooLarge = fmt.Errorf("loading checkout: more than %d bytes", maxCheckoutBytes)

// kustomizeMu serializes Kustomize builds: kyaml keeps its OpenAPI schema
// in process-wide variables that concurrent builds race on.
var kustomizeMu sync.Mutex

// helmManifests is the file Fleet adds to a kustomization to post-render
// a chart's output.
const helmManifests = "fleet-manifests.yaml"

// kustomizeRun is one Kustomize build.
type kustomizeRun struct {
	kdir, kfile string // relative to the checkout root
	allowRemote bool
	// helmOutput, when set, is written to kdir/fleet-manifests.yaml and
	// put first in the kustomization's resources, as Fleet does.
	helmOutput []byte
	// budget counts the objects the build yields.
	budget *budget
}

// renderKustomize builds the kustomization in kdir (relative to the root)
// in process, from an in-memory copy of the checkout.
func renderKustomize(ctx context.Context, c *bundle.Checkout, k kustomizeRun) ([]item, error) {
	kdir, kfile := k.kdir, k.kfile
	fsys := filesys.MakeFsInMemory()
	broken, err := loadCheckout(ctx, c, fsys)
	if err != nil {
		return nil, err
	}
	if err := checkReferences(fsys, kdir, broken, k.allowRemote); err != nil {
		return nil, err
	}
	if k.helmOutput != nil {
		if err := addHelmOutput(fsys, kdir, kfile, k.helmOutput); err != nil {
			return nil, err
		}
	}
	opts := krusty.MakeDefaultOptions()
	// Overlays may use ../base anywhere in the checkout; the in-memory file
	// system holds nothing else.
	opts.LoadRestrictions = types.LoadRestrictionsNone
	kustomizeMu.Lock()
	resources, err := krusty.MakeKustomizer(opts).Run(fsys, inMemory(kdir))
	kustomizeMu.Unlock()
	if err != nil {
		return nil, &Error{File: kfile, Err: errors.New(unmount(err.Error()))}
	}
	if err := k.budget.expect(resources.Size()); err != nil {
		return nil, &Error{File: kfile, Err: err}
	}
	var items []item
	for _, r := range resources.Resources() {
		data, err := r.MarshalJSON()
		if err != nil {
			return nil, errorf(kfile, 0, "encoding %s: %w", r.CurId(), err)
		}
		v, err := decodeJSON(data)
		if err != nil {
			return nil, errorf(kfile, 0, "decoding %s: %w", r.CurId(), err)
		}
		if items, err = appendObjects(items, v, kfile, 0, "", 0, k.budget); err != nil {
			return nil, err
		}
	}
	return items, nil
}

func inMemory(rel string) string {
	if rel == "." {
		return mount
	}
	return mount + "/" + rel
}

// unmount strips the in-memory mount point from Kustomize's messages so
// they name paths relative to the checkout.
func unmount(msg string) string {
	msg = strings.ReplaceAll(msg, mount+"/", "")
	return strings.ReplaceAll(msg, mount, ".")
}

// loadCheckout copies the checkout (without .git, and without symlinks
// that leave it) into fsys under mount. It returns the entries left out
// and why, so that a reference to one gets a clear error.
func loadCheckout(ctx context.Context, c *bundle.Checkout, fsys filesys.FileSystem) (map[string]error, error) {
	var total int64
	if err := fsys.MkdirAll(mount); err != nil {
		return nil, fmt.Errorf("loading checkout: %w", err)
	}
	broken := make(map[string]error)
	err := c.Walk(".", bundle.WalkOptions{}, func(e bundle.Entry) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		switch {
		case e.Err != nil:
			broken[e.Path] = e.Err
			return nil
		case e.Dir:
			return fsys.MkdirAll(inMemory(e.Path))
		}
		f, err := e.Open()
		if err != nil {
			return &Error{File: e.Path, Err: err}
		}
		// Counted before it is read, as readOpen counts manifests; and
		// again as read, in case it grew since.
		if total+f.Size() > maxCheckoutBytes {
			f.Close()
			return errCheckoutTooLarge
		}
		data, err := readOpen(f, e.Path, nil)
		if err != nil {
			return err
		}
		if total += int64(len(data)); total > maxCheckoutBytes {
			return errCheckoutTooLarge
		}
		return fsys.WriteFile(inMemory(e.Path), data)
	})
	return broken, err
}

// reference is a path named in a kustomization.
type reference struct {
	field string
	value string
	dir   bool // may name a directory holding another kustomization
}

// checkReferences walks the kustomizations reachable from kdir and refuses
// remote references, absolute paths, paths leaving the checkout and Helm
// chart inflation, before Kustomize would fetch or run anything.
func checkReferences(fsys filesys.FileSystem, kdir string, broken map[string]error, allowRemote bool) error {
	queue := []string{kdir}
	seen := map[string]bool{kdir: true}
	for len(queue) > 0 {
		dir := queue[0]
		queue = queue[1:]
		kfile := findKustomization(fsys, dir)
		if kfile == "" {
			continue // Kustomize reports the missing file itself
		}
		refs, err := readReferences(fsys, kfile)
		if err != nil {
			return err
		}
		for _, r := range refs {
			if allowRemote && isRemote(r.value) {
				continue
			}
			target, err := checkReference(dir, r)
			if err != nil {
				return &Error{File: kfile, Err: err}
			}
			if err := brokenAt(broken, target); err != nil {
				return errorf(kfile, 0, "%s: %q: %w", r.field, r.value, err)
			}
			if r.dir && !seen[target] && fsys.IsDir(inMemory(target)) {
				seen[target] = true
				queue = append(queue, target)
			}
		}
	}
	return nil
}

// brokenAt returns why target, or the directory it is under, was left
// out of the in-memory checkout: a path through a link that leads
// outside must say so, not that the file is missing.
func brokenAt(broken map[string]error, target string) error {
	for p := target; p != "."; p = path.Dir(p) {
		if err := broken[p]; err != nil {
			return err
		}
	}
	return nil
}

func findKustomization(fsys filesys.FileSystem, dir string) string {
	for _, name := range kustomizationNames() {
		if p := joinRel(dir, name); fsys.Exists(inMemory(p)) && !fsys.IsDir(inMemory(p)) {
			return p
		}
	}
	return ""
}

func checkReference(dir string, r reference) (string, error) {
	if isRemote(r.value) {
		return "", fmt.Errorf("%s: remote reference %q refused: only files inside the checkout are rendered", r.field, r.value)
	}
	if path.IsAbs(r.value) {
		return "", fmt.Errorf("%s: absolute path %q refused", r.field, r.value)
	}
	target := path.Join(dir, r.value)
	if target == ".." || strings.HasPrefix(target, "../") {
		return "", fmt.Errorf("%s: %q leads outside the checkout", r.field, r.value)
	}
	return target, nil
}

// isRemote reports whether Kustomize would fetch a reference over the
// network: a URL, an scp-like user@host:path, or a github.com path.
func isRemote(s string) bool {
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.TrimPrefix(s, "git::")
	if strings.Contains(s, "://") || strings.HasPrefix(s, "github.com/") || strings.HasPrefix(s, "github.com:") {
		return true
	}
	user, _, ok := strings.Cut(s, "@")
	if !ok || user == "" || user[0] < 'a' || user[0] > 'z' {
		return false
	}
	for _, c := range user {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

// readReferences lists the paths a kustomization names.
func readReferences(fsys filesys.FileSystem, kfile string) ([]reference, error) {
	data, err := fsys.ReadFile(inMemory(kfile))
	if err != nil {
		return nil, &Error{File: kfile, Err: err}
	}
	var k types.Kustomization
	if err := yaml.Unmarshal(data, &k); err != nil {
		line, msg := yamlErrorLine(err)
		return nil, errorf(kfile, line, "%s", msg)
	}
	if len(k.HelmCharts) > 0 || len(k.HelmChartInflationGenerator) > 0 || k.HelmGlobals != nil {
		return nil, errorf(kfile, 0, "helmCharts are not supported in kustomizations; use helm in fleet.yaml")
	}
	var refs []reference
	add := func(field string, dir bool, values ...string) {
		for _, v := range values {
			if v != "" {
				refs = append(refs, reference{field: field, value: v, dir: dir})
			}
		}
	}
	add("resources", true, k.Resources...)
	add("bases", true, k.Bases...)
	add("components", true, k.Components...)
	add("crds", false, k.Crds...)
	add("configurations", false, k.Configurations...)
	add("openapi", false, k.OpenAPI["path"])
	for _, p := range k.PatchesStrategicMerge {
		if !strings.Contains(string(p), "\n") {
			add("patchesStrategicMerge", false, string(p))
		}
	}
	for _, p := range k.Patches {
		add("patches", false, p.Path)
	}
	for _, p := range k.PatchesJson6902 {
		add("patchesJson6902", false, p.Path)
	}
	for _, r := range k.Replacements {
		add("replacements", false, r.Path)
	}
	for _, g := range k.ConfigMapGenerator {
		add("configMapGenerator", false, sources(g.GeneratorArgs)...)
	}
	for _, g := range k.SecretGenerator {
		add("secretGenerator", false, sources(g.GeneratorArgs)...)
	}
	plugins := []struct {
		field string
		list  []string
	}{{"generators", k.Generators}, {"transformers", k.Transformers}, {"validators", k.Validators}}
	for _, pl := range plugins {
		field := pl.field
		for _, v := range pl.list {
			if !strings.Contains(v, "\n") {
				add(field, true, v)
				continue
			}
			inline, err := inlineReferences(v)
			if err != nil {
				return nil, errorf(kfile, 0, "%s: %w", field, err)
			}
			add(field, false, inline...)
		}
	}
	return refs, nil
}

// sources lists the files a generator reads; a file source may be
// "key=path".
func sources(g types.GeneratorArgs) []string {
	var out []string
	for _, f := range g.FileSources {
		if _, p, ok := strings.Cut(f, "="); ok {
			f = p
		}
		out = append(out, f)
	}
	return append(append(out, g.EnvSources...), g.EnvSource)
}

// inlineReferences finds the paths in an inline plugin configuration
// (a builtin generator or transformer written in the kustomization).
func inlineReferences(config string) ([]string, error) {
	var v any
	if err := yaml.Unmarshal([]byte(config), &v); err != nil {
		return nil, fmt.Errorf("parsing inline configuration: %w", err)
	}
	var out []string
	var walk func(key string, v any)
	walk = func(key string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				walk(k, e)
			}
		case []any:
			for _, e := range x {
				walk(key, e)
			}
		case string:
			switch key {
			case "path", "paths", "files", "envs", "env", "resources":
				if _, p, ok := strings.Cut(x, "="); ok && key == "files" {
					x = p
				}
				out = append(out, x)
			}
		}
	}
	walk("", v)
	return out, nil
}

// addHelmOutput writes a chart's output next to the kustomization and
// lists it first among its resources.
func addHelmOutput(fsys filesys.FileSystem, kdir, kfile string, manifest []byte) error {
	if err := fsys.WriteFile(inMemory(joinRel(kdir, helmManifests)), manifest); err != nil {
		return fmt.Errorf("writing chart output: %w", err)
	}
	data, err := fsys.ReadFile(inMemory(kfile))
	if err != nil {
		return &Error{File: kfile, Err: err}
	}
	var k map[string]any
	if err := yaml.Unmarshal(data, &k); err != nil {
		line, msg := yamlErrorLine(err)
		return errorf(kfile, line, "%s", msg)
	}
	if k == nil {
		k = map[string]any{}
	}
	resources, _ := k["resources"].([]any)
	for _, r := range resources {
		if r == helmManifests {
			return nil
		}
	}
	k["resources"] = append([]any{helmManifests}, resources...)
	out, err := yaml.Marshal(k)
	if err != nil {
		return errorf(kfile, 0, "encoding kustomization: %w", err)
	}
	return fsys.WriteFile(inMemory(kfile), out)
}
