package policy

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/wardenhq/warden/config"
)

// TestFile is a file of policy tests (`warden policy test`): requests and
// the decisions they must get.
type TestFile struct {
	Tests []TestCase `yaml:"tests"`
}

// TestCase is one request and its expected decision.
type TestCase struct {
	Name       string   `yaml:"name"`
	As         string   `yaml:"as"`
	Groups     []string `yaml:"groups"`
	Connection string   `yaml:"connection"`
	Tool       string   `yaml:"tool"`
	// Transport is how the call arrives (stdio, http, postgres-proxy);
	// default stdio.
	Transport string `yaml:"transport"`
	SQL       string `yaml:"sql"`
	// Command is a shell command line, for an ssh connection (the tool
	// defaults to exec_ssh); a case gives sql or command.
	Command string `yaml:"command"`
	// Manifest is a Kubernetes manifest, for a kubernetes connection (the
	// tool defaults to kubectl_apply), applied in Namespace unless its
	// objects name theirs; a case gives one of sql, command and manifest.
	Manifest string `yaml:"manifest"`
	// ManifestFile is a file that holds the manifest instead (relative to
	// the test file's directory).
	ManifestFile string `yaml:"manifest_file"`
	Namespace    string `yaml:"namespace"`
	// Expect is allow, deny or review.
	Expect string `yaml:"expect"`
	// Rule, if set, is the rule that must make the decision ("" for the
	// default deny is written as "-").
	Rule string `yaml:"rule"`
	// ReasonContains, if set, must appear in the decision's reason.
	ReasonContains string `yaml:"reason_contains"`
	// ReadOnly, if set, is the transaction mode the decision must carry.
	ReadOnly *bool `yaml:"read_only"`
}

// TestResult is the outcome of one TestCase.
type TestResult struct {
	Name     string   `json:"name"`
	Pass     bool     `json:"pass"`
	Problems []string `json:"problems,omitempty"`
	Decision Decision `json:"-"`
	Effect   Effect   `json:"effect"`
	Rule     string   `json:"rule"`
	Reason   string   `json:"reason"`
	// Discovery is the Explanation's: what a manifest's kinds were
	// resolved with.
	Discovery string `json:"discovery,omitempty"`
}

// LoadTests reads a policy test file.
func LoadTests(path string) (*TestFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read tests: %w", err)
	}
	var tf TestFile
	if err := config.DecodeStrict(path, data, &tf); err != nil {
		return nil, err
	}
	for i, tc := range tf.Tests {
		if tc.Name == "" {
			return nil, fmt.Errorf("%s: tests[%d]: name is required", path, i)
		}
		if n := nonEmpty(tc.SQL, tc.Command, tc.Manifest, tc.ManifestFile); n > 1 {
			return nil, fmt.Errorf("%s: test %q: give one of sql, command, manifest and manifest_file", path, tc.Name)
		}
		if tc.ManifestFile != "" {
			f := tc.ManifestFile
			if !filepath.IsAbs(f) {
				f = filepath.Join(filepath.Dir(path), f)
			}
			m, err := os.ReadFile(f)
			if err != nil {
				return nil, fmt.Errorf("%s: test %q: manifest_file: %w", path, tc.Name, err)
			}
			if len(m) == 0 {
				return nil, fmt.Errorf("%s: test %q: manifest_file %s is empty", path, tc.Name, f)
			}
			tf.Tests[i].Manifest = string(m)
		}
		switch tc.Expect {
		case string(Allow), string(Deny), string(Review):
		default:
			return nil, fmt.Errorf("%s: test %q: expect must be allow, deny or review, got %q", path, tc.Name, tc.Expect)
		}
	}
	return &tf, nil
}

// RunTests decides every case against e, with connections as cfg
// declares them. Statements are classified without a live catalog, so a
// function that is not a known built-in counts as a write.
func RunTests(ctx context.Context, e *Engine, cfg *config.Config, classifiers Classifiers, tf *TestFile) []TestResult {
	out := make([]TestResult, 0, len(tf.Tests))
	for _, tc := range tf.Tests {
		r := TestResult{Name: tc.Name}
		d, err := ExplainRequest(ctx, e, cfg, classifiers, Request{As: tc.As, Groups: tc.Groups, Connection: tc.Connection, Tool: tc.Tool, Transport: tc.Transport, SQL: tc.SQL, Command: tc.Command, Manifest: tc.Manifest, Namespace: tc.Namespace})
		if err != nil {
			r.Problems = append(r.Problems, err.Error())
		}
		r.Decision, r.Effect, r.Rule, r.Reason, r.Discovery = d.Decision, d.Effect, d.Rule, d.Reason, d.Discovery
		if err == nil {
			if string(d.Effect) != tc.Expect {
				r.Problems = append(r.Problems, fmt.Sprintf("decision is %s, expected %s (%s)", d.Effect, tc.Expect, d.Reason))
			}
			wantRule := tc.Rule
			if wantRule == "-" {
				wantRule = ""
			}
			if tc.Rule != "" && d.Rule != wantRule {
				r.Problems = append(r.Problems, fmt.Sprintf("decided by rule %q, expected %q", d.Rule, wantRule))
			}
			if tc.ReasonContains != "" && !strings.Contains(d.Reason, tc.ReasonContains) {
				r.Problems = append(r.Problems, fmt.Sprintf("reason %q does not contain %q", d.Reason, tc.ReasonContains))
			}
			if tc.ReadOnly != nil && d.Effect != Deny && d.ReadOnly != *tc.ReadOnly {
				r.Problems = append(r.Problems, fmt.Sprintf("read_only is %v, expected %v", d.ReadOnly, *tc.ReadOnly))
			}
		}
		r.Pass = len(r.Problems) == 0
		out = append(out, r)
	}
	return out
}

