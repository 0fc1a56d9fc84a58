package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/wardenhq/warden/identity"
)

// httpTimeout bounds each request of the login flows.
const httpTimeout = 30 * time.Second

var loginHTTP = &http.Client{Timeout: httpTimeout}

func runLogin(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "status" {
		return runLoginStatus(ctx, args[1:], stdout)
	}
	fs := newFlags("login", `login --server URL [--device] [flags]
       warden login status [--server URL] [--check] [--json]

Logs in to a Warden server as a person: finds the server's identity provider
from its OAuth protected resource metadata (RFC 9728), then runs the OpenID
Connect authorization code flow with PKCE through a browser and a redirect
to 127.0.0.1 (or, with --device, the device code flow). The tokens are kept
in `+"`"+`<user config dir>/warden/tokens.json`+"`"+` (mode 0600) and refreshed when
they can be. Tokens are never printed unless --print-token is given.`, stdout)
	server := fs.String("server", os.Getenv("WARDEN_SERVER"), "Warden's MCP URL, e.g. https://warden.example.com/mcp (env WARDEN_SERVER)")
	device := fs.Bool("device", false, "use the device code flow, for a machine without a browser")
	clientID := fs.String("client-id", envOr("WARDEN_CLIENT_ID", "warden-cli"), "the OAuth client registered for warden login at the identity provider (env WARDEN_CLIENT_ID)")
	issuer := fs.String("issuer", "", "which of the server's authorization servers to use (default: the first it names)")
	scopes := fs.String("scopes", "", "scopes to request besides openid and offline_access, separated by spaces or commas (default: the scopes the server names)")
	noBrowser := fs.Bool("no-browser", false, "never open a browser: only print the login URL")
	printToken := fs.Bool("print-token", false, "print the access token on stdout, reusing the cached one while it is valid or can be refreshed")
	timeout := fs.Duration("timeout", 5*time.Minute, "how long to wait for the login to complete")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	serverURL, err := normalizeServer(*server)
	if err != nil {
		return err
	}
	cache, err := defaultTokenCache()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	if *printToken {
		if l, err := cache.fresh(ctx, serverURL); err == nil {
			fmt.Fprintln(stdout, l.AccessToken)
			return nil
		}
	}
	client := identity.LoginClient{HTTP: loginHTTP, Prompt: stderr, OpenBrowser: !*noBrowser}
	res, err := client.Discover(ctx, serverURL)
	if err != nil {
		return err
	}
	as := res.AuthorizationServers[0]
	if *issuer != "" {
		if !slices.Contains(res.AuthorizationServers, *issuer) {
			return fmt.Errorf("%s does not name %s as an authorization server (it names %s)", serverURL, *issuer, strings.Join(res.AuthorizationServers, ", "))
		}
		as = *issuer
	}
	want := res.Scopes
	if *scopes != "" {
		want = strings.FieldsFunc(*scopes, func(r rune) bool { return r == ',' || r == ' ' })
	}
	login, err := client.Configure(ctx, as, *clientID, res.Resource, want)
	if err != nil {
		return err
	}

	var tok *oauth2.Token
	if *device {
		tok, err = client.Device(ctx, login)
	} else {
		tok, err = client.Browser(ctx, login)
	}
	if err != nil {
		return err
	}
	l := &cachedLogin{Server: res.Resource, Issuer: as, ClientID: *clientID, TokenURL: login.Config.Endpoint.TokenURL, Scopes: login.Config.Scopes}
	l.setToken(tok)
	who, err := client.WhoAmI(ctx, serverURL, l.AccessToken)
	if err != nil {
		return fmt.Errorf("the identity provider issued a token, but Warden refused it: %w", err)
	}
	l.Subject, l.Groups = who.Subject, who.Groups
	if err := cache.put(l); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "Logged in to %s as %s", res.Resource, who.Subject)
	if len(who.Groups) > 0 {
		fmt.Fprintf(stderr, " (groups: %s)", strings.Join(who.Groups, ", "))
	}
	fmt.Fprintf(stderr, " via %s.\nThe token is cached in %s%s.\n", as, cache.path, describeExpiry(l))
	if *printToken {
		fmt.Fprintln(stdout, l.AccessToken)
	}
	return nil
}

