// Package builtin is the registry of connector kinds compiled into Warden.
// Adding a kind means adding one line here; there are no init() side
// effects.
package builtin