// Request is a request as an operator writes it for explain and tests.
type Request struct {
	As         string
	Groups     []string
	Connection string
	Tool       string
	// Transport is how the call arrives (default stdio).
	Transport string
	SQL       string
	// Command is a shell command line (the tool defaults to exec_ssh);
	// a request has SQL or Command.
	Command string
	// Manifest is a Kubernetes manifest (the tool defaults to
	// kubectl_apply), applied in Namespace unless its objects name theirs.
	Manifest, Namespace string
}

func nonEmpty(ss ...string) int {
	n := 0
	for _, s := range ss {
		if s != "" {
			n++
		}
	}
	return n
}

// Explanation is a decision with the statement facts that mattered.
type Explanation struct {
	Decision
	Facts *Facts
	// ClassifyError is set when the statement could not be classified
	// (the decision is then deny).
	ClassifyError string
	// Discovery, for a manifest, names the discovery its kinds were
	// resolved with, when the classifier says (a kubernetes connection's
	// offline classifier: the built-in discovery, not the cluster's).
	Discovery string
}

// discoverer is a classifier that says which discovery it resolves
// Kubernetes kinds with.
type discoverer interface{ Discovery() string }

// Classifiers returns the classifier of a configured connection as its
// connector would classify offline (without the target's catalog), or nil
// for a kind without one. The binary supplies it from its connector
// registry: policy knows no classifier.
type Classifiers func(conn config.Connection) Classifier

// ExplainRequest classifies the SQL or command line (offline) and decides the request the
// way the pipeline would. Groups default to those of a static identity.
func ExplainRequest(ctx context.Context, e *Engine, cfg *config.Config, classifiers Classifiers, req Request) (Explanation, error) {
	conn, ok := cfg.Connection(req.Connection)
	if !ok {
		return Explanation{}, fmt.Errorf("no connection named %q in %s", req.Connection, cfg.Path)
	}
	groups := req.Groups
	if groups == nil {
		groups = cfg.Groups(req.As)
	}
	if nonEmpty(req.SQL, req.Command, req.Manifest) > 1 {
		return Explanation{}, fmt.Errorf("give one of SQL, a command line and a manifest")
	}
	statement, what, tool := req.SQL, "SQL", req.Tool
	if req.Command != "" {
		statement, what = req.Command, "command lines"
		if tool == "" {
			tool = "exec_ssh"
		}
	}
	if req.Manifest != "" {
		statement, what = req.Manifest, "manifests"
		if tool == "" {
			tool = "kubectl_apply"
		}
	}
	if tool == "" {
		tool = "run_query"
	}
	transport := req.Transport
	if transport == "" {
		transport = "stdio"
	}
	in := Input{Subject: req.As, Groups: groups, Tool: tool, Transport: transport, Statement: statement,
		Connection: Connection{Name: conn.Name, Kind: conn.Kind, Labels: conn.Labels}}
	var cl Classifier
	if classifiers != nil {
		cl = classifiers(*conn)
	}
	if cl != nil {
		in.Connection.Namespace = cl.Namespace()
	}
	var ex Explanation
	if statement != "" {
		if cl == nil {
			return ex, fmt.Errorf("connection %q: Warden has no classifier for kind %q", conn.Name, conn.Kind)
		}
		creq := ClassifyRequest{Statement: statement, MaxBytes: cfg.Limits.MaxSQLBytes, Namespace: req.Namespace}
		if req.Manifest != "" {
			creq.MaxBytes = 0 // a manifest's limit is its classifier's
			if d, ok := cl.(discoverer); ok {
				ex.Discovery = d.Discovery()
			}
		}
		f, err := cl.Classify(ctx, creq)
		if err != nil {
			ex.ClassifyError = err.Error()
			ex.Decision = Decision{Effect: Deny, Reason: "Warden runs only " + what + " it fully understands, and " + err.Error()}
			return ex, nil
		}
		ex.Facts = &f
		in.Facts = &f
	}
	d, err := e.Decide(ctx, in)
	if err != nil {
		return ex, err
	}
	ex.Decision = d
	return ex, nil
}
