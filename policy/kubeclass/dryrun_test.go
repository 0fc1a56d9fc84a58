package kubeclass

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// apiClient talks to the API server scripts/kube.sh starts, as its admin.
type apiClient struct {
	server, token string
	http          *http.Client
}

func newAPIClient(t *testing.T) *apiClient {
	t.Helper()
	server := os.Getenv("WARDEN_TEST_KUBE_SERVER")
	if server == "" {
		if os.Getenv("WARDEN_TEST_REQUIRE") != "" {
			t.Fatal("no Kubernetes API server: source \"$(scripts/kube.sh start)\"")
		}
		t.Skip("no Kubernetes API server (source \"$(scripts/kube.sh start)\")")
	}
	ca, err := os.ReadFile(os.Getenv("WARDEN_TEST_KUBE_CA_FILE"))
	if err != nil {
		t.Fatal(err)
	}
	token, err := os.ReadFile(os.Getenv("WARDEN_TEST_KUBE_TOKEN_FILE"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	return &apiClient{server: server, token: strings.TrimSpace(string(token)),
		http: &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}}
}

func (c *apiClient) do(t *testing.T, method, path string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, c.server+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// collection is the URL path of res's objects in namespace.
func collection(res Resource, namespace string) string {
	p := "/api/" + res.Version
	if res.Group != "" {
		p = "/apis/" + res.Group + "/" + res.Version
	}
	if res.Namespaced {
		p += "/namespaces/" + namespace
	}
	return p + "/" + res.Resource
}

// TestCorpusDryRun sends every object the classifier accepts in the
// corpus to the real API server as a server-side dry run (dryRun=All,
// fieldValidation=Strict: nothing is stored) and reads the object the
// server would store: it must ask for no risk the classifier did not
// report. The controls must be accepted by the server. Objects of
// namespaces this server does not have are skipped.
func TestCorpusDryRun(t *testing.T) {
	api := newAPIClient(t)
	tab := snapshotTable(t)
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	ns := "kubeclass-" + hex.EncodeToString(suffix)
	if code, out := api.do(t, "POST", "/api/v1/namespaces", []byte(`{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"`+ns+`"}}`)); code != 201 {
		t.Fatalf("create namespace %s: %d %s", ns, code, out)
	}
	t.Cleanup(func() { api.do(t, "DELETE", "/api/v1/namespaces/"+ns, nil) })
	// The service account admission plugin gives every pod its
	// namespace's default token (documented as not a risk).
	waitDefaultSA(t, api, ns)
	counts := map[string]int{}
	for _, c := range loadCorpus(t) {
		if c.Manifest == "" {
			continue
		}
		// The corpus's default namespaces become this test's.
		callNS := c.Namespace
		if callNS == "dev" || callNS == "staging" || callNS == "monitoring" {
			callNS = ns
		}
		objs, _, err := Manifest([]byte(c.Manifest), callNS, tab)
		if err != nil {
			continue
		}
		for _, o := range objs {
			if o.Resource.Namespaced && o.Namespace != ns && o.Namespace != "kube-system" && o.Namespace != "default" {
				counts["skipped: a namespace the server has not"]++
				continue
			}
			body, _ := json.Marshal(o.Body)
			code, out := api.do(t, "POST", collection(o.Resource, o.Namespace)+"?dryRun=All&fieldValidation=Strict", body)
			if code != 200 && code != 201 {
				counts["refused by the server"]++
				var st struct{ Message string }
				_ = json.Unmarshal(out, &st)
				t.Logf("%s: the server refuses %s %s: %d %s", c.Name, o.Resource.Kind, o.Name, code, st.Message)
				if strings.HasPrefix(c.Name, "control") {
					t.Errorf("%s: the server refuses the control: %d %s", c.Name, code, out)
				}
				continue
			}
			counts["accepted by the server"]++
			var stored map[string]any
			if err := json.Unmarshal(out, &stored); err != nil {
				t.Fatal(err)
			}
			dropDefaultToken(stored)
			if extra := subtract(objectRisks(o.Resource, stored), o.Risks); len(extra) > 0 {
				t.Errorf("%s: %s %s as the server would store it asks for %v, which the classifier did not report (it reported %v)",
					c.Name, o.Resource.Kind, o.Name, extra, o.Risks)
			}
		}
	}
	if counts["accepted by the server"] < 40 {
		t.Errorf("only %d objects were accepted by the server", counts["accepted by the server"])
	}
	t.Logf("%v", counts)
}

func waitDefaultSA(t *testing.T, api *apiClient, ns string) {
	for i := 0; i < 100; i++ {
		if code, _ := api.do(t, "GET", "/api/v1/namespaces/"+ns+"/serviceaccounts/default", nil); code == 200 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no default service account in %s", ns)
}

// dropDefaultToken removes from a stored pod spec (at any depth) the
// projected kube-api-access volume the service account admission plugin
// adds.
func dropDefaultToken(v any) {
	switch t := v.(type) {
	case map[string]any:
		if vols, ok := t["volumes"].([]any); ok {
			t["volumes"] = slices.DeleteFunc(vols, func(e any) bool {
				m, _ := e.(map[string]any)
				name, _ := m["name"].(string)
				return strings.HasPrefix(name, "kube-api-access-")
			})
		}
		for _, e := range t {
			dropDefaultToken(e)
		}
	case []any:
		for _, e := range t {
			dropDefaultToken(e)
		}
	}
}

func subtract(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}
