// Package identity says who is calling: a Principal (subject, groups, how it
// was established) and the Identifiers that produce one from what a front
// door received (a stdio process, an HTTP request).
//
// Front doors (mcp, proxy) identify every caller before the pipeline runs;
// nothing downstream trusts a name the caller merely claims. This package
// must never log or store a bearer token; only claims derived from it.
package identity
