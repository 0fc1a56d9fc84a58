package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/wardenhq/warden/config"
	"github.com/wardenhq/warden/connectors"
)

// ErrUnknownResource: discovery does not know the resource or kind.
var ErrUnknownResource = errors.New("kubernetes: the cluster has no such resource")

// Kubernetes is a connector for one cluster.
type Kubernetes struct {
	info       connectors.Info
	server     string
	namespaces []string // what rules may grant
	sessionNS  string
	audience   string
	ttl        int64 // seconds, at least 600
	logger     *slog.Logger

	admin     *rest.Config // Warden's own credential
	adminHTTP *http.Client
	anonHTTP  *http.Client // the pinned TLS, no credential: JIT tokens go in a header
	clientset *k8s.Clientset

	mu       sync.Mutex
	closed   bool
	mapper   meta.ResettableRESTMapper
	expander meta.RESTMapper
	nsReady  bool
}

// Open is the registry's factory. It reads the credential and the CA but
// does not contact the cluster.
func Open(_ context.Context, cfg config.Connection, opts connectors.OpenOptions) (connectors.Connector, error) {
	return New(cfg, opts.Logger)
}

// New builds the connector for cfg (a validated kind: kubernetes
// connection). It does not contact the cluster.
func New(cfg config.Connection, logger *slog.Logger) (*Kubernetes, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	k := cfg.Kube
	admin, err := adminConfig(k)
	if err != nil {
		return nil, err
	}
	admin.UserAgent = "warden"
	admin.QPS, admin.Burst = 50, 100
	c := &Kubernetes{
		info: connectors.Info{Name: cfg.Name, Kind: config.KindKubernetes, Labels: cfg.Labels,
			Target: strings.TrimSuffix(k.Server, "/")},
		server:     strings.TrimSuffix(k.Server, "/"),
		namespaces: append([]string(nil), k.Namespaces...),
		sessionNS:  k.SessionNamespace,
		audience:   k.TokenAudience,
		ttl:        int64(max(cfg.JIT.TTL, config.MinKubeTokenTTL).Seconds()),
		logger:     logger,
		admin:      admin,
	}
	if c.sessionNS == "" {
		c.sessionNS = config.DefaultKubeSessionNamespace
	}
	if c.adminHTTP, err = rest.HTTPClientFor(admin); err != nil {
		return nil, fmt.Errorf("kubernetes: %w", err)
	}
	if c.anonHTTP, err = rest.HTTPClientFor(rest.AnonymousClientConfig(admin)); err != nil {
		return nil, fmt.Errorf("kubernetes: %w", err)
	}
	if c.clientset, err = k8s.NewForConfigAndClient(admin, c.adminHTTP); err != nil {
		return nil, fmt.Errorf("kubernetes: %w", err)
	}
	return c, nil
}

// adminConfig is Warden's own client configuration: the configured server
// and pinned CA, with the token or the kubeconfig user's credential.
func adminConfig(k config.KubeSettings) (*rest.Config, error) {
	tls := rest.TLSClientConfig{CAFile: k.CAFile}
	if k.CA != "" {
		tls = rest.TLSClientConfig{CAData: []byte(k.CA)}
	}
	if tls.CAFile != "" {
		if _, err := os.Stat(tls.CAFile); err != nil {
			return nil, fmt.Errorf("kubernetes: ca_file: %w", err)
		}
	}
	if k.Kubeconfig == "" {
		tok, err := k.Token.Ref().Resolve()
		if err != nil {
			return nil, fmt.Errorf("kubernetes: token: %w", err)
		}
		return &rest.Config{Host: k.Server, BearerToken: tok.Reveal(), TLSClientConfig: tls}, nil
	}
	raw, err := clientcmd.LoadFromFile(k.Kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("kubernetes: kubeconfig: %w", err)
	}
	// The server and CA are the connection's, whatever the file says:
	// only its user's credential is taken.
	over := &clientcmd.ConfigOverrides{CurrentContext: k.Context, ClusterInfo: clientcmdapi.Cluster{Server: k.Server,
		CertificateAuthority: tls.CAFile, CertificateAuthorityData: tls.CAData}}
	rc, err := clientcmd.NewNonInteractiveClientConfig(*raw, k.Context, over, nil).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubernetes: kubeconfig %s: %w", k.Kubeconfig, err)
	}
	rc.Host, rc.TLSClientConfig.Insecure = k.Server, false
	rc.TLSClientConfig.CAFile, rc.TLSClientConfig.CAData = tls.CAFile, tls.CAData
	rc.Impersonate = rest.ImpersonationConfig{}
	return rc, nil
}

// Info implements connectors.Connector.
func (c *Kubernetes) Info() connectors.Info { return c.info }

// Namespaces are the namespaces rules may grant on the connection.
func (c *Kubernetes) Namespaces() []string { return append([]string(nil), c.namespaces...) }

// SessionNamespace is where the session ServiceAccounts live.
func (c *Kubernetes) SessionNamespace() string { return c.sessionNS }

