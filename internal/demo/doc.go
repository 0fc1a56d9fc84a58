// Package demo creates Warden's demo: a SQLite database of realistic fake
// customers and orders, and a commented warden.yaml that governs it.
// Creation is idempotent: existing files are kept.
//
// Every value is generated; none is a real person's data. Card numbers are
// Luhn-valid but use test ranges, e-mail addresses use reserved example
// domains, phone numbers the 555-01xx fiction range.
package demo
