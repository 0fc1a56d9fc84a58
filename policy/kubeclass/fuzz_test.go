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
		objs, facts, err := Manifest(data, ns, tab)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || !errors.Is(err, policy.ErrNotUnderstood) {
				t.Fatalf("error %v (%T) is not a kubeclass *Error", err, err)
			}
			return
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
	})
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

// FuzzRequestBody feeds RequestBody arbitrary bodies of each media type:
// it must never panic, every error must be an *Error, and a body it
// accepts is sent as JSON.
func FuzzRequestBody(f *testing.F) {
	tab := snapshotTable(f)
	medias := []string{MediaJSON, MediaYAML, MediaApplyPatch, MediaMergePatch, MediaStrategicPatch, MediaJSONPatch}
	for i, b := range []string{
		`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"hostPID":true}}`,
		"apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n",
		`[{"op":"add","path":"/spec/hostPID","value":true}]`,
		`{"spec":{"template":{"spec":{"$patch":"replace"}}}}`,
	} {
		f.Add([]byte(b), uint8(i))
	}
	pods, _ := tab.ForName("pods")
	f.Fuzz(func(t *testing.T, body []byte, m uint8) {
		media := medias[int(m)%len(medias)]
		verb := VerbCreate
		if media != MediaJSON && media != MediaYAML {
			verb = VerbPatch
		}
		send, facts, err := RequestBody(verb, pods, "", "dev", "p", media, body, tab)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v (%T) is not a kubeclass *Error", err, err)
			}
			return
		}
		if !json.Valid(send) || len(facts.Parts) != 1 {
			t.Fatalf("send %q, facts %+v", send, facts)
		}
	})
}
