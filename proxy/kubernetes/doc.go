// Package kubernetes is front door 2 for Kubernetes: an HTTPS proxy of the
// API server for kubectl and every client-go program, unchanged. A client
// connection is one gateway session; every request on it is parsed into
// verb, resource, subresource, namespace and name (k8s.io/apiserver's
// request-info parser), classified by policy/kubeclass (a write's body
// too), decided, held or refused with a metav1.Status kubectl prints, and
// forwarded as a ServiceAccount connectors/kubernetes mints for exactly
// the rule the request needs. Streams stay streams: watches and followed
// logs are flushed as they arrive; exec, attach and port-forward upgrades
// pass once decided.
//
// This package must never forward the client's Authorization or an
// Impersonate-* header, send a body it has not classified, reach the API
// server before the gateway granted the request, or log a token.
package kubernetes
