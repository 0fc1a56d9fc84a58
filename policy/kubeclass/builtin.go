package kubeclass

import (
	_ "embed"
	"encoding/json"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BuiltinVersion is the Kubernetes release Builtin's table is of.
const BuiltinVersion = "v1.37.2"

// discoverySnapshot is the discovery of a real kube-apiserver v1.37.2
// (scripts/kube.sh), every group and version, in discovery's order;
// TestDiscoverySnapshot captures and checks it.
//
//go:embed discovery-v1.37.2.json
var discoverySnapshot []byte

var builtin = sync.OnceValues(func() (*Table, error) {
	var lists []*metav1.APIResourceList
	if err := json.Unmarshal(discoverySnapshot, &lists); err != nil {
		return nil, err
	}
	return NewTable(lists)
})

// Builtin returns the Table of the resources a Kubernetes BuiltinVersion
// API server serves, with no custom resources: what offline tools
// (warden policy test and explain) resolve kinds with when there is no
// cluster to ask. A connection resolves through its cluster's own
// discovery.
func Builtin() *Table {
	t, err := builtin()
	if err != nil {
		panic("kubeclass: the embedded discovery snapshot: " + err.Error()) // a build defect, caught by the tests
	}
	return t
}
