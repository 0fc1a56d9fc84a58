//go:build !unix

package postgres

import "io"

// fastWriter returns w: raw socket writes are for Unix systems.
func fastWriter(w io.Writer) io.Writer { return w }
