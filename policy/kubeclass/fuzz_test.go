package kubeclass

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"testing"

	kyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/wardenhq/warden/policy"
)

// FuzzManifest feeds Manifest arbitrary text (seeded with the bypass
// corpus). It must never panic; every error must be an *Error; and a
// manifest it accepts must be read by kubectl's own decoder
// (k8s.io/apimachinery's YAMLOrJSONDecoder) as the same objects, and its
// canonical JSON (the Bodies, as sent) must classify again alike.
func FuzzManifest(f *testing.F) {
	tab := snapshotTable(f)
	for _, c := range loadCorpusFile(f) {
		if c.Manifest != "" {
			f.Add([]byte(c.Manifest), c.Namespace)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, ns string) {
		checkAgainstKubectl(t, tab, data, ns)
	})
}

// checkAgainstKubectl classifies data; if Manifest accepts it, kubectl's
// decoder must read the same objects, and the canonical JSON must
// classify alike. It reports whether Manifest accepted it.
func checkAgainstKubectl(t *testing.T, tab *Table, data []byte, ns string) bool {
	t.Helper()
	objs, facts, err := Manifest(data, ns, tab)
	if err != nil {
		var e *Error
		if !errors.As(err, &e) || !errors.Is(err, policy.ErrNotUnderstood) {
			t.Fatalf("error %v (%T) is not a kubeclass *Error", err, err)
		}
		return false
	}
	if len(facts.Parts) != len(objs) || !facts.Kubernetes {
		t.Fatalf("facts %+v for %d objects", facts, len(objs))
	}
	checkCanonical(t, "fuzz", tab, ns, objs)
	theirs := kubectlObjects(t, data)
	if len(theirs) != len(objs) {
		t.Fatalf("kubectl reads %d objects, Warden %d", len(theirs), len(objs))
	}
	for i, o := range objs {
		th := theirs[i]
		if o.Resource.Namespaced {
			if m, ok := th["metadata"].(map[string]any); ok {
				m["namespace"] = o.Namespace
			} else {
				th["metadata"] = map[string]any{"namespace": o.Namespace}
			}
		}
		if !sameJSON(t, o.Body, th) {
			a, _ := json.Marshal(o.Body)
			b, _ := json.Marshal(th)
			t.Fatalf("object %d: Warden sends %s, kubectl would send %s", i, a, b)
		}
	}
	return true
}

// TestTrickyYAML: YAML that parsers are known to read differently
// (block scalars, document markers, comments, quoting, flow styles,
// line ends) is either refused or read exactly as kubectl reads it.
func TestTrickyYAML(t *testing.T) {
	tab := snapshotTable(t)
	const head = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"
	accepted := 0
	for _, m := range []string{
		head + "data:\n  a: |\n    line\n    ---\n    more\n",
		head + "data:\n  a: |\n    line\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: d}\n",
		head + "data:\n  a: >-\n    folded\n     text\n\n    end\n",
		head + "data: {a: \"x\n---\ny\"}\n",
		head + "data: {a: 'x\n---\ny'}\n",
		head + "data:\n  a: x # comment\n  b: \"# not a comment\"\n",
		head + "data:\n  ? a\n  : b\n",
		head + "data: {\"a\": \"\\u0041\\t\", 'b': 'it''s'}\n",
		head + "data: {a: 1.0, b: 1e3, c: 0x10, d: 012, e: 1_000}\n",
		head + "data: {a: null, b: ~, c: }\n",
		head + "data: {a: 2001-12-14t21:59:43.10-05:00}\n",
		"--- \n" + head + "...\n",
		"# only a comment\n---\n" + head + "--- # end\n",
		"apiVersion: v1\r\nkind: ConfigMap\r\nmetadata: {name: c}\r\n",
		"%YAML 1.1\n---\n" + head,
		head + "data:\n\ta: b\n",
		head + "data: {a: \"\\x41\\N\\_\"}\n",
		head + "data:\n  a: !!str 1\n",
		head + "data:\n  a: 'yes'\n  b: \"on\"\n",
		`{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "\u2028"}}`,
		`{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}} {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "d"}}`,
		"  {\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\", \"metadata\": {\"name\": \"c\"}}\n",
		head + "data: {a: \"\\ud800\"}\n",
		head + "data: {a: \"\\\"}\n",
	} {
		if checkAgainstKubectl(t, tab, []byte(m), "dev") {
			accepted++
		}
	}
	if accepted < 12 {
		t.Errorf("only %d of the tricky manifests are accepted: the test checks little", accepted)
	}
}

// kubectlObjects is what kubectl's decoder reads from data: its
// documents, empty ones skipped, a v1 List's items expanded.
func kubectlObjects(t *testing.T, data []byte) []map[string]any {
	dec := kyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []map[string]any
	for {
		var obj map[string]any
		err := dec.Decode(&obj)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("Warden accepts what kubectl's decoder refuses: %v", err)
		}
		if obj == nil {
			continue
		}
		if isList(obj) {
			items, _ := obj["items"].([]any)
			for _, it := range items {
				m, _ := it.(map[string]any)
				out = append(out, m)
			}
			continue
		}
		out = append(out, obj)
	}
}

// sameJSON compares two values as JSON reads them back (numbers as
// float64, which kubectl's JSON decoding uses).
func sameJSON(t *testing.T, a, b any) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	if err1 != nil || err2 != nil {
		t.Fatalf("marshal: %v %v", err1, err2)
	}
	var va, vb any
	_ = json.Unmarshal(ja, &va)
	_ = json.Unmarshal(jb, &vb)
	return reflect.DeepEqual(va, vb)
}
