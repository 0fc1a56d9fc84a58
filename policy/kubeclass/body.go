package kubeclass

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"strings"
	"unicode"

	"github.com/wardenhq/warden/policy"
)

// Media types of a write's body, as the API server takes them.
const (
	MediaJSON           = "application/json"
	MediaYAML           = "application/yaml"
	MediaApplyPatch     = "application/apply-patch+yaml"
	MediaMergePatch     = "application/merge-patch+json"
	MediaStrategicPatch = "application/strategic-merge-patch+json"
	MediaJSONPatch      = "application/json-patch+json"
)

// RequestBody classifies one API request that carries a body (the API
// proxy's writes): verb on res (or its subresource), in namespace, on
// name ("" for a create), with the body of media type contentType. It
// returns the body to send in its place — the parsed body written anew
// as JSON, which the API server reads as the request's media type
// allows — and the facts, with the risks of what the body sets.
//
//   - create and update take an object (JSON or YAML) of res's kind: its
//     namespace and name must be the request's (a create may leave the
//     name to generateName).
//   - patch takes a server-side apply (application/apply-patch+yaml: an
//     object, as for update), a JSON merge patch or a strategic merge
//     patch (a partial object, whose fields are read for risks as an
//     object's are; a strategic merge patch's $ directives are refused),
//     or a JSON patch (its add and replace operations are read for risks
//     at their paths; move and copy, which write a value the request
//     does not hold, are refused).
//   - A subresource's body (an Eviction, a Binding, a Scale, a status)
//     is read for risks as a whole.
//   - delete and deletecollection take DeleteOptions, or nothing.
//
// Removing a field is not a risk (a patch that drops a
// securityContext), as an object without one is not. An error (an
// *Error) means the request must be refused.
func RequestBody(verb string, res Resource, subresource, namespace, name, contentType string, body []byte, r Resolver) ([]byte, *policy.Facts, error) {
	verb = strings.ToLower(verb)
	media, _, err := mime.ParseMediaType(contentType)
	if err != nil && contentType != "" {
		return nil, nil, refused(0, 0, "", "the content type %q does not parse", contentType)
	}
	media = strings.ToLower(media)
	kind := res.Name()
	if subresource != "" {
		kind += "/" + subresource
	}
	target := policy.Resource{Kind: kind, Namespace: namespace, Name: name}
	risks := riskSet{}
	subresourceRisks(subresource, risks)
	kindRisks(res, risks)
	var send []byte
	switch {
	case verb == VerbDelete || verb == VerbDeleteCollection:
		if len(bytes.TrimSpace(body)) > 0 {
			v, err := oneObject(body, media)
			if err != nil {
				return nil, nil, err
			}
			send, _ = json.Marshal(v)
		}
	case verb == VerbCreate || verb == VerbUpdate || (verb == VerbPatch && media == MediaApplyPatch):
		if verb != VerbPatch && media != MediaJSON && media != MediaYAML && media != "" {
			return nil, nil, refused(0, 0, "", "Warden reads a %s's body as JSON or YAML, not %s", verb, media)
		}
		v, err := oneObject(body, MediaYAML)
		if err != nil {
			return nil, nil, err
		}
		if subresource != "" {
			scan(v, risks)
			send, _ = json.Marshal(v)
			break
		}
		o, err := object(v, document{index: 1}, "", namespace, r)
		if err != nil {
			return nil, nil, err
		}
		if err := sameTarget(o, res, namespace, name, verb); err != nil {
			return nil, nil, err
		}
		for _, k := range o.Risks {
			risks[k] = true
		}
		target.Namespace, target.Name = o.Namespace, o.Name
		send, _ = json.Marshal(o.Body)
	case verb == VerbPatch && (media == MediaMergePatch || media == MediaStrategicPatch):
		v, err := oneObject(body, MediaJSON)
		if err != nil {
			return nil, nil, err
		}
		if p := directive(v, ""); p != "" {
			return nil, nil, refused(1, 0, p, "a patch directive ($patch, $retainKeys, $setElementOrder...): Warden cannot see what it leaves; write the fields out")
		}
		for _, k := range objectRisks(res, v) {
			risks[k] = true
		}
		send, _ = json.Marshal(v)
	case verb == VerbPatch && media == MediaJSONPatch:
		ops, err := jsonPatch(body)
		if err != nil {
			return nil, nil, err
		}
		for i, op := range ops {
			switch op.op {
			case "add", "replace":
				for _, k := range objectRisks(res, op.nested()) {
					risks[k] = true
				}
			case "remove", "test":
			case "move", "copy":
				return nil, nil, refused(1, 0, fmt.Sprintf("[%d]", i), "a JSON patch %s writes a value the request does not hold: Warden refuses it (add the value instead)", op.op)
			default:
				return nil, nil, refused(1, 0, fmt.Sprintf("[%d].op", i), "%q is not a JSON patch operation", op.op)
			}
		}
		if send, err = canonicalJSON(body); err != nil {
			return nil, nil, err
		}
	case verb == VerbPatch:
		return nil, nil, refused(0, 0, "", "the patch type %q is not one Warden reads", media)
	default:
		return nil, nil, refused(0, 0, "", "a %s request carries no body", verb)
	}
	target.Text = text(res.Name(), target.Namespace, target.Name)
	if subresource != "" {
		target.Text += "/" + subresource
	}
	return send, summarise([]policy.Part{part([]string{verb}, res, target, risks.list())}), nil
}

