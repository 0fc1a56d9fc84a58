package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/wardenhq/warden/approvals"
	"github.com/wardenhq/warden/config"
	"github.com/wardenhq/warden/identity"
)

const approvalsUsage = `approvals list|show|approve|deny [flags]

  warden approvals list    [--state pending|open|all|STATE,...] [--limit N] [--json]
  warden approvals show    ID [--json]
  warden approvals approve ID [--comment TEXT] [--json]
  warden approvals deny    ID [--comment TEXT] [--json]

Talks to a running Warden (--server, env WARDEN_SERVER: its MCP URL, as for
warden login) over its HTTP API, as the person logged in with warden login
(or the caller of WARDEN_TOKEN). You see the requests you made or may decide;
you cannot decide your own.`

func runApprovals(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintf(stdout, "Usage: warden %s\n", approvalsUsage)
		if len(args) == 0 {
			return usageError{"expected a subcommand: list, show, approve or deny"}
		}
		return nil
	}
	sub := args[0]
	if !slices.Contains([]string{"list", "show", "approve", "deny"}, sub) {
		return usageError{fmt.Sprintf("unknown subcommand %q: expected list, show, approve or deny", sub)}
	}
	fs := newFlags("approvals "+sub, approvalsUsage, stdout)
	server := fs.String("server", os.Getenv("WARDEN_SERVER"), "Warden's MCP URL, e.g. https://warden.example.com/mcp (env WARDEN_SERVER)")
	asJSON := fs.Bool("json", false, "print JSON")
	var state, comment *string
	var limit *int
	switch sub {
	case "list":
		state = fs.String("state", "pending", "pending, open (pending or approved), all, or states separated by commas")
		limit = fs.Int("limit", 50, "most requests to show (newest first)")
	case "approve", "deny":
		comment = fs.String("comment", "", "a comment recorded with the decision")
	}
	positional, err := parseInterleaved(fs, args[1:])
	if err != nil {
		return err
	}
	var id string
	if sub == "list" {
		if len(positional) > 0 {
			return usageError{fmt.Sprintf("unexpected argument %q", positional[0])}
		}
	} else {
		if len(positional) != 1 {
			return usageError{"expected one request ID, e.g. warden approvals " + sub + " apr_..."}
		}
		id = positional[0]
	}
	c, err := newAPIClient(ctx, *server)
	if err != nil {
		return err
	}
	switch sub {
	case "list":
		q := url.Values{"state": {*state}, "limit": {fmt.Sprint(*limit)}}
		var res approvals.ListResponse
		raw, err := c.do(ctx, http.MethodGet, "?"+q.Encode(), nil, &res)
		if err != nil {
			return c.report(err, raw, *asJSON, stdout)
		}
		if *asJSON {
			return writeJSONLines(stdout, res.Approvals)
		}
		printApprovalList(stdout, res.Approvals)
		return nil
	case "show":
		var a approvals.Approval
		raw, err := c.do(ctx, http.MethodGet, "/"+url.PathEscape(id), nil, &a)
		if err != nil {
			return c.report(err, raw, *asJSON, stdout)
		}
		if *asJSON {
			stdout.Write(raw)
			return nil
		}
		printApproval(stdout, &a)
		return nil
	}
	var a approvals.Approval
	raw, err := c.do(ctx, http.MethodPost, "/"+url.PathEscape(id)+"/"+sub, approvals.DecisionRequest{Comment: *comment}, &a)
	if err != nil {
		return c.report(err, raw, *asJSON, stdout)
	}
	if *asJSON {
		stdout.Write(raw)
		return nil
	}
	verb := map[string]string{"approve": "Approved", "deny": "Denied"}[sub]
	fmt.Fprintf(stdout, "%s %s as %s: the request is now %s (%d of %d approvals).\n", verb, a.ID, c.who, a.State, a.Approvals(), a.Approvers.Quorum)
	return nil
}

