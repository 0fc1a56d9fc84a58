package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/wardenhq/warden/config"
	"github.com/wardenhq/warden/policy"
	"github.com/wardenhq/warden/policy/kubeclass"
)

func runPolicy(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{"expected a subcommand: warden policy check|explain|test"}
	}
	switch args[0] {
	case "check":
		return policyCheck(args[1:], stdout)
	case "explain":
		return policyExplain(ctx, args[1:], stdout)
	case "test":
		return policyTest(ctx, args[1:], stdout)
	case "-h", "--help":
		fmt.Fprintln(stdout, `Usage:
  warden policy check   --config F [--json]
  warden policy explain --config F --as IDENTITY [--group G ...] --connection C [--tool T] (--sql '...' | --command '...' | --manifest FILE [--namespace NS]) [--json]
  warden policy test    --config F [--json] TESTS.yaml ...

A manifest (kubectl_apply on a kubernetes connection) is classified
offline with the built-in discovery of Kubernetes `+kubeclass.BuiltinVersion+`
(no custom resources): the output says so.`)
		return nil
	}
	return usageError{fmt.Sprintf("unknown subcommand %q: expected check, explain or test", args[0])}
}

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// policyCheck validates the configuration and lints the rules.
func policyCheck(args []string, stdout io.Writer) error {
	fs := newFlags("policy check", "policy check --config F [--json]", stdout)
	cfgPath := configFlag(fs)
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	type report struct {
		OK bool `json:"ok"`
		// Errors are every problem of the configuration and its policy
		// (none when ok), as config check --json has them.
		Errors   []*config.Error `json:"errors"`
		Warnings []string        `json:"warnings,omitempty"`
		// Rules counts the rules read, even with errors.
		Rules   int    `json:"rules"`
		Version string `json:"policy_version,omitempty"`
	}
	cfg, engine, err := checkConfig(*cfgPath)
	r := report{OK: err == nil, Errors: problems(*cfgPath, err)}
	if cfg != nil {
		r.Rules = len(cfg.Rules)
	}
	if err == nil {
		r.Version = engine.Version()
		r.Warnings = policy.Lint(cfg)
	}
	if *asJSON {
		if err := writeJSON(stdout, r); err != nil {
			return err
		}
		if !r.OK {
			return errSilent
		}
		return nil
	}
	printProblems(stdout, r.Errors)
	for _, w := range r.Warnings {
		fmt.Fprintf(stdout, "warning: %s\n", w)
	}
	if !r.OK {
		fmt.Fprintf(stdout, "%s: %d error%s%s\n", *cfgPath, len(r.Errors), pluralS(len(r.Errors)), readCounts(cfg))
		return errSilent
	}
	fmt.Fprintf(stdout, "%s: %d rule%s ok, %d warning%s (policy %s)\n", *cfgPath, r.Rules, pluralS(r.Rules), len(r.Warnings), pluralS(len(r.Warnings)), r.Version)
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// policyExplain decides one request offline and shows why.
func policyExplain(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("policy explain", "policy explain --config F --as IDENTITY --connection C (--sql '...' | --command '...' | --manifest FILE) [flags]", stdout)
	cfgPath := configFlag(fs)
	var req policy.Request
	var groups stringList
	fs.StringVar(&req.As, "as", "", "the identity making the request")
	fs.Var(&groups, "group", "a group of the identity (repeatable; default: the groups identity.users gives it)")
	fs.StringVar(&req.Connection, "connection", "", "the connection")
	fs.StringVar(&req.Tool, "tool", "", "the tool (default: run_query, or exec_ssh with --command)")
	fs.StringVar(&req.Transport, "transport", "stdio", "how the call arrives: stdio, http or postgres-proxy")
	fs.StringVar(&req.SQL, "sql", "", "the SQL statement")
	fs.StringVar(&req.Command, "command", "", "the shell command line (an ssh connection)")
	manifest := fs.String("manifest", "", "a file of the Kubernetes manifest to apply (a kubernetes connection; the tool defaults to kubectl_apply), YAML or JSON; kinds resolve through the built-in discovery of Kubernetes "+kubeclass.BuiltinVersion)
	fs.StringVar(&req.Namespace, "namespace", "", "with --manifest: where objects that name no namespace go (default: the connection's default namespace)")
	asJSON := fs.Bool("json", false, "print the explanation as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if req.As == "" || req.Connection == "" {
		return usageError{"--as and --connection are required"}
	}
	if nonEmptyFlags(req.SQL, req.Command, *manifest) > 1 {
		return usageError{"give one of --sql, --command and --manifest"}
	}
	if req.Namespace != "" && *manifest == "" {
		return usageError{"--namespace goes with --manifest"}
	}
	if *manifest != "" {
		m, err := readManifest(*manifest)
		if err != nil {
			return err
		}
		req.Manifest = m
	}
	if len(groups) > 0 {
		req.Groups = groups
	}
	cfg, engine, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	ex, err := policy.ExplainRequest(ctx, engine, cfg, offlineClassifiers, req)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(stdout, explainJSON(ex))
	}
	printExplanation(stdout, ex)
	return nil
}

