package kube_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/wardenhq/warden/approvals"
	approvalsqlite "github.com/wardenhq/warden/approvals/sqlite"
	auditsqlite "github.com/wardenhq/warden/audit/sqlite"
	"github.com/wardenhq/warden/config"
	"github.com/wardenhq/warden/connectors"
	"github.com/wardenhq/warden/connectors/builtin"
	"github.com/wardenhq/warden/credentials"
	"github.com/wardenhq/warden/gateway"
	"github.com/wardenhq/warden/identity"
	"github.com/wardenhq/warden/internal/testenv"
	"github.com/wardenhq/warden/masking"
	"github.com/wardenhq/warden/policy"
	"github.com/wardenhq/warden/policy/kubeclass"
	"github.com/wardenhq/warden/tools"
	toolsbuiltin "github.com/wardenhq/warden/tools/builtin"
	kubetools "github.com/wardenhq/warden/tools/kube"
)

// corpusCase is one case of policy/testdata/kube-apply.yaml.
type corpusCase struct {
	Name      string `yaml:"name"`
	As        string `yaml:"as"`
	Tool      string `yaml:"tool"`
	Namespace string `yaml:"namespace"`
	Manifest  string `yaml:"manifest"`
	Request   *struct {
		Verb, Resource, Subresource, Namespace, Name string
	} `yaml:"request"`
	Expect string `yaml:"expect"`
}

