package kubeclass

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// smallTable is a table of a few resources, for the Table's own tests;
// the corpus runs against the snapshot of a real API server's discovery.
func smallTable(t *testing.T) *Table {
	t.Helper()
	tab, err := NewTable([]*metav1.APIResourceList{
		{GroupVersion: "v1", APIResources: []metav1.APIResource{
			{Name: "pods", SingularName: "pod", Namespaced: true, Kind: "Pod", ShortNames: []string{"po"}},
			{Name: "pods/log", Namespaced: true, Kind: "Pod"},
			{Name: "events", SingularName: "event", Namespaced: true, Kind: "Event", ShortNames: []string{"ev"}},
			{Name: "namespaces", SingularName: "namespace", Kind: "Namespace", ShortNames: []string{"ns"}},
		}},
		{GroupVersion: "apps/v1", APIResources: []metav1.APIResource{
			{Name: "deployments", SingularName: "deployment", Namespaced: true, Kind: "Deployment", ShortNames: []string{"deploy"}},
		}},
		{GroupVersion: "events.k8s.io/v1", APIResources: []metav1.APIResource{
			{Name: "events", SingularName: "event", Namespaced: true, Kind: "Event", ShortNames: []string{"ev"}},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

func TestTableForName(t *testing.T) {
	tab := smallTable(t)
	for name, want := range map[string]string{
		"po": "pods", "pods": "pods", "pod": "pods", "Pod": "pods", "PODS": "pods",
		"deploy": "deployments.apps", "deployments.apps": "deployments.apps", "deployment.apps": "deployments.apps",
		"deployments.v1.apps": "deployments.apps", "deploy.apps": "deployments.apps",
		"ns": "namespaces", "events": "events", "ev": "events", "events.events.k8s.io": "events.events.k8s.io",
	} {
		r, err := tab.ForName(name)
		if err != nil || r.Name() != want {
			t.Errorf("ForName(%q) = %v, %v; want %s", name, r.Name(), err, want)
		}
	}
	for _, name := range []string{"", "x", "pods/log", "deployments.v2.apps", "pods.apps", "log"} {
		if r, err := tab.ForName(name); err == nil {
			t.Errorf("ForName(%q) = %v, want an error", name, r)
		}
	}
}

func TestTableForKind(t *testing.T) {
	tab := smallTable(t)
	if r, err := tab.ForKind("apps/v1", "Deployment"); err != nil || r.Name() != "deployments.apps" || !r.Namespaced {
		t.Errorf("ForKind(apps/v1, Deployment) = %+v, %v", r, err)
	}
	for _, c := range []struct{ apiVersion, kind, says string }{
		{"apps/v1", "deployment", "case-sensitive"},
		{"apps/v1beta1", "Deployment", "serves it as apps/v1"},
		{"example.com/v1", "Deployment", "no API group"},
		{"v1", "Secret", "no kind"},
		{"", "Pod", "not group/version"},
		{"a/b/c", "Pod", "not group/version"},
	} {
		_, err := tab.ForKind(c.apiVersion, c.kind)
		if err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("ForKind(%q, %q) = %v, want an error saying %q", c.apiVersion, c.kind, err, c.says)
		}
	}
}
