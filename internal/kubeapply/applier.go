package kubeapply

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
)

// Options configures an Applier.
type Options struct {
	// FieldManager owns the applied fields; "flotilla" when empty. A set's
	// release namespace is applied as FieldManager + "-ns/" + the set name,
	// so FieldManager may have at most 61 characters.
	FieldManager string
	// ParentNamespace holds the ApplySet parent ConfigMaps; it is created
	// when missing. "flotilla-system" when empty.
	ParentNamespace string
	// Concurrency bounds parallel requests of one operation; 8 when zero.
	Concurrency int
	// Logger receives progress and API warnings; discarded when nil.
	Logger *slog.Logger
}

// Defaults, and the client rate limit used when the rest.Config sets none.
// client-go's own default (5 QPS, burst 10) would make a 500-object apply
// take over a minute; the in-flight requests are bounded by Concurrency
// anyway, and the limit only guards the API server against a runaway loop.
const (
	DefaultFieldManager    = "flotilla"
	DefaultParentNamespace = "flotilla-system"
	DefaultConcurrency     = 8
	defaultQPS             = 200
	defaultBurst           = 400
)

// Applier applies sets of objects to one cluster. It is safe for concurrent
// use by several goroutines, as long as two of them never work on the same
// set at once.
type Applier struct {
	opts      Options
	log       *slog.Logger
	dynamic   dynamic.Interface
	metadata  metadata.Interface
	discovery *discoverer
	mapper    *lazyMapper
}

// Set is one bundle's objects; Name is the bundle name (DNS label, <=63 chars).
type Set struct {
	Name    string
	Objects []*unstructured.Unstructured
}

// New returns an Applier for the cluster cfg points at. It does not contact
// the cluster. cfg is copied; its QPS and Burst are set to 200 and 400 when
// it sets neither them nor a RateLimiter.
func New(cfg *rest.Config, opts Options) (*Applier, error) {
	if cfg == nil {
		return nil, errors.New("creating applier: nil rest config")
	}
	if opts.FieldManager == "" {
		opts.FieldManager = DefaultFieldManager
	}
	if err := checkFieldManager(opts.FieldManager); err != nil {
		return nil, err
	}
	if opts.ParentNamespace == "" {
		opts.ParentNamespace = DefaultParentNamespace
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultConcurrency
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	cfg = rest.CopyConfig(cfg)
	if cfg.QPS == 0 && cfg.Burst == 0 && cfg.RateLimiter == nil {
		cfg.QPS, cfg.Burst = defaultQPS, defaultBurst
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "flotilla-kubeapply"
	}
	if cfg.WarningHandler == nil && cfg.WarningHandlerWithContext == nil {
		cfg.WarningHandlerWithContext = warningLogger{log: opts.Logger}
	}
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("creating http client: %w", err)
	}
	dyn, err := dynamic.NewForConfigAndClient(cfg, httpClient)
	if err != nil {
		return nil, fmt.Errorf("creating dynamic client: %w", err)
	}
	md, err := metadata.NewForConfigAndClient(cfg, httpClient)
	if err != nil {
		return nil, fmt.Errorf("creating metadata client: %w", err)
	}
	disc, err := newDiscoverer(cfg, httpClient)
	if err != nil {
		return nil, err
	}
	return &Applier{
		opts:      opts,
		log:       opts.Logger,
		dynamic:   dyn,
		metadata:  md,
		discovery: disc,
		mapper:    newLazyMapper(disc),
	}, nil
}

