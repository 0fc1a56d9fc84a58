package kubeclass

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/validation/path"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/wardenhq/warden/policy"
)

// Object is one object of a manifest, classified.
type Object struct {
	// Resource is its kind as discovery says.
	Resource Resource
	// Namespace is where it lives: the manifest's metadata.namespace, or
	// the default namespace; "" for a cluster-scoped kind. Name is its
	// metadata.name; GenerateName its metadata.generateName, when it has
	// no name (it can then only be created).
	Namespace, Name, GenerateName string
	// Body is the object as Warden sends it, and nothing else may be
	// sent: the parsed document, with metadata.namespace set to
	// Namespace for a namespaced kind. It holds only JSON's types
	// (map[string]any, []any, string, bool, nil, int64, uint64, float64).
	Body map[string]any
	// Risks are what the object asks for that a rule must name to admit
	// it (RiskPrivileged, ...), in Risks' order.
	Risks []string
	// Document is the manifest's document it comes from (1-based); an
	// item of a List counts as its List's.
	Document int
}

// Verbs of the Kubernetes API, as RBAC and policy name them.
const (
	VerbGet              = "get"
	VerbList             = "list"
	VerbWatch            = "watch"
	VerbCreate           = "create"
	VerbUpdate           = "update"
	VerbPatch            = "patch"
	VerbDelete           = "delete"
	VerbDeleteCollection = "deletecollection"
)

// Manifest parses and classifies a manifest for kubectl_apply: YAML or
// JSON, one object or several (documents separated by "---", a stream of
// JSON objects, a v1 List's items). defaultNamespace is where a
// namespaced object without metadata.namespace goes ("" : such an object
// is refused). The Facts have one part per object, with the verbs an
// apply may use on it: create and update for a named object (whether it
// exists is known only to the cluster: ApplyFacts narrows them), create
// for one with only generateName.
//
// An error (an *Error, matching policy.ErrNotUnderstood) means the whole
// manifest is refused and nothing of it may be sent. What is refused is
// in the package documentation.
func Manifest(manifest []byte, defaultNamespace string, r Resolver) ([]Object, *policy.Facts, error) {
	if r == nil {
		return nil, nil, fmt.Errorf("kubeclass: no resolver")
	}
	if defaultNamespace != "" {
		if msgs := validation.IsDNS1123Label(defaultNamespace); len(msgs) > 0 {
			return nil, nil, refused(0, 0, "", "the namespace %q is not a namespace name: %s", defaultNamespace, strings.Join(msgs, "; "))
		}
	}
	docs, err := parseDocuments(manifest)
	if err != nil {
		return nil, nil, err
	}
	var objs []Object
	seen := map[string]int{}
	for _, d := range docs {
		items := []map[string]any{d.value}
		if isList(d.value) {
			if items, err = listItems(d); err != nil {
				return nil, nil, err
			}
		}
		for i, it := range items {
			where := ""
			if isList(d.value) {
				where = fmt.Sprintf("items[%d]", i)
			}
			o, err := object(it, d, where, defaultNamespace, r)
			if err != nil {
				return nil, nil, err
			}
			if len(objs) == MaxObjects {
				return nil, nil, refused(0, 0, "", "the manifest holds more than %d objects", MaxObjects)
			}
			if o.Name != "" {
				key := o.Resource.Name() + "/" + o.Namespace + "/" + o.Name
				if first, dup := seen[key]; dup {
					return nil, nil, refused(d.index, d.line, where, "%s %s is in the manifest twice (first in document %d): the second would silently replace the first", o.Resource.Kind, text(o.Resource.Name(), o.Namespace, o.Name), first)
				}
				seen[key] = d.index
			}
			objs = append(objs, o)
		}
	}
	if len(objs) == 0 {
		return nil, nil, refused(0, 0, "", "the manifest holds no object (only empty Lists)")
	}
	return objs, ApplyFacts(objs, nil), nil
}

// isList reports whether v is a v1 List, which kubectl applies item by
// item.
func isList(v map[string]any) bool {
	return v["apiVersion"] == "v1" && v["kind"] == "List"
}

func listItems(d document) ([]map[string]any, error) {
	for k := range d.value {
		switch k {
		case "apiVersion", "kind", "items", "metadata":
		default:
			return nil, refused(d.index, d.line, k, "a List holds apiVersion, kind, metadata and items only")
		}
	}
	raw, ok := d.value["items"].([]any)
	if !ok && d.value["items"] != nil {
		return nil, refused(d.index, d.line, "items", "a List's items must be a list")
	}
	out := make([]map[string]any, len(raw))
	for i, e := range raw {
		m, ok := e.(map[string]any)
		if !ok {
			return nil, refused(d.index, d.line, fmt.Sprintf("items[%d]", i), "a List's item must be an object, not a %s", typeName(e))
		}
		if isList(m) {
			return nil, refused(d.index, d.line, fmt.Sprintf("items[%d]", i), "a List inside a List: Warden expands one level")
		}
		out[i] = m
	}
	return out, nil
}

