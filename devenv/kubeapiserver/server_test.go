package kubeapiserver

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/component-base/version"
)

// unsetGitVersion is what component-base reports without the ldflags of
// hack/devcluster-ldflags.sh.
const unsetGitVersion = "v0.0.0-master+$Format:%H$"

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return nil
}

// TestTwoServers starts two servers at once, checks that each stores its
// own objects, serves the expected version, is reachable through its
// kubeconfig, and keeps its data across a restart on the same directory.
func TestTwoServers(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	dirs := []string{filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")}

	servers := make([]*Server, len(dirs))
	errs := make([]error, len(dirs))
	var wg sync.WaitGroup
	for i, dir := range dirs {
		wg.Go(func() {
			began := time.Now()
			servers[i], errs[i] = Start(ctx, Options{Dir: dir, Logger: testLogger(t)})
			t.Logf("server %d ready in %v", i, time.Since(began))
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("starting server %d: %v", i, err)
		}
		t.Cleanup(func() {
			if err := servers[i].Stop(); err != nil {
				t.Errorf("stopping server %d: %v", i, err)
			}
		})
	}
	if servers[0].URL() == servers[1].URL() {
		t.Fatalf("both servers on %s", servers[0].URL())
	}

	names := []string{"in-a", "in-b"}
	for i, s := range servers {
		createConfigMap(ctx, t, s.Config(), names[i])
	}
	for i, s := range servers {
		got := listConfigMaps(ctx, t, s.Config())
		if diff := cmp.Diff([]string{names[i]}, got); diff != "" {
			t.Errorf("server %d ConfigMaps (-want +got):\n%s", i, diff)
		}
	}

	t.Run("version", func(t *testing.T) {
		if version.Get().GitVersion == unsetGitVersion {
			t.Skip("built without hack/devcluster-ldflags.sh: version not set")
		}
		for i, s := range servers {
			cs := kubernetes.NewForConfigOrDie(s.Config())
			info, err := cs.Discovery().ServerVersion()
			if err != nil {
				t.Fatalf("server %d version: %v", i, err)
			}
			want := [3]string{"1", "37", "v1.37.2"}
			if diff := cmp.Diff(want, [3]string{info.Major, info.Minor, info.GitVersion}); diff != "" {
				t.Errorf("server %d version (-want +got):\n%s", i, diff)
			}
		}
	})

	t.Run("kubeconfig", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "kubeconfig")
		if err := servers[1].WriteKubeconfig(path); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("kubeconfig mode = %v, want 0600", fi.Mode().Perm())
		}
		cfg, err := clientcmd.BuildConfigFromFlags("", path)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{names[1]}, listConfigMaps(ctx, t, cfg)); diff != "" {
			t.Errorf("ConfigMaps through kubeconfig (-want +got):\n%s", diff)
		}
	})

	t.Run("restart keeps data", func(t *testing.T) {
		if err := servers[0].Stop(); err != nil {
			t.Fatalf("stopping: %v", err)
		}
		s, err := Start(ctx, Options{Dir: dirs[0], Logger: testLogger(t)})
		if err != nil {
			t.Fatalf("restarting: %v", err)
		}
		defer func() {
			if err := s.Stop(); err != nil {
				t.Errorf("stopping: %v", err)
			}
		}()
		if diff := cmp.Diff([]string{names[0]}, listConfigMaps(ctx, t, s.Config())); diff != "" {
			t.Errorf("ConfigMaps after restart (-want +got):\n%s", diff)
		}
	})
}

func TestStartErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		opts Options
	}{
		{name: "no dir", opts: Options{}},
		{name: "dir is a file", opts: Options{Dir: file}},
		{name: "bad port", opts: Options{Dir: t.TempDir(), Port: 70000}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Start(t.Context(), tt.opts)
			if err == nil {
				s.Stop()
				t.Fatal("Start succeeded, want an error")
			}
			t.Log(err)
		})
	}
}

func createConfigMap(ctx context.Context, t *testing.T, cfg *rest.Config, name string) {
	t.Helper()
	cs := kubernetes.NewForConfigOrDie(cfg)
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"k": "v"}}
	if _, err := cs.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("creating ConfigMap %s: %v", name, err)
	}
}

// listConfigMaps returns the names of the ConfigMaps in "default", leaving
// out kube-root-ca.crt, which a controller-manager would add.
func listConfigMaps(ctx context.Context, t *testing.T, cfg *rest.Config) []string {
	t.Helper()
	cs := kubernetes.NewForConfigOrDie(cfg)
	list, err := cs.CoreV1().ConfigMaps("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("listing ConfigMaps: %v", err)
	}
	var names []string
	for _, cm := range list.Items {
		if cm.Name != "kube-root-ca.crt" {
			names = append(names, cm.Name)
		}
	}
	return names
}
