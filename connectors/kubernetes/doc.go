// Package kubernetes is the Kubernetes connector: API requests to one
// cluster's API server (k8s.io/client-go), resources resolved through its
// discovery, and a just-in-time credential per operation scope: a
// ServiceAccount in Warden's session namespace, bound by a Role (a
// ClusterRole for cluster-scoped resources) of exactly the verbs,
// resources and namespaces the call needs, and a token from TokenRequest
// that lives as long as the lease. An empty ClusterRole named after the
// lease owns every object minted for it (ownerReferences), so that the
// cluster's garbage collector removes what a revocation missed.
//
// It must never trust a server certificate the pinned CA did not sign,
// never grant "*", escalate, bind or impersonate, never bind a Role in a
// namespace the connection does not list, never put a token in an error
// or log line, and never send a request before the gate said yes.
package kubernetes