// normalizeServer turns what the user typed into Warden's MCP URL: an
// https URL (http only for localhost), /mcp when it has no path, no
// trailing slash.
func normalizeServer(s string) (string, error) {
	if s == "" {
		return "", usageError{"--server is required (or set WARDEN_SERVER): Warden's MCP URL, e.g. https://warden.example.com/mcp"}
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return "", usageError{fmt.Sprintf("--server: %q is not an absolute URL", s)}
	}
	if msg := identity.CheckTokenURL((&url.URL{Scheme: u.Scheme, Host: u.Host}).String()); msg != "" {
		return "", usageError{fmt.Sprintf("--server %s: %s", s, msg)}
	}
	if strings.Trim(u.Path, "/") == "" {
		u.Path = "/mcp"
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawQuery, u.Fragment = "", ""
	return u.String(), nil
}

func describeExpiry(l *cachedLogin) string {
	switch {
	case l.Expiry.IsZero():
		return ""
	case time.Until(l.Expiry) > 0:
		s := fmt.Sprintf("; it is valid until %s", l.Expiry.Local().Format(time.DateTime))
		if l.RefreshToken != "" {
			s += " and will be refreshed after that"
		}
		return s
	case l.RefreshToken != "":
		return "; it has expired and will be refreshed when next used"
	}
	return "; it has expired"
}

// runLoginStatus shows the cached logins; with --check it asks each server
// who the (refreshed) token names.
func runLoginStatus(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("login status", "login status [--server URL] [--check] [--json]", stdout)
	server := fs.String("server", os.Getenv("WARDEN_SERVER"), "show only this server (env WARDEN_SERVER)")
	check := fs.Bool("check", false, "refresh the token if needed and ask the server who it names")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cache, err := defaultTokenCache()
	if err != nil {
		return err
	}
	f, err := cache.load()
	if err != nil {
		return err
	}
	var servers []string
	if *server != "" {
		s, err := normalizeServer(*server)
		if err != nil {
			return err
		}
		if _, ok := f.Servers[s]; !ok {
			return fmt.Errorf("not logged in to %s: run warden login --server %s", s, s)
		}
		servers = []string{s}
	} else {
		for s := range f.Servers {
			servers = append(servers, s)
		}
		slices.Sort(servers)
	}
	type status struct {
		Server  string    `json:"server"`
		Subject string    `json:"subject"`
		Groups  []string  `json:"groups"`
		Issuer  string    `json:"issuer"`
		Expiry  time.Time `json:"expiry,omitzero"`
		Refresh bool      `json:"refreshable"`
		Valid   bool      `json:"valid"`
		Error   string    `json:"error,omitempty"`
	}
	var out []status
	var failed bool
	for _, s := range servers {
		l := f.Servers[s]
		st := status{Server: s, Subject: l.Subject, Groups: l.Groups, Issuer: l.Issuer, Expiry: l.Expiry, Refresh: l.RefreshToken != "",
			Valid: l.Expiry.IsZero() || time.Until(l.Expiry) > 0}
		if *check {
			fl, err := cache.fresh(ctx, s)
			if err == nil {
				var who *identity.WhoAmI
				client := identity.LoginClient{HTTP: loginHTTP}
				if who, err = client.WhoAmI(ctx, s, fl.AccessToken); err == nil {
					st.Subject, st.Groups, st.Expiry, st.Valid = who.Subject, who.Groups, fl.Expiry, true
				}
			}
			if err != nil {
				st.Error, st.Valid, failed = err.Error(), false, true
			}
		}
		out = append(out, st)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		for _, st := range out {
			enc.Encode(st)
		}
	} else if len(out) == 0 {
		fmt.Fprintln(stdout, "Not logged in to any Warden server (warden login --server URL).")
	}
	for _, st := range out {
		if *asJSON {
			break
		}
		fmt.Fprintf(stdout, "%s\n  identity: %s", st.Server, st.Subject)
		if len(st.Groups) > 0 {
			fmt.Fprintf(stdout, " (groups: %s)", strings.Join(st.Groups, ", "))
		}
		fmt.Fprintf(stdout, "\n  issuer:   %s\n", st.Issuer)
		switch {
		case st.Error != "":
			fmt.Fprintf(stdout, "  token:    unusable: %s\n", st.Error)
		case st.Expiry.IsZero():
			fmt.Fprintln(stdout, "  token:    no expiry")
		case st.Valid:
			fmt.Fprintf(stdout, "  token:    valid for %s\n", time.Until(st.Expiry).Round(time.Second))
		case st.Refresh:
			fmt.Fprintln(stdout, "  token:    expired; will be refreshed when next used")
		default:
			fmt.Fprintln(stdout, "  token:    expired; log in again")
		}
	}
	if failed {
		return errSilent
	}
	return nil
}

// runLogout forgets cached tokens and, where the identity provider offers
// token revocation (RFC 7009), revokes them there too.
func runLogout(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("logout", "logout --server URL | --all", stdout)
	server := fs.String("server", os.Getenv("WARDEN_SERVER"), "the server to log out of (env WARDEN_SERVER)")
	all := fs.Bool("all", false, "log out of every server")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *all == (*server != "") {
		return usageError{"give either --server URL or --all"}
	}
	cache, err := defaultTokenCache()
	if err != nil {
		return err
	}
	var s string
	if !*all {
		if s, err = normalizeServer(*server); err != nil {
			return err
		}
	}
	if f, err := cache.load(); err == nil {
		for srv, l := range f.Servers {
			if *all || srv == s {
				revoke(ctx, l, stderr)
			}
		}
	}
	removed, err := cache.remove(s, *all)
	if err != nil {
		return err
	}
	if len(removed) == 0 && !*all {
		fmt.Fprintf(stderr, "Not logged in to %s.\n", s)
		return nil
	}
	for _, r := range removed {
		fmt.Fprintf(stderr, "Logged out of %s.\n", r)
	}
	return nil
}

// revoke asks the identity provider to revoke a login's tokens; it only
// warns when it cannot.
func revoke(ctx context.Context, l *cachedLogin, stderr io.Writer) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	client := identity.LoginClient{HTTP: loginHTTP}
	for _, err := range client.Revoke(ctx, l.Issuer, l.ClientID, l.RefreshToken, l.AccessToken) {
		fmt.Fprintf(stderr, "warning: %v\n", err)
	}
}
