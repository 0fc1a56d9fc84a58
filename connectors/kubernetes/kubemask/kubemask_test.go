package kubemask

import (
	"encoding/base64"
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
