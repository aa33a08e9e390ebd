// Package e2e runs Flotilla end to end on real parts: a hub on SQLite, a
// Git server speaking smart HTTP (git http-backend), two real kube-apiservers
// and two agents applying to them.
package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sync/errgroup"

	"flotilla.io/flotilla/devenv/kubeapiserver"
)

// The two clusters every test shares; each test uses its own namespaces.
var dev, prod *kubeapiserver.Server

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "flotilla-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	var g errgroup.Group
	for name, dst := range map[string]**kubeapiserver.Server{"dev": &dev, "prod": &prod} {
		g.Go(func() error {
			srv, err := kubeapiserver.Start(context.Background(), kubeapiserver.Options{Dir: filepath.Join(dir, name)})
			if err != nil {
				return fmt.Errorf("starting %s cluster: %w", name, err)
			}
			*dst = srv
			return nil
		})
	}
	err = g.Wait()
	defer func() {
		for _, s := range []*kubeapiserver.Server{dev, prod} {
			if s != nil {
				s.Stop()
			}
		}
	}()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}