// oneObject parses body as one JSON (or, unless media is JSON, YAML)
// object, with Manifest's strictness.
func oneObject(body []byte, media string) (map[string]any, error) {
	if media == MediaJSON || media == MediaMergePatch || media == MediaStrategicPatch {
		if t := bytes.TrimLeftFunc(body, unicode.IsSpace); len(t) == 0 || t[0] != '{' {
			return nil, refused(0, 0, "", "the body must be a JSON object")
		}
	}
	docs, err := parseDocuments(body)
	if err != nil {
		return nil, err
	}
	if len(docs) != 1 || isList(docs[0].value) {
		return nil, refused(0, 0, "", "the body must be one object")
	}
	return docs[0].value, nil
}

// sameTarget checks that an object is the one the request's URL names.
func sameTarget(o Object, res Resource, namespace, name, verb string) error {
	if o.Resource.Group != res.Group || o.Resource.Resource != res.Resource {
		return refused(1, 0, "kind", "the body is a %s (%s), and the request is for %s", o.Resource.Kind, o.Resource.Name(), res.Name())
	}
	if res.Namespaced && o.Namespace != namespace {
		return refused(1, 0, "metadata.namespace", "the body names the namespace %s, and the request %s", o.Namespace, namespace)
	}
	switch {
	case verb == VerbCreate && name != "" && o.Name != name:
		return refused(1, 0, "metadata.name", "the body names %q, and the request %q", o.Name, name)
	case verb != VerbCreate && o.Name != name:
		return refused(1, 0, "metadata.name", "the body names %q, and the request %q", o.Name, name)
	}
	return nil
}

// directive returns the path of the first key beginning with '$' in v.
func directive(v any, path string) string {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			if strings.HasPrefix(k, "$") {
				return join(path, k)
			}
			if p := directive(e, join(path, k)); p != "" {
				return p
			}
		}
	case []any:
		for i, e := range t {
			if p := directive(e, fmt.Sprintf("%s[%d]", path, i)); p != "" {
				return p
			}
		}
	}
	return ""
}

// patchOp is one operation of a JSON patch.
type patchOp struct {
	op    string
	path  []string // the JSON pointer's reference tokens, unescaped
	value any
}

// nested is the operation's value at its path, as a partial object.
func (o patchOp) nested() map[string]any {
	var v any = o.value
	for i := len(o.path) - 1; i >= 0; i-- {
		if tok := o.path[i]; tok == "-" || (tok != "" && strings.Trim(tok, "0123456789") == "") {
			v = []any{v} // an element of a list (rules/-, containers/0)
		} else {
			v = map[string]any{tok: v}
		}
	}
	m, _ := v.(map[string]any)
	if m == nil { // a patch of the whole object
		m, _ = o.value.(map[string]any)
	}
	return m
}

// jsonPatch parses a JSON patch strictly: an array of operations, each
// an object without duplicate keys.
func jsonPatch(body []byte) ([]patchOp, error) {
	if err := checkText(body); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		return nil, refused(1, 0, "", "a JSON patch is a JSON array of operations")
	}
	j := jsonReader{dec: dec, data: body, doc: 1}
	var ops []patchOp
	for dec.More() {
		v, err := j.value(fmt.Sprintf("[%d]", len(ops)), 1)
		if err != nil {
			return nil, err
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, refused(1, 0, fmt.Sprintf("[%d]", len(ops)), "a JSON patch operation is an object")
		}
		op, _ := m["op"].(string)
		ptr, ok := m["path"].(string)
		if !ok || (ptr != "" && !strings.HasPrefix(ptr, "/")) {
			return nil, refused(1, 0, fmt.Sprintf("[%d].path", len(ops)), "a JSON patch operation's path is a JSON pointer")
		}
		var tokens []string
		if ptr != "" {
			for _, t := range strings.Split(ptr[1:], "/") {
				tokens = append(tokens, strings.ReplaceAll(strings.ReplaceAll(t, "~1", "/"), "~0", "~"))
			}
		}
		ops = append(ops, patchOp{op: op, path: tokens, value: m["value"]})
	}
	if _, err := dec.Token(); err != nil {
		return nil, j.syntax(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, refused(1, 0, "", "text after the JSON patch")
	}
	if len(ops) == 0 {
		return nil, refused(1, 0, "", "an empty JSON patch")
	}
	return ops, nil
}

// canonicalJSON is a JSON text written anew, numbers as written.
func canonicalJSON(body []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, syntaxErr(1, 0, "%v", err)
	}
	out, err := json.Marshal(v)
	if err != nil {
		return nil, refused(1, 0, "", "the body cannot be written as JSON: %v", err)
	}
	return out, nil
}