// readManifest reads --manifest's file.
func readManifest(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read the manifest: %w", err)
	}
	if len(data) == 0 {
		return "", usageError{fmt.Sprintf("the manifest %s is empty", path)}
	}
	return string(data), nil
}

func nonEmptyFlags(ss ...string) int {
	n := 0
	for _, s := range ss {
		if s != "" {
			n++
		}
	}
	return n
}

type explainOut struct {
	Decision      policy.Effect `json:"decision"`
	Rule          string        `json:"rule"`
	Reason        string        `json:"reason"`
	ReadOnly      bool          `json:"read_only"`
	MaxRows       int           `json:"max_rows,omitempty"`
	ClassifyError string        `json:"classify_error,omitempty"`
	// Discovery, for a manifest, is what its kinds were resolved with.
	Discovery  string             `json:"discovery,omitempty"`
	Statements []statementOut     `json:"statements,omitempty"`
	Rules      []policy.RuleTrace `json:"rules"`
}

type statementOut struct {
	Tag string `json:"tag"`
	// Args and Via, for a command: its arguments, and the wrappers it
	// runs through with theirs ("sudo -u root").
	Args          []string `json:"args,omitempty"`
	Via           []string `json:"via,omitempty"`
	Kinds         []string `json:"kinds"`
	TablesRead    []string `json:"tables_read,omitempty"`
	TablesWritten []string `json:"tables_written,omitempty"`
	Functions     []string `json:"functions,omitempty"`
	// Risks, for a Kubernetes object, are what it asks for that a rule's
	// allow_risks must name.
	Risks   []string `json:"risks,omitempty"`
	Reasons []string `json:"reasons,omitempty"`
}

func explainJSON(ex policy.Explanation) explainOut {
	out := explainOut{Decision: ex.Effect, Rule: ex.Rule, Reason: ex.Reason, ReadOnly: ex.ReadOnly, MaxRows: ex.MaxRows,
		ClassifyError: ex.ClassifyError, Discovery: ex.Discovery, Rules: ex.Trace}
	if ex.Facts != nil {
		for _, st := range ex.Facts.Parts {
			out.Statements = append(out.Statements, statementOut{Tag: st.Tag, Args: argTexts(st.Args), Via: wrapperTexts(st.Wrappers),
				Kinds: st.Kinds, TablesRead: resourceTexts(st.Read), TablesWritten: resourceTexts(st.Written), Functions: st.Functions, Risks: st.Risks, Reasons: st.Reasons})
		}
	}
	if out.Rules == nil {
		out.Rules = []policy.RuleTrace{}
	}
	return out
}

