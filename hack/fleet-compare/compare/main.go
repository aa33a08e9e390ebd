// Command compare renders one Fleet-layout repository with Rancher Fleet's
// CLI (`fleet apply`, then `fleet test` per bundle), with fleetsim (Fleet's
// controller-side matching and Helm values pre-processing, see ../fleetsim)
// and with `flotilla render`, for each cluster of a targets.yaml, and
// compares the objects bundle by bundle. It prints a report and exits 1 when
// a difference is not in the known-differences file, 2 on errors.
//
// It only runs the three binaries and parses YAML: Flotilla's module does
// not import Fleet. hack/fleet-compare/run.sh builds the binaries and runs it;
// docs/fleet-compatibility.md describes the method and the results.
package main

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// fleetKubeVersion is the Kubernetes version `fleet test` gives Helm
// (helmdeployer.Template's default; `fleet test` has no flag to change it).
const fleetKubeVersion = "v1.25.0"

// Sides of a comparison: what Flotilla's output is compared with.
const (
	sideFleetTest = "fleet-test"
	sideFleetsim  = "fleetsim"
)

var sides = []string{sideFleetTest, sideFleetsim}

// Bookkeeping metadata each side adds, removed before comparing.
var (
	fleetAnnotations    = []string{"objectset.rio.cattle.io/id"}
	fleetLabels         = []string{"objectset.rio.cattle.io/hash"}
	flotillaAnnotations = []string{"flotilla.io/release-namespace"}
)

// releaseNamespaceAnnotation marks the Namespace object Flotilla adds for a
// bundle's namespace. Fleet's agent creates that namespace through Helm's
// CreateNamespace instead, so it is never in Fleet's manifest.
const releaseNamespaceAnnotation = "flotilla.io/release-namespace"

// clusterScoped kinds never get the bundle's default namespace.
var clusterScoped = map[string]bool{
	"Namespace": true, "CustomResourceDefinition": true, "ClusterRole": true, "ClusterRoleBinding": true,
	"PersistentVolume": true, "StorageClass": true, "PriorityClass": true, "RuntimeClass": true,
	"APIService": true, "MutatingWebhookConfiguration": true, "ValidatingWebhookConfiguration": true,
	"Node": true, "IngressClass": true, "CSIDriver": true, "VolumeSnapshotClass": true,
}

type target struct {
	Name        string                       `json:"name"`
	ClusterName string                       `json:"clusterName"`
	Labels      map[string]string            `json:"labels"`
	Groups      map[string]map[string]string `json:"groups"`
	KubeVersion string                       `json:"kubeVersion"`
	APIVersions []string                     `json:"apiVersions"`
}

// known is one entry of the known-differences file.
type known struct {
	ID       string `json:"id"`
	Category string `json:"category"`
	Reason   string `json:"reason"`
	// Match criteria; empty means any.
	Sides     []string `json:"sides"`
	Type      string   `json:"type"`
	Bundle    string   `json:"bundle"`
	Clusters  []string `json:"clusters"`
	Kind      string   `json:"kind"`
	Namespace string   `json:"namespace"`
	Name      string   `json:"name"`
	Path      string   `json:"path"`
	// Regular expressions the whole JSON-encoded value must match.
	FleetValue    string `json:"fleetValue"`
	FlotillaValue string `json:"flotillaValue"`
	// DoNotDeploy: only when fleetsim found the matched customization has doNotDeploy.
	DoNotDeploy bool `json:"doNotDeploy"`

	fleetRE, flotillaRE *regexp.Regexp
	used                int
}

var categories = map[string]bool{"fleet-test-quirk": true, "flotilla-behaviour": true, "output-format": true}

// diff is one difference between a Fleet side and Flotilla for one bundle and cluster.
type diff struct {
	Type     string // only-in-fleet, only-in-flotilla, field, match, duplicate
	Key      objKey
	Path     string
	Fleet    string // JSON value, or a description
	Flotilla string
	Sides    []string // the sides it is seen on; "flotilla" for duplicates
	Known    *known
}

type objKey struct{ APIVersion, Kind, Namespace, Name string }

func (k objKey) String() string {
	s := k.Kind + " "
	if k.Namespace != "" {
		s += k.Namespace + "/"
	}
	return s + k.Name + " (" + k.APIVersion + ")"
}

type obj = map[string]any

type bundleInfo struct {
	Name, Dir string // Dir relative to the repository, "." for the root
	File      string // the Bundle from fleet apply
	DefaultNS string // the Bundle's namespace or defaultNamespace
	children  []*bundleInfo
}

