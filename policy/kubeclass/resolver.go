package kubeclass

import (
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Resource is a kind of object an API server serves, as its discovery
// says.
type Resource struct {
	// Group and Version are the API group ("" for the core group) and
	// version; Resource is the plural, lower-case name the URL and RBAC
	// use ("deployments"); Kind is the objects' kind ("Deployment").
	Group, Version, Resource, Kind string
	// Namespaced says its objects live in a namespace.
	Namespaced bool
}

// Name is the resource as policy names it: the plural, with its group
// unless it is the core group ("pods", "deployments.apps").
func (r Resource) Name() string {
	if r.Group == "" {
		return r.Resource
	}
	return r.Resource + "." + r.Group
}

// APIVersion is the group/version a manifest writes ("apps/v1", "v1").
func (r Resource) APIVersion() string {
	return schema.GroupVersion{Group: r.Group, Version: r.Version}.String()
}

// Resolver says which Resource a manifest's kind or a name the caller
// gives stands for, from the cluster's discovery. A kind or name it does
// not know is an error.
type Resolver interface {
	// ForKind resolves a manifest's apiVersion and kind, exactly (kinds
	// are case-sensitive).
	ForKind(apiVersion, kind string) (Resource, error)
	// ForName resolves a resource as kubectl takes it: the plural, the
	// singular, a short name or the kind, in any case ("po", "pods",
	// "Pod"), optionally with the group or version.group
	// ("deployments.apps", "deploy.v1.apps").
	ForName(name string) (Resource, error)
}

// Table is a Resolver over a discovery snapshot. It is immutable and
// safe for concurrent use.
type Table struct {
	kinds map[schema.GroupVersionKind]Resource
	// names maps a lower-case name to its resource in each group, first
	// listed (the group's preferred version) first.
	names  map[string][]Resource // plural, singular and kind
	shorts map[string][]Resource // short names
	groups map[string]bool
}

// NewTable builds a Table from discovery's resource lists, in discovery's
// order (as client-go's ServerGroupsAndResources returns them: the
// groups by priority, each group's preferred version first): where a
// name is in several groups, the first wins, as with kubectl.
// Subresources ("pods/log") are not resolvable kinds and are left out.
func NewTable(lists []*metav1.APIResourceList) (*Table, error) {
	t := &Table{kinds: map[schema.GroupVersionKind]Resource{}, names: map[string][]Resource{}, shorts: map[string][]Resource{}, groups: map[string]bool{}}
	for _, l := range lists {
		if l == nil {
			continue
		}
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			return nil, fmt.Errorf("discovery: group version %q: %w", l.GroupVersion, err)
		}
		t.groups[gv.Group] = true
		for _, ar := range l.APIResources {
			if ar.Name == "" || strings.Contains(ar.Name, "/") || ar.Kind == "" {
				continue
			}
			r := Resource{Group: gv.Group, Version: gv.Version, Resource: ar.Name, Kind: ar.Kind, Namespaced: ar.Namespaced}
			if ar.Group != "" || ar.Version != "" { // a resource of another group version, listed here
				r.Group, r.Version = ar.Group, ar.Version
			}
			gvk := schema.GroupVersionKind{Group: r.Group, Version: r.Version, Kind: r.Kind}
			if _, ok := t.kinds[gvk]; !ok {
				t.kinds[gvk] = r
			}
			singular := ar.SingularName
			if singular == "" {
				singular = strings.ToLower(ar.Kind)
			}
			for _, n := range []string{ar.Name, singular, strings.ToLower(ar.Kind)} {
				t.names[n] = addGroup(t.names[n], r)
			}
			for _, s := range ar.ShortNames {
				t.shorts[strings.ToLower(s)] = addGroup(t.shorts[strings.ToLower(s)], r)
			}
		}
	}
	if len(t.kinds) == 0 {
		return nil, fmt.Errorf("discovery lists no resources")
	}
	return t, nil
}

// addGroup appends r unless its group is already there (its preferred
// version came first).
func addGroup(rs []Resource, r Resource) []Resource {
	for _, x := range rs {
		if x.Group == r.Group && x.Resource == r.Resource {
			return rs
		}
	}
	return append(rs, r)
}

// ForKind implements Resolver.
func (t *Table) ForKind(apiVersion, kind string) (Resource, error) {
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil || apiVersion == "" || gv.Version == "" {
		return Resource{}, fmt.Errorf("apiVersion %q is not group/version or version", apiVersion)
	}
	if r, ok := t.kinds[gv.WithKind(kind)]; ok {
		return r, nil
	}
	// Say what is close: another case, another version.
	for gvk := range t.kinds {
		if gvk.Group == gv.Group && gvk.Version == gv.Version && strings.EqualFold(gvk.Kind, kind) {
			return Resource{}, fmt.Errorf("the cluster has no kind %q in %s (kinds are case-sensitive: %s)", kind, apiVersion, gvk.Kind)
		}
	}
	var versions []string
	for gvk := range t.kinds {
		if gvk.Group == gv.Group && gvk.Kind == kind {
			versions = append(versions, gvk.GroupVersion().String())
		}
	}
	if len(versions) > 0 {
		return Resource{}, fmt.Errorf("the cluster does not serve %s %s (it serves it as %s)", apiVersion, kind, strings.Join(versions, ", "))
	}
	if !t.groups[gv.Group] {
		return Resource{}, fmt.Errorf("the cluster serves no API group %q (apiVersion %q)", gv.Group, apiVersion)
	}
	return Resource{}, fmt.Errorf("the cluster has no kind %q in %s", kind, apiVersion)
}

// ForName implements Resolver.
func (t *Table) ForName(name string) (Resource, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	if n == "" || strings.ContainsAny(n, "/ ") {
		return Resource{}, fmt.Errorf("%q is not a resource name (a subresource is given apart from its resource)", name)
	}
	head, rest, qualified := strings.Cut(n, ".")
	if !qualified {
		if rs := t.names[n]; len(rs) > 0 {
			return rs[0], nil
		}
		if rs := t.shorts[n]; len(rs) > 0 {
			return rs[0], nil
		}
		return Resource{}, fmt.Errorf("the cluster has no resource %q", name)
	}
	// resource.group, or resource.version.group.
	for _, try := range []struct{ version, group string }{{"", rest}, versionGroup(rest)} {
		if try.group == "" && try.version == "" {
			continue
		}
		for _, list := range []map[string][]Resource{t.names, t.shorts} {
			for _, r := range list[head] {
				if r.Group != try.group {
					continue
				}
				if try.version == "" {
					return r, nil
				}
				if got, ok := t.kinds[schema.GroupVersionKind{Group: r.Group, Version: try.version, Kind: r.Kind}]; ok {
					return got, nil
				}
			}
		}
	}
	return Resource{}, fmt.Errorf("the cluster has no resource %q", name)
}

func versionGroup(s string) struct{ version, group string } {
	v, g, ok := strings.Cut(s, ".")
	if !ok {
		return struct{ version, group string }{}
	}
	return struct{ version, group string }{v, g}
}

var _ Resolver = (*Table)(nil)
