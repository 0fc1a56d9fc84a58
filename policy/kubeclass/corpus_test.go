package kubeclass

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/wardenhq/warden/config"
	"github.com/wardenhq/warden/policy"
)

// corpusCase is one case of policy/testdata/kube-apply.yaml (its header
// says what each field means).
type corpusCase struct {
	Name      string `yaml:"name"`
	As        string `yaml:"as"`
	Tool      string `yaml:"tool"`
	Namespace string `yaml:"namespace"`
	Manifest  string `yaml:"manifest"`
	Request   *struct {
		Verb        string `yaml:"verb"`
		Resource    string `yaml:"resource"`
		Subresource string `yaml:"subresource"`
		Namespace   string `yaml:"namespace"`
		Name        string `yaml:"name"`
	} `yaml:"request"`
	Expect         string   `yaml:"expect"`
	RefusedBy      string   `yaml:"refused_by"`
	ReasonContains string   `yaml:"reason_contains"`
	Risks          []string `yaml:"risks"`
}

func loadCorpus(t *testing.T) []corpusCase { return loadCorpusFile(t) }

func loadCorpusFile(t testing.TB) []corpusCase {
	t.Helper()
	data, err := os.ReadFile("../testdata/kube-apply.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Tests []corpusCase `yaml:"tests"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&file); err != nil {
		t.Fatal(err)
	}
	return file.Tests
}

// kubeTools are the Kubernetes tools the golden policy names.
var kubeTools = []string{"kubectl_get", "kubectl_apply", "kubectl_delete", "kubectl_logs"}

// TestCorpus runs the kubectl_apply bypass corpus through Manifest (with
// the real API server's discovery) and the golden policy: every attack
// is refused by the classifier or denied or held by a rule, and the
// controls pass.
func TestCorpus(t *testing.T) {
	tab := snapshotTable(t)
	cfg, err := config.Load("../testdata/kube-warden.yaml")
	if err != nil {
		t.Fatal(err)
	}
	engine, err := policy.Compile(cfg, kubeTools)
	if err != nil {
		t.Fatal(err)
	}
	cases := loadCorpus(t)
	counts := map[string]int{}
	names := map[string]bool{}
	for _, c := range cases {
		if names[c.Name] {
			t.Errorf("%s: two cases of that name", c.Name)
		}
		names[c.Name] = true
		if c.Expect == "allow" && !strings.HasPrefix(c.Name, "control") {
			t.Errorf("%s: only a control may expect allow", c.Name)
		}
		got, how, reason := decideCase(t, tab, cfg, engine, c)
		counts[how]++
		problem := func(format string, args ...any) {
			t.Errorf("%s: "+format+"\n  (decision %s by %s: %s)", append(append([]any{c.Name}, args...), got, how, reason)...)
		}
		switch {
		case got != c.Expect:
			problem("expected %s", c.Expect)
		case c.RefusedBy == "classifier" && how != "classifier":
			problem("expected the classifier to refuse it")
		case c.RefusedBy == "policy" && how == "classifier":
			problem("expected the classifier to accept it and a rule to refuse it")
		case c.ReasonContains != "" && !strings.Contains(reason, c.ReasonContains):
			problem("the reason does not say %q", c.ReasonContains)
		}
	}
	if n := len(cases) - counts["allow"]; n < 60 {
		t.Errorf("the corpus has %d refused or held cases, fewer than 60", n)
	}
	t.Logf("%d cases: %d refused by the classifier, %d denied by a rule, %d held for review, %d controls allowed",
		len(cases), counts["classifier"], counts["rule deny"], counts["rule review"], counts["allow"])
}