// fleetsimMeta is fleetsim's "# fleetsim:" line.
type fleetsimMeta struct {
	Matched       *string `json:"matched"`
	Customization string  `json:"customization"`
	DoNotDeploy   bool    `json:"doNotDeploy"`
	Namespace     string  `json:"namespace"`
}

type config struct {
	fleet, fleetsim, flotilla string
	repo, targets, knownFile  string
	out, source               string
	paths                     []string
	verbose                   bool
}

func main() {
	var c config
	flag.StringVar(&c.fleet, "fleet", "", "Fleet CLI binary (fleetcli)")
	flag.StringVar(&c.fleetsim, "fleetsim", "", "fleetsim binary")
	flag.StringVar(&c.flotilla, "flotilla", "", "flotilla binary")
	flag.StringVar(&c.repo, "repo", "", "Fleet-layout repository to render")
	flag.StringVar(&c.targets, "targets", "", "targets.yaml: the clusters (name, clusterName, labels, groups)")
	flag.StringVar(&c.knownFile, "known", "", "known-differences YAML file (default: none, every difference fails)")
	flag.StringVar(&c.out, "out", "", "directory for the outputs and report.txt")
	flag.StringVar(&c.source, "source", "test", "source name: the GitRepo name Fleet's bundle names start with, flotilla's --source")
	flag.BoolVar(&c.verbose, "v", false, "print the objects behind only-in differences")
	flag.Func("path", "only the bundles under this directory of the repository (repeatable; default all)", func(p string) error {
		c.paths = append(c.paths, filepath.ToSlash(filepath.Clean(p)))
		return nil
	})
	flag.Parse()
	for _, f := range []struct{ name, v string }{{"fleet", c.fleet}, {"fleetsim", c.fleetsim}, {"flotilla", c.flotilla}, {"repo", c.repo}, {"targets", c.targets}, {"out", c.out}} {
		if f.v == "" {
			fmt.Fprintf(os.Stderr, "-%s is required\n", f.name)
			os.Exit(2)
		}
	}
	code, err := run(c)
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(2)
	}
	os.Exit(code)
}

