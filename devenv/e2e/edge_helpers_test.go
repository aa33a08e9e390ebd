package e2e

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"flotilla.io/flotilla/devenv/kubeapiserver"
	"flotilla.io/flotilla/internal/agent"
	"flotilla.io/flotilla/internal/clientconfig"
	"flotilla.io/flotilla/internal/hubclient"
	"flotilla.io/flotilla/internal/hubserver"
	"flotilla.io/flotilla/internal/testenv/faultproxy"
)

// startHubBehind starts (or restarts, on the same port) the fleet's hub,
// advertised at the proxy's address so that agents reach it only through
// the proxy.
func (f *fleet) startHubBehind(p *faultproxy.Proxy) {
	f.t.Helper()
	srv, err := hubserver.Start(context.Background(), hubserver.Config{
		DataDir:      f.hubDir(),
		Listen:       f.hubAddr,
		AdvertiseURL: "https://" + p.Addr(),
		LongPoll:     2 * time.Second,
		Logger:       testLogger(f.t, nil, "hub"),
	})
	if err != nil {
		f.t.Fatalf("starting hub: %v", err)
	}
	f.hub = srv
	// The hub listens on hubAddr; the proxy forwards there.
	if f.hubAddr == "127.0.0.1:0" {
		f.t.Fatal("startHubBehind needs a fixed hub address")
	}
	cfg, err := clientconfig.Load(srv.AdminConfig)
	if err != nil {
		f.t.Fatal(err)
	}
	// Operators talk to the hub directly, not through the faulty link.
	cfg.Hub = "https://" + f.hubAddr
	if f.op, err = hubclient.NewOperator(cfg); err != nil {
		f.t.Fatal(err)
	}
}

// freeAddr returns a loopback address nothing listens on now.
func freeAddr(f *fleet) string {
	f.t.Helper()
	p, err := faultproxy.Start("", "127.0.0.1:1")
	if err != nil {
		f.t.Fatal(err)
	}
	addr := p.Addr()
	p.Close()
	return addr
}

// startEdgeAgent runs an agent in-process with short retry bounds, so that
// tests of outages converge in seconds once the link returns.
func (f *fleet) startEdgeAgent(name string, cluster *kubeapiserver.Server, token string) {
	f.t.Helper()
	f.startAgentWith(name, cluster, token, func(o *agent.Options) {
		o.RequestTimeout = 3 * time.Second
		o.RetryBase = 100 * time.Millisecond
		o.RetryMax = time.Second
	})
}

// ensureNamespace creates a namespace for a test's objects. Bundles in
// these tests hold no Namespace objects: without a controller manager a
// pruned namespace would stay Terminating for the tests that follow.
func ensureNamespace(cs kubernetes.Interface, name string) error {
	_, err := cs.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// editConfigMap sets data[key] by hand, as an operator with kubectl would.
func editConfigMap(cs kubernetes.Interface, ns, name, key, value string) error {
	ctx := context.Background()
	cm, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	cm.Data[key] = value
	_, err = cs.CoreV1().ConfigMaps(ns).Update(ctx, cm, metav1.UpdateOptions{FieldManager: "kubectl-edit"})
	return err
}

func deleteConfigMap(cs kubernetes.Interface, ns, name string) error {
	return cs.CoreV1().ConfigMaps(ns).Delete(context.Background(), name, metav1.DeleteOptions{})
}

// bundleState returns the state and message the hub shows for a bundle
// of a cluster.
func (f *fleet) bundleState(cluster, bundle string) (string, string, error) {
	c, err := f.cluster(cluster)
	if err != nil {
		return "", "", err
	}
	for _, b := range c.Bundles {
		if b.Name == bundle {
			return b.State, b.Message, nil
		}
	}
	return "", "", fmt.Errorf("cluster %s has no bundle %s: %+v", cluster, bundle, c.Bundles)
}
