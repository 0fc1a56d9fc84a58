package kubeclass

import (
	"context"
	"fmt"

	"github.com/wardenhq/warden/policy"
)

// Classifier is Manifest as a policy.Classifier, for what classifies a
// statement's text (warden policy test and explain, the gateway): the
// statement is a manifest, applied in the request's Namespace (or
// DefaultNamespace) unless its objects name theirs.
type Classifier struct {
	Resolver Resolver
	// DefaultNamespace is the default namespace (the connection's, or the
	// call's).
	DefaultNamespace string
}

// NewClassifier returns a Classifier over r with the default namespace ns.
func NewClassifier(r Resolver, ns string) *Classifier {
	return &Classifier{Resolver: r, DefaultNamespace: ns}
}

// Classify implements policy.Classifier.
func (c *Classifier) Classify(ctx context.Context, req policy.ClassifyRequest) (policy.Facts, error) {
	if err := ctx.Err(); err != nil {
		return policy.Facts{}, err
	}
	if req.MaxBytes > 0 && len(req.Statement) > req.MaxBytes {
		return policy.Facts{}, refused(0, 0, "", "the manifest is %d bytes, longer than the limit of %d", len(req.Statement), req.MaxBytes)
	}
	if c.Resolver == nil {
		return policy.Facts{}, fmt.Errorf("kubeclass: no resolver")
	}
	ns := c.DefaultNamespace
	if req.Namespace != "" {
		ns = req.Namespace
	}
	_, f, err := Manifest([]byte(req.Statement), ns, c.Resolver)
	if err != nil {
		return policy.Facts{}, err
	}
	return *f, nil
}

// Namespace implements policy.Classifier: the default namespace.
func (c *Classifier) Namespace() string { return c.DefaultNamespace }

var _ policy.Classifier = (*Classifier)(nil)
