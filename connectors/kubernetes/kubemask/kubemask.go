// Package kubemask is what a Kubernetes object read through Warden may
// not show: a Secret's values, a ConfigMap's named keys, and the
// last-applied copy of either. It is shared by the MCP tools (tools/kube)
// and the API proxy (proxy/kubernetes) so that both mask alike; it
// imports nothing of Warden's, so that either can import it without a
// cycle.
package kubemask

import (
	"encoding/base64"
	"encoding/json"
	"path"
	"slices"
)

// Masked is what a masked value reads as.
const Masked = "***"

// LastApplied is the annotation kubectl apply (client-side) keeps a copy
// of the whole object in: a Secret's values too.
const LastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// Masks is what a call may not see: Secret values unless its rule
// reveals them (kubernetes: reveal_secrets), and the ConfigMap keys its
// rule names (kubernetes: mask_configmap_keys, globs of
// namespace/name/key). The zero value masks every Secret value and no
// ConfigMap key.
type Masks struct {
	RevealSecrets bool
	ConfigMapKeys []string
}

// MaskedData is what a Secret's data value reads as on the wire (the API
// proxy): Masked, base64-encoded, so that a client decoding the Secret
// into its type still can.
var MaskedData = base64.StdEncoding.EncodeToString([]byte(Masked))

// Secret replaces, in a Secret object, every value of data and stringData
// by Masked (the keys stay), and the last-applied copy of the object. It
// returns how many values it masked.
func Secret(obj map[string]any) int64 { return secret(obj, Masked) }

// SecretWire is Secret for an object a Kubernetes client decodes: data
// values read as MaskedData (valid base64), stringData ones as Masked.
func SecretWire(obj map[string]any) int64 { return secret(obj, MaskedData) }

func secret(obj map[string]any, data string) int64 {
	var n int64
	for field, masked := range map[string]string{"data": data, "stringData": Masked} {
		if m, ok := obj[field].(map[string]any); ok {
			for k := range m {
				m[k] = masked
				n++
			}
		}
	}
	return n + maskLastApplied(obj)
}

func maskLastApplied(obj map[string]any) int64 {
	if md, ok := obj["metadata"].(map[string]any); ok {
		if an, ok := md["annotations"].(map[string]any); ok {
			if _, ok := an[LastApplied]; ok {
				an[LastApplied] = Masked
				return 1
			}
		}
	}
	return 0
}

// Object masks, in obj, what m says: a Secret's values (a Secret by kind,
// or because the request was for secrets), a ConfigMap's named keys. It
// returns how many values it masked.
func Object(obj map[string]any, secrets bool, m Masks) int64 {
	core := obj["apiVersion"] == "v1" || obj["apiVersion"] == nil
	switch {
	case secrets || (obj["kind"] == "Secret" && core):
		if !m.RevealSecrets {
			return Secret(obj)
		}
	case obj["kind"] == "ConfigMap" && core && len(m.ConfigMapKeys) > 0:
		return ConfigMapKeys(obj, m.ConfigMapKeys)
	}
	return 0
}

// ConfigMapKeys replaces the values of a ConfigMap's keys (in data and
// binaryData) whose namespace/name/key matches one of globs, and the
// last-applied copy of the object when it masked one or when the copy
// holds a key that matches (also in an object without data: a
// PartialObjectMetadata).
func ConfigMapKeys(obj map[string]any, globs []string) int64 {
	return configMapKeys(obj, globs, Masked)
}

// ConfigMapKeysWire is ConfigMapKeys for an object a Kubernetes client
// decodes: binaryData values read as MaskedData (valid base64).
func ConfigMapKeysWire(obj map[string]any, globs []string) int64 {
	return configMapKeys(obj, globs, MaskedData)
}

func configMapKeys(obj map[string]any, globs []string, binary string) int64 {
	md, _ := obj["metadata"].(map[string]any)
	matches := keyMatcher(md, globs)
	var n int64
	for field, masked := range map[string]string{"data": Masked, "binaryData": binary} {
		data, ok := obj[field].(map[string]any)
		if !ok {
			continue
		}
		for k := range data {
			if matches(k) {
				data[k] = masked
				n++
			}
		}
	}
	if n > 0 || lastAppliedMatches(md, matches) {
		n += maskLastApplied(obj)
	}
	return n
}

// keyMatcher reports whether a key of the ConfigMap whose metadata is md
// is one globs (of namespace/name/key) name.
func keyMatcher(md map[string]any, globs []string) func(key string) bool {
	ns, _ := md["namespace"].(string)
	name, _ := md["name"].(string)
	return func(k string) bool {
		for _, g := range globs {
			if ok, _ := path.Match(g, ns+"/"+name+"/"+k); ok {
				return true
			}
		}
		return false
	}
}

// lastAppliedMatches reports whether the last-applied copy in md holds a
// data or binaryData key that matches, or cannot be read (so is masked).
func lastAppliedMatches(md map[string]any, matches func(string) bool) bool {
	an, _ := md["annotations"].(map[string]any)
	s, ok := an[LastApplied].(string)
	if !ok {
		return an[LastApplied] != nil
	}
	var applied struct {
		Data       map[string]any `json:"data"`
		BinaryData map[string]any `json:"binaryData"`
	}
	if err := json.Unmarshal([]byte(s), &applied); err != nil {
		return true
	}
	for _, m := range []map[string]any{applied.Data, applied.BinaryData} {
		for k := range m {
			if matches(k) {
				return true
			}
		}
	}
	return false
}

// MaskedWrites lists the values of obj, an object (or what a patch sets)
// about to be written, that read as a mask where m masks them: a Secret's
// data (MaskedData or Masked) and stringData (Masked) values, a named
// ConfigMap key's value, the last-applied copy. Such a value is what a
// read through Warden showed, sent back (kubectl edit, get -o yaml then
// apply or replace): writing it would replace the real value with the
// mask. Each is named as its field path (data.password).
func MaskedWrites(obj map[string]any, secrets bool, m Masks) []string {
	core := obj["apiVersion"] == "v1" || obj["apiVersion"] == nil
	var found []string
	check := func(field string, keep func(string) bool, masks ...string) {
		data, _ := obj[field].(map[string]any)
		for k, v := range data {
			if s, ok := v.(string); ok && keep(k) && slices.Contains(masks, s) {
				found = append(found, field+"."+k)
			}
		}
	}
	all := func(string) bool { return true }
	switch {
	case (secrets || (obj["kind"] == "Secret" && core)) && !m.RevealSecrets:
		check("data", all, MaskedData, Masked)
		check("stringData", all, Masked)
	case obj["kind"] == "ConfigMap" && core && len(m.ConfigMapKeys) > 0:
		md, _ := obj["metadata"].(map[string]any)
		matches := keyMatcher(md, m.ConfigMapKeys)
		check("data", matches, Masked)
		check("binaryData", matches, MaskedData, Masked)
	default:
		return nil
	}
	if md, ok := obj["metadata"].(map[string]any); ok {
		if an, ok := md["annotations"].(map[string]any); ok && an[LastApplied] == Masked {
			found = append(found, "metadata.annotations["+LastApplied+"]")
		}
	}
	slices.Sort(found)
	return found
}
