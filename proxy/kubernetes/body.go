package kubernetes

import (
	"context"
	"encoding/json"
	"fmt"
	"mime"
	"strconv"
	"strings"

	"k8s.io/client-go/kubernetes/scheme"
	kjson "sigs.k8s.io/json"

	"github.com/wardenhq/warden/connectors"
	"github.com/wardenhq/warden/policy"
	"github.com/wardenhq/warden/policy/kubeclass"
)

// Patch media types the proxy classifies.
const (
	mediaApply     = "application/apply-patch+yaml"
	mediaMerge     = "application/merge-patch+json"
	mediaStrategic = "application/strategic-merge-patch+json"
	mediaJSONPatch = "application/json-patch+json"
	mediaProtobuf  = "application/vnd.kubernetes.protobuf"
)

// protobufToJSON decodes a built-in object sent as protobuf (the types
// client-go knows) into its JSON.
func protobufToJSON(body []byte) ([]byte, error) {
	obj, gvk, err := scheme.Codecs.UniversalDeserializer().Decode(body, nil, nil)
	if err != nil {
		return nil, err
	}
	obj.GetObjectKind().SetGroupVersionKind(*gvk)
	return json.Marshal(obj)
}

func mediaType(ct string) string {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return ""
	}
	return strings.ToLower(mt)
}

func patchType(ct string) string {
	switch mediaType(ct) {
	case mediaApply:
		return "apply"
	case mediaMerge:
		return "merge"
	case mediaStrategic:
		return "strategic"
	case mediaJSONPatch:
		return "json"
	}
	return "unknown"
}

// resolver is the cluster's discovery as the classifier asks it.
type resolver struct {
	ctx context.Context
	k   cluster
}

func (r resolver) ForKind(apiVersion, kind string) (kubeclass.Resource, error) {
	res, err := r.k.ResolveKind(r.ctx, apiVersion, kind)
	return classRes(res), err
}

func (r resolver) ForName(name string) (kubeclass.Resource, error) {
	res, err := r.k.ResolveName(r.ctx, name)
	return classRes(res), err
}

