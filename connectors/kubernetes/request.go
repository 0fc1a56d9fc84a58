package kubernetes

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/wardenhq/warden/connectors"
)

// DefaultMaxBytes bounds a response body read into memory.
const DefaultMaxBytes = 64 << 20

var methods = map[string]string{
	"get": http.MethodGet, "list": http.MethodGet, "create": http.MethodPost,
	"update": http.MethodPut, "patch": http.MethodPatch, "delete": http.MethodDelete,
}

// Path is the API path of a request: /api/v1 or /apis/group/version, the
// namespace, the resource, the name and the subresource.
func Path(r connectors.KubeResource, namespace, name, subresource string) string {
	var b strings.Builder
	if r.Group == "" {
		b.WriteString("/api/" + r.Version)
	} else {
		b.WriteString("/apis/" + r.Group + "/" + r.Version)
	}
	if r.Namespaced && namespace != "" {
		b.WriteString("/namespaces/" + url.PathEscape(namespace))
	}
	b.WriteString("/" + r.Resource)
	if name != "" {
		b.WriteString("/" + url.PathEscape(name))
		if subresource != "" {
			b.WriteString("/" + subresource)
		}
	}
	return b.String()
}

// checkRequest refuses what no request of a tool may be: an unknown verb,
// names with path characters.
func checkRequest(req connectors.KubeRequest) error {
	if _, ok := methods[req.Verb]; !ok {
		return fmt.Errorf("kubernetes: verb %q is not one Warden sends", req.Verb)
	}
	for _, s := range []string{req.Namespace, req.Name, req.Resource.Resource, req.Resource.Group, req.Resource.Version, req.Subresource} {
		if strings.ContainsAny(s, "/?#%\\") || s == "." || s == ".." {
			return fmt.Errorf("kubernetes: %q is not a name", s)
		}
	}
	if req.Resource.Resource == "" || req.Resource.Version == "" {
		return errors.New("kubernetes: the request names no resource")
	}
	if byName := req.Verb != "list" && req.Verb != "create"; byName != (req.Name != "") {
		return fmt.Errorf("kubernetes: %s with name %q", req.Verb, req.Name)
	}
	if req.Resource.Namespaced && req.Namespace == "" && req.Verb != "list" {
		return fmt.Errorf("kubernetes: %s %s needs a namespace", req.Verb, req.Resource.Resource)
	}
	return nil
}

// Kube implements connectors.KubeAPI.
func (c *Kubernetes) Kube(ctx context.Context, req connectors.KubeRequest) (connectors.KubeResponse, error) {
	if c.isClosed() {
		return connectors.KubeResponse{}, connectors.ErrClosed
	}
	if err := checkRequest(req); err != nil {
		return connectors.KubeResponse{}, err
	}
	client, auth, err := c.clientFor(req.Credential)
	if err != nil {
		return connectors.KubeResponse{}, err
	}
	if req.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, req.Timeout)
		defer cancel()
	}
	u := c.server + Path(req.Resource, req.Namespace, req.Name, req.Subresource)
	if len(req.Query) > 0 {
		u += "?" + req.Query.Encode()
	}
	var body io.Reader
	if req.Body != nil {
		body = bytes.NewReader(req.Body)
	}
	hr, err := http.NewRequestWithContext(ctx, methods[req.Verb], u, body)
	if err != nil {
		return connectors.KubeResponse{}, fmt.Errorf("kubernetes: %w", err)
	}
	accept := req.Accept
	if accept == "" {
		accept = "application/json"
	}
	hr.Header.Set("Accept", accept)
	if req.ContentType != "" {
		hr.Header.Set("Content-Type", req.ContentType)
	} else if req.Body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	hr.Header.Set("User-Agent", "warden")
	if auth != "" {
		hr.Header.Set("Authorization", auth)
	}
	if req.Gate != nil {
		if err := req.Gate(ctx); err != nil {
			return connectors.KubeResponse{}, err
		}
	}
	resp, err := client.Do(hr)
	if err != nil {
		if ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return connectors.KubeResponse{}, fmt.Errorf("%w: kubernetes: the request ran past %s", connectors.ErrTimeout, req.Timeout)
		}
		if errors.Is(err, context.Canceled) {
			return connectors.KubeResponse{}, err
		}
		return connectors.KubeResponse{}, fmt.Errorf("%w: kubernetes: %v", connectors.ErrUnavailable, scrub(err))
	}
	defer resp.Body.Close()
	out := connectors.KubeResponse{Status: resp.StatusCode, Warnings: resp.Header.Values("Warning")}
	max := req.MaxBytes
	if max <= 0 {
		max = DefaultMaxBytes
	}
	if resp.StatusCode >= 300 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return out, statusError(resp.StatusCode, b)
	}
	if req.Output != nil {
		if _, err := io.Copy(req.Output, resp.Body); err != nil {
			return out, fmt.Errorf("%w: kubernetes: reading the response: %v", connectors.ErrUnavailable, err)
		}
		return out, nil
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return out, fmt.Errorf("%w: kubernetes: reading the response: %v", connectors.ErrUnavailable, err)
	}
	if int64(len(b)) > max {
		return out, fmt.Errorf("kubernetes: the response is over %d bytes; ask for less (limit, a label or field selector)", max)
	}
	out.Body = b
	return out, nil
}

// clientFor returns the HTTP client and Authorization header a credential
// sends with.
func (c *Kubernetes) clientFor(cred connectors.Credential) (*http.Client, string, error) {
	switch cred.Mode {
	case connectors.ModeStatic, "":
		return c.adminHTTP, "", nil
	case connectors.ModeJIT:
		t := cred.BearerToken
		if t == nil || t.Token.IsZero() {
			return nil, "", errors.New("kubernetes: the credential holds no token")
		}
		if !t.Expires.IsZero() && time.Now().After(t.Expires) {
			return nil, "", errors.New("kubernetes: the session's token has expired")
		}
		return c.anonHTTP, "Bearer " + t.Token.Reveal(), nil
	}
	return nil, "", fmt.Errorf("kubernetes: credential mode %q", cred.Mode)
}

// statusError turns an error response into a TargetError with the
// server's reason and message.
func statusError(code int, body []byte) error {
	var st metav1.Status
	msg := strings.TrimSpace(string(body))
	reason := http.StatusText(code)
	if json.Unmarshal(body, &st) == nil && st.Kind == "Status" {
		msg = st.Message
		if st.Reason != "" {
			reason = string(st.Reason)
		}
	}
	if len(msg) > 2000 {
		msg = msg[:2000] + "..."
	}
	var sentinel error
	switch code {
	case http.StatusGatewayTimeout:
		sentinel = connectors.ErrTimeout
	case http.StatusServiceUnavailable:
		sentinel = connectors.ErrUnavailable
	}
	te := connectors.NewTargetError(reason, msg, "", "", sentinel)
	te.CodeName = "reason"
	return te
}

// IsReason reports whether err is the API server's error with reason
// ("NotFound", "Forbidden", "Unauthorized").
func IsReason(err error, reason string) bool {
	var te *connectors.TargetError
	return errors.As(err, &te) && te.Code == reason
}

// scrub keeps a transport error's words and drops the URL's query.
func scrub(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %v", ue.Op, ue.Err)
	}
	return err
}
