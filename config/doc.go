// Package config loads and validates warden.yaml.
//
// Loading is strict: unknown keys, wrong types and inconsistent values are
// errors that name the file, the line and what was expected. A Config is
// plain data; the packages that act on it (policy, connectors, audit) turn
// the parts they own into their own types.
//
// This package must never read a secret's value into an error, a log line or
// a String method: admin credentials are held as Secret references (an
// environment variable or a file) and resolved only by the connector that
// needs them.
package config
