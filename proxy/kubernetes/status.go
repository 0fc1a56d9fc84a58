package kubernetes

import (
	"encoding/json"
	"errors"
	"net/http"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/wardenhq/warden/gateway"
)

// writeStatus answers with a metav1.Status, what kubectl prints as
// "Error from server (Reason): message".
func writeStatus(w http.ResponseWriter, code int, reason metav1.StatusReason, message string) {
	st := metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusFailure,
		Message: "Warden: " + message, Reason: reason, Code: int32(code)}
	b, _ := json.Marshal(st)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if code == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Bearer realm="warden"`)
	}
	w.WriteHeader(code)
	w.Write(b)
}

// writeError answers with the Status of a gateway refusal.
func writeError(w http.ResponseWriter, err error) {
	e := gateway.AsError(err)
	msg := e.Error()
	if e.AuditID != "" {
		msg += " (audit " + e.AuditID + ")"
	}
	var pa *gateway.PendingApproval
	switch {
	case errors.As(err, &pa):
		writeStatus(w, http.StatusForbidden, metav1.StatusReasonForbidden, msg)
	case e.Code == gateway.CodeDenied, e.Code == gateway.CodeApprovalRequired:
		writeStatus(w, http.StatusForbidden, metav1.StatusReasonForbidden, msg)
	case e.Code == gateway.CodeInvalidArgument:
		writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, msg)
	case e.Code == gateway.CodeNotFound:
		writeStatus(w, http.StatusNotFound, metav1.StatusReasonNotFound, msg)
	case e.Code == gateway.CodeTimeout:
		writeStatus(w, http.StatusGatewayTimeout, metav1.StatusReasonTimeout, msg)
	default:
		writeStatus(w, http.StatusServiceUnavailable, metav1.StatusReasonServiceUnavailable, msg)
	}
}