// parseInterleaved parses flags placed before and after positional
// arguments ("approve ID --comment x").
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := parseFlags(fs, args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return positional, nil
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// apiClient calls the approvals API of one Warden as the logged-in person.
type apiClient struct {
	base  string // https://host/api/approvals
	token string
	who   string
}

func newAPIClient(ctx context.Context, server string) (*apiClient, error) {
	mcpURL, err := normalizeServer(server)
	if err != nil {
		return nil, err
	}
	u, _ := url.Parse(mcpURL)
	u.Path = strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), "/mcp") + approvals.APIPrefix
	c := &apiClient{base: u.String()}
	if tok, ok := os.LookupEnv("WARDEN_TOKEN"); ok && strings.TrimSpace(tok) != "" {
		c.token, c.who = strings.TrimSpace(tok), "the caller of WARDEN_TOKEN"
		return c, nil
	}
	cache, err := defaultTokenCache()
	if err != nil {
		return nil, err
	}
	l, err := cache.fresh(ctx, mcpURL)
	if err != nil {
		// Not logged in to a Warden on this machine: ask without a token,
		// which only a Warden allowing anonymous loopback clients accepts
		// (warden demo).
		if _, getErr := cache.get(mcpURL); getErr != nil && isLoopback(u.Hostname()) {
			c.who = "the anonymous loopback identity"
			return c, nil
		}
		return nil, err
	}
	c.token, c.who = l.AccessToken, l.Subject
	return c, nil
}

func isLoopback(host string) bool {
	ip := net.ParseIP(host)
	return host == "localhost" || ip != nil && ip.IsLoopback()
}

// apiError is an error answer of the API.
type apiError struct {
	status int
	body   approvals.APIError
}

func (e *apiError) Error() string {
	if e.body.Message != "" {
		return fmt.Sprintf("%s: %s", e.body.Error, e.body.Message)
	}
	return fmt.Sprintf("the server answered %d", e.status)
}

// do sends one request and decodes a 2xx answer into out. It returns the
// raw body too.
func (c *apiClient) do(ctx context.Context, method, path string, body, out any) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := loginHTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("reach %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return nil, fmt.Errorf("read the answer of %s: %w", c.base, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := &apiError{status: resp.StatusCode}
		if json.Unmarshal(raw, &e.body) != nil || e.body.Error == "" {
			e.body = approvals.APIError{Error: strings.ToLower(strings.ReplaceAll(http.StatusText(resp.StatusCode), " ", "_")),
				Message: strings.TrimSpace(string(raw))}
			if resp.StatusCode == http.StatusNotFound {
				e.body.Message = "this server has no approvals API (is it a Warden with approvals?)"
			}
		}
		return raw, e
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return raw, fmt.Errorf("the answer of %s is not what warden expects: %w", c.base, err)
	}
	return raw, nil
}

// report prints an API error: in JSON mode the server's error object on
// stdout too; the error itself ends the command with status 1.
func (c *apiClient) report(err error, raw []byte, asJSON bool, stdout io.Writer) error {
	var ae *apiError
	if asJSON && errors.As(err, &ae) {
		b, _ := json.Marshal(ae.body)
		fmt.Fprintln(stdout, string(b))
	}
	if errors.As(err, &ae) && ae.status == http.StatusUnauthorized {
		return fmt.Errorf("%w (log in again with warden login)", err)
	}
	return err
}

func printApprovalList(w io.Writer, list []*approvals.Approval) {
	if len(list) == 0 {
		fmt.Fprintln(w, "No requests.")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tREQUESTER\tAPPROVALS\tEXPIRES\tCALL")
	for _, a := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d\t%s\t%s\n", a.ID, a.State, a.Requester.Subject, a.Approvals(), a.Approvers.Quorum,
			describeUntil(a.Expires), a.Summary())
	}
	tw.Flush()
}

