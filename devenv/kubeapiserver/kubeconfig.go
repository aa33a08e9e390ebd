package kubeapiserver

import (
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

const kubeconfigName = "flotilla-devenv"

// WriteKubeconfig writes a kubeconfig for kubectl and other processes to
// path (mode 0600). It authenticates with an admin client certificate kept
// in the data dir, so it stays valid when a server restarts on the same dir
// (the port may change unless Options.Port is fixed).
func (s *Server) WriteKubeconfig(path string) error {
	data, err := s.kubeconfig()
	if err != nil {
		return fmt.Errorf("writing kubeconfig: %w", err)
	}
	if err := writeFileAtomic(path, data, 0o600); err != nil {
		return fmt.Errorf("writing kubeconfig: %w", err)
	}
	return nil
}

func (s *Server) kubeconfig() ([]byte, error) {
	// The API server writes its self-signed serving certificate followed by
	// the CA that signed it; trusting the bundle trusts that CA.
	caData, err := os.ReadFile(filepath.Join(s.pki.servingCerts, "apiserver.crt"))
	if err != nil {
		return nil, fmt.Errorf("reading serving certificate: %w", err)
	}
	certData, err := os.ReadFile(s.pki.adminCert)
	if err != nil {
		return nil, fmt.Errorf("reading admin certificate: %w", err)
	}
	keyData, err := os.ReadFile(s.pki.adminKey)
	if err != nil {
		return nil, fmt.Errorf("reading admin key: %w", err)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[kubeconfigName] = &clientcmdapi.Cluster{Server: s.url, CertificateAuthorityData: caData}
	cfg.AuthInfos[kubeconfigName] = &clientcmdapi.AuthInfo{ClientCertificateData: certData, ClientKeyData: keyData}
	cfg.Contexts[kubeconfigName] = &clientcmdapi.Context{Cluster: kubeconfigName, AuthInfo: kubeconfigName}
	cfg.CurrentContext = kubeconfigName
	return clientcmd.Write(*cfg)
}

// writeFileAtomic writes data to a temporary file beside path and renames
// it over path, so a reader never sees half a file.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // fails harmlessly after the rename
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
