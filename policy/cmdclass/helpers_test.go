package cmdclass

import (
	"reflect"

	"github.com/wardenhq/warden/policy"
)

func withoutOffsets(f policy.Facts) policy.Facts {
	parts := make([]policy.Part, len(f.Parts))
	for i, p := range f.Parts {
		p.Offset, p.Length = 0, 0
		parts[i] = p
	}
	f.Parts = parts
	return f
}

func equalFacts(a, b policy.Facts) bool { return reflect.DeepEqual(a, b) }