// Ping implements connectors.Connector: the API server answers /readyz to
// Warden's credential, over TLS the pinned CA verifies.
func (c *Kubernetes) Ping(ctx context.Context) error {
	if c.isClosed() {
		return connectors.ErrClosed
	}
	res := c.clientset.Discovery().RESTClient().Get().AbsPath("/readyz").Do(ctx)
	if err := res.Error(); err != nil {
		return fmt.Errorf("%w: kubernetes: %v", connectors.ErrUnavailable, err)
	}
	return nil
}

// Close implements connectors.Connector.
func (c *Kubernetes) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.closed = true
		c.adminHTTP.CloseIdleConnections()
		c.anonHTTP.CloseIdleConnections()
	}
	return nil
}

func (c *Kubernetes) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// restMapper returns the discovery-backed mapper (built on first use,
// cached in memory, reset when a name is not found).
func (c *Kubernetes) restMapper() (meta.ResettableRESTMapper, meta.RESTMapper) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mapper == nil {
		dc := c.clientset.Discovery().(*discovery.DiscoveryClient)
		cached := memory.NewMemCacheClient(dc)
		c.mapper = restmapper.NewDeferredDiscoveryRESTMapper(cached)
		c.expander = restmapper.NewShortcutExpander(c.mapper, cached, nil)
	}
	return c.mapper, c.expander
}

// ResolveName implements connectors.KubeAPI, as kubectl resolves its
// resource argument: short names, singular and plural names, kinds, and
// resource.group or resource.version.group.
func (c *Kubernetes) ResolveName(ctx context.Context, name string) (connectors.KubeResource, error) {
	if c.isClosed() {
		return connectors.KubeResource{}, connectors.ErrClosed
	}
	if name == "" || strings.ContainsAny(name, "/ *,") {
		return connectors.KubeResource{}, fmt.Errorf("%w: %q is not a resource name", ErrUnknownResource, name)
	}
	r, err := c.resolveName(name)
	if err != nil && !errors.Is(err, connectors.ErrUnavailable) {
		m, _ := c.restMapper()
		m.Reset() // a resource added since (a CRD)
		r, err = c.resolveName(name)
	}
	return r, err
}

func (c *Kubernetes) resolveName(name string) (connectors.KubeResource, error) {
	_, exp := c.restMapper()
	gvr, gr := schema.ParseResourceArg(strings.ToLower(name))
	var gvk schema.GroupVersionKind
	var err error
	if gvr != nil {
		gvk, err = exp.KindFor(*gvr)
	}
	if gvr == nil || err != nil {
		gvk, err = exp.KindFor(gr.WithVersion(""))
	}
	if err != nil {
		// A kind as written ("Deployment", "deployment.apps").
		gk := schema.ParseGroupKind(name)
		if m, kerr := exp.RESTMapping(gk); kerr == nil {
			return toResource(m), nil
		}
		return connectors.KubeResource{}, c.mapErr(name, err)
	}
	m, err := exp.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return connectors.KubeResource{}, c.mapErr(name, err)
	}
	return toResource(m), nil
}

// ResolveKind implements connectors.KubeAPI.
func (c *Kubernetes) ResolveKind(ctx context.Context, apiVersion, kind string) (connectors.KubeResource, error) {
	if c.isClosed() {
		return connectors.KubeResource{}, connectors.ErrClosed
	}
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil || gv.Version == "" || kind == "" {
		return connectors.KubeResource{}, fmt.Errorf("%w: apiVersion %q kind %q", ErrUnknownResource, apiVersion, kind)
	}
	m, _ := c.restMapper()
	mp, err := m.RESTMapping(schema.GroupKind{Group: gv.Group, Kind: kind}, gv.Version)
	if err != nil {
		m.Reset()
		if mp, err = m.RESTMapping(schema.GroupKind{Group: gv.Group, Kind: kind}, gv.Version); err != nil {
			return connectors.KubeResource{}, c.mapErr(apiVersion+" "+kind, err)
		}
	}
	return toResource(mp), nil
}

func (c *Kubernetes) mapErr(name string, err error) error {
	if meta.IsNoMatchError(err) || strings.Contains(err.Error(), "no matches") {
		return fmt.Errorf("%w: %q (kubectl api-resources lists what it has)", ErrUnknownResource, name)
	}
	var dfe *discovery.ErrGroupDiscoveryFailed
	if errors.As(err, &dfe) {
		// Some aggregated API is down; the rest resolved.
		return fmt.Errorf("%w: %q", ErrUnknownResource, name)
	}
	return fmt.Errorf("%w: kubernetes: discovery: %v", connectors.ErrUnavailable, err)
}

func toResource(m *meta.RESTMapping) connectors.KubeResource {
	return connectors.KubeResource{Group: m.Resource.Group, Version: m.Resource.Version, Resource: m.Resource.Resource,
		Kind: m.GroupVersionKind.Kind, Namespaced: m.Scope.Name() == meta.RESTScopeNameNamespace}
}

var (
	_ connectors.KubeAPI       = (*Kubernetes)(nil)
	_ connectors.Credentialer  = (*Kubernetes)(nil)
	_ connectors.ScopedGranter = (*Kubernetes)(nil)
)
