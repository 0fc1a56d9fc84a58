package kubeclass

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkManifest classifies a manifest of 50 Deployments (about
// 40 KB), as kubectl_apply does before anything is sent.
func BenchmarkManifest(b *testing.B) {
	tab := snapshotTable(b)
	var sb strings.Builder
	for i := 0; i < 50; i++ {
		fmt.Fprintf(&sb, `---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web-%d, labels: {app: web}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web-%d}}
  template:
    metadata: {labels: {app: web-%d}}
    spec:
      containers:
        - name: web
          image: registry.example/web:1.4
          ports: [{containerPort: 8080}]
          env: [{name: MODE, value: prod}, {name: LEVEL, value: info}]
          resources: {requests: {cpu: 100m, memory: 128Mi}, limits: {memory: 256Mi}}
          securityContext: {runAsNonRoot: true, runAsUser: 1000, allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
`, i, i, i)
	}
	data := []byte(sb.String())
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Manifest(data, "dev", tab); err != nil {
			b.Fatal(err)
		}
	}
}
