package kubernetes

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/wardenhq/warden/connectors/kubernetes/kubemask"
	"github.com/wardenhq/warden/policy"
	"github.com/wardenhq/warden/policy/kubeclass"
)

// maxMaskedResponse bounds the answer of a read that is masked, which is
// read whole.
const maxMaskedResponse = 64 << 20

// tableColumns are the Table columns the API server prints for Secrets
// and ConfigMaps (kubectl get, -o wide): none shows a value. A Table with
// any other column is refused, as a value might be in it.
var tableColumns = map[string]map[string]bool{
	"secrets":    {"Name": true, "Type": true, "Data": true, "Age": true},
	"configmaps": {"Name": true, "Data": true, "Age": true},
}

// masker rewrites the answer to a request on Secrets or ConfigMaps (read,
// list, watch, and the object a write answers with) that the deciding
// rule does not let the caller see whole: every Secret value
// (kubemask.SecretWire) unless the rule says reveal_secrets, the
// ConfigMap keys its mask_configmap_keys name (kubemask.ConfigMapKeysWire).
type masker struct {
	resource string // "secrets" or "configmaps"
	globs    []string
	watch    bool
	// accept is the one media type asked of the API server: JSON, as
	// the object, a Table or PartialObjectMetadata, which are masked.
	accept string
	masked atomic.Int64
}

// newMasker is the masker for req as d decides it: nil when nothing of
// its answer is to be masked. A request that accepts no format Warden
// masks is refused (406).
func newMasker(req *request, accept string, d policy.Decision) (*masker, *refusal) {
	if req.res.Group != "" || req.info.Subresource != "" {
		return nil, nil
	}
	m := &masker{resource: req.res.Resource, watch: req.info.Verb == kubeclass.VerbWatch}
	switch {
	case req.res.Resource == "secrets" && !d.RevealSecrets:
	case req.res.Resource == "configmaps" && len(d.MaskConfigMapKeys) > 0:
		m.globs = d.MaskConfigMapKeys
	default:
		return nil, nil
	}
	var ok bool
	if m.accept, ok = maskableAccept(accept); !ok {
		return nil, &refusal{code: http.StatusNotAcceptable, reason: "NotAcceptable",
			msg: fmt.Sprintf("Warden masks the %s it answers with, and can only in JSON (the object, a Table or PartialObjectMetadata); this request accepts %q", req.res.Resource, accept)}
	}
	return m, nil
}

// maskableAccept picks, from a client's Accept header, the first media
// type Warden can mask: application/json, as the object or as a
// meta.k8s.io Table, PartialObjectMetadata or PartialObjectMetadataList
// (v1 or v1beta1). Protobuf, CBOR and YAML are not.
func maskableAccept(accept string) (string, bool) {
	if strings.TrimSpace(accept) == "" {
		return "application/json", true
	}
	for _, r := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(r))
		if err != nil || params["q"] == "0" {
			continue
		}
		delete(params, "q")
		switch mt {
		case "*/*", "application/*":
			return "application/json", true
		case "application/json":
		default:
			continue
		}
		as, g, v := params["as"], params["g"], params["v"]
		delete(params, "as")
		delete(params, "g")
		delete(params, "v")
		switch {
		case len(params) > 0:
		case as == "" && g == "" && v == "":
			return "application/json", true
		case (as == "Table" || as == "PartialObjectMetadata" || as == "PartialObjectMetadataList") && g == "meta.k8s.io" && (v == "v1" || v == "v1beta1"):
			return "application/json;as=" + as + ";v=" + v + ";g=" + g, true // as kubectl writes it
		}
	}
	return "", false
}