// classifyBody classifies a request's body, fail-closed. It returns the
// facts that replace the request's own (a write of an object: the
// object's, with its risks), nil when the request's own stand (a read, a
// delete, a stream), or the refusal of a body it cannot classify:
//
//   - create (POST) and update (PUT): the object, JSON or YAML, through
//     kubeclass.Manifest; it must be one object of the URL's resource,
//     namespace and (update) name.
//   - patch: server-side apply YAML through kubeclass.Manifest like an
//     object; a JSON merge patch and a strategic merge patch as the
//     partial object they set (directives checked: $patch, $retainKeys,
//     $setElementOrder/, $deleteFromPrimitiveList/); a JSON patch as the
//     values its add and replace operations set (move and copy, which
//     copy values Warden cannot see, are refused). What a patch sets is
//     classified as an object would be.
//   - a delete's DeleteOptions: any JSON object (options, no content).
//   - subresources: scale (spec.replicas only) and eviction; exec,
//     attach and port-forward carry no body. Other subresource writes
//     (status, binding, token, approval...) are refused.
//
// An object (create, update, server-side apply) is then sent as it was
// classified, written anew as JSON; a patch is sent as the client wrote
// it, having been read strictly (JSON, no duplicate keys).
func classifyBody(r kubeclass.Resolver, req *request, contentType string) (*policy.Facts, *refusal) {
	info, body := req.info, req.body
	verb, sub := info.Verb, info.Subresource
	if req.tool == ToolExec || req.tool == ToolPortForward {
		if len(body) > 0 {
			return nil, invalid("a %s request carries no body", sub)
		}
		return nil, nil
	}
	switch verb {
	case kubeclass.VerbGet, kubeclass.VerbList, kubeclass.VerbWatch:
		if len(body) > 0 {
			return nil, invalid("a read carries no body")
		}
		return nil, nil
	case kubeclass.VerbDelete, kubeclass.VerbDeleteCollection:
		if len(body) > 0 {
			var opts map[string]any
			if err := strictJSON(body, &opts); err != nil {
				return nil, invalid("a delete's body must be DeleteOptions (a JSON object): %v", err)
			}
		}
		return nil, nil
	}
	if len(body) == 0 {
		return nil, invalid("a %s carries a body", verb)
	}
	ns := info.Namespace
	if !req.res.Namespaced {
		ns = ""
	}
	switch sub {
	case "":
	case "scale":
		return nil, scaleBody(verb, contentType, body)
	case "eviction":
		var ev map[string]any
		if err := strictJSON(body, &ev); err != nil || verb != kubeclass.VerbCreate || ev["kind"] != "Eviction" {
			return nil, invalid("an eviction's body must be an Eviction (JSON)")
		}
		return nil, nil
	default:
		return nil, refuse("writes to the %s subresource are not carried by the proxy", sub)
	}
	mt := mediaType(contentType)
	if mt == mediaProtobuf && (verb == kubeclass.VerbCreate || verb == kubeclass.VerbUpdate) {
		// kubectl sends built-in objects as protobuf: decoded, and sent on
		// as the JSON that is classified.
		b, err := protobufToJSON(body)
		if err != nil {
			return nil, invalid("the protobuf body: %v", err)
		}
		req.body, req.contentType, body, mt = b, "application/json", b, "application/json"
	}
	var doc []byte
	switch {
	case verb == kubeclass.VerbCreate || verb == kubeclass.VerbUpdate:
		if mt != "application/json" && mt != "application/yaml" {
			return nil, invalid("an object must be sent as application/json or application/yaml, not %q (Warden cannot classify it)", contentType)
		}
		if mt == "application/json" && !json.Valid(body) {
			// The classifier reads YAML too; the API server would not
			// read this as what Warden classified.
			return nil, invalid("the body is not JSON, as its content type says")
		}
		doc = body
	case mt == mediaApply:
		doc = body
	case mt == mediaMerge || mt == mediaStrategic:
		var patch map[string]any
		if err := strictJSON(body, &patch); err != nil {
			return nil, invalid("the %s patch is not a JSON object: %v", patchType(contentType), err)
		}
		if mt == mediaStrategic {
			if err := checkDirectives(patch, ""); err != nil {
				return nil, invalid("%v", err)
			}
		}
		var rf *refusal
		if doc, rf = asObject(patch, req.res, ns, info.Name); rf != nil {
			return nil, rf
		}
	case mt == mediaJSONPatch:
		set, rf := jsonPatchValues(body)
		if rf != nil {
			return nil, rf
		}
		if doc, rf = asObject(set, req.res, ns, info.Name); rf != nil {
			return nil, rf
		}
	default:
		return nil, invalid("a patch of type %q is not one Warden classifies (apply, merge, strategic or json)", contentType)
	}
	objs, _, err := kubeclass.Manifest(doc, ns, r)
	if err != nil {
		return nil, invalid("the body is refused: %v", err)
	}
	if len(objs) != 1 {
		return nil, invalid("the body holds %d objects; a request writes one", len(objs))
	}
	o := objs[0]
	switch {
	case o.Resource.Group != req.res.Group || o.Resource.Resource != req.res.Resource:
		return nil, invalid("the body is a %s, but the request writes %s", o.Resource.Name(), req.res.GroupResource())
	case o.Namespace != ns:
		return nil, invalid("the body's namespace %q is not the request's %q", o.Namespace, ns)
	case info.Name != "" && o.Name != info.Name:
		return nil, invalid("the body names %q, but the request writes %q", o.Name, info.Name)
	}
	req.written = o.Body
	if verb == kubeclass.VerbCreate || verb == kubeclass.VerbUpdate || mt == mediaApply {
		// An object is sent as it was classified, written anew as JSON
		// (which a server-side apply reads as YAML): the API server reads
		// what Warden read, not its own parse of the client's text.
		b, err := json.Marshal(o.Body)
		if err != nil {
			return nil, invalid("the body: %v", err)
		}
		req.body = b
		if mt != mediaApply {
			req.contentType = "application/json"
		}
	}
	return kubeclass.ApplyFacts(objs, []string{verb}), nil
}

