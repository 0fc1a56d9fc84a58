package connectortest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wardenhq/warden/connectors"
)

// KubeHarness tells RunKube how to reach one cluster.
type KubeHarness struct {
	// Open returns a connector to the cluster, a credential that may
	// create, get, list and delete ConfigMaps in Namespace, and Namespace.
	// It registers its own cleanup with t; RunKube may also Close the
	// connector itself.
	Open func(t *testing.T) KubeFixture
}

// KubeFixture is one connector with the credential its requests run as.
type KubeFixture struct {
	Conn       connectors.KubeAPI
	Credential connectors.Credential
	Namespace  string
}

// RunKube runs the contract suite of the KubeAPI capability.
func RunKube(t *testing.T, h KubeHarness) {
	t.Run("Resolve", func(t *testing.T) { testKubeResolve(t, h) })
	t.Run("RoundTrip", func(t *testing.T) { testKubeRoundTrip(t, h) })
	t.Run("Gate", func(t *testing.T) { testKubeGate(t, h) })
	t.Run("Timeout", func(t *testing.T) { testKubeTimeout(t, h) })
	t.Run("Close", func(t *testing.T) { testKubeClose(t, h) })
}

var configMaps = connectors.KubeResource{Version: "v1", Resource: "configmaps", Kind: "ConfigMap", Namespaced: true}

func kubeName() string {
	var b [4]byte
	rand.Read(b[:])
	return "ct-" + hex.EncodeToString(b[:])
}

func kubeDo(f KubeFixture, req connectors.KubeRequest) (connectors.KubeResponse, error) {
	ctx, cancel := context.WithTimeout(context.Background(), execTimeout)
	defer cancel()
	req.Credential = f.Credential
	if req.Resource.Resource == "" {
		req.Resource = configMaps
	}
	if req.Namespace == "" {
		req.Namespace = f.Namespace
	}
	return f.Conn.Kube(ctx, req)
}

func configMap(name string) []byte {
	b, _ := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": name}, "data": map[string]string{"k": "v"}})
	return b
}

func testKubeResolve(t *testing.T, h KubeHarness) {
	f := h.Open(t)
	ctx := context.Background()
	for _, name := range []string{"cm", "configmaps", "configmap", "ConfigMap"} {
		if r, err := f.Conn.ResolveName(ctx, name); err != nil || r != configMaps {
			t.Errorf("ResolveName(%q) = %+v, %v", name, r, err)
		}
	}
	if r, err := f.Conn.ResolveKind(ctx, "v1", "ConfigMap"); err != nil || r != configMaps {
		t.Errorf("ResolveKind(v1, ConfigMap) = %+v, %v", r, err)
	}
	if _, err := f.Conn.ResolveName(ctx, "no-such-resource-anywhere"); err == nil {
		t.Error("an unknown resource resolved")
	}
}

// testKubeRoundTrip: create, get (into Output too), list, delete; a
// missing object is the server's NotFound as a TargetError.
func testKubeRoundTrip(t *testing.T, h KubeHarness) {
	f := h.Open(t)
	name := kubeName()
	if _, err := kubeDo(f, connectors.KubeRequest{Verb: "create", Body: configMap(name)}); err != nil {
		t.Fatal(err)
	}
	resp, err := kubeDo(f, connectors.KubeRequest{Verb: "get", Name: name})
	if err != nil || resp.Status != 200 || !bytes.Contains(resp.Body, []byte(`"name":"`+name+`"`)) {
		t.Fatalf("get: %d %s %v", resp.Status, resp.Body, err)
	}
	var out bytes.Buffer
	if _, err := kubeDo(f, connectors.KubeRequest{Verb: "get", Name: name, Output: &out}); err != nil || !strings.Contains(out.String(), name) {
		t.Errorf("get into Output: %q %v", out.String(), err)
	}
	if resp, err := kubeDo(f, connectors.KubeRequest{Verb: "list"}); err != nil || !bytes.Contains(resp.Body, []byte(name)) {
		t.Errorf("list: %v", err)
	}
	if _, err := kubeDo(f, connectors.KubeRequest{Verb: "delete", Name: name}); err != nil {
		t.Fatal(err)
	}
	_, err = kubeDo(f, connectors.KubeRequest{Verb: "get", Name: name})
	var te *connectors.TargetError
	if !errors.As(err, &te) || te.Code != "NotFound" || !strings.Contains(te.Message, name) {
		t.Errorf("get after delete: %v", err)
	}
}

// testKubeGate: a gate that refuses stops the request before it is sent,
// and its error comes back unchanged.
func testKubeGate(t *testing.T, h KubeHarness) {
	f := h.Open(t)
	name := kubeName()
	refuse := errors.New("gate says no")
	_, err := kubeDo(f, connectors.KubeRequest{Verb: "create", Body: configMap(name), Gate: func(context.Context) error { return refuse }})
	if !errors.Is(err, refuse) {
		t.Fatalf("refused gate: %v", err)
	}
	if _, err := kubeDo(f, connectors.KubeRequest{Verb: "get", Name: name}); err == nil {
		t.Fatal("the request whose gate refused reached the server")
	}
	called := false
	if _, err := kubeDo(f, connectors.KubeRequest{Verb: "list", Gate: func(context.Context) error { called = true; return nil }}); err != nil || !called {
		t.Errorf("open gate: called %v, %v", called, err)
	}
}

func testKubeTimeout(t *testing.T, h KubeHarness) {
	f := h.Open(t)
	_, err := kubeDo(f, connectors.KubeRequest{Verb: "list", Timeout: time.Nanosecond})
	if !errors.Is(err, connectors.ErrTimeout) {
		t.Errorf("a request past its timeout: %v", err)
	}
}

func testKubeClose(t *testing.T, h KubeHarness) {
	f := h.Open(t)
	if err := f.Conn.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Conn.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := kubeDo(f, connectors.KubeRequest{Verb: "list"}); !errors.Is(err, connectors.ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
}