// decideCase classifies and decides one case: the effect, what decided
// it ("classifier", "rule deny", "rule review", "allow") and the reason.
func decideCase(t *testing.T, tab *Table, cfg *config.Config, engine *policy.Engine, c corpusCase) (effect, how, reason string) {
	t.Helper()
	in := policy.Input{Subject: c.As, Groups: cfg.Groups(c.As), Tool: c.Tool, Transport: "stdio",
		Connection: policy.Connection{Name: "dev-cluster", Kind: "kubernetes", Labels: map[string]string{"env": "dev"}, Namespace: c.Namespace}}
	var facts *policy.Facts
	switch {
	case c.Request != nil:
		if in.Tool == "" {
			in.Tool = "kubectl_get"
		}
		res, err := tab.ForName(c.Request.Resource)
		if err != nil {
			return "deny", "classifier", err.Error()
		}
		facts = Request(c.Request.Verb, res, c.Request.Subresource, c.Request.Namespace, c.Request.Name)
	default:
		if in.Tool == "" {
			in.Tool = "kubectl_apply"
		}
		in.Statement = c.Manifest
		objs, f, err := Manifest([]byte(c.Manifest), c.Namespace, tab)
		if err != nil {
			if !errors.Is(err, policy.ErrNotUnderstood) {
				t.Errorf("%s: the error %v does not match policy.ErrNotUnderstood", c.Name, err)
			}
			return "deny", "classifier", err.Error()
		}
		checkCanonical(t, c.Name, tab, c.Namespace, objs)
		facts = f
	}
	if c.Risks != nil && !slices.Equal(facts.Risks, c.Risks) {
		t.Errorf("%s: risks %v, expected %v", c.Name, facts.Risks, c.Risks)
	}
	in.Facts = facts
	d, err := engine.Decide(context.Background(), in)
	if err != nil {
		t.Fatalf("%s: %v", c.Name, err)
	}
	switch d.Effect {
	case policy.Allow:
		return "allow", "allow", d.Reason
	case policy.Review:
		return "review", "rule review", d.Reason
	}
	return "deny", "rule deny", d.Reason
}

// checkCanonical: what Warden sends (each Body, as JSON) classifies again
// to the same objects and risks.
func checkCanonical(t *testing.T, name string, tab *Table, ns string, objs []Object) {
	t.Helper()
	var buf bytes.Buffer
	for _, o := range objs {
		b, err := json.Marshal(o.Body)
		if err != nil {
			t.Errorf("%s: Body does not marshal: %v", name, err)
			return
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	again, _, err := Manifest(buf.Bytes(), ns, tab)
	if err != nil {
		t.Errorf("%s: the canonical JSON is refused: %v", name, err)
		return
	}
	if len(again) != len(objs) {
		t.Errorf("%s: the canonical JSON holds %d objects, not %d", name, len(again), len(objs))
		return
	}
	for i := range objs {
		a, b := objs[i], again[i]
		if a.Resource != b.Resource || a.Namespace != b.Namespace || a.Name != b.Name || !slices.Equal(a.Risks, b.Risks) {
			t.Errorf("%s: object %d classifies as %+v from its JSON, %+v from the manifest", name, i, b, a)
		}
	}
}

// TestCorpusRisksFailClosed: a rule that admits every verb, namespace
// and resource still admits no case with a risk, since it names none:
// the risks alone refuse them, whatever the resource lists.
func TestCorpusRisksFailClosed(t *testing.T) {
	tab := snapshotTable(t)
	path := t.TempDir() + "/warden.yaml"
	if err := os.WriteFile(path, []byte(`identity: {users: [{name: alice, groups: [agents]}, {name: sam, groups: [sre]}]}
rules:
  - name: anything-goes
    effect: allow
    read_only: false
    statements: [read, write]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	engine, err := policy.Compile(cfg, kubeTools)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range loadCorpus(t) {
		if len(c.Risks) == 0 {
			continue
		}
		got, how, reason := decideCase(t, tab, cfg, engine, c)
		if got != "deny" || !strings.Contains(reason, "allow_risks") {
			t.Errorf("%s: %s by %s (%s), expected a denial for its risks", c.Name, got, how, reason)
		}
		n++
	}
	if n < 40 {
		t.Errorf("only %d cases carry risks", n)
	}
	t.Logf("%d cases with risks, each refused by a rule that admits everything but risks", n)
}