// value masks one answer (an object, a list, a Table, a watch event) and
// returns how many values it masked.
func (m *masker) value(v map[string]any) (int64, error) {
	var n int64
	if v["kind"] == "Table" {
		cols, _ := v["columnDefinitions"].([]any)
		for _, c := range cols {
			name, _ := c.(map[string]any)["name"].(string)
			if !tableColumns[m.resource][name] {
				return 0, fmt.Errorf("a Table of %s with a column %q, which Warden does not know holds no value", m.resource, name)
			}
		}
		rows, _ := v["rows"].([]any)
		for _, r := range rows {
			row, _ := r.(map[string]any)
			if obj, ok := row["object"].(map[string]any); ok {
				k, err := m.value(obj)
				if err != nil {
					return 0, err
				}
				n += k
			}
		}
		return n, nil
	}
	if items, ok := v["items"].([]any); ok {
		for _, it := range items {
			if obj, ok := it.(map[string]any); ok {
				k, err := m.value(obj)
				if err != nil {
					return 0, err
				}
				n += k
			}
		}
	}
	if obj, ok := v["object"].(map[string]any); ok { // a watch event
		k, err := m.value(obj)
		if err != nil {
			return 0, err
		}
		n += k
	}
	if m.resource == "secrets" {
		return n + kubemask.SecretWire(v), nil
	}
	return n + kubemask.ConfigMapKeysWire(v, m.globs), nil
}

// maskError is an answer Warden cannot mask: withheld (502).
type maskError struct{ err error }

func (e *maskError) Error() string { return e.err.Error() }

// modify masks resp; an answer it cannot mask is withheld.
func (m *masker) modify(resp *http.Response) error {
	if err := m.rewrite(resp); err != nil {
		resp.Body.Close()
		return &maskError{err}
	}
	return nil
}

func (m *masker) rewrite(resp *http.Response) error {
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil
	}
	if ct := mediaType(resp.Header.Get("Content-Type")); ct != "application/json" || resp.Header.Get("Content-Encoding") != "" {
		return fmt.Errorf("the answer on %s is %q (encoding %q), which Warden cannot mask", m.resource, ct, resp.Header.Get("Content-Encoding"))
	}
	resp.Header.Del("Content-Length")
	if !m.watch {
		b, err := io.ReadAll(io.LimitReader(resp.Body, maxMaskedResponse+1))
		resp.Body.Close()
		if err != nil {
			return err
		}
		if len(b) > maxMaskedResponse {
			return fmt.Errorf("the answer on %s is over %d bytes, which Warden masks whole", m.resource, maxMaskedResponse)
		}
		var v map[string]any
		if err := json.Unmarshal(b, &v); err != nil {
			return fmt.Errorf("the answer on %s: %w", m.resource, err)
		}
		n, err := m.value(v)
		if err != nil {
			return err
		}
		m.masked.Add(n)
		out, _ := json.Marshal(v)
		resp.Body = io.NopCloser(bytes.NewReader(out))
		resp.ContentLength = int64(len(out))
		resp.Header.Set("Content-Length", strconv.Itoa(len(out)))
		return nil
	}
	pr, pw := io.Pipe()
	src := resp.Body
	go func() {
		defer src.Close()
		dec := json.NewDecoder(src)
		for {
			var ev map[string]any
			if err := dec.Decode(&ev); err != nil {
				if err == io.EOF {
					err = nil
				}
				pw.CloseWithError(err)
				return
			}
			n, err := m.value(ev)
			if err != nil {
				// The stream ends here: the event is not sent.
				pw.CloseWithError(errors.New("warden: " + err.Error()))
				return
			}
			m.masked.Add(n)
			b, _ := json.Marshal(ev)
			if _, err := pw.Write(append(b, '\n')); err != nil {
				return
			}
		}
	}()
	resp.Body = pr
	resp.ContentLength = -1
	return nil
}

// maskedWrites refuses a write that would set a value to the mask a read
// under d shows (kubemask.MaskedWrites): what kubectl edit, or get -o
// yaml then apply or replace, sends back after a masked read. Written,
// it would replace the real value with the mask.
func maskedWrites(req *request, d policy.Decision) *refusal {
	if req.written == nil || req.res.Group != "" {
		return nil
	}
	fields := kubemask.MaskedWrites(req.written, req.res.Resource == "secrets", kubemask.Masks{RevealSecrets: d.RevealSecrets, ConfigMapKeys: d.MaskConfigMapKeys})
	if len(fields) == 0 {
		return nil
	}
	return &refusal{code: http.StatusUnprocessableEntity, reason: metav1.StatusReasonInvalid,
		msg: fmt.Sprintf("%s is Warden's mask (%s), what a read through Warden shows under this rule; written, it would replace the real value: send the real values, or leave those keys out (kubectl apply --server-side, kubectl patch)",
			strings.Join(fields, ", "), kubemask.Masked)}
}