// Apply applies the set with server-side apply (field manager, Force: true
// since GitOps owns the fields): Namespaces first, then
// CustomResourceDefinitions (waiting until Established, then refreshing the
// RESTMapper), then everything else in parallel (bounded). Every object gets
// the ApplySet member label; objects that were in the set before and are
// not now are pruned (deleted, background propagation) afterwards. Release
// namespaces (AnnotationReleaseNamespace) are applied outside the set, as
// the field manager "<FieldManager>-ns/<set name>".
// One object's failure does not stop the others: it is reported in Result.
// The error is for failures of the whole set (bad name, inventory not
// writable, context ended).
func (a *Applier) Apply(ctx context.Context, set Set) (Result, error) {
	if err := validateSetName(set.Name); err != nil {
		return Result{}, err
	}
	id := ApplySetID(set.Name, a.opts.ParentNamespace)
	items := prepare(set.Objects, id)
	for _, it := range items {
		if it.release {
			it.manager = a.releaseManager(set.Name)
		}
	}
	desired := desiredInventory(items)

	// Widen the inventory before touching members, so that whatever this
	// apply labels is found by a later prune even if it stops half-way.
	old, err := a.readParent(ctx, set.Name)
	if err != nil {
		return Result{}, err
	}
	widened := old.union(desired)
	if err := a.writeParent(ctx, set.Name, widened); err != nil {
		return Result{}, fmt.Errorf("widening inventory of set %s: %w", set.Name, err)
	}

	res := &resolver{mapper: a.mapper}
	a.applyItems(ctx, res, items)
	result := Result{Applied: make([]ObjectResult, len(items))}
	for i, it := range items {
		result.Applied[i] = ObjectResult{Ref: it.ref, Err: it.err}
	}
	if err := ctx.Err(); err != nil {
		return result, fmt.Errorf("applying set %s: %w", set.Name, err)
	}

	pr := a.prune(ctx, res, id, widened, desiredKeys(items))
	result.Pruned, result.PruneErrors = pr.pruned, pr.errs
	if err := ctx.Err(); err != nil {
		return result, fmt.Errorf("pruning set %s: %w", set.Name, err)
	}
	// Narrow to what is in the set now, keeping whatever prune could not
	// finish so the next apply retries it.
	desired = desiredInventory(items)
	if err := a.writeParent(ctx, set.Name, desired.union(pr.keep)); err != nil {
		return result, fmt.Errorf("narrowing inventory of set %s: %w", set.Name, err)
	}
	a.log.Info("applied set", "set", set.Name, "objects", len(items),
		"failed", result.Failed(), "pruned", len(result.Pruned))
	return result, nil
}

// applyItems applies the prepared items phase by phase, recording each
// failure in its item.
func (a *Applier) applyItems(ctx context.Context, res *resolver, items []*item) {
	byPhase := map[phase][]*item{}
	for _, it := range items {
		if it.err == nil {
			byPhase[it.phase()] = append(byPhase[it.phase()], it)
		}
	}
	a.resolveAll(ctx, res, byPhase[phaseNamespaces])
	a.applyAll(ctx, byPhase[phaseNamespaces], nil)

	crds := byPhase[phaseCRDs]
	a.resolveAll(ctx, res, crds)
	a.applyAll(ctx, crds, a.waitEstablished)
	if served := establishedKinds(crds); len(served) > 0 {
		res.refresh(ctx)
		a.waitServed(ctx, res, served)
	}

	a.resolveAll(ctx, res, byPhase[phaseRest])
	a.applyAll(ctx, byPhase[phaseRest], nil)
}

// resolveAll maps the items' kinds, sequentially: mappings come from the
// discovery cache, and a miss refreshes it once for all.
func (a *Applier) resolveAll(ctx context.Context, res *resolver, items []*item) {
	for _, it := range items {
		if it.err != nil {
			continue
		}
		m, err := res.mapping(ctx, it.ref.GroupKind(), it.ref.Version)
		if err != nil {
			it.err = err
			continue
		}
		it.resolve(m)
	}
}

