package kubernetes

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"

	"github.com/wardenhq/warden/connectors/kubernetes/kubemask"
)

// maxSecretResponse bounds a Secret read's answer, which is read whole to
// be masked.
const maxSecretResponse = 64 << 20

// maskSecretValues replaces, in a Secret, List or watch event (JSON),
// every value of data and stringData, and the last-applied copy
// (kubemask.SecretWire, what the MCP tools mask too), and returns how many it
// replaced.
func maskSecretValues(v map[string]any) int64 {
	var n int64
	if items, ok := v["items"].([]any); ok {
		for _, it := range items {
			if m, ok := it.(map[string]any); ok {
				n += maskSecretValues(m)
			}
		}
	}
	if obj, ok := v["object"].(map[string]any); ok { // a watch event
		n += maskSecretValues(obj)
	}
	return n + kubemask.SecretWire(v)
}

// secretMasker rewrites the answer to a Secret read (asked for as JSON):
// a whole object or list, or a watch's stream of events, each masked.
type secretMasker struct {
	watch  bool
	masked atomic.Int64
}

func (m *secretMasker) modify(resp *http.Response) error {
	if resp.StatusCode != http.StatusOK {
		return nil
	}
	if ct := mediaType(resp.Header.Get("Content-Type")); ct != "application/json" || resp.Header.Get("Content-Encoding") != "" {
		return fmt.Errorf("a Secret read answered %q (encoding %q), which Warden cannot mask", ct, resp.Header.Get("Content-Encoding"))
	}
	resp.Header.Del("Content-Length")
	if !m.watch {
		b, err := io.ReadAll(io.LimitReader(resp.Body, maxSecretResponse+1))
		resp.Body.Close()
		if err != nil {
			return err
		}
		if len(b) > maxSecretResponse {
			return fmt.Errorf("the Secret read's answer is over %d bytes", maxSecretResponse)
		}
		var v map[string]any
		if err := json.Unmarshal(b, &v); err != nil {
			return fmt.Errorf("the Secret read's answer: %w", err)
		}
		m.masked.Add(maskSecretValues(v))
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
			m.masked.Add(maskSecretValues(ev))
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