func run(c config) (int, error) {
	if err := os.MkdirAll(c.out, 0o755); err != nil {
		return 0, err
	}
	reportFile, err := os.Create(filepath.Join(c.out, "report.txt"))
	if err != nil {
		return 0, err
	}
	defer reportFile.Close()
	w := io.MultiWriter(os.Stdout, reportFile)

	var targets []target
	if err := readYAML(c.targets, &targets); err != nil {
		return 0, err
	}
	var knowns []*known
	if c.knownFile != "" {
		if err := readYAML(c.knownFile, &knowns); err != nil {
			return 0, err
		}
	}
	for _, k := range knowns {
		if k.ID == "" || k.Reason == "" || !categories[k.Category] {
			return 0, fmt.Errorf("%s: entry %q needs an id, a reason and a category (fleet-test-quirk, flotilla-behaviour, output-format)", c.knownFile, k.ID)
		}
		if k.fleetRE, err = compileFull(k.FleetValue); err != nil {
			return 0, fmt.Errorf("%s: %s: fleetValue: %v", c.knownFile, k.ID, err)
		}
		if k.flotillaRE, err = compileFull(k.FlotillaValue); err != nil {
			return 0, fmt.Errorf("%s: %s: flotillaValue: %v", c.knownFile, k.ID, err)
		}
	}

	// Both tools read a copy, so that nothing they might write lands in the source tree.
	repo := filepath.Join(c.out, "repo")
	if err := os.RemoveAll(repo); err != nil {
		return 0, err
	}
	if err := os.CopyFS(repo, os.DirFS(c.repo)); err != nil {
		return 0, err
	}

	bundles, err := fleetBundles(c, repo)
	if err != nil {
		return 0, err
	}
	fmt.Fprintf(w, "Fleet bundles (fleet apply %s): %d\n", c.source, len(bundles))
	for _, b := range bundles {
		fmt.Fprintf(w, "  %-24s %s\n", b.Name, b.Dir)
	}

	type cell struct{ status map[string]string }
	summary := map[string]map[string]cell{} // bundle -> cluster -> side -> status
	unknown := 0
	for _, t := range targets {
		if len(t.Groups) > 1 {
			return 0, fmt.Errorf("target %s: `fleet test` takes one cluster group, this one has %d", t.Name, len(t.Groups))
		}
		fmt.Fprintf(w, "\n== cluster %s: %s\n", t.Name, describeTarget(t))
		if t.KubeVersion != "" || len(t.APIVersions) > 0 {
			fmt.Fprintf(w, "   (targets.yaml's kubeVersion/apiVersions not used: `fleet test` always renders for %s with Helm's default API versions)\n", fleetKubeVersion)
		}
		cdir := filepath.Join(c.out, t.Name)
		if err := os.MkdirAll(cdir, 0o755); err != nil {
			return 0, err
		}
		renders := map[string][]obj{} // bundle dir -> flotilla render --path dir (raw objects)
		for _, b := range bundles {
			data, err := flotillaRender(c, repo, t, b.Dir)
			if err != nil {
				return 0, fmt.Errorf("cluster %s: %v", t.Name, err)
			}
			if err := os.WriteFile(filepath.Join(cdir, b.Name+".flotilla-path.yaml"), data, 0o644); err != nil {
				return 0, err
			}
			if renders[b.Dir], err = parseObjects(data); err != nil {
				return 0, fmt.Errorf("cluster %s: flotilla render --path %s: %v", t.Name, b.Dir, err)
			}
		}
		var perBundle []obj // every bundle's own objects, to check the whole-repository render
		for _, b := range bundles {
			// flotilla render --path DIR also renders the bundles nested under DIR.
			own := renders[b.Dir]
			for _, ch := range b.children {
				own = subtract(own, renders[ch.Dir])
			}
			perBundle = append(perBundle, own...)
			var ownYAML bytes.Buffer
			for _, o := range own {
				data, _ := yaml.Marshal(o)
				ownYAML.WriteString("---\n")
				ownYAML.Write(data)
			}
			if err := os.WriteFile(filepath.Join(cdir, b.Name+".flotilla.yaml"), ownYAML.Bytes(), 0o644); err != nil {
				return 0, err
			}

			ft, err := fleetTest(c, t, b)
			if err != nil {
				return 0, fmt.Errorf("cluster %s: %v", t.Name, err)
			}
			if err := os.WriteFile(filepath.Join(cdir, b.Name+".fleet-test.yaml"), ft.stdout, 0o644); err != nil {
				return 0, err
			}
			meta, simOut, err := fleetsim(c, t, b)
			if err != nil {
				return 0, fmt.Errorf("cluster %s: %v", t.Name, err)
			}
			if err := os.WriteFile(filepath.Join(cdir, b.Name+".fleetsim.yaml"), simOut, 0o644); err != nil {
				return 0, err
			}

			ns := b.DefaultNS
			if meta.Namespace != "" {
				ns = meta.Namespace
			}
			flo, releaseNS, err := normalize(own, ns, flotillaAnnotations, nil, true)
			if err != nil {
				return 0, err
			}
			ftObjs, err := parseObjects(ft.stdout)
			if err != nil {
				return 0, fmt.Errorf("fleet test %s: %v", b.Name, err)
			}
			ftNorm, _, err := normalize(ftObjs, ns, fleetAnnotations, fleetLabels, false)
			if err != nil {
				return 0, err
			}
			simObjs, err := parseObjects(simOut)
			if err != nil {
				return 0, fmt.Errorf("fleetsim %s: %v", b.Name, err)
			}
			simNorm, _, err := normalize(simObjs, ns, fleetAnnotations, fleetLabels, false)
			if err != nil {
				return 0, err
			}

			simMatch := "none"
			if meta.Matched != nil {
				simMatch = *meta.Matched
			}
			if meta.DoNotDeploy {
				simMatch += " (doNotDeploy)"
			}
			fmt.Fprintf(w, "  bundle %s (%s): fleet test matched %s, %d objects | fleetsim matched %s, %d objects | flotilla %d objects",
				b.Name, b.Dir, ft.matched, len(ftNorm), simMatch, len(simNorm), len(flo))
			if len(releaseNS) > 0 {
				fmt.Fprintf(w, " + release Namespace %s", strings.Join(releaseNS, ","))
			}
			fmt.Fprintln(w)

			diffs := compareObjects(sideFleetTest, ftNorm, flo)
			diffs = append(diffs, compareObjects(sideFleetsim, simNorm, flo)...)
			if ft.matched != "none" && meta.Matched != nil && ft.matched != *meta.Matched {
				diffs = append(diffs, diff{Type: "match", Fleet: ft.matched, Flotilla: *meta.Matched, Sides: []string{sideFleetsim}})
			}
			diffs = mergeSides(diffs)
			status := map[string]string{sideFleetTest: "same", sideFleetsim: "same"}
			for i := range diffs {
				d := &diffs[i]
				d.Known = matchKnown(knowns, d, b.Name, t.Name, meta.DoNotDeploy)
				label := "UNKNOWN"
				if d.Known != nil {
					label = "known " + d.Known.ID
				} else {
					unknown++
				}
				for _, s := range d.Sides {
					switch {
					case d.Known == nil:
						status[s] = "DIFFERENT"
					case status[s] == "same":
						status[s] = "known"
					}
				}
				fmt.Fprintf(w, "    %-34s [%s] %s\n", label, strings.Join(d.Sides, ","), d.describe())
				if c.verbose && (d.Type == "only-in-fleet" || d.Type == "only-in-flotilla") {
					src := flo
					if d.Type == "only-in-fleet" {
						src = ftNorm
						if !slices.Contains(d.Sides, sideFleetTest) {
							src = simNorm
						}
					}
					for _, o := range src {
						if keyOf(o) == d.Key {
							data, _ := yaml.Marshal(o)
							fmt.Fprintf(w, "%s", indent(string(data), "        "))
						}
					}
				}
			}
			if summary[b.Name] == nil {
				summary[b.Name] = map[string]cell{}
			}
			summary[b.Name][t.Name] = cell{status}
		}

		// The whole repository at once, as `flotilla render DIR` prints it,
		// must be the bundles' objects; keys it prints more than once are
		// checked against the known differences.
		data, err := flotillaRender(c, repo, t, c.paths...)
		if err != nil {
			return 0, fmt.Errorf("cluster %s: %v", t.Name, err)
		}
		if err := os.WriteFile(filepath.Join(cdir, "ALL.flotilla.yaml"), data, 0o644); err != nil {
			return 0, err
		}
		all, err := parseObjects(data)
		if err != nil {
			return 0, err
		}
		if extra, missing := subtract(all, perBundle), subtract(perBundle, all); len(extra)+len(missing) > 0 {
			unknown++
			fmt.Fprintf(w, "  whole repository: UNKNOWN flotilla render DIR differs from its bundles rendered one by one: %d extra, %d missing objects\n", len(extra), len(missing))
		}
		count := map[objKey]int{}
		var keys []objKey
		for _, o := range all {
			k := keyOf(o)
			if count[k] == 0 {
				keys = append(keys, k)
			}
			count[k]++
		}
		for _, k := range keys {
			if count[k] < 2 {
				continue
			}
			d := diff{Type: "duplicate", Key: k, Flotilla: fmt.Sprintf("%d times", count[k]), Sides: []string{"flotilla"}}
			d.Known = matchKnown(knowns, &d, "", t.Name, false)
			label := "UNKNOWN"
			if d.Known != nil {
				label = "known " + d.Known.ID
			} else {
				unknown++
			}
			fmt.Fprintf(w, "  whole repository: %-34s %s\n", label, d.describe())
		}
	}

	// Summary table.
	fmt.Fprintf(w, "\n== summary: `fleet test` / fleetsim compared with `flotilla render` (same | known | DIFFERENT)\n")
	width := len("bundle")
	for _, b := range bundles {
		width = max(width, len(b.Name))
	}
	fmt.Fprintf(w, "  %-*s", width, "bundle")
	for _, t := range targets {
		fmt.Fprintf(w, "  %-21s", t.Name)
	}
	fmt.Fprintln(w)
	for _, b := range bundles {
		fmt.Fprintf(w, "  %-*s", width, b.Name)
		for _, t := range targets {
			st := summary[b.Name][t.Name].status
			fmt.Fprintf(w, "  %-21s", st[sideFleetTest]+" / "+st[sideFleetsim])
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "\nknown differences (%s):\n", cmp.Or(c.knownFile, "none given"))
	for _, k := range knowns {
		seen := fmt.Sprintf("seen %d times", k.used)
		if k.used == 0 {
			seen = "NOT SEEN: the entry may be stale"
		}
		fmt.Fprintf(w, "  %-28s %-18s %s\n", k.ID, k.Category, seen)
	}
	if unknown > 0 {
		fmt.Fprintf(w, "\nRESULT: %d unexplained difference(s); outputs in %s\n", unknown, c.out)
		return 1, nil
	}
	fmt.Fprintf(w, "\nRESULT: OK, known differences only; outputs in %s\n", c.out)
	return 0, nil
}

func describeTarget(t target) string {
	name := t.ClusterName
	if name == "" {
		name = "(none)"
	}
	s := "name " + name + ", labels " + formatMap(t.Labels)
	for _, g := range sortedKeys(t.Groups) {
		s += ", group " + g + " " + formatMap(t.Groups[g])
	}
	return s
}

// groupArg is NAME or NAME:k=v,k=v, as fleetsim's -g and flotilla's --group take it.
func groupArg(name string, labels map[string]string) string {
	if len(labels) == 0 {
		return name
	}
	return name + ":" + strings.TrimSuffix(strings.TrimPrefix(formatMap(labels), "{"), "}")
}

func formatMap(m map[string]string) string {
	var parts []string
	for _, k := range sortedKeys(m) {
		parts = append(parts, k+"="+m[k])
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func readYAML(file string, v any) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	if err := yaml.UnmarshalStrict(data, v); err != nil {
		return fmt.Errorf("%s: %v", file, err)
	}
	return nil
}

func compileFull(re string) (*regexp.Regexp, error) {
	if re == "" {
		return nil, nil
	}
	return regexp.Compile("^(?:" + re + ")$")
}

// fleetBundles runs `fleet apply` on the whole repository, as gitjob does,
// splits its output into one Bundle file per bundle and maps each bundle to
// its directory (a directory with a fleet.yaml).
func fleetBundles(c config, repo string) ([]*bundleInfo, error) {
	targetsAll := filepath.Join(c.out, "targets-all.yaml")
	// Every cluster is a target, as a GitRepo without targets would not be:
	// fleet.yaml's targetCustomizations then decide, as they do in Flotilla.
	if err := os.WriteFile(targetsAll, []byte("targets:\n- name: all\n  clusterSelector: {}\ntargetRestrictions:\n- name: all\n  clusterSelector: {}\n"), 0o644); err != nil {
		return nil, err
	}
	paths := c.paths
	if len(paths) == 0 {
		paths = []string{"."}
	}
	cmd := exec.Command(c.fleet, append(append([]string{"apply", c.source}, paths...), "--targets-file", targetsAll, "-o", "-")...)
	cmd.Dir = repo
	out, err := output(cmd)
	if err != nil {
		return nil, err
	}
	dirs := map[string]string{} // bundle name -> dir
	err = filepath.WalkDir(repo, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "fleet.yaml" {
			return err
		}
		rel, err := filepath.Rel(repo, filepath.Dir(p))
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if len(c.paths) > 0 && !slices.ContainsFunc(c.paths, func(p string) bool { return rel == p || under(rel, p) }) {
			return nil
		}
		name := c.source
		if rel != "." {
			name += "-" + strings.ReplaceAll(rel, "/", "-")
		}
		dirs[strings.ToLower(name)] = rel
		return nil
	})
	if err != nil {
		return nil, err
	}
	bdir := filepath.Join(c.out, "bundles")
	if err := os.MkdirAll(bdir, 0o755); err != nil {
		return nil, err
	}
	// `fleet apply -o -` concatenates the Bundles without "---" separators.
	starts := regexp.MustCompile(`(?m)^apiVersion: fleet\.cattle\.io/v1alpha1\nkind: Bundle\n`).FindAllIndex(out, -1)
	var bundles []*bundleInfo
	for i, s := range starts {
		end := len(out)
		if i+1 < len(starts) {
			end = starts[i+1][0]
		}
		doc := out[s[0]:end]
		var b struct {
			Metadata struct{ Name string } `json:"metadata"`
			Spec     struct {
				DefaultNamespace string `json:"defaultNamespace"`
				Namespace        string `json:"namespace"`
			} `json:"spec"`
		}
		if err := yaml.Unmarshal(doc, &b); err != nil {
			return nil, fmt.Errorf("fleet apply output: %v", err)
		}
		dir, ok := dirs[b.Metadata.Name]
		if !ok {
			return nil, fmt.Errorf("fleet apply made bundle %q, which is no directory with a fleet.yaml", b.Metadata.Name)
		}
		delete(dirs, b.Metadata.Name)
		ns := b.Spec.DefaultNamespace
		if b.Spec.Namespace != "" {
			ns = b.Spec.Namespace
		}
		if ns == "" {
			ns = "default"
		}
		file := filepath.Join(bdir, b.Metadata.Name+".yaml")
		if err := os.WriteFile(file, doc, 0o644); err != nil {
			return nil, err
		}
		bundles = append(bundles, &bundleInfo{Name: b.Metadata.Name, Dir: dir, File: file, DefaultNS: ns})
	}
	if len(dirs) > 0 {
		return nil, fmt.Errorf("fleet apply made no bundle for %v", dirs)
	}
	if len(bundles) == 0 {
		return nil, errors.New("fleet apply made no bundles")
	}
	sort.Slice(bundles, func(i, j int) bool { return bundles[i].Name < bundles[j].Name })
	// children: the nearest bundles below each bundle's directory.
	for _, b := range bundles {
		for _, o := range bundles {
			if o == b || !under(o.Dir, b.Dir) {
				continue
			}
			nearest := true
			for _, m := range bundles {
				if m != b && m != o && under(m.Dir, b.Dir) && under(o.Dir, m.Dir) {
					nearest = false
				}
			}
			if nearest {
				b.children = append(b.children, o)
			}
		}
	}
	return bundles, nil
}

// under reports whether dir is strictly below parent.
func under(dir, parent string) bool {
	if parent == "." {
		return dir != "."
	}
	return strings.HasPrefix(dir, parent+"/")
}

type fleetTestResult struct {
	matched string
	stdout  []byte
}

func fleetTest(c config, t target, b *bundleInfo) (fleetTestResult, error) {
	args := []string{"test", "-b", b.File}
	if t.ClusterName != "" {
		args = append(args, "-N", t.ClusterName)
	}
	for _, k := range sortedKeys(t.Labels) {
		args = append(args, "-l", k+"="+t.Labels[k])
	}
	for _, g := range sortedKeys(t.Groups) {
		args = append(args, "-g", g)
		for _, k := range sortedKeys(t.Groups[g]) {
			args = append(args, "-L", k+"="+t.Groups[g][k])
		}
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(c.fleet, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		if strings.Contains(stderr.String(), "no match found") {
			return fleetTestResult{matched: "none"}, nil
		}
		return fleetTestResult{}, fmt.Errorf("fleet %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	m := regexp.MustCompile(`(?m)^# Matched: (.*)$`).FindStringSubmatch(stderr.String())
	if m == nil {
		return fleetTestResult{}, fmt.Errorf("fleet %s: no \"# Matched:\" line:\n%s", strings.Join(args, " "), stderr.String())
	}
	return fleetTestResult{matched: m[1], stdout: stdout.Bytes()}, nil
}

func fleetsim(c config, t target, b *bundleInfo) (fleetsimMeta, []byte, error) {
	args := []string{"-b", b.File, "-N", t.ClusterName}
	for _, k := range sortedKeys(t.Labels) {
		args = append(args, "-l", k+"="+t.Labels[k])
	}
	for _, g := range sortedKeys(t.Groups) {
		args = append(args, "-g", groupArg(g, t.Groups[g]))
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(c.fleetsim, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return fleetsimMeta{}, nil, fmt.Errorf("fleetsim %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	m := regexp.MustCompile(`(?m)^# fleetsim: (.*)$`).FindStringSubmatch(stderr.String())
	if m == nil {
		return fleetsimMeta{}, nil, fmt.Errorf("fleetsim %s: no \"# fleetsim:\" line:\n%s", strings.Join(args, " "), stderr.String())
	}
	var meta fleetsimMeta
	if err := json.Unmarshal([]byte(m[1]), &meta); err != nil {
		return fleetsimMeta{}, nil, fmt.Errorf("fleetsim: %v", err)
	}
	return meta, stdout.Bytes(), nil
}

// flotillaRender runs `flotilla render` for one cluster, for the bundles
// under paths (all when none), with the Kubernetes version `fleet test` uses.
func flotillaRender(c config, repo string, t target, paths ...string) ([]byte, error) {
	args := []string{"render", repo, "--source", c.source, "--kube-version", fleetKubeVersion}
	if t.ClusterName != "" {
		args = append(args, "--cluster-name", t.ClusterName)
	}
	for _, k := range sortedKeys(t.Labels) {
		args = append(args, "--label", k+"="+t.Labels[k])
	}
	for _, g := range sortedKeys(t.Groups) {
		args = append(args, "--group", groupArg(g, t.Groups[g]))
	}
	for _, p := range paths {
		args = append(args, "--path", p)
	}
	return output(exec.Command(c.flotilla, args...))
}

func output(cmd *exec.Cmd) ([]byte, error) {
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, stderr.String())
	}
	return stdout.Bytes(), nil
}

// parseObjects splits multi-document YAML on "---" lines, as Kubernetes'
// YAML reader does, and expands kind: List.
func parseObjects(data []byte) ([]obj, error) {
	var objs []obj
	var doc []string
	flush := func() error {
		text := strings.Join(doc, "\n")
		doc = doc[:0]
		if strings.TrimSpace(text) == "" {
			return nil
		}
		var o obj
		if err := yaml.Unmarshal([]byte(text), &o); err != nil {
			return err
		}
		if o == nil {
			return nil
		}
		if o["kind"] == "List" {
			items, _ := o["items"].([]any)
			for _, it := range items {
				if m, ok := it.(obj); ok {
					objs = append(objs, m)
				}
			}
			return nil
		}
		objs = append(objs, o)
		return nil
	}
	for _, line := range strings.Split(string(data), "\n") {
		if line == "---" || strings.HasPrefix(line, "--- ") {
			if err := flush(); err != nil {
				return nil, err
			}
			continue
		}
		doc = append(doc, line)
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return objs, nil
}

// normalize returns deep copies of objs without the given bookkeeping
// annotations and labels and with ns as the namespace of namespaced objects
// that have none. With dropReleaseNS it also leaves out Flotilla's release
// Namespace objects and returns their names.
func normalize(objs []obj, ns string, annotations, labels []string, dropReleaseNS bool) ([]obj, []string, error) {
	var out []obj
	var releaseNS []string
	for _, o := range objs {
		o = deepCopy(o).(obj)
		md, _ := o["metadata"].(obj)
		if md == nil {
			md = obj{}
			o["metadata"] = md
		}
		if a, _ := md["annotations"].(obj); dropReleaseNS && o["kind"] == "Namespace" && a[releaseNamespaceAnnotation] == "true" {
			name, _ := md["name"].(string)
			releaseNS = append(releaseNS, name)
			continue
		}
		for field, keys := range map[string][]string{"annotations": annotations, "labels": labels} {
			m, _ := md[field].(obj)
			if m == nil {
				continue
			}
			removed := false
			for _, k := range keys {
				if _, ok := m[k]; ok {
					delete(m, k)
					removed = true
				}
			}
			if removed && len(m) == 0 {
				delete(md, field)
			}
		}
		kind, _ := o["kind"].(string)
		if _, ok := md["namespace"]; !ok && !clusterScoped[kind] {
			md["namespace"] = ns
		}
		out = append(out, o)
	}
	return out, releaseNS, nil
}

func deepCopy(v any) any {
	switch v := v.(type) {
	case obj:
		m := obj{}
		for k, x := range v {
			m[k] = deepCopy(x)
		}
		return m
	case []any:
		l := make([]any, len(v))
		for i, x := range v {
			l[i] = deepCopy(x)
		}
		return l
	default:
		return v
	}
}

func keyOf(o obj) objKey {
	md, _ := o["metadata"].(obj)
	s := func(m obj, k string) string { v, _ := m[k].(string); return v }
	return objKey{s(o, "apiVersion"), s(o, "kind"), s(md, "namespace"), s(md, "name")}
}

func canonical(v any) string {
	data, _ := json.Marshal(v) // map keys sorted
	return string(data)
}

// subtract removes from a one occurrence of each object of b (multiset difference).
func subtract(a, b []obj) []obj {
	remove := map[string]int{}
	for _, o := range b {
		remove[canonical(o)]++
	}
	var out []obj
	for _, o := range a {
		c := canonical(o)
		if remove[c] > 0 {
			remove[c]--
			continue
		}
		out = append(out, o)
	}
	return out
}

// compareObjects compares a Fleet side's objects with Flotilla's by
// apiVersion, kind, namespace and name, field by field.
func compareObjects(side string, fleet, flotilla []obj) []diff {
	index := func(objs []obj) (map[objKey]obj, []objKey) {
		m := map[objKey]obj{}
		var keys []objKey
		for _, o := range objs {
			k := keyOf(o)
			if _, ok := m[k]; !ok {
				keys = append(keys, k)
			}
			m[k] = o
		}
		return m, keys
	}
	fm, fkeys := index(fleet)
	gm, gkeys := index(flotilla)
	var diffs []diff
	for _, k := range fkeys {
		g, ok := gm[k]
		if !ok {
			diffs = append(diffs, diff{Type: "only-in-fleet", Key: k, Sides: []string{side}})
			continue
		}
		for _, fd := range fieldDiffs("", fm[k], g) {
			fd.Key, fd.Sides = k, []string{side}
			diffs = append(diffs, fd)
		}
	}
	for _, k := range gkeys {
		if _, ok := fm[k]; !ok {
			diffs = append(diffs, diff{Type: "only-in-flotilla", Key: k, Sides: []string{side}})
		}
	}
	return diffs
}

const absent = "<absent>"

func fieldDiffs(path string, a, b any) []diff {
	am, aok := a.(obj)
	bm, bok := b.(obj)
	if aok && bok {
		var out []diff
		keys := map[string]bool{}
		for k := range am {
			keys[k] = true
		}
		for k := range bm {
			keys[k] = true
		}
		for _, k := range sortedKeys(keys) {
			av, ain := am[k]
			bv, bin := bm[k]
			p := joinPath(path, k)
			switch {
			case !ain:
				out = append(out, diff{Type: "field", Path: p, Fleet: absent, Flotilla: canonical(bv)})
			case !bin:
				out = append(out, diff{Type: "field", Path: p, Fleet: canonical(av), Flotilla: absent})
			default:
				out = append(out, fieldDiffs(p, av, bv)...)
			}
		}
		return out
	}
	al, aok := a.([]any)
	bl, bok := b.([]any)
	if aok && bok && len(al) == len(bl) {
		var out []diff
		for i := range al {
			out = append(out, fieldDiffs(fmt.Sprintf("%s[%d]", path, i), al[i], bl[i])...)
		}
		return out
	}
	if ca, cb := canonical(a), canonical(b); ca != cb {
		return []diff{{Type: "field", Path: path, Fleet: ca, Flotilla: cb}}
	}
	return nil
}

var plainKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// joinPath writes map keys as .key, or ["key"] when they have other characters.
func joinPath(path, k string) string {
	if plainKey.MatchString(k) {
		if path == "" {
			return k
		}
		return path + "." + k
	}
	return path + `["` + k + `"]`
}

// mergeSides merges the diffs both Fleet sides have with Flotilla into one.
func mergeSides(diffs []diff) []diff {
	var out []diff
	at := map[string]int{}
	for _, d := range diffs {
		id := fmt.Sprintf("%s|%v|%s|%s|%s", d.Type, d.Key, d.Path, d.Fleet, d.Flotilla)
		if i, ok := at[id]; ok {
			out[i].Sides = append(out[i].Sides, d.Sides...)
			continue
		}
		at[id] = len(out)
		out = append(out, d)
	}
	return out
}

func (d diff) describe() string {
	switch d.Type {
	case "only-in-fleet":
		return "only in Fleet: " + d.Key.String()
	case "only-in-flotilla":
		return "only in Flotilla: " + d.Key.String()
	case "match":
		return fmt.Sprintf("fleet test matched %s, fleetsim %s", d.Fleet, d.Flotilla)
	case "duplicate":
		return fmt.Sprintf("Flotilla prints %s %s", d.Key, d.Flotilla)
	}
	return fmt.Sprintf("%s %s: Fleet %s, Flotilla %s", d.Key, d.Path, d.Fleet, d.Flotilla)
}

func matchKnown(knowns []*known, d *diff, bundle, cluster string, doNotDeploy bool) *known {
	for _, k := range knowns {
		if k.Type != "" && k.Type != d.Type ||
			k.Bundle != "" && k.Bundle != bundle ||
			len(k.Clusters) > 0 && !slices.Contains(k.Clusters, cluster) ||
			k.Kind != "" && k.Kind != d.Key.Kind ||
			k.Namespace != "" && k.Namespace != d.Key.Namespace ||
			k.Name != "" && k.Name != d.Key.Name ||
			k.Path != "" && k.Path != d.Path ||
			k.fleetRE != nil && !k.fleetRE.MatchString(d.Fleet) ||
			k.flotillaRE != nil && !k.flotillaRE.MatchString(d.Flotilla) ||
			k.DoNotDeploy && !doNotDeploy {
			continue
		}
		if len(k.Sides) > 0 {
			all := true
			for _, s := range d.Sides {
				all = all && slices.Contains(k.Sides, s)
			}
			if !all {
				continue
			}
		}
		k.used++
		return k
	}
	return nil
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return prefix + strings.Join(lines, "\n"+prefix) + "\n"
}
