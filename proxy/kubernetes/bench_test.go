package kubernetes_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
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
	direct, proxied := benchClients(b, f)
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

// BenchmarkWatchEvents: the time to stream a watch of 10,000 events
// (WARDEN_BENCH_WATCH_EVENTS) through the proxy against direct: a
// namespace holds that many ConfigMaps, and a watch from resourceVersion
// 0 gets each as an ADDED event, from the API server's watch cache as
// fast as it can send them. Each iteration runs both, one after the
// other, on one client each; reported: each side's time and events/s,
// the ratio, and the CPU this process spends per event on each side
// (direct: the client's decoding; proxy: that plus the proxy, which runs
// in this process), so the proxy's own CPU per event is the difference.
func BenchmarkWatchEvents(b *testing.B) {
	f := newFixtureTB(b)
	n := 10000
	if s := os.Getenv("WARDEN_BENCH_WATCH_EVENTS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	direct, proxied := benchClients(b, f)
	ctx := context.Background()
	var g errgroup.Group
	g.SetLimit(16)
	for i := range n {
		g.Go(func() error {
			_, err := direct.CoreV1().ConfigMaps(f.ns[0]).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cm-%05d", i)},
				Data: map[string]string{"k": "v"}}, metav1.CreateOptions{})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
	want := n + 1 // and kube-root-ca.crt
	watch := func(cs *k8s.Clientset) (time.Duration, time.Duration) {
		cpu0 := processCPU()
		start := time.Now()
		w, err := cs.CoreV1().ConfigMaps(f.ns[0]).Watch(ctx, metav1.ListOptions{ResourceVersion: "0"})
		if err != nil {
			b.Fatal(err)
		}
		defer w.Stop()
		for got := 0; got < want; {
			if _, ok := <-w.ResultChan(); !ok {
				b.Fatalf("the watch ended after %d of %d events", got, want)
			}
			got++
		}
		return time.Since(start), processCPU() - cpu0
	}
	watch(proxied) // the session's credential is minted
	var dt, pt, dc, pc time.Duration
	b.ResetTimer()
	for range b.N {
		d, dcpu := watch(direct)
		p, pcpu := watch(proxied)
		dt, pt, dc, pc = dt+d, pt+p, dc+dcpu, pc+pcpu
	}
	per := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(b.N) / float64(want) }
	b.ReportMetric(float64(dt.Milliseconds())/float64(b.N), "direct-ms")
	b.ReportMetric(float64(pt.Milliseconds())/float64(b.N), "proxy-ms")
	b.ReportMetric(float64(pt)/float64(dt), "proxy/direct")
	b.ReportMetric(float64(want)*float64(b.N)/pt.Seconds(), "proxy-events/s")
	b.ReportMetric(per(dc), "direct-cpu-µs/event")
	b.ReportMetric(per(pc), "proxy-cpu-µs/event")
}

// processCPU is the CPU time (user and system) this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchClients are a client-go client direct to the API server (its
// admin token) and one through the proxy (a Warden token), unthrottled.
func benchClients(b *testing.B, f *fixture) (direct, proxied *k8s.Clientset) {
	b.Helper()
	direct, err := k8s.NewForConfig(&rest.Config{Host: f.kc.Server, BearerToken: f.kc.Token, TLSClientConfig: rest.TLSClientConfig{CAFile: f.kc.CAFile}, QPS: -1})
	if err != nil {
		b.Fatal(err)
	}
	is, err := f.tokens.Issue(agent, "k")
	if err != nil {
		b.Fatal(err)
	}
	proxied, err = k8s.NewForConfig(&rest.Config{Host: kubeproxy.ServerURL(f.addr, "k"), BearerToken: is.Password, TLSClientConfig: rest.TLSClientConfig{CAData: f.pemCert}, QPS: -1})
	if err != nil {
		b.Fatal(err)
	}
	return direct, proxied
}
