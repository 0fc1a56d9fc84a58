package detect

import (
	"strconv"
	"strings"
	"sync"
	"testing"
)

var corpusOnce = sync.OnceValue(func() []string { return mixedCorpus(10000) })

func corpusBytes(vs []string) int64 {
	n := 0
	for _, v := range vs {
		n += len(v)
	}
	return int64(n)
}

// BenchmarkScanMixed masks the mixed corpus with every detector enabled.
func BenchmarkScanMixed(b *testing.B) {
	vs := corpusOnce()
	sc := scannerFor(b)
	b.SetBytes(corpusBytes(vs))
	b.ReportAllocs()
	var counts Counts
	for b.Loop() {
		for _, v := range vs {
			sc.Mask(v, &counts)
		}
	}
	b.ReportMetric(float64(len(vs)), "values/op")
}

// BenchmarkBaseline sums the corpus bytes in a plain loop: the speed of
// the machine at the moment, against which the other numbers are read on
// a shared or busy machine.
func BenchmarkBaseline(b *testing.B) {
	vs := corpusOnce()
	b.SetBytes(corpusBytes(vs))
	for b.Loop() {
		n := 0
		for _, v := range vs {
			for i := 0; i < len(v); i++ {
				n += int(v[i])
			}
		}
		baselineSink = n
	}
}

var baselineSink int

// BenchmarkFindMixed only finds, on the same corpus.
func BenchmarkFindMixed(b *testing.B) {
	vs := corpusOnce()
	sc := scannerFor(b)
	b.SetBytes(corpusBytes(vs))
	b.ReportAllocs()
	dst := make([]Match, 0, 16)
	for b.Loop() {
		for _, v := range vs {
			dst = sc.Find(v, dst[:0])
		}
	}
}

// BenchmarkDetector runs each detector alone over the mixed corpus
// ("mixed": mostly misses, the gate and trigger cost) and over values that
// hold a match ("hits": the validators and the strategy).
func BenchmarkDetector(b *testing.B) {
	vs := corpusOnce()
	for _, k := range AllKinds() {
		sc := scannerFor(b, k)
		b.Run(string(k)+"/mixed", func(b *testing.B) {
			b.SetBytes(corpusBytes(vs))
			for b.Loop() {
				for _, v := range vs {
					sc.Mask(v, nil)
				}
			}
		})
		hits := hitCorpus(k)
		b.Run(string(k)+"/hits", func(b *testing.B) {
			b.SetBytes(corpusBytes(hits))
			b.ReportAllocs()
			for b.Loop() {
				for _, v := range hits {
					if _, changed, _ := sc.Mask(v, nil); !changed {
						b.Fatalf("no %s in %q", k, v)
					}
				}
			}
		})
	}
}

// BenchmarkStrategy measures each strategy on a card number.
func BenchmarkStrategy(b *testing.B) {
	for _, st := range []Strategy{{}, {Name: StrategyPartial}, {Name: StrategyShape}, {Name: StrategyToken, Key: testKey}} {
		r, err := NewReplacer(st)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(strings.SplitN(st.String(), "(", 2)[0], func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r.Replace(Card, "4111 1111 1111 1111")
			}
		})
	}
}

// BenchmarkAdversarial feeds inputs built to hit each detector's slow path;
// MB/s should not fall as the size grows (no quadratic behaviour).
func BenchmarkAdversarial(b *testing.B) {
	sc := scannerFor(b)
	patterns := map[string]string{
		"at":         "a@",
		"domain":     "x@a.",
		"colons":     "a1:",
		"equals":     "token=Xk9#mP2$vL8q",
		"equals-low": "token=aaaaaaaa",
		"digits":     "4111 ",
		"cards-json": "4111111111111111,",
		"plus":       "+1 ",
		"eyJ":        "eyJhbGciOiJIUzI1NiJ9.",
		"pem":        `-----BEGIN RSA PRIVATE KEY-----x-----END RSA PRIVATE KEY-----"`,
		"backslash":  `\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\a@`,
		"long-token": "ghp_",
		"ipv6":       "1::2:",
		"url":        "a://b:",
	}
	for name, p := range patterns {
		for _, size := range []int{4 << 10, 64 << 10} {
			v := strings.Repeat(p, size/len(p))
			b.Run(name+"/"+sizeName(size), func(b *testing.B) {
				b.SetBytes(int64(len(v)))
				for b.Loop() {
					sc.Mask(v, nil)
				}
			})
		}
	}
}

func sizeName(n int) string { return strconv.Itoa(n>>10) + "KiB" }
