package kubemask

import (
	"encoding/base64"
	"encoding/json"
	"slices"
	"testing"
)

func TestSecretAndConfigMap(t *testing.T) {
	sec := func() map[string]any {
		return map[string]any{"apiVersion": "v1", "kind": "Secret",
			"metadata":   map[string]any{"annotations": map[string]any{LastApplied: "{...}"}},
			"data":       map[string]any{"a": "c2VjcmV0"},
			"stringData": map[string]any{"b": "secret"}}
	}
	s := sec()
	if n := Object(s, false, Masks{}); n != 3 || s["data"].(map[string]any)["a"] != Masked {
		t.Fatalf("Object masked %d: %v", n, s)
	}
	s = sec()
	if n := SecretWire(s); n != 3 {
		t.Fatalf("SecretWire masked %d", n)
	}
	if b, err := base64.StdEncoding.DecodeString(s["data"].(map[string]any)["a"].(string)); err != nil || string(b) != Masked {
		t.Fatalf("wire data value %q: %v", b, err)
	}
	if s["stringData"].(map[string]any)["b"] != Masked {
		t.Fatalf("stringData not masked: %v", s)
	}
	s = sec()
	if n := Object(s, false, Masks{RevealSecrets: true}); n != 0 || s["data"].(map[string]any)["a"] != "c2VjcmV0" {
		t.Fatalf("reveal_secrets masked %d", n)
	}
	cm := map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"namespace": "ns", "name": "app", "annotations": map[string]any{LastApplied: "{...}"}},
		"data":     map[string]any{"password": "p", "mode": "m"}}
	if n := Object(cm, false, Masks{ConfigMapKeys: []string{"ns/app/pass*"}}); n != 2 || cm["data"].(map[string]any)["mode"] != "m" || cm["data"].(map[string]any)["password"] != Masked {
		t.Fatalf("ConfigMap masked %d: %v", n, cm)
	}
}

// TestConfigMapLastApplied: the last-applied copy is masked when it holds
// a named key, also in an object without data (a PartialObjectMetadata,
// what a Table's rows carry), and binaryData stays base64 on the wire.
func TestConfigMapLastApplied(t *testing.T) {
	globs := []string{"*/app/password"}
	meta := func(applied string) map[string]any {
		return map[string]any{"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
			"metadata": map[string]any{"namespace": "ns", "name": "app", "annotations": map[string]any{LastApplied: applied}}}
	}
	for applied, want := range map[string]int64{
		`{"data":{"password":"p","mode":"m"}}`: 1,
		`{"binaryData":{"password":"cA=="}}`:   1,
		`{"data":{"mode":"m"}}`:                0,
		`not json`:                             1,
	} {
		if n := ConfigMapKeys(meta(applied), globs); n != want {
			t.Errorf("%s: masked %d, want %d", applied, n, want)
		}
	}
	cm := map[string]any{"metadata": map[string]any{"namespace": "ns", "name": "app"}, "binaryData": map[string]any{"password": "cA=="}}
	if n := ConfigMapKeysWire(cm, globs); n != 1 || cm["binaryData"].(map[string]any)["password"] != MaskedData {
		t.Fatalf("wire binaryData: %d %v", n, cm)
	}
}

// TestMaskedWrites: what a masked read shows, written back, is found
// where the rule masks it, and only there.
func TestMaskedWrites(t *testing.T) {
	obj := func(s string) map[string]any {
		var o map[string]any
		if err := json.Unmarshal([]byte(s), &o); err != nil {
			t.Fatal(err)
		}
		return o
	}
	globs := Masks{ConfigMapKeys: []string{"*/app/password"}}
	for _, c := range []struct {
		name    string
		obj     string
		secrets bool
		m       Masks
		want    []string
	}{
		{"a Secret as the proxy shows it", `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"db","annotations":{"` + LastApplied + `":"***"}},"data":{"password":"Kioq","user":"YWRtaW4="}}`,
			false, Masks{}, []string{"data.password", "metadata.annotations[" + LastApplied + "]"}},
		{"a Secret as kubectl_get shows it", `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"db"},"stringData":{"a":"***"},"data":{"b":"***"}}`,
			false, Masks{}, []string{"data.b", "stringData.a"}},
		{"a patch of secrets (no kind)", `{"data":{"password":"Kioq"}}`, true, Masks{}, []string{"data.password"}},
		{"real values", `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"db"},"data":{"password":"aHVudGVyMg=="}}`, false, Masks{}, nil},
		{"a rule that reveals Secrets", `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"db"},"data":{"password":"Kioq"}}`, false, Masks{RevealSecrets: true}, nil},
		{"a Secret of another group", `{"apiVersion":"example.com/v1","kind":"Secret","metadata":{"name":"db"},"data":{"password":"Kioq"}}`, false, Masks{}, nil},
		{"a masked ConfigMap key", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"app","namespace":"dev"},"data":{"password":"***","mode":"***"},"binaryData":{"password":"Kioq"}}`,
			false, globs, []string{"binaryData.password", "data.password"}},
		{"a ConfigMap no glob names", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"other","namespace":"dev"},"data":{"password":"***"}}`, false, globs, nil},
		{"a ConfigMap where no key is masked", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"app","namespace":"dev"},"data":{"password":"***"}}`, false, Masks{}, nil},
	} {
		if got := MaskedWrites(obj(c.obj), c.secrets, c.m); !slices.Equal(got, c.want) {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}
