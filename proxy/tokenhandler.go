package proxy

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/wardenhq/warden/identity"
)

// TokenHandler serves POST {"connection": NAME}, what `warden connect`
// asks: a token for the caller (identified like every HTTP request, by
// ident) on that connection of a proxy's kind, answered with what info
// makes of it (how to connect).
func TokenHandler(t *Tokens, ident identity.Identifier, kind string, connections map[string]bool, info func(is Issued, connection string) any) http.Handler {
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
		if !connections[req.Connection] {
			reply(http.StatusNotFound, map[string]string{"error": fmt.Sprintf("no %s connection named %q", kind, req.Connection)})
			return
		}
		is, err := t.Issue(p, req.Connection)
		if err != nil {
			reply(http.StatusInternalServerError, map[string]string{"error": "cannot issue a token"})
			return
		}
		reply(http.StatusOK, info(is, req.Connection))
	})
}