// strictJSON decodes JSON as the API server does (case-sensitive), and
// refuses duplicate keys, which another reader could take otherwise.
func strictJSON(b []byte, v any) error {
	strict, err := kjson.UnmarshalStrict(b, v, kjson.DisallowDuplicateFields)
	if err != nil {
		return err
	}
	if len(strict) > 0 {
		return strict[0]
	}
	return nil
}

// asObject makes a partial object (what a patch sets) into the object
// the classifier reads: its apiVersion, kind, name and namespace are the
// request's, and the patch must not say otherwise.
func asObject(set map[string]any, res connectors.KubeResource, ns, name string) ([]byte, *refusal) {
	apiVersion := res.Version
	if res.Group != "" {
		apiVersion = res.Group + "/" + res.Version
	}
	for key, want := range map[string]string{"apiVersion": apiVersion, "kind": res.Kind} {
		if v, has := set[key]; has && v != want {
			return nil, invalid("the patch sets %s to %v; the request writes a %s", key, v, want)
		}
	}
	meta, _ := set["metadata"].(map[string]any)
	if set["metadata"] != nil && meta == nil {
		return nil, invalid("the patch's metadata is not an object")
	}
	if meta == nil {
		meta = map[string]any{}
	}
	for key, want := range map[string]string{"name": name, "namespace": ns} {
		if v, has := meta[key]; has && v != want {
			return nil, invalid("the patch sets metadata.%s to %v; the request writes %q", key, v, want)
		}
	}
	if ns == "" {
		delete(meta, "namespace")
	} else {
		meta["namespace"] = ns
	}
	meta["name"] = name
	set["metadata"], set["apiVersion"], set["kind"] = meta, apiVersion, res.Kind
	b, err := json.Marshal(set)
	if err != nil {
		return nil, invalid("the patch: %v", err)
	}
	return b, nil
}

