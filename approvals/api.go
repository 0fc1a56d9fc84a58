package approvals

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/wardenhq/warden/identity"
)

// APIPrefix is where the JSON API is served:
//
//	GET  /api/approvals[?state=pending|all|...&limit=N]  → {"approvals": [...]}
//	GET  /api/approvals/{id}                             → the request
//	POST /api/approvals/{id}/approve  {"comment": "..."} → the request after the decision
//	POST /api/approvals/{id}/deny     {"comment": "..."}
//
// Callers are identified like MCP callers (a bearer token from
// identity.oidc, or an anonymous loopback client where allowed). A caller
// sees only requests it made or may decide. Errors are
// {"error": code, "message": text} with 400, 401, 403, 404 or 409.
const APIPrefix = "/api/approvals"

// APIError is the body of an API error.
type APIError struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

// ListResponse is the body of GET /api/approvals.
type ListResponse struct {
	Approvals []*Approval `json:"approvals"`
}

// DecisionRequest is the body of approve and deny.
type DecisionRequest struct {
	Comment string `json:"comment,omitempty"`
}

func (h *handler) mountAPI(mux *http.ServeMux) {
	mux.Handle("GET "+APIPrefix, h.api(h.apiList))
	mux.Handle("GET "+APIPrefix+"/{id}", h.api(h.apiShow))
	mux.Handle("POST "+APIPrefix+"/{id}/approve", h.api(func(w http.ResponseWriter, r *http.Request, p identity.Principal) {
		h.apiDecide(w, r, p, VerdictApprove)
	}))
	mux.Handle("POST "+APIPrefix+"/{id}/deny", h.api(func(w http.ResponseWriter, r *http.Request, p identity.Principal) {
		h.apiDecide(w, r, p, VerdictDeny)
	}))
}

// api identifies the caller and refuses cross-origin browser requests
// (an anonymous loopback principal must not be usable from a web page).
func (h *handler) api(next func(http.ResponseWriter, *http.Request, identity.Principal)) http.Handler {
	return h.csrf.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		p, err := h.o.Identifier.IdentifyHTTP(r.Context(), r)
		if err != nil {
			status := http.StatusUnauthorized
			var te *identity.TokenError
			if errors.As(err, &te) && te.Code == identity.CodeInsufficientScope {
				status = http.StatusForbidden
			} else if !errors.As(err, &te) {
				status = http.StatusServiceUnavailable
			}
			msg := "a valid bearer token is required: log in with warden login --server URL"
			if te != nil && te.Description != "" {
				msg = te.Description
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="warden"`)
			writeJSON(w, status, APIError{Error: "unauthorized", Message: msg})
			return
		}
		next(w, r, p)
	}))
}

func (h *handler) apiList(w http.ResponseWriter, r *http.Request, p identity.Principal) {
	f, err := parseFilter(r.URL.Query().Get("state"), r.URL.Query().Get("limit"))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, APIError{Error: "invalid_argument", Message: err.Error()})
		return
	}
	list, err := h.s.List(r.Context(), p, f)
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, ListResponse{Approvals: list})
}

// parseFilter reads ?state= (a state, a comma-separated list, "open" for
// pending and approved, or "all"; default pending) and ?limit=.
func parseFilter(state, limit string) (Filter, error) {
	var f Filter
	switch state {
	case "", string(StatePending):
		f.States = []State{StatePending}
	case "all":
	case "open":
		f.States = []State{StatePending, StateApproved}
	default:
		for _, s := range strings.Split(state, ",") {
			if !containsState(States, State(s)) {
				return f, errors.New("state must be all, open, or one of pending, approved, denied, expired, executed, failed")
			}
			f.States = append(f.States, State(s))
		}
	}
	if limit != "" {
		n, err := strconv.Atoi(limit)
		if err != nil || n < 1 || n > 500 {
			return f, errors.New("limit must be a number from 1 to 500")
		}
		f.Limit = n
	}
	return f, nil
}

func (h *handler) apiShow(w http.ResponseWriter, r *http.Request, p identity.Principal) {
	a, err := h.s.Show(r.Context(), p, r.PathValue("id"))
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, a)
}

func (h *handler) apiDecide(w http.ResponseWriter, r *http.Request, p identity.Principal, verdict string) {
	var body DecisionRequest
	if r.ContentLength != 0 {
		if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
			writeJSON(w, http.StatusUnsupportedMediaType, APIError{Error: "invalid_argument", Message: "send the body as application/json"})
			return
		}
		dec := json.NewDecoder(io.LimitReader(r.Body, 16<<10))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil && !errors.Is(err, io.EOF) {
			writeJSON(w, http.StatusBadRequest, APIError{Error: "invalid_argument", Message: "the body must be {\"comment\": \"...\"}: " + err.Error()})
			return
		}
	}
	a, err := h.s.Decide(r.Context(), p, r.PathValue("id"), verdict, body.Comment, "api")
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, a)
}

// fail answers an error from the service.
func (h *handler) fail(w http.ResponseWriter, err error) {
	status, code := errorStatus(err)
	if status == http.StatusInternalServerError {
		h.logger.Error("approvals API", "err", err)
		writeJSON(w, status, APIError{Error: code, Message: "internal error"})
		return
	}
	writeJSON(w, status, APIError{Error: code, Message: reason(err)})
}

// reason is an error's text without the sentinel's words, for people.
func reason(err error) string {
	msg := err.Error()
	for _, s := range []error{ErrForbidden, ErrConflict, ErrNotFound} {
		if errors.Is(err, s) && msg != s.Error() {
			msg = strings.TrimPrefix(strings.TrimPrefix(msg, s.Error()), ": ")
		}
	}
	return strings.TrimPrefix(msg, "approvals: ")
}

func errorStatus(err error) (int, string) {
	switch {
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound, "not_found"
	case errors.Is(err, ErrForbidden):
		return http.StatusForbidden, "forbidden"
	case errors.Is(err, ErrConflict):
		return http.StatusConflict, "conflict"
	}
	return http.StatusInternalServerError, "internal"
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
