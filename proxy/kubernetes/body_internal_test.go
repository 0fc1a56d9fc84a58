package kubernetes

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/wardenhq/warden/connectors"
)

// TestJSONPatchValues: what a JSON patch sets, as a partial object the
// classifier reads; what it cannot show is refused.
func TestJSONPatchValues(t *testing.T) {
	for name, c := range map[string]struct {
		patch, want, refused string
	}{
		"replace":        {`[{"op":"replace","path":"/spec/hostNetwork","value":true}]`, `"hostNetwork":true`, ""},
		"list index":     {`[{"op":"add","path":"/spec/containers/0/securityContext","value":{"privileged":true}}]`, `"containers":[{"securityContext":{"privileged":true}}]`, ""},
		"append":         {`[{"op":"add","path":"/spec/containers/0/securityContext/capabilities/add/-","value":"SYS_ADMIN"}]`, `"add":["SYS_ADMIN"]`, ""},
		"escapes":        {`[{"op":"add","path":"/metadata/annotations/a~1b~0c","value":"x"}]`, `"a/b~c":"x"`, ""},
		"two ops":        {`[{"op":"add","path":"/data/a","value":"1"},{"op":"add","path":"/data/b","value":"2"}]`, `"a":"1","b":"2"`, ""},
		"remove, test":   {`[{"op":"remove","path":"/data/a"},{"op":"test","path":"/data/b","value":"2"}]`, `{}`, ""},
		"move":           {`[{"op":"move","from":"/a","path":"/b"}]`, "", "move copies"},
		"copy":           {`[{"op":"copy","from":"/a","path":"/b"}]`, "", "copy copies"},
		"kind":           {`[{"op":"replace","path":"/kind","value":"Secret"}]`, "", "may not change"},
		"rename":         {`[{"op":"replace","path":"/metadata/name","value":"x"}]`, "", "may not change"},
		"metadata whole": {`[{"op":"replace","path":"/metadata","value":{}}]`, "", "may not change"},
		"bad op":         {`[{"op":"frobnicate","path":"/a"}]`, "", "not a json patch operation"},
		"bad pointer":    {`[{"op":"add","path":"a","value":1}]`, "", "not a JSON pointer"},
		"bad escape":     {`[{"op":"add","path":"/a~2","value":1}]`, "", "bad escape"},
		"set twice":      {`[{"op":"add","path":"/spec/x","value":1},{"op":"add","path":"/spec/x","value":2}]`, "", "sets \"x\" twice"},
		"duplicate key":  {`[{"op":"add","path":"/a","value":{"x":1,"x":2}}]`, "", "duplicate"},
		"not a list":     {`{"op":"add"}`, "", "not a list of operations"},
		"root not map":   {`[{"op":"replace","path":"","value":[1]}]`, "", "must be an object"},
		"index at top":   {`[{"op":"add","path":"/0","value":1}]`, "", "not a field"},
	} {
		got, rf := jsonPatchValues([]byte(c.patch))
		if c.refused != "" {
			if rf == nil || !strings.Contains(rf.msg, c.refused) {
				t.Errorf("%s: got %v, want a refusal with %q", name, rf, c.refused)
			}
			continue
		}
		if rf != nil {
			t.Errorf("%s: refused: %s", name, rf.msg)
			continue
		}
		b, _ := jsonMarshal(got)
		if !strings.Contains(b, strings.Trim(c.want, "{}")) {
			t.Errorf("%s: %s, want %s", name, b, c.want)
		}
	}
}

// TestDirectives: a strategic merge patch's known directives pass; any
// other $ key, or a $patch Warden does not know, is refused.
func TestDirectives(t *testing.T) {
	for patch, ok := range map[string]bool{
		`{"spec":{"containers":[{"name":"a","$patch":"delete"}]}}`:           true,
		`{"spec":{"$setElementOrder/containers":[{"name":"a"}]}}`:            true,
		`{"spec":{"$retainKeys":["a"],"a":1}}`:                               true,
		`{"spec":{"$deleteFromPrimitiveList/finalizers":["x"]}}`:             true,
		`{"spec":{"$patch":"replace"}}`:                                      true,
		`{"spec":{"$patch":"sideways"}}`:                                     false,
		`{"spec":{"$patch":1}}`:                                              false,
		`{"spec":{"$unknown":1}}`:                                            false,
		`{"spec":{"template":{"spec":{"containers":[{"$weird":{"a":1}}]}}}}`: false,
	} {
		var v map[string]any
		if err := strictJSON([]byte(patch), &v); err != nil {
			t.Fatal(err)
		}
		if err := checkDirectives(v, ""); (err == nil) != ok {
			t.Errorf("%s: %v, want ok=%v", patch, err, ok)
		}
	}
}

func jsonMarshal(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

// FuzzPatchBodies: the patch readers never panic on hostile input, and a
// JSON patch they accept never sets kind, apiVersion or the name.
func FuzzPatchBodies(f *testing.F) {
	for _, s := range []string{
		`[{"op":"add","path":"/spec/containers/0/securityContext","value":{"privileged":true}}]`,
		`[{"op":"replace","path":"","value":{"kind":"Secret"}}]`,
		`{"spec":{"$patch":"replace","x":[{"$setElementOrder/y":[1]}]}}`,
		`[{"op":"add","path":"/a~1b/-/0","value":null}]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if set, rf := jsonPatchValues(b); rf == nil {
			if doc, rf := asObject(set, testRes, "ns", "n"); rf == nil {
				var obj map[string]any
				if err := json.Unmarshal(doc, &obj); err != nil {
					t.Fatal(err)
				}
				meta, _ := obj["metadata"].(map[string]any)
				if obj["kind"] != "ConfigMap" || obj["apiVersion"] != "v1" || meta["name"] != "n" || meta["namespace"] != "ns" {
					t.Fatalf("the object classified is not the request's: %s", doc)
				}
			}
		}
		var v map[string]any
		if strictJSON(b, &v) == nil {
			checkDirectives(v, "")
		}
	})
}

var testRes = connectors.KubeResource{Version: "v1", Resource: "configmaps", Kind: "ConfigMap", Namespaced: true}