// TestBypassCorpus replays policy/kubeclass's bypass corpus through the
// tools against the real cluster, with its policy: every manifest that
// must be refused or held is, and changes nothing in the cluster (each of
// its objects, as the classifier reads it, is as it was: absent, or the
// same resourceVersion); the controls are applied.
func TestBypassCorpus(t *testing.T) {
	kc := testenv.Kube(t)
	admin := testenv.KubeAdmin(t, kc)
	ctx := context.Background()
	// The corpus's namespaces; made here when the cluster lacks them.
	for _, ns := range []string{"dev", "staging", "monitoring"} {
		_, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
		if err == nil {
			t.Cleanup(func() { admin.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
		} else if !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	policyYAML, err := os.ReadFile(filepath.Join("..", "..", "policy", "testdata", "kube-warden.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var corpus struct {
		Tests []corpusCase `yaml:"tests"`
	}
	raw, err := os.ReadFile(filepath.Join("..", "..", "policy", "testdata", "kube-apply.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, &corpus); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg, err := config.Parse(filepath.Join(dir, "w.yaml"), []byte(fmt.Sprintf(`connections:
  - name: dev-cluster
    kind: kubernetes
    server: %s
    ca_file: %s
    token: {file: %s}
    namespaces: [dev, staging, monitoring]
    session_namespace: warden-sessions-corpus
    labels: {env: dev}
%s`, kc.Server, kc.CAFile, kc.TokenFile, policyYAML)))
	if err != nil {
		t.Fatal(err)
	}
	engine, err := policy.Compile(cfg, tools.Names(toolsbuiltin.Tools()))
	if err != nil {
		t.Fatal(err)
	}
	masker, err := masking.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	store, err := auditsqlite.Open(ctx, filepath.Join(dir, "audit.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	as, err := approvalsqlite.New(ctx, store.DB(), nil)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := approvals.New(approvals.Options{Store: as, Recorder: store, Wait: 10 * time.Millisecond, MaxWait: time.Second, PollInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	conns, err := builtin.Registry().Open(ctx, cfg.Connections, connectors.OpenOptions{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	creds := credentials.New(store, conns, cfg.Connections, logger)
	if err := creds.Start(ctx); err != nil {
		t.Fatal(err)
	}
	cat, err := toolsbuiltin.Open(gateway.Options{Connections: conns, Decider: engine, Minter: creds, Masker: masker, Recorder: store, Holder: svc, Limits: cfg.Limits})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Gateway().Close() })
	k := conns["dev-cluster"].(connectors.KubeAPI)

	// state is what the cluster holds of the objects a manifest names.
	state := func(c corpusCase) map[string]string {
		ns := c.Namespace
		if ns == "" {
			ns = "dev"
		}
		objs, _, err := kubeclass.Manifest([]byte(c.Manifest), ns, corpusResolver{k})
		if err != nil {
			return nil // refused by the classifier: nothing can have been sent
		}
		out := map[string]string{}
		for _, o := range objs {
			if o.Name == "" {
				continue // generateName: applying it is refused before it is sent
			}
			r := connectors.KubeResource{Group: o.Resource.Group, Version: o.Resource.Version, Resource: o.Resource.Resource, Namespaced: o.Resource.Namespaced}
			key := o.Resource.Name() + " " + o.Namespace + "/" + o.Name
			resp, err := k.Kube(ctx, connectors.KubeRequest{Verb: "get", Resource: r, Namespace: o.Namespace, Name: o.Name, Credential: connectors.Static})
			switch {
			case err == nil:
				out[key] = resourceVersion(resp.Body)
			case isNotFound(err):
				out[key] = "absent"
			default:
				out[key] = "error: " + err.Error()
			}
		}
		return out
	}
	callers := map[string]gateway.Caller{}
	for _, u := range cfg.Identity.Users {
		callers[u.Name] = gateway.Caller{Principal: identity.Principal{Subject: u.Name, Groups: u.Groups, Issuer: "local"}, Transport: "stdio", Session: "corpus-" + u.Name}
	}
	ran, skipped := 0, 0
	// Refusals first, controls last: a control's objects then cannot
	// hide a refused case's change.
	for _, pass := range []bool{false, true} {
		for _, c := range corpus.Tests {
			if (c.Expect == "allow") != pass {
				continue
			}
			tool, args := c.Tool, map[string]any{"connection": "dev-cluster"}
			if tool == "" {
				tool = kubetools.ToolApply
			}
			switch {
			case c.Request == nil:
				args["manifest"] = c.Manifest
				if c.Namespace != "" {
					args["namespace"] = c.Namespace
				}
			case tool == kubetools.ToolGet && (c.Request.Verb == "get" || c.Request.Verb == "list") && c.Request.Namespace != "" && c.Request.Subresource == "":
				args["resource"], args["namespace"] = c.Request.Resource, c.Request.Namespace
				if c.Request.Name != "" {
					args["name"] = c.Request.Name
				}
			case tool == kubetools.ToolDelete && c.Request.Subresource == "":
				args["resource"], args["name"] = c.Request.Resource, c.Request.Name
				if c.Request.Namespace != "" {
					args["namespace"] = c.Request.Namespace
				}
			default:
				// exec, token and every-namespace requests: no tool sends them.
				skipped++
				continue
			}
			t.Run(c.Name, func(t *testing.T) {
				caller, ok := callers[c.As]
				if !ok {
					t.Fatalf("unknown caller %q", c.As)
				}
				var before map[string]string
				if c.Manifest != "" {
					before = state(c)
				}
				b, _ := json.Marshal(args)
				_, err := cat.Call(ctx, caller, tool, b)
				var code gateway.Code
				if err != nil {
					code = gateway.AsError(err).Code
				}
				switch c.Expect {
				case "allow":
					if err != nil {
						t.Fatalf("the control was refused: %v", err)
					}
					return
				case "review":
					if !errors.As(err, new(*gateway.PendingApproval)) && code != gateway.CodeApprovalRequired {
						t.Fatalf("want held, got %v (code %s)", err, code)
					}
				default:
					if err == nil || code == gateway.CodeApprovalRequired {
						t.Fatalf("want refused, got %v (code %s)", err, code)
					}
				}
				if c.Manifest != "" {
					if after := state(c); fmt.Sprint(after) != fmt.Sprint(before) {
						t.Errorf("the cluster changed:\nbefore %v\nafter  %v", before, after)
					}
				}
			})
			ran++
		}
	}
	t.Logf("%d cases replayed against the cluster, %d requests no tool sends skipped", ran, skipped)
	if ran < 60 {
		t.Errorf("only %d cases replayed", ran)
	}
}

type corpusResolver struct{ k connectors.KubeAPI }

func (r corpusResolver) ForKind(apiVersion, kind string) (kubeclass.Resource, error) {
	res, err := r.k.ResolveKind(context.Background(), apiVersion, kind)
	return kubeclass.Resource(res), err
}

func (r corpusResolver) ForName(name string) (kubeclass.Resource, error) {
	res, err := r.k.ResolveName(context.Background(), name)
	return kubeclass.Resource(res), err
}

func resourceVersion(body []byte) string {
	var o struct {
		Metadata struct {
			ResourceVersion string `json:"resourceVersion"`
		} `json:"metadata"`
	}
	json.Unmarshal(body, &o)
	return "rv " + o.Metadata.ResourceVersion
}

func isNotFound(err error) bool {
	var te *connectors.TargetError
	return errors.As(err, &te) && te.Code == "NotFound"
}
