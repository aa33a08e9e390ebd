package agent

import (
	"bytes"
	"errors"
	"fmt"
	"path"
	"strings"
	"text/template"
)

// DeployOptions shape the Kubernetes manifest that runs the agent inside
// the cluster it manages.
type DeployOptions struct {
	// Token is the bootstrap token; it goes into a Secret.
	Token string
	// Image runs the agent; its entrypoint is flotilla-agent.
	Image string
	// Namespace holds the agent; "flotilla-system" when empty.
	Namespace string
	// StateDir is the hostPath of the state directory on the node.
	StateDir string
	// Name is the cluster name to enroll as; the hub picks one when empty.
	Name string
}

// DeployManifest returns multi-document YAML: Namespace, ServiceAccount,
// ClusterRole and binding, the token Secret and a one-replica Deployment
// whose state lives on a hostPath, with requests and limits matching the
// agent's budgets (30 MB steady, 40 MB peak) plus its supervisor's. The
// agent runs supervised from STATEDIR/bin, where the image's binary is
// copied and its updates written (see Supervise and installShipped), so
// it updates and rolls back in the pod as a systemd one does.
func DeployManifest(o DeployOptions) ([]byte, error) {
	if o.Token == "" {
		return nil, errors.New("writing agent manifest: a bootstrap token is required")
	}
	if strings.ContainsAny(o.Token, "\n\"\\") || strings.ContainsAny(o.Name, "\n\"\\") || strings.ContainsAny(o.Image, "\n\"\\") {
		return nil, errors.New("writing agent manifest: token, name and image must be single-line without quotes")
	}
	if o.Namespace == "" {
		o.Namespace = "flotilla-system"
	}
	if o.StateDir == "" {
		o.StateDir = "/var/lib/flotilla/agent"
	}
	if o.Image == "" {
		o.Image = "ghcr.io/flotilla-io/flotilla-agent:latest"
	}
	o.StateDir = path.Clean(o.StateDir)
	if !path.IsAbs(o.StateDir) {
		return nil, fmt.Errorf("writing agent manifest: the state directory %q is not an absolute path on the node", o.StateDir)
	}
	var buf bytes.Buffer
	if err := deployTemplate.Execute(&buf, deployData{o, path.Join(o.StateDir, "bin")}); err != nil {
		return nil, fmt.Errorf("writing agent manifest: %w", err)
	}
	return buf.Bytes(), nil
}

// deployData is what the template reads.
type deployData struct {
	DeployOptions
	// BinDir is the install dir on the node.
	BinDir string
}

// The agent applies whatever bundles hold, cluster-wide, so its role is
// cluster-admin-like by nature; Recreate keeps two agents from sharing
// one state directory during a rollout. The install dir is a hostPath of
// its own so that the kubelet creates it: the supervisor refuses a
// missing one rather than run from a path it invented.
var deployTemplate = template.Must(template.New("deploy").Parse(`apiVersion: v1
kind: Namespace
metadata:
  name: {{.Namespace}}
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: flotilla-agent
  namespace: {{.Namespace}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: flotilla-agent
rules:
- apiGroups: ["*"]
  resources: ["*"]
  verbs: ["*"]
- nonResourceURLs: ["*"]
  verbs: ["get"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: flotilla-agent
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: flotilla-agent
subjects:
- kind: ServiceAccount
  name: flotilla-agent
  namespace: {{.Namespace}}
---
apiVersion: v1
kind: Secret
metadata:
  name: flotilla-agent-token
  namespace: {{.Namespace}}
type: Opaque
stringData:
  token: "{{.Token}}"
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: flotilla-agent
  namespace: {{.Namespace}}
  labels:
    app.kubernetes.io/name: flotilla-agent
spec:
  replicas: 1
  strategy:
    type: Recreate
  selector:
    matchLabels:
      app.kubernetes.io/name: flotilla-agent
  template:
    metadata:
      labels:
        app.kubernetes.io/name: flotilla-agent
    spec:
      serviceAccountName: flotilla-agent
      containers:
      - name: agent
        image: "{{.Image}}"
        args:
        - --supervise
        - --install-dir=/state/bin
        - --state-dir=/state{{if .Name}}
        - --name={{.Name}}{{end}}
        env:
        - name: FLOTILLA_TOKEN
          valueFrom:
            secretKeyRef:
              name: flotilla-agent-token
              key: token
        - name: GOMEMLIMIT
          value: 30MiB
        resources:
          requests:
            cpu: 20m
            memory: 40Mi
          limits:
            memory: 64Mi
        securityContext:
          allowPrivilegeEscalation: false
          readOnlyRootFilesystem: true
        volumeMounts:
        - name: state
          mountPath: /state
        - name: bin
          mountPath: /state/bin
      volumes:
      - name: state
        hostPath:
          path: {{.StateDir}}
          type: DirectoryOrCreate
      - name: bin
        hostPath:
          path: {{.BinDir}}
          type: DirectoryOrCreate
`))