func describeUntil(t time.Time) string {
	d := time.Until(t).Round(time.Second)
	if d <= 0 {
		return "expired"
	}
	return "in " + d.String()
}

func printApproval(w io.Writer, a *approvals.Approval) {
	fmt.Fprintf(w, "request:       %s (%s)\n", a.ID, a.State)
	fmt.Fprintf(w, "asked by:      %s", a.Requester.Subject)
	if len(a.Requester.Groups) > 0 {
		fmt.Fprintf(w, " (groups: %s)", strings.Join(a.Requester.Groups, ", "))
	}
	fmt.Fprintf(w, "\nconnection:    %s\ntool:          %s\nrule:          %s\n", a.Connection, a.Tool, a.Rule)
	if a.Justification != "" {
		fmt.Fprintf(w, "justification: %s\n", a.Justification)
	}
	if len(a.TablesRead) > 0 {
		fmt.Fprintf(w, "tables read:   %s\n", strings.Join(a.TablesRead, ", "))
	}
	if len(a.TablesWritten) > 0 {
		fmt.Fprintf(w, "tables written: %s\n", strings.Join(a.TablesWritten, ", "))
	}
	fmt.Fprintf(w, "approvers:     %d of %d from %s\n", a.Approvals(), a.Approvers.Quorum, strings.Join(a.Approvers.Groups, ", "))
	fmt.Fprintf(w, "created:       %s\nexpires:       %s (%s)\n", a.Created.Local().Format(time.DateTime), a.Expires.Local().Format(time.DateTime), describeUntil(a.Expires))
	if !a.Executed.IsZero() {
		fmt.Fprintf(w, "executed:      %s %s\n", a.Executed.Local().Format(time.DateTime), a.AuditID)
	}
	if a.Error != "" {
		fmt.Fprintf(w, "error:         %s\n", a.Error)
	}
	if a.URL != "" {
		fmt.Fprintf(w, "page:          %s\n", a.URL)
	}
	if a.Statement != "" {
		fmt.Fprintf(w, "\n%s\n", a.Statement)
	} else {
		fmt.Fprintf(w, "\narguments: %s\n", a.Arguments)
	}
	if len(a.Decisions) > 0 {
		fmt.Fprintln(w, "\ndecisions:")
		for _, d := range a.Decisions {
			fmt.Fprintf(w, "  %s  %-7s %s", d.Time.Local().Format(time.DateTime), d.Verdict, d.Approver)
			if d.Comment != "" {
				fmt.Fprintf(w, ": %s", d.Comment)
			}
			fmt.Fprintln(w)
		}
	}
}

// Wiring used by openApp and serve: the approval workflow over the store.

// newApprovals builds the approval service of a configuration.
func newApprovals(cfg *config.Config, st *stores, logger *slog.Logger) (*approvals.Service, *approvals.Webhooks, error) {
	ac := cfg.Approvals
	var notifier approvals.Notifier
	var hooks *approvals.Webhooks
	if len(ac.Webhooks) > 0 {
		var targets []approvals.WebhookTarget
		for _, w := range ac.Webhooks {
			t := approvals.WebhookTarget{Name: w.Name, URL: w.URL, Events: w.Events, Timeout: w.Timeout, Retries: *w.Retries}
			if t.URL == "" {
				s, err := w.URLFrom.Ref().Resolve()
				if err != nil {
					return nil, nil, fmt.Errorf("approvals webhook %s: url_from: %w", w.Name, err)
				}
				t.URL = s.Reveal()
				if msg := config.CheckWebhookURL(t.URL); msg != "" {
					return nil, nil, fmt.Errorf("approvals webhook %s: the URL from %s: %s", w.Name, w.URLFrom.Ref().Describe(), msg)
				}
			}
			s, err := w.Secret.Ref().Resolve()
			if err != nil {
				return nil, nil, fmt.Errorf("approvals webhook %s: secret: %w", w.Name, err)
			}
			t.Secret = []byte(s.Reveal())
			targets = append(targets, t)
		}
		hooks = approvals.NewWebhooks(targets, approvals.WebhookOptions{Logger: logger.With("component", "webhooks"), UserAgent: "warden/" + version})
		notifier = hooks
	}
	svc, err := approvals.New(approvals.Options{
		Store: st.approvals, Recorder: st.audit,
		Wait: ac.Wait, MaxWait: ac.MaxWait, TTL: ac.TTL,
		Approvers: approvals.Approvers{Groups: ac.Approvers.Groups, Quorum: ac.Approvers.Quorum},
		BaseURL:   approvalsBaseURL(cfg, ""), Notifier: notifier, Logger: logger.With("component", "approvals"),
	})
	if err != nil {
		return nil, nil, err
	}
	for _, r := range cfg.Rules {
		if r.Effect == "review" && len(r.Approvers.Groups) == 0 && len(ac.Approvers.Groups) == 0 {
			logger.Warn("a review rule names no approvers, and approvals.approvers names none: calls it holds cannot be approved", "rule", r.Name)
		}
	}
	return svc, hooks, nil
}