// applyAll applies the items in parallel, bounded by Concurrency; then, if
// given, runs after on each applied item.
func (a *Applier) applyAll(ctx context.Context, items []*item, after func(context.Context, *item) error) {
	var g errgroup.Group
	g.SetLimit(a.opts.Concurrency)
	for _, it := range items {
		if it.err != nil {
			continue
		}
		g.Go(func() error {
			if err := ctx.Err(); err != nil {
				it.err = err
				return nil
			}
			it.err = a.applyOne(ctx, it)
			if it.err == nil && after != nil {
				it.err = after(ctx, it)
			}
			return nil
		})
	}
	_ = g.Wait() // failures are recorded per item
}

// applyOne applies one item. A release namespace still labelled as a
// member of the item's set then leaves it.
func (a *Applier) applyOne(ctx context.Context, it *item) error {
	live, err := a.resource(it.mapping, it.ref.Namespace).Apply(ctx, it.ref.Name, it.obj, metav1.ApplyOptions{
		FieldManager: cmp.Or(it.manager, a.opts.FieldManager),
		Force:        true,
	})
	if err != nil {
		return fmt.Errorf("applying: %w", err)
	}
	if it.release && it.setID != "" && live.GetLabels()[LabelPartOf] == it.setID {
		if err := a.leaveSet(ctx, it); err != nil {
			return err
		}
	}
	a.log.Debug("applied object", "object", it.ref.String())
	return nil
}

// resource returns the dynamic client of a mapped resource in namespace
// (ignored for cluster-scoped resources).
func (a *Applier) resource(m *meta.RESTMapping, namespace string) dynamic.ResourceInterface {
	r := a.dynamic.Resource(m.Resource)
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		return r.Namespace(namespace)
	}
	return r
}

var (
	namespacesGVR = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
	configMapsGVR = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
)

// readParent returns the inventory recorded by the set's parent, empty when
// there is no parent yet.
func (a *Applier) readParent(ctx context.Context, name string) (inventory, error) {
	inv, err := a.readParentIfExists(ctx, name)
	if err != nil {
		return inventory{}, err
	}
	if inv == nil {
		return newInventory(), nil
	}
	return *inv, nil
}

// writeParent applies the set's parent with the given inventory, creating
// the parent namespace first if needed.
func (a *Applier) writeParent(ctx context.Context, name string, inv inventory) error {
	opts := metav1.ApplyOptions{FieldManager: a.opts.FieldManager, Force: true}
	parent := parentObject(name, a.opts.ParentNamespace, inv)
	_, err := a.dynamic.Resource(configMapsGVR).Namespace(a.opts.ParentNamespace).Apply(ctx, parent.GetName(), parent, opts)
	if apierrors.IsNotFound(err) {
		if err := a.ensureParentNamespace(ctx); err != nil {
			return err
		}
		_, err = a.dynamic.Resource(configMapsGVR).Namespace(a.opts.ParentNamespace).Apply(ctx, parent.GetName(), parent, opts)
	}
	if err != nil {
		return fmt.Errorf("applying parent %s/%s: %w", a.opts.ParentNamespace, parent.GetName(), err)
	}
	return nil
}

func (a *Applier) ensureParentNamespace(ctx context.Context) error {
	ns := &unstructured.Unstructured{}
	ns.SetAPIVersion("v1")
	ns.SetKind("Namespace")
	ns.SetName(a.opts.ParentNamespace)
	_, err := a.dynamic.Resource(namespacesGVR).Apply(ctx, ns.GetName(), ns, metav1.ApplyOptions{FieldManager: a.opts.FieldManager, Force: true})
	if err != nil {
		return fmt.Errorf("creating namespace %s: %w", a.opts.ParentNamespace, err)
	}
	a.log.Info("created parent namespace", "namespace", a.opts.ParentNamespace)
	return nil
}

// warningLogger sends API server warnings (deprecated APIs, unknown fields)
// to slog instead of klog.
type warningLogger struct{ log *slog.Logger }

func (w warningLogger) HandleWarningHeaderWithContext(ctx context.Context, code int, _ string, text string) {
	w.log.WarnContext(ctx, "kubernetes api warning", "code", code, "text", text)
}
