package kubeclass

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The discovery snapshot Builtin and the corpus resolve kinds with: what
// the real kube-apiserver of scripts/kube.sh lists. Refresh it with
//
//	source "$(scripts/kube.sh start)"
//	go test ./policy/kubeclass -run TestDiscoverySnapshot -update-discovery
const snapshotFile = "discovery-v1.37.2.json"

var updateDiscovery = flag.Bool("update-discovery", false, "capture "+snapshotFile+" from the API server scripts/kube.sh starts")

func snapshotLists(t testing.TB) []*metav1.APIResourceList {
	t.Helper()
	data, err := os.ReadFile(snapshotFile)
	if err != nil {
		t.Fatalf("the discovery snapshot: %v (capture it: see discovery_test.go)", err)
	}
	var lists []*metav1.APIResourceList
	if err := json.Unmarshal(data, &lists); err != nil {
		t.Fatal(err)
	}
	return lists
}

// snapshotTable is the Table of the real API server's discovery.
func snapshotTable(t testing.TB) *Table {
	t.Helper()
	tab, err := builtin()
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

// liveDiscovery reads the discovery of the API server scripts/kube.sh
// started, in discovery's order: the core group, then each group's
// preferred version first. nil when there is none.
func liveDiscovery(t *testing.T) []*metav1.APIResourceList {
	t.Helper()
	server := os.Getenv("WARDEN_TEST_KUBE_SERVER")
	if server == "" {
		if os.Getenv("WARDEN_TEST_REQUIRE") != "" {
			t.Fatal("no Kubernetes API server: source \"$(scripts/kube.sh start)\"")
		}
		return nil
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
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	get := func(path string, into any) {
		req, _ := http.NewRequest("GET", server+path, nil)
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
		req.Header.Set("Accept", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %s", path, resp.Status)
		}
		if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
	}
	var lists []*metav1.APIResourceList
	var core metav1.APIVersions
	get("/api", &core)
	for _, v := range core.Versions {
		l := &metav1.APIResourceList{}
		get("/api/"+v, l)
		lists = append(lists, l)
	}
	var groups metav1.APIGroupList
	get("/apis", &groups)
	for _, g := range groups.Groups {
		versions := []string{g.PreferredVersion.GroupVersion}
		for _, v := range g.Versions {
			if v.GroupVersion != g.PreferredVersion.GroupVersion {
				versions = append(versions, v.GroupVersion)
			}
		}
		for _, gv := range versions {
			l := &metav1.APIResourceList{}
			get("/apis/"+gv, l)
			lists = append(lists, l)
		}
	}
	return lists
}

// TestDiscoverySnapshot checks the snapshot against the live API server
// (when there is one): every kind and name resolves alike.
func TestDiscoverySnapshot(t *testing.T) {
	live := liveDiscovery(t)
	if live == nil {
		t.Skip("no Kubernetes API server (source \"$(scripts/kube.sh start)\"); the corpus runs on the snapshot")
	}
	if *updateDiscovery {
		data, err := json.MarshalIndent(live, "", " ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(snapshotFile, append(data, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	liveTab, err := NewTable(live)
	if err != nil {
		t.Fatal(err)
	}
	snap := snapshotTable(t)
	n := 0
	for _, l := range snapshotLists(t) {
		for _, r := range l.APIResources {
			if strings.Contains(r.Name, "/") {
				continue
			}
			a, errA := snap.ForKind(l.GroupVersion, r.Kind)
			b, errB := liveTab.ForKind(l.GroupVersion, r.Kind)
			if fmt.Sprint(a, errA) != fmt.Sprint(b, errB) {
				t.Errorf("%s %s: snapshot %v %v, live %v %v", l.GroupVersion, r.Kind, a, errA, b, errB)
			}
			for _, name := range append([]string{r.Name, r.SingularName}, r.ShortNames...) {
				a, errA := snap.ForName(name)
				b, errB := liveTab.ForName(name)
				if fmt.Sprint(a, errA) != fmt.Sprint(b, errB) {
					t.Errorf("name %s: snapshot %v %v, live %v %v", name, a, errA, b, errB)
				}
			}
			n++
		}
	}
	t.Logf("%d resources resolve alike on the snapshot and the live server", n)
}

// TestBuiltinGroups: every group the API server serves is one Kubernetes
// ships (so no built-in kind counts as a custom resource).
func TestBuiltinGroups(t *testing.T) {
	for _, l := range snapshotLists(t) {
		g := strings.Split(l.GroupVersion, "/")
		group := ""
		if len(g) == 2 {
			group = g[0]
		}
		if !builtinGroups[group] {
			t.Errorf("group %q of the snapshot is not in builtinGroups", group)
		}
	}
}