// approvalsBaseURL is where people reach the approval pages:
// approvals.url, else the origin of identity.resource, else listen (the
// address serve listens on), else listen.mcp.
func approvalsBaseURL(cfg *config.Config, listen string) string {
	if cfg.Approvals.URL != "" {
		return cfg.Approvals.URL
	}
	if u, err := url.Parse(cfg.Identity.Resource); err == nil && cfg.Identity.Resource != "" {
		return u.Scheme + "://" + u.Host
	}
	if listen != "" {
		return "http://" + listen
	}
	return "http://" + cfg.Listen.MCP
}

// mountApprovals serves the approval pages and API next to MCP.
func (a *app) mountApprovals(mux *http.ServeMux, ident identity.Identifier, listen string) error {
	base := approvalsBaseURL(a.cfg, listen)
	a.approvals.SetBaseURL(base)
	o := approvals.HTTPOptions{Identifier: ident, SessionTTL: a.cfg.Approvals.Web.SessionTTL,
		Secure: strings.HasPrefix(base, "https://"), Logger: a.logger.With("component", "approvals-web")}
	if tokens := tokenVerifier(ident); tokens != nil && len(a.cfg.Identity.AuthorizationServers) > 0 {
		w := a.cfg.Approvals.Web
		login := &approvals.WebLogin{Issuer: w.Issuer, ClientID: w.ClientID, RedirectURL: w.RedirectURL,
			Resource: a.cfg.Identity.Resource, Verifier: tokens}
		if login.Issuer == "" {
			login.Issuer = a.cfg.Identity.AuthorizationServers[0]
		}
		if login.RedirectURL == "" {
			login.RedirectURL = base + approvals.DefaultCallbackPath
		}
		if w.ClientSecret.Env != "" || w.ClientSecret.File != "" {
			s, err := w.ClientSecret.Ref().Resolve()
			if err != nil {
				return fmt.Errorf("approvals.web.client_secret: %w", err)
			}
			login.ClientSecret = s.Reveal()
		}
		for _, o := range a.cfg.Identity.OIDC {
			for _, s := range o.Scopes {
				if !slices.Contains(login.Scopes, s) {
					login.Scopes = append(login.Scopes, s)
				}
			}
		}
		o.Login = login
	}
	a.approvals.Mount(mux, o)
	a.logger.Info("serving approvals", "pages", base+approvals.PageList, "api", base+approvals.APIPrefix, "browser_login", o.Login != nil)
	return nil
}

// tokenVerifier finds the bearer-token validator in an identifier.
func tokenVerifier(ident identity.Identifier) approvals.TokenVerifier {
	switch id := ident.(type) {
	case *identity.OIDC:
		return id
	case identity.Loopback:
		if o, ok := id.Tokens.(*identity.OIDC); ok {
			return o
		}
	}
	return nil
}