func printExplanation(w io.Writer, ex policy.Explanation) {
	rule := ex.Rule
	if rule == "" {
		rule = "(none: the default)"
	}
	fmt.Fprintf(w, "decision: %s\nrule:     %s\nreason:   %s\n", strings.ToUpper(string(ex.Effect)), rule, ex.Reason)
	if ex.Effect != policy.Deny {
		mode := "read-only"
		if !ex.ReadOnly {
			mode = "read-write"
		}
		fmt.Fprintf(w, "runs:     %s", mode)
		if ex.MaxRows > 0 {
			fmt.Fprintf(w, ", at most %d rows", ex.MaxRows)
		}
		fmt.Fprintln(w)
	}
	if ex.Discovery != "" {
		fmt.Fprintf(w, "kinds:    resolved with the %s\n", ex.Discovery)
	}
	if ex.ClassifyError != "" {
		fmt.Fprintf(w, "\nthe statement could not be classified: %s\n", ex.ClassifyError)
	}
	if ex.Facts != nil {
		fmt.Fprintf(w, "\nstatement facts:\n")
		for i, st := range ex.Facts.Parts {
			fmt.Fprintf(w, "  %d. %s (%s)\n", i+1, st.Tag, strings.Join(st.Kinds, ", "))
			if len(st.Args) > 0 {
				fmt.Fprintf(w, "     args:      %s\n", strings.Join(argTexts(st.Args), " "))
			}
			if len(st.Wrappers) > 0 {
				fmt.Fprintf(w, "     via:       %s\n", strings.Join(wrapperTexts(st.Wrappers), ", "))
			}
			if len(st.Read) > 0 {
				fmt.Fprintf(w, "     reads:     %s\n", strings.Join(resourceTexts(st.Read), ", "))
			}
			if len(st.Written) > 0 {
				fmt.Fprintf(w, "     writes:    %s\n", strings.Join(resourceTexts(st.Written), ", "))
			}
			if len(st.Functions) > 0 {
				fmt.Fprintf(w, "     functions: %s\n", strings.Join(st.Functions, ", "))
			}
			if len(st.Risks) > 0 {
				fmt.Fprintf(w, "     risks:     %s\n", strings.Join(st.Risks, ", "))
			}
			for _, r := range st.Reasons {
				fmt.Fprintf(w, "     why:       %s\n", r)
			}
		}
	}
	if len(ex.Trace) > 0 {
		fmt.Fprintf(w, "\nrules, in order:\n")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, t := range ex.Trace {
			state := "no match"
			switch {
			case t.Matched && t.Admitted:
				state = "matched"
			case t.Matched:
				state = "matched, not admitted"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", t.Rule, t.Effect, state, t.Why)
		}
		tw.Flush()
	}
}

// argTexts are a command's arguments as the classifier reports them.
func argTexts(args []policy.Arg) []string {
	var out []string
	for _, a := range args {
		out = append(out, a.Text)
	}
	return out
}

// wrapperTexts are a command's wrappers, each with its own arguments.
func wrapperTexts(ws []policy.Command) []string {
	var out []string
	for _, w := range ws {
		out = append(out, strings.Join(append([]string{w.Program}, argTexts(w.Args)...), " "))
	}
	return out
}

// policyTest runs policy test files and exits non-zero on a failure.
func policyTest(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("policy test", "policy test --config F [--json] TESTS.yaml ...", stdout)
	cfgPath := configFlag(fs)
	asJSON := fs.Bool("json", false, "print results as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usageError{"expected at least one test file"}
	}
	cfg, engine, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	type fileResult struct {
		File    string              `json:"file"`
		Results []policy.TestResult `json:"results"`
	}
	var all []fileResult
	discoveryOf := func(fs []fileResult) string {
		for _, f := range fs {
			for _, r := range f.Results {
				if r.Discovery != "" {
					return r.Discovery
				}
			}
		}
		return ""
	}
	failed, total := 0, 0
	for _, path := range fs.Args() {
		tf, err := policy.LoadTests(path)
		if err != nil {
			return err
		}
		rs := policy.RunTests(ctx, engine, cfg, offlineClassifiers, tf)
		all = append(all, fileResult{File: path, Results: rs})
		for _, r := range rs {
			total++
			if !r.Pass {
				failed++
			}
		}
	}
	if *asJSON {
		writeJSON(stdout, map[string]any{"files": all, "passed": total - failed, "failed": failed})
	} else {
		for _, f := range all {
			for _, r := range f.Results {
				if r.Pass {
					fmt.Fprintf(stdout, "PASS  %s: %s (%s by %s)\n", f.File, r.Name, r.Effect, ruleName(r.Rule))
					continue
				}
				fmt.Fprintf(stdout, "FAIL  %s: %s\n", f.File, r.Name)
				for _, p := range r.Problems {
					fmt.Fprintf(stdout, "        %s\n", p)
				}
			}
		}
		if d := discoveryOf(all); d != "" {
			fmt.Fprintf(stdout, "manifests' kinds resolved with the %s\n", d)
		}
		fmt.Fprintf(stdout, "%d passed, %d failed\n", total-failed, failed)
	}
	if failed > 0 {
		return errSilent
	}
	return nil
}

func ruleName(r string) string {
	if r == "" {
		return "the default"
	}
	return r
}

// resourceTexts are the resources' names as the statement wrote them.
func resourceTexts(rs []policy.Resource) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Text)
	}
	return out
}