// checkDirectives refuses a strategic merge patch's directive Warden does
// not know. The known ones only remove, order or replace what the patch
// itself holds, which is classified.
func checkDirectives(v any, path string) error {
	switch t := v.(type) {
	case []any:
		for i, e := range t {
			if err := checkDirectives(e, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case map[string]any:
		for k, val := range t {
			if strings.HasPrefix(k, "$") {
				switch {
				case k == "$patch":
					if s, _ := val.(string); s != "replace" && s != "merge" && s != "delete" {
						return fmt.Errorf("%s: $patch must be replace, merge or delete", path)
					}
				case k == "$retainKeys", strings.HasPrefix(k, "$setElementOrder/"), strings.HasPrefix(k, "$deleteFromPrimitiveList/"):
				default:
					return fmt.Errorf("%s: the strategic merge directive %q is not one Warden knows", path, k)
				}
			}
			if err := checkDirectives(val, path+"."+k); err != nil {
				return err
			}
		}
	}
	return nil
}

// jsonPatchOp is one RFC 6902 operation.
type jsonPatchOp struct {
	Op    string          `json:"op"`
	Path  string          `json:"path"`
	From  string          `json:"from,omitempty"`
	Value json.RawMessage `json:"value,omitempty"`
}

// jsonPatchValues returns what a JSON patch's add and replace operations
// set, as one partial object (list indices become lists). move and copy
// are refused: they copy values the request does not show.
func jsonPatchValues(body []byte) (map[string]any, *refusal) {
	var ops []jsonPatchOp
	if err := strictJSON(body, &ops); err != nil {
		return nil, invalid("the json patch is not a list of operations: %v", err)
	}
	out := map[string]any{}
	for i, op := range ops {
		tokens, err := pointer(op.Path)
		if err != nil {
			return nil, invalid("operation %d: %v", i, err)
		}
		if op.Op == "test" {
			continue // changes nothing (a guard: the name is what it says)
		}
		if len(tokens) > 0 && (tokens[0] == "apiVersion" || tokens[0] == "kind") ||
			len(tokens) == 2 && tokens[0] == "metadata" && (tokens[1] == "name" || tokens[1] == "namespace") || len(tokens) == 1 && tokens[0] == "metadata" {
			return nil, invalid("operation %d: the patch may not change %s", i, op.Path)
		}
		switch op.Op {
		case "remove":
			continue
		case "add", "replace":
		case "move", "copy":
			return nil, refuse("operation %d: a json patch's %s copies a value Warden cannot see, so it is refused; send the value with add or replace", i, op.Op)
		default:
			return nil, invalid("operation %d: %q is not a json patch operation", i, op.Op)
		}
		var val any
		if err := strictJSON(op.Value, &val); err != nil {
			return nil, invalid("operation %d: the value: %v", i, err)
		}
		if len(tokens) == 0 {
			m, ok := val.(map[string]any)
			if !ok {
				return nil, invalid("operation %d: the whole object must be an object", i)
			}
			if err := merge(out, m); err != nil {
				return nil, invalid("operation %d: %v", i, err)
			}
			continue
		}
		frag := val
		for j := len(tokens) - 1; j >= 1; j-- {
			if isIndex(tokens[j]) {
				frag = []any{frag}
			} else {
				frag = map[string]any{tokens[j]: frag}
			}
		}
		if isIndex(tokens[0]) {
			return nil, invalid("operation %d: %s is not a field of an object", i, op.Path)
		}
		if err := merge(out, map[string]any{tokens[0]: frag}); err != nil {
			return nil, invalid("operation %d: %v", i, err)
		}
	}
	return out, nil
}

func isIndex(t string) bool {
	if t == "-" {
		return true
	}
	_, err := strconv.ParseUint(t, 10, 32)
	return err == nil
}

// pointer splits an RFC 6901 JSON pointer.
func pointer(p string) ([]string, error) {
	if p == "" {
		return nil, nil
	}
	if !strings.HasPrefix(p, "/") {
		return nil, fmt.Errorf("path %q is not a JSON pointer", p)
	}
	parts := strings.Split(p[1:], "/")
	for i, s := range parts {
		if strings.Contains(strings.ReplaceAll(strings.ReplaceAll(s, "~0", ""), "~1", ""), "~") {
			return nil, fmt.Errorf("path %q has a bad escape", p)
		}
		parts[i] = strings.ReplaceAll(strings.ReplaceAll(s, "~1", "/"), "~0", "~")
	}
	return parts, nil
}

// merge adds src's fields to dst: objects merge, lists append, and a
// field set twice to different values is refused.
func merge(dst, src map[string]any) error {
	for k, v := range src {
		old, has := dst[k]
		if !has {
			dst[k] = v
			continue
		}
		switch o := old.(type) {
		case map[string]any:
			if m, ok := v.(map[string]any); ok {
				if err := merge(o, m); err != nil {
					return err
				}
				continue
			}
		case []any:
			if l, ok := v.([]any); ok {
				dst[k] = append(o, l...)
				continue
			}
		}
		a, _ := json.Marshal(old)
		b, _ := json.Marshal(v)
		if string(a) != string(b) {
			return fmt.Errorf("the patch sets %q twice", k)
		}
	}
	return nil
}

// scaleBody admits a write to the scale subresource that sets only
// spec.replicas.
func scaleBody(verb, contentType string, body []byte) *refusal {
	bad := invalid("a write to the scale subresource may set spec.replicas only")
	if mediaType(contentType) == mediaJSONPatch {
		var ops []jsonPatchOp
		if err := strictJSON(body, &ops); err != nil {
			return bad
		}
		for _, op := range ops {
			if op.Path != "/spec/replicas" || (op.Op != "replace" && op.Op != "add" && op.Op != "test") {
				return bad
			}
		}
		return nil
	}
	if mt := mediaType(contentType); verb == kubeclass.VerbPatch && mt != mediaMerge && mt != mediaStrategic || verb == kubeclass.VerbUpdate && mt != "application/json" {
		return bad
	}
	var v map[string]any
	if err := strictJSON(body, &v); err != nil {
		return bad
	}
	for key, val := range v {
		switch key {
		case "apiVersion", "kind", "metadata", "status":
		case "spec":
			spec, ok := val.(map[string]any)
			if !ok {
				return bad
			}
			for sk := range spec {
				if sk != "replicas" {
					return bad
				}
			}
		default:
			return bad
		}
	}
	return nil
}
