// Package kube is the catalogue's Kubernetes tools: kubectl_get,
// kubectl_logs, kubectl_delete and kubectl_apply, on connections with the
// KubeAPI capability. Each call's resource is resolved through the
// cluster's discovery, classified into policy.Facts, decided, and run as
// a ServiceAccount minted for exactly the verbs, resources and namespaces
// it needs (gateway.Operation.Require).
//
// It must never send the caller's manifest text (only the objects the
// classifier parsed, re-serialised), never return a Secret's values
// unmasked, and never apply what a dry-run could not vouch for.
package kube