// topFields and metaFields are the fields Warden reads; a key that
// differs from one only by case is refused, since a decoder that folds
// case would read it in its place.
var (
	topFields  = []string{"apiVersion", "kind", "metadata", "spec", "status", "items"}
	metaFields = []string{"name", "namespace", "generateName", "labels", "annotations", "ownerReferences", "finalizers", "managedFields"}
)

func caseVariant(m map[string]any, known []string, doc document, where string) error {
	for k := range m {
		for _, f := range known {
			if k != f && strings.EqualFold(k, f) {
				return refused(doc.index, doc.line, join(where, k), "the key %q differs from %q only by case: write it as %q", k, f, f)
			}
		}
	}
	return nil
}

func object(body map[string]any, d document, where, defaultNamespace string, r Resolver) (Object, error) {
	fail := func(p, format string, args ...any) error {
		return refused(d.index, d.line, join(where, p), format, args...)
	}
	if err := caseVariant(body, topFields, d, where); err != nil {
		return Object{}, err
	}
	apiVersion, ok1 := body["apiVersion"].(string)
	kind, ok2 := body["kind"].(string)
	if !ok1 || apiVersion == "" {
		return Object{}, fail("apiVersion", "an object needs apiVersion, a string")
	}
	if !ok2 || kind == "" {
		return Object{}, fail("kind", "an object needs kind, a string")
	}
	res, err := r.ForKind(apiVersion, kind)
	if err != nil {
		return Object{}, fail("kind", "%v", err)
	}
	meta := map[string]any{}
	switch m := body["metadata"].(type) {
	case map[string]any:
		meta = m
	case nil:
		body["metadata"] = meta
	default:
		return Object{}, fail("metadata", "metadata must be a mapping, not a %s", typeName(m))
	}
	if err := caseVariant(meta, metaFields, d, join(where, "metadata")); err != nil {
		return Object{}, err
	}
	str := func(key string) (string, error) {
		switch v := meta[key].(type) {
		case string:
			return v, nil
		case nil:
			return "", nil
		default:
			return "", fail("metadata."+key, "metadata.%s must be a string, not a %s", key, typeName(v))
		}
	}
	o := Object{Resource: res, Body: body, Document: d.index}
	if o.Name, err = str("name"); err != nil {
		return Object{}, err
	}
	if o.GenerateName, err = str("generateName"); err != nil {
		return Object{}, err
	}
	ns, err := str("namespace")
	if err != nil {
		return Object{}, err
	}
	switch {
	case o.Name != "":
		if err := checkName(o.Name); err != "" {
			return Object{}, fail("metadata.name", "%s", err)
		}
		o.GenerateName = "" // the server ignores it when there is a name
	case o.GenerateName != "":
		if err := checkName(o.GenerateName); err != "" {
			return Object{}, fail("metadata.generateName", "%s", err)
		}
	default:
		return Object{}, fail("metadata.name", "%s has no metadata.name (nor generateName)", kind)
	}
	if res.Namespaced {
		if ns == "" {
			ns = defaultNamespace
		}
		if ns == "" {
			return Object{}, fail("metadata.namespace", "%s is namespaced, and neither the manifest nor the call names its namespace", kind)
		}
		if msgs := validation.IsDNS1123Label(ns); len(msgs) > 0 {
			return Object{}, fail("metadata.namespace", "%q is not a namespace name: %s", ns, strings.Join(msgs, "; "))
		}
		meta["namespace"] = ns
		o.Namespace = ns
	} else if _, has := meta["namespace"]; has && ns != "" {
		return Object{}, fail("metadata.namespace", "%s is cluster-scoped, so it has no namespace: remove metadata.namespace (the API server would drop it, and policy would see a namespace the object does not have)", kind)
	}
	if st := body["status"]; st != nil {
		if m, ok := st.(map[string]any); !ok || len(m) > 0 {
			return Object{}, fail("status", "status is written by the cluster, not by a manifest: remove it")
		}
	}
	if mf := meta["managedFields"]; mf != nil {
		return Object{}, fail("metadata.managedFields", "managedFields are the API server's: remove them")
	}
	o.Risks = objectRisks(res, body)
	return o, nil
}

// checkName reports why s cannot be an object's name, or "".
func checkName(s string) string {
	if len(s) > 253 {
		return "a name is at most 253 characters"
	}
	if msgs := path.IsValidPathSegmentName(s); len(msgs) > 0 {
		return fmt.Sprintf("%q cannot be a name: %s", s, strings.Join(msgs, "; "))
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f {
			return fmt.Sprintf("%q cannot be a name: it holds a space or a control character", s)
		}
	}
	return ""
}
