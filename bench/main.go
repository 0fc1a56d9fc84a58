package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

type options struct {
	addr, user, passwordFile, password string
	warden                             string
	peer                               string
	duration, warmup                   time.Duration
	clients                            []int
	jsonOut                            string
}

// caller runs one call of a scenario; it must be safe for concurrent use.
type caller func(ctx context.Context) error

type target struct {
	name string
	// open returns a caller per client (so HTTP clients get their own
	// session) and a cleanup.
	open func(ctx context.Context, clients int, query string) ([]caller, func(), error)
	// serverCPU, when set, is the CPU time so far (ns) of the process
	// that serves the calls (Warden), once open has started it;
	// clientCPU that of the client's processes besides this one and the
	// children it has waited for.
	serverCPU, clientCPU func() int64
}

type result struct {
	Query     string  `json:"query"`
	Target    string  `json:"target"`
	Clients   int     `json:"clients"`
	Calls     int     `json:"calls"`
	Errors    int     `json:"errors"`
	MedianMs  float64 `json:"median_ms"`
	P99Ms     float64 `json:"p99_ms"`
	PerSecond float64 `json:"calls_per_second"`
	// CPU per call while measuring, in µs: this process's (the client)
	// and the serving process's, figures that other load on the machine
	// skews less than latency and throughput.
	ClientCPUUs float64 `json:"client_cpu_us_per_call,omitempty"`
	ServerCPUUs float64 `json:"server_cpu_us_per_call,omitempty"`
	Note        string  `json:"note,omitempty"`
}

func main() {
	var o options
	var clients string
	flag.StringVar(&o.addr, "pg-addr", os.Getenv("WARDEN_TEST_PG_ADDR"), "PostgreSQL host:port")
	flag.StringVar(&o.user, "pg-user", os.Getenv("WARDEN_TEST_PG_USER"), "PostgreSQL admin user")
	flag.StringVar(&o.passwordFile, "pg-password-file", os.Getenv("WARDEN_TEST_PG_PASSWORD_FILE"), "file holding the admin password")
	flag.StringVar(&o.warden, "warden", "bin/warden", "warden binary")
	flag.StringVar(&o.peer, "peer", "", "entry point (index.js) of @modelcontextprotocol/server-postgres; empty skips the peer")
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "measuring time per scenario")
	flag.DurationVar(&o.warmup, "warmup", time.Second, "warm-up time per scenario")
	flag.StringVar(&clients, "clients", "1,32", "concurrent clients, comma-separated")
	flag.StringVar(&o.jsonOut, "json", "", "also write results as JSON to this file")
	only := flag.String("only", "", "run only targets whose name contains this")
	skipQueries := flag.Bool("skip-queries", false, "measure only classification, not run_query")
	selfProfile := flag.String("cpuprofile", "", "write this process's CPU profile (its clients, and the in-process targets) to this file")
	budgetOnly := flag.Bool("budget", false, "measure only the connection budget: 200 MCP sessions on a PostgreSQL allowing 20 connections, budget off and on")
	flag.Parse()
	if *selfProfile != "" {
		f, err := os.Create(*selfProfile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	if *budgetOnly {
		if err := runBudgetBench(o); err != nil {
			log.Fatal(err)
		}
		return
	}
	if *relayServe != "" {
		runRelay(*relayServe)
		return
	}
	if *sshRelayServe {
		runSSHRelay()
		return
	}
	if *kubeOnly {
		for _, c := range strings.Split(clients, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(c))
			if err != nil || n < 1 {
				log.Fatalf("-clients: bad value %q", c)
			}
			o.clients = append(o.clients, n)
		}
		if err := runKubeBench(o); err != nil {
			log.Fatal(err)
		}
		return
	}
	if *sshOnly {
		if err := runSSHBench(o); err != nil {
			log.Fatal(err)
		}
		return
	}
	if *pgbenchOnly {
		if err := loadPassword(&o); err != nil {
			log.Fatal(err)
		}
		if err := runProxyBench(o); err != nil {
			log.Fatal(err)
		}
		return
	}
	for _, c := range strings.Split(clients, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(c))
		if err != nil || n < 1 {
			log.Fatalf("-clients: bad value %q", c)
		}
		o.clients = append(o.clients, n)
	}
	fmt.Println("== SQL classification (pg_query parse + Warden's tree walk), per statement")
	classifyTable(os.Stdout, 2000)
	fmt.Println()
	if *skipQueries {
		return
	}
	pw, err := os.ReadFile(o.passwordFile)
	if err != nil {
		log.Fatalf("read password: %v (start PostgreSQL with scripts/pg.sh start)", err)
	}
	o.password = strings.TrimSpace(string(pw))

	ctx := context.Background()
	db, err := setupDatabase(ctx, o)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("== Just-in-time credentials (in process, local PostgreSQL)")
	if err := jitTable(os.Stdout, o, db, 40); err != nil {
		log.Fatalf("jit bench: %v", err)
	}
	fmt.Println()
	fmt.Println("== Masking (in process): throughput per core, and what a profile adds to run_query")
	if err := maskingTable(os.Stdout, o, db); err != nil {
		log.Fatalf("masking bench: %v", err)
	}
	fmt.Println()
	dir, err := os.MkdirTemp("", "warden-bench")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	cfg, err := writeConfig(dir, o, db)
	if err != nil {
		log.Fatal(err)
	}

	targets := []target{
		directTarget(o, db),
		wardenStdioTarget(o, cfg),
		wardenHTTPTarget(o, cfg),
	}
	if o.peer != "" {
		targets = append(targets, peerTarget(o, db))
	}
	queries := []struct{ name, sql string }{
		{"1 row", "SELECT id, name, email, amount, created FROM bench_rows WHERE id = 42"},
		{"1,000 rows", "SELECT id, name, email, amount, created FROM bench_rows ORDER BY id LIMIT 1000"},
	}
	var results []result
	for _, q := range queries {
		for _, n := range o.clients {
			for _, t := range targets {
				if *only != "" && !strings.Contains(t.name, *only) && t.name != "pgx direct" {
					continue
				}
				fmt.Fprintf(os.Stderr, "bench: %-10s %-28s %2d client(s) ...", q.name, t.name, n)
				r := measure(ctx, o, t, q.sql, n)
				r.Query = q.name
				fmt.Fprintf(os.Stderr, " %d calls, median %.3f ms\n", r.Calls, r.MedianMs)
				results = append(results, r)
			}
		}
	}
	fmt.Println("== run_query: Warden vs pgx direct vs peer (median and p99 latency per call, calls/s)")
	printTable(os.Stdout, results)
	if o.jsonOut != "" {
		b, _ := json.MarshalIndent(results, "", "  ")
		os.WriteFile(o.jsonOut, b, 0o644)
	}
}

