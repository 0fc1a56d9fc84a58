package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"

	"github.com/wardenhq/warden/connectors"
)

// Upstream returns the API server's URL and a RoundTripper that sends a
// request as cred over TLS the pinned CA verifies, for a front door that
// forwards requests it has decided (proxy/kubernetes): a JIT credential's
// token, or Warden's own credential for a static one. The RoundTripper
// sets Authorization only when the request has none: the caller must
// remove the client's. http1 keeps the connection to HTTP/1.1, which an
// Upgrade (SPDY, WebSocket) needs.
func (c *Kubernetes) Upstream(cred connectors.Credential, http1 bool) (*url.URL, http.RoundTripper, error) {
	if c.isClosed() {
		return nil, nil, connectors.ErrClosed
	}
	u, err := url.Parse(c.server)
	if err != nil {
		return nil, nil, fmt.Errorf("kubernetes: server: %w", err)
	}
	var rc *rest.Config
	switch cred.Mode {
	case connectors.ModeStatic, "":
		rc = rest.CopyConfig(c.admin)
	case connectors.ModeJIT:
		if _, auth, err := c.clientFor(cred); err != nil {
			return nil, nil, err
		} else if auth == "" {
			return nil, nil, errors.New("kubernetes: the credential holds no token")
		}
		rc = rest.AnonymousClientConfig(c.admin)
		rc.BearerToken = cred.BearerToken.Token.Reveal()
	default:
		return nil, nil, fmt.Errorf("kubernetes: credential mode %q", cred.Mode)
	}
	if http1 {
		rc.NextProtos = []string{"http/1.1"}
	}
	// client-go caches the TLS transport by its configuration: a token is
	// only a header on top of the shared connections.
	rt, err := rest.TransportFor(rc)
	if err != nil {
		return nil, nil, fmt.Errorf("kubernetes: %w", err)
	}
	return u, rt, nil
}

// ResolveResource returns the resource group/version/resource names
// exactly (as an API path spells it), from discovery; reset once when it
// is not found (a new CRD).
func (c *Kubernetes) ResolveResource(ctx context.Context, group, version, resource string) (connectors.KubeResource, error) {
	if c.isClosed() {
		return connectors.KubeResource{}, connectors.ErrClosed
	}
	gvr := schema.GroupVersionResource{Group: group, Version: version, Resource: resource}
	if version == "" || resource == "" {
		return connectors.KubeResource{}, fmt.Errorf("%w: %q", ErrUnknownResource, gvr.String())
	}
	m, _ := c.restMapper()
	find := func() (*meta.RESTMapping, error) {
		gvk, err := m.KindFor(gvr)
		if err != nil {
			return nil, err
		}
		return m.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	mp, err := find()
	if err != nil {
		m.Reset()
		if mp, err = find(); err != nil {
			return connectors.KubeResource{}, c.mapErr(gvr.String(), err)
		}
	}
	if mp.Resource != gvr {
		return connectors.KubeResource{}, fmt.Errorf("%w: %q", ErrUnknownResource, gvr.String())
	}
	return toResource(mp), nil
}
