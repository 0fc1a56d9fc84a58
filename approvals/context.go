package approvals

import (
	"context"
	"time"
)

// What a caller of Hold passes through its context: how long to wait, and
// where to report progress while waiting.

type waitKey struct{}
type progressKey struct{}

// WithWait makes Hold wait up to d for a decision instead of the
// configured time (a call run as an MCP task waits until the request is
// decided or expires).
func WithWait(ctx context.Context, d time.Duration) context.Context {
	return context.WithValue(ctx, waitKey{}, d)
}

// ProgressFunc receives the progress of a waiting call: seconds waited,
// seconds it may wait, and a message.
type ProgressFunc func(progress, total float64, message string)

// WithProgress makes waits report progress to f.
func WithProgress(ctx context.Context, f ProgressFunc) context.Context {
	return context.WithValue(ctx, progressKey{}, f)
}
