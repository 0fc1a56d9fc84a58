package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/oauth2"

	"github.com/wardenhq/warden/identity"
)

// tokenCache is where `warden login` keeps tokens:
// os.UserConfigDir()/warden/tokens.json, mode 0600 in a 0700 directory,
// one login per Warden server (its resource URL). Other commands get a
// valid token for a server with fresh.
type tokenCache struct{ path string }

// cachedLogin is one server's login. Its String and GoString never show
// the tokens.
type cachedLogin struct {
	Server       string    `json:"server"` // the resource URL, as Warden names it
	Issuer       string    `json:"issuer"`
	ClientID     string    `json:"client_id"`
	TokenURL     string    `json:"token_url"`
	Scopes       []string  `json:"scopes,omitempty"`
	AccessToken  string    `json:"access_token"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	TokenType    string    `json:"token_type,omitempty"`
	Expiry       time.Time `json:"expiry,omitzero"`
	// Subject and Groups are who Warden said the caller was at login.
	Subject string   `json:"subject,omitempty"`
	Groups  []string `json:"groups,omitempty"`
}

func (l cachedLogin) String() string {
	return fmt.Sprintf("login to %s as %s via %s", l.Server, l.Subject, l.Issuer)
}

func (l cachedLogin) GoString() string { return l.String() }

type tokenFile struct {
	Version int                     `json:"version"`
	Servers map[string]*cachedLogin `json:"servers"`
}

func defaultTokenCache() (*tokenCache, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return nil, fmt.Errorf("find the user configuration directory for the token cache: %w", err)
	}
	return &tokenCache{path: filepath.Join(dir, "warden", "tokens.json")}, nil
}

// load reads the cache; a missing file is an empty cache. A file other
// users can read is refused, as ssh refuses such a key.
func (c *tokenCache) load() (*tokenFile, error) {
	f := &tokenFile{Version: 1, Servers: map[string]*cachedLogin{}}
	info, err := os.Stat(c.path)
	if errors.Is(err, fs.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return nil, fmt.Errorf("token cache: %w", err)
	}
	if info.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("token cache %s can be read by other users (mode %04o): run chmod 600 %s, or warden logout --all", c.path, info.Mode().Perm(), c.path)
	}
	b, err := os.ReadFile(c.path)
	if err != nil {
		return nil, fmt.Errorf("token cache: %w", err)
	}
	if err := json.Unmarshal(b, f); err != nil {
		return nil, fmt.Errorf("token cache %s is damaged (%v): remove it and log in again", c.path, err)
	}
	if f.Servers == nil {
		f.Servers = map[string]*cachedLogin{}
	}
	return f, nil
}

// save replaces the cache atomically: a new 0600 file renamed over the old.
func (c *tokenCache) save(f *tokenFile) error {
	dir := filepath.Dir(c.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("token cache: %w", err)
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".tokens-*.json") // mode 0600
	if err != nil {
		return fmt.Errorf("token cache: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(b)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("token cache: %w", err)
	}
	if err := os.Rename(tmp.Name(), c.path); err != nil {
		return fmt.Errorf("token cache: %w", err)
	}
	return nil
}

func (c *tokenCache) put(l *cachedLogin) error {
	f, err := c.load()
	if err != nil {
		return err
	}
	f.Servers[l.Server] = l
	return c.save(f)
}

// get returns the login for a server URL (as normalizeServer gives it).
func (c *tokenCache) get(server string) (*cachedLogin, error) {
	f, err := c.load()
	if err != nil {
		return nil, err
	}
	l, ok := f.Servers[server]
	if !ok {
		return nil, fmt.Errorf("not logged in to %s: run warden login --server %s", server, server)
	}
	return l, nil
}

// fresh returns a valid access token for server, refreshing the cached one
// (and saving the new tokens) when it has expired.
func (c *tokenCache) fresh(ctx context.Context, server string) (*cachedLogin, error) {
	l, err := c.get(server)
	if err != nil {
		return nil, err
	}
	tok := &oauth2.Token{AccessToken: l.AccessToken, RefreshToken: l.RefreshToken, TokenType: l.TokenType, Expiry: l.Expiry}
	if tok.Valid() {
		return l, nil
	}
	if l.RefreshToken == "" {
		return nil, fmt.Errorf("the token for %s has expired and cannot be refreshed: run warden login --server %s", server, server)
	}
	client := identity.LoginClient{HTTP: loginHTTP}
	next, err := client.Refresh(ctx, l.ClientID, l.TokenURL, l.Scopes, tok)
	if err != nil {
		return nil, fmt.Errorf("%v for %s: run warden login --server %s", err, server, server)
	}
	l.setToken(next)
	if err := c.put(l); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *cachedLogin) setToken(t *oauth2.Token) {
	l.AccessToken, l.TokenType, l.Expiry = t.AccessToken, t.TokenType, t.Expiry
	if t.RefreshToken != "" {
		l.RefreshToken = t.RefreshToken
	}
}

func (c *tokenCache) remove(server string, all bool) ([]string, error) {
	f, err := c.load()
	if err != nil && !all {
		return nil, err
	}
	if f == nil {
		f = &tokenFile{Version: 1, Servers: map[string]*cachedLogin{}}
	}
	var removed []string
	for s := range f.Servers {
		if all || s == server {
			removed = append(removed, s)
			delete(f.Servers, s)
		}
	}
	if all {
		if err := os.Remove(c.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("token cache: %w", err)
		}
		return removed, nil
	}
	return removed, c.save(f)
}
