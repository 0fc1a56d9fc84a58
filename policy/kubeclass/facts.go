package kubeclass

import (
	"slices"
	"strings"

	"github.com/wardenhq/warden/policy"
)

// verbOrder ranks the verbs from least to most severe; a part's Kind is
// its most severe verb.
var verbOrder = []string{VerbGet, VerbList, VerbWatch, VerbCreate, VerbUpdate, VerbPatch, VerbDelete, VerbDeleteCollection}

func verbRank(v string) int {
	if i := slices.Index(verbOrder, v); i >= 0 {
		return i
	}
	return len(verbOrder) // any other verb (impersonate, escalate, ...): the most severe
}

// reads reports whether verb only reads.
func reads(verb string) bool {
	return verb == VerbGet || verb == VerbList || verb == VerbWatch
}

// text is a resource as policy's Resource.Text writes it:
// namespace/resource/name, resource/name for a cluster-scoped object,
// without the name for a collection.
func text(resource, namespace, name string) string {
	s := resource
	if namespace != "" {
		s = namespace + "/" + s
	}
	if name != "" {
		s += "/" + name
	}
	return s
}

// ApplyFacts returns the facts of applying objs. verbs, when the caller
// knows from the cluster which objects exist, gives each object's verb
// (create or update, or patch for a server-side apply); nil, or an empty
// entry, means create and update for a named object (the rule must admit
// both) and create for one with only generateName.
func ApplyFacts(objs []Object, verbs []string) *policy.Facts {
	parts := make([]policy.Part, len(objs))
	for i, o := range objs {
		var vs []string
		switch {
		case i < len(verbs) && verbs[i] != "":
			vs = []string{verbs[i]}
		case o.Name == "":
			vs = []string{VerbCreate}
		default:
			vs = []string{VerbCreate, VerbUpdate}
		}
		name := o.Name
		res := policy.Resource{Kind: o.Resource.Name(), Namespace: o.Namespace, Name: name, Text: text(o.Resource.Name(), o.Namespace, name)}
		if name == "" {
			res.Text += "/" + o.GenerateName + "*"
		}
		parts[i] = part(vs, o.Resource, res, o.Risks)
	}
	return summarise(parts)
}

// Request returns the facts of one API request: verb on res (or on its
// subresource: "log", "exec", "status", "scale"...; the part's resource
// Kind is then "pods/log", "deployments.apps/scale"), in namespace (""
// for a cluster-scoped resource, or every namespace), on the object name
// ("" for a collection). It carries the risks the request itself shows
// (exec, proxy, token, the impersonate verb, writing a Secret or an RBAC
// object); a write's body is classified as an object (Manifest) by
// the API proxy (proxy/kubernetes), which then replaces these facts.
func Request(verb string, res Resource, subresource, namespace, name string) *policy.Facts {
	verb = strings.ToLower(verb)
	kind := res.Name()
	if subresource != "" {
		kind += "/" + subresource
	}
	s := riskSet{}
	subresourceRisks(subresource, s)
	if !reads(verb) {
		// Writing: the kind's own risks (a Secret, an RBAC object, a
		// custom resource...). Reading is not writing: a Secret read is
		// masked, an RBAC object read is harmless.
		kindRisks(res, s)
	}
	switch verb {
	case "impersonate":
		s[RiskImpersonate] = true
	case "escalate", "bind":
		s[RiskRBACEscalate] = true
	}
	r := policy.Resource{Kind: kind, Namespace: namespace, Name: name, Text: text(res.Name(), namespace, name)}
	if subresource != "" {
		r.Text += "/" + subresource
	}
	return summarise([]policy.Part{part([]string{verb}, res, r, s.list())})
}

// part is one object or request.
func part(verbs []string, res Resource, r policy.Resource, risks []string) policy.Part {
	slices.SortFunc(verbs, func(a, b string) int { return verbRank(a) - verbRank(b) })
	p := policy.Part{Kind: verbs[len(verbs)-1], Kinds: verbs, Tag: res.Kind, Risks: risks}
	readOnly := len(risks) == 0
	for _, v := range verbs {
		readOnly = readOnly && reads(v)
	}
	if readOnly {
		p.Read = []policy.Resource{r}
	} else {
		p.Written = []policy.Resource{r}
		p.Reasons = append(p.Reasons, strings.Join(verbs, " or ")+" "+r.Text)
		for _, k := range risks {
			p.Reasons = append(p.Reasons, "asks for "+k)
		}
	}
	return p
}

// summarise builds the Facts of parts.
func summarise(parts []policy.Part) *policy.Facts {
	f := &policy.Facts{Parts: parts, Kubernetes: true, ReadOnly: len(parts) > 0}
	kinds := map[string]bool{}
	risks := riskSet{}
	for _, p := range parts {
		for _, k := range p.Kinds {
			kinds[k] = true
		}
		if len(p.Written) > 0 || len(p.Read) == 0 {
			f.ReadOnly = false
		}
		for _, r := range p.Risks {
			risks[r] = true
		}
		f.Read = append(f.Read, p.Read...)
		f.Written = append(f.Written, p.Written...)
	}
	verbs := make([]string, 0, len(kinds))
	for k := range kinds {
		verbs = append(verbs, k)
	}
	slices.SortFunc(verbs, func(a, b string) int {
		if d := verbRank(a) - verbRank(b); d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	// Each verb's class (read, write) before the verbs of that class,
	// so that 'write' in statement.kinds holds for any write.
	for _, k := range verbs {
		class := policy.KindWrite
		if reads(k) {
			class = policy.KindRead
		}
		if !slices.Contains(f.Kinds, class) {
			f.Kinds = append(f.Kinds, class)
		}
		f.Kinds = append(f.Kinds, k)
	}
	f.Risks = risks.list()
	f.Read, f.Written = distinct(f.Read), distinct(f.Written)
	return f
}

// distinct sorts rs by Text and drops duplicates.
func distinct(rs []policy.Resource) []policy.Resource {
	if len(rs) == 0 {
		return nil
	}
	slices.SortFunc(rs, func(a, b policy.Resource) int { return strings.Compare(a.Text, b.Text) })
	return slices.Compact(rs)
}