func measure(ctx context.Context, o options, t target, query string, clients int) result {
	r := result{Target: t.name, Clients: clients}
	callers, cleanup, err := t.open(ctx, clients, query)
	if err != nil {
		r.Note = "setup failed: " + err.Error()
		return r
	}
	defer cleanup()

	var measuring atomic.Bool
	var errs atomic.Int64
	var firstErr atomic.Value
	lat := make([][]time.Duration, clients)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				start := time.Now()
				err := callers[i](ctx)
				d := time.Since(start)
				if !measuring.Load() {
					continue
				}
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				lat[i] = append(lat[i], d)
			}
		}()
	}
	time.Sleep(o.warmup)
	none := func() int64 { return 0 }
	serverCPU, clientCPU := t.serverCPU, t.clientCPU
	if serverCPU == nil {
		serverCPU = none
	}
	if clientCPU == nil {
		clientCPU = none
	}
	client0, server0 := selfCPU()+clientCPU(), serverCPU()
	measuring.Store(true)
	begin := time.Now()
	time.Sleep(o.duration)
	measuring.Store(false)
	elapsed := time.Since(begin)
	client1, server1 := selfCPU()+clientCPU(), serverCPU()
	close(stop)
	wg.Wait()

	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	r.Calls, r.Errors = len(all), int(errs.Load())
	if e, ok := firstErr.Load().(string); ok {
		r.Note = "error: " + e
	}
	if len(all) > 0 {
		r.MedianMs = ms(all[len(all)/2])
		r.P99Ms = ms(all[min(len(all)-1, len(all)*99/100)])
		r.PerSecond = float64(len(all)) / elapsed.Seconds()
		r.ClientCPUUs = float64(client1-client0) / 1e3 / float64(len(all))
		if server1 > server0 {
			r.ServerCPUUs = float64(server1-server0) / 1e3 / float64(len(all))
		}
	}
	return r
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func printTable(w *os.File, rs []result) {
	direct := map[string]result{}
	for _, r := range rs {
		if r.Target == "pgx direct" {
			direct[fmt.Sprintf("%s/%d", r.Query, r.Clients)] = r
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "query\tclients\ttarget\tmedian ms\tp99 ms\tcalls/s\tmedian ×direct\tcalls/s ×direct\terrors\t")
	for _, r := range rs {
		d := direct[fmt.Sprintf("%s/%d", r.Query, r.Clients)]
		ratio, tput := "-", "-"
		if d.MedianMs > 0 && r.MedianMs > 0 {
			ratio = fmt.Sprintf("%.2f", r.MedianMs/d.MedianMs)
			tput = fmt.Sprintf("%.2f", r.PerSecond/d.PerSecond)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%.3f\t%.3f\t%.0f\t%s\t%s\t%d\t\n", r.Query, r.Clients, r.Target, r.MedianMs, r.P99Ms, r.PerSecond, ratio, tput, r.Errors)
	}
	tw.Flush()
	for _, r := range rs {
		if r.Note != "" {
			fmt.Fprintf(w, "note: %s, %s, %d clients: %s\n", r.Query, r.Target, r.Clients, r.Note)
		}
	}
}

func setupDatabase(ctx context.Context, o options) (string, error) {
	const db = "warden_bench"
	host, port, _ := strings.Cut(o.addr, ":")
	admin, err := pgxpool.New(ctx, fmt.Sprintf("host=%s port=%s user=%s password=%s dbname=postgres sslmode=disable", host, port, o.user, o.password))
	if err != nil {
		return "", err
	}
	defer admin.Close()
	var exists bool
	admin.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", db).Scan(&exists)
	if !exists {
		if _, err := admin.Exec(ctx, "CREATE DATABASE "+db); err != nil {
			return "", fmt.Errorf("create bench database: %w", err)
		}
	}
	pool, err := pgxpool.New(ctx, fmt.Sprintf("host=%s port=%s user=%s password=%s dbname=%s sslmode=disable", host, port, o.user, o.password, db))
	if err != nil {
		return "", err
	}
	defer pool.Close()
	for _, s := range []string{
		`CREATE TABLE IF NOT EXISTS bench_rows (id int PRIMARY KEY, name text NOT NULL, email text NOT NULL, amount numeric(12,2) NOT NULL, created timestamptz NOT NULL)`,
		`INSERT INTO bench_rows SELECT g, 'Customer ' || g, 'customer' || g || '@example.com', (g * 7.31)::numeric(12,2), '2026-01-01'::timestamptz + g * interval '1 minute' FROM generate_series(1, 10000) g ON CONFLICT DO NOTHING`,
		`ANALYZE bench_rows`,
	} {
		if _, err := pool.Exec(ctx, s); err != nil {
			return "", fmt.Errorf("bench setup: %w", err)
		}
	}
	return db, nil
}

func writeConfig(dir string, o options, db string) (string, error) {
	cfg := fmt.Sprintf(`store: sqlite://./audit.db
identity:
  local: bench
  allow_anonymous_loopback: true
  users: [{name: bench, groups: [agents]}]
limits: {max_rows: 1000, default_max_rows: 1000}
connections:
  - name: pg
    kind: postgres
    address: %s
    database: %s
    sslmode: disable
    max_connections: 48              # the budget: every session and the proxy share it
    credentials: jit                 # the recommended setup: a role per session
    jit: {connection_limit: 40}
    admin: {user: %s, password_file: %s}
rules:
  - {name: agents-read, subjects: {groups: [agents]}, effect: allow, tools: [run_query, describe_schema]}
`, o.addr, db, o.user, o.passwordFile)
	path := filepath.Join(dir, "warden.yaml")
	return path, os.WriteFile(path, []byte(cfg), 0o644)
}
