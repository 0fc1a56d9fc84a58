package kubernetes_test

import (
	"context"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	kubeproxy "github.com/wardenhq/warden/proxy/kubernetes"
)

// BenchmarkListPods: one client-go client listing the pods of a
// namespace, direct to the API server (its admin token) and through the
// proxy (a Warden token: decided, audited, run as the JIT account), on
// one kept-alive connection each. Reports p50 and p99 per list.
func BenchmarkListPods(b *testing.B) {
	f := newFixtureTB(b)
	direct, err := k8s.NewForConfig(&rest.Config{Host: f.kc.Server, BearerToken: f.kc.Token, TLSClientConfig: rest.TLSClientConfig{CAFile: f.kc.CAFile}, QPS: -1})
	if err != nil {
		b.Fatal(err)
	}
	is, err := f.tokens.Issue(agent, "k")
	if err != nil {
		b.Fatal(err)
	}
	proxied, err := k8s.NewForConfig(&rest.Config{Host: kubeproxy.ServerURL(f.addr, "k"), BearerToken: is.Password, TLSClientConfig: rest.TLSClientConfig{CAData: f.pemCert}, QPS: -1})
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		cs   *k8s.Clientset
	}{{"direct", direct}, {"proxy", proxied}} {
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			if _, err := c.cs.CoreV1().Pods(f.ns[0]).List(ctx, metav1.ListOptions{}); err != nil { // the session's credential is minted
				b.Fatal(err)
			}
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				start := time.Now()
				if _, err := c.cs.CoreV1().Pods(f.ns[0]).List(ctx, metav1.ListOptions{}); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}
