package proxy

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/wardenhq/warden/identity"
)

// TokenPath is where `warden serve` answers `warden connect`.
const TokenPath = "/proxy/token"

// Issuer issues a login token for one connection of a proxy and says how
// to connect with it.
type Issuer struct {
	// Kind is the proxy's kind ("postgres", "ssh"); Issue returns the
	// connection details (a JSON object with a "kind" field).
	Kind  string
	Issue func(p identity.Principal, connection string) (any, error)
}

// TokenHandler serves POST {"connection": NAME}, what `warden connect`
// asks: a token for the caller (identified like every HTTP request, by
// ident) on that connection, from the issuer of the proxy that serves it.
func TokenHandler(ident identity.Identifier, issuers map[string]Issuer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reply := func(code int, v any) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(code)
			json.NewEncoder(w).Encode(v)
		}
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			reply(http.StatusMethodNotAllowed, map[string]string{"error": "POST only"})
			return
		}
		p, err := ident.IdentifyHTTP(r.Context(), r)
		if err != nil {
			var te *identity.TokenError
			msg := "a bearer token is required"
			if errors.As(err, &te) {
				msg = te.Description
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="warden"`)
			reply(http.StatusUnauthorized, map[string]string{"error": msg})
			return
		}
		var req struct {
			Connection string `json:"connection"`
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil || req.Connection == "" {
			reply(http.StatusBadRequest, map[string]string{"error": `expected {"connection": NAME}`})
			return
		}
		is, ok := issuers[req.Connection]
		if !ok {
			names := make([]string, 0, len(issuers))
			for n, i := range issuers {
				names = append(names, n+" ("+i.Kind+")")
			}
			sort.Strings(names)
			have := "none: this Warden serves no proxy"
			if len(names) > 0 {
				have = strings.Join(names, ", ")
			}
			reply(http.StatusNotFound, map[string]string{"error": fmt.Sprintf("no proxy serves a connection named %q (it serves %s)", req.Connection, have)})
			return
		}
		info, err := is.Issue(p, req.Connection)
		if err != nil {
			reply(http.StatusInternalServerError, map[string]string{"error": "cannot issue a token"})
			return
		}
		reply(http.StatusOK, info)
	})
}
