package main

// The PostgreSQL proxy benchmark: pgbench's select-only script (-S) in the
// simple and the prepared protocol, the same clients and time, on the same
// PostgreSQL, three ways: direct, through PgBouncer (session mode, the
// Debian package), and through Warden's proxy with classification, masking
// and audit on (and a just-in-time role per client connection).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
)

var (
	pgbenchOnly    = flag.Bool("pgbench", false, "run only the PostgreSQL proxy benchmark (pgbench direct, PgBouncer, Warden)")
	pgbenchClients = flag.Int("pgbench-clients", 8, "pgbench clients (-c)")
	pgbenchScale   = flag.Int("pgbench-scale", 1, "pgbench scale (-s) of the benchmark database")
	pgbenchProfile = flag.String("pgbench-cpuprofile", "", "write Warden's CPU profile of the benchmark to this file")
	pgbenchModes   = flag.String("pgbench-modes", "simple,prepared", "pgbench protocols (-M) to measure, comma-separated")
	pgbenchTargets = flag.String("pgbench-targets", "direct,pgbouncer,go-relay,warden", "targets to measure, comma-separated (go-relay: a Go byte relay, the floor for a proxy in Go)")
)

type pgbenchResult struct {
	Mode      string  `json:"mode"`
	Target    string  `json:"target"`
	Clients   int     `json:"clients"`
	Seconds   float64 `json:"seconds"`
	TPS       float64 `json:"tps"`
	LatencyMs float64 `json:"latency_ms"`
	Failed    int     `json:"failed"`
	// CPUPerTxUs is the CPU time the proxy (PgBouncer or Warden) spent per
	// transaction, in microseconds: a figure other load on the machine
	// does not skew the way it skews tps.
	CPUPerTxUs float64 `json:"proxy_cpu_us_per_tx,omitempty"`
	Note       string  `json:"note,omitempty"`
}

// pgbenchTarget is where pgbench connects.
type pgbenchTarget struct {
	pid            func() int // the proxy's process, for its CPU time; nil for direct
	name           string
	host, port     string
	user, password string
	db             string
}

func runProxyBench(o options) error {
	ctx := context.Background()
	pgbench, err := exec.LookPath("pgbench")
	if err != nil {
		return errors.New("pgbench not found (it ships with PostgreSQL)")
	}
	host, port, _ := strings.Cut(o.addr, ":")
	const db = "warden_bench_pgbench"
	if err := setupPgbench(ctx, o, pgbench, db); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "warden-pgbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	targets := []pgbenchTarget{{name: "direct", host: host, port: port, user: o.user, password: o.password, db: db}}
	bouncer, stopBouncer, err := pgbenchTarget{}, func() {}, error(nil)
	if strings.Contains(*pgbenchTargets, "pgbouncer") {
		bouncer, stopBouncer, err = startPgBouncer(dir, o, db)
	} else {
		err = errors.New("not asked for")
	}
	if err != nil {
		fmt.Printf("(PgBouncer not measured: %v)\n", err)
	} else {
		defer stopBouncer()
		targets = append(targets, bouncer)
	}
	if strings.Contains(*pgbenchTargets, "go-relay") {
		relay, stopRelay, err := startGoRelay(o, db)
		if err != nil {
			fmt.Printf("(go-relay not measured: %v)\n", err)
		} else {
			defer stopRelay()
			targets = append(targets, relay)
		}
	}
	warden, stopWarden, err := startWardenProxy(ctx, dir, o, db)
	if err != nil {
		return fmt.Errorf("start Warden: %w", err)
	}
	defer stopWarden()
	targets = append(targets, warden)

	clients := *pgbenchClients
	var results []pgbenchResult
	for _, mode := range strings.Split(*pgbenchModes, ",") {
		for _, t := range targets {
			if !strings.Contains(*pgbenchTargets, t.name) {
				continue
			}
			// A short warm-up (connections, prepared statements, caches).
			runPgbench(pgbench, t, mode, clients, 2*time.Second)
			cpu0 := procCPU(t)
			r, err := runPgbench(pgbench, t, mode, clients, o.duration)
			if err != nil {
				r.Note = err.Error()
			}
			if cpu1 := procCPU(t); cpu1 > cpu0 && r.TPS > 0 {
				r.CPUPerTxUs = float64(cpu1-cpu0) / 1e3 / (r.TPS * r.Seconds)
			}
			results = append(results, r)
			fmt.Fprintf(os.Stderr, "  %-9s %-10s %8.0f tps %7.3f ms\n", mode, t.name, r.TPS, r.LatencyMs)
		}
	}
	printPgbench(results)
	if o.jsonOut != "" {
		b, _ := json.MarshalIndent(results, "", "  ")
		os.MkdirAll(filepath.Dir(o.jsonOut), 0o755)
		if err := os.WriteFile(o.jsonOut, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func setupPgbench(ctx context.Context, o options, pgbench, db string) error {
	host, port, _ := strings.Cut(o.addr, ":")
	admin, err := pgx.Connect(ctx, fmt.Sprintf("host=%s port=%s user=%s password=%s dbname=postgres sslmode=disable", host, port, o.user, o.password))
	if err != nil {
		return err
	}
	defer admin.Close(ctx)
	var exists bool
	admin.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", db).Scan(&exists)
	if exists {
		c, err := pgx.Connect(ctx, fmt.Sprintf("host=%s port=%s user=%s password=%s dbname=%s sslmode=disable", host, port, o.user, o.password, db))
		if err == nil {
			var n int64
			err = c.QueryRow(ctx, "SELECT count(*) FROM pgbench_branches").Scan(&n)
			c.Close(ctx)
			if err == nil && n == int64(*pgbenchScale) {
				return nil
			}
		}
	} else if _, err := admin.Exec(ctx, "CREATE DATABASE "+db); err != nil {
		return err
	}
	cmd := exec.Command(pgbench, "-i", "-q", "-s", strconv.Itoa(*pgbenchScale), "-h", host, "-p", port, "-U", o.user, db)
	cmd.Env = append(os.Environ(), "PGPASSWORD="+o.password)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pgbench -i: %v\n%s", err, out)
	}
	return nil
}

var (
	tpsLine     = regexp.MustCompile(`(?m)^tps = ([0-9.]+)`)
	latencyLine = regexp.MustCompile(`(?m)^latency average = ([0-9.]+) ms`)
	failedLine  = regexp.MustCompile(`(?m)^number of failed transactions: ([0-9]+)`)
)

func runPgbench(pgbench string, t pgbenchTarget, mode string, clients int, d time.Duration) (pgbenchResult, error) {
	r := pgbenchResult{Mode: mode, Target: t.name, Clients: clients, Seconds: d.Seconds()}
	secs := max(1, int(d.Seconds()))
	cmd := exec.Command(pgbench, "-n", "-S", "-M", mode, "-c", strconv.Itoa(clients), "-j", "2", "-T", strconv.Itoa(secs),
		"-h", t.host, "-p", t.port, "-U", t.user, t.db)
	cmd.Env = append(os.Environ(), "PGPASSWORD="+t.password, "PGSSLMODE=disable")
	out, err := cmd.CombinedOutput()
	if m := tpsLine.FindSubmatch(out); m != nil {
		r.TPS, _ = strconv.ParseFloat(string(m[1]), 64)
	}
	if m := latencyLine.FindSubmatch(out); m != nil {
		r.LatencyMs, _ = strconv.ParseFloat(string(m[1]), 64)
	}
	if m := failedLine.FindSubmatch(out); m != nil {
		r.Failed, _ = strconv.Atoi(string(m[1]))
	}
	if err != nil || r.TPS == 0 {
		tail := string(out)
		if len(tail) > 400 {
			tail = tail[len(tail)-400:]
		}
		return r, fmt.Errorf("pgbench: %v: %s", err, strings.TrimSpace(tail))
	}
	return r, nil
}

func printPgbench(rs []pgbenchResult) {
	fmt.Printf("== pgbench -S (select-only), %d clients, %s per run: direct vs PgBouncer (session mode) vs a Go relay vs Warden's proxy\n", *pgbenchClients, time.Duration(rs[0].Seconds*float64(time.Second)))
	fmt.Println("   Warden: classification, policy, audit intent + outcome per statement, masking profile with detectors, JIT role")
	fmt.Println("   go-relay: a Go TCP relay copying bytes both ways and nothing else, the floor for a proxy in Go")
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "mode\ttarget\ttps\tmean latency ms\tfailed\tproxy CPU µs/tx\tvs direct\tWarden/PgBouncer\tWarden/go-relay\t")
	by := map[string]pgbenchResult{}
	for _, r := range rs {
		by[r.Mode+"/"+r.Target] = r
	}
	for _, r := range rs {
		ratio, wb, wr := "", "", ""
		if d := by[r.Mode+"/direct"]; d.TPS > 0 {
			ratio = fmt.Sprintf("%.2fx", r.TPS/d.TPS)
		}
		if r.Target == "warden" {
			if b := by[r.Mode+"/pgbouncer"]; b.TPS > 0 {
				wb = fmt.Sprintf("%.2fx", r.TPS/b.TPS)
			}
			if g := by[r.Mode+"/go-relay"]; g.TPS > 0 {
				wr = fmt.Sprintf("%.2fx", r.TPS/g.TPS)
			}
		}
		cpu := "-"
		if r.CPUPerTxUs > 0 {
			cpu = fmt.Sprintf("%.0f", r.CPUPerTxUs)
		}
		fmt.Fprintf(tw, "%s\t%s\t%.0f\t%.3f\t%d\t%s\t%s\t%s\t%s\t\n", r.Mode, r.Target, r.TPS, r.LatencyMs, r.Failed, cpu, ratio, wb, wr)
		if r.Note != "" {
			fmt.Fprintf(tw, "\t\t\t\t\t\t\t\t%s\t\n", r.Note)
		}
	}
	tw.Flush()
}

// startPgBouncer runs the Debian package's pgbouncer in session mode in
// front of the benchmark database (it refuses to run as root: as postgres).
func startPgBouncer(dir string, o options, db string) (pgbenchTarget, func(), error) {
	bin := "/usr/sbin/pgbouncer"
	if _, err := os.Stat(bin); err != nil {
		if p, err := exec.LookPath("pgbouncer"); err == nil {
			bin = p
		} else {
			return pgbenchTarget{}, nil, errors.New("pgbouncer is not installed (scripts/bench.sh installs it with apt-get)")
		}
	}
	host, port, _ := strings.Cut(o.addr, ":")
	bport, err := freePort()
	if err != nil {
		return pgbenchTarget{}, nil, err
	}
	bdir := filepath.Join(dir, "pgbouncer")
	os.MkdirAll(bdir, 0o755)
	ini := fmt.Sprintf(`[databases]
%s = host=%s port=%s dbname=%s
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %d
unix_socket_dir =
auth_type = trust
auth_file = %s/userlist.txt
pool_mode = session
max_client_conn = 200
default_pool_size = 50
logfile = %s/pgbouncer.log
pidfile = %s/pgbouncer.pid
`, db, host, port, db, bport, bdir, bdir, bdir)
	os.WriteFile(filepath.Join(bdir, "pgbouncer.ini"), []byte(ini), 0o644)
	os.WriteFile(filepath.Join(bdir, "userlist.txt"), []byte(fmt.Sprintf("%q %q\n", o.user, o.password)), 0o600)
	args := []string{filepath.Join(bdir, "pgbouncer.ini")}
	var cmd *exec.Cmd
	if os.Geteuid() == 0 {
		exec.Command("chown", "-R", "postgres:", bdir).Run()
		exec.Command("chmod", "755", dir).Run()
		cmd = exec.Command("runuser", append([]string{"-u", "postgres", "--", bin}, args...)...)
	} else {
		cmd = exec.Command(bin, args...)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return pgbenchTarget{}, nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(bport))
	if err := waitPort(addr, 10*time.Second); err != nil {
		cmd.Process.Kill()
		log, _ := os.ReadFile(filepath.Join(bdir, "pgbouncer.log"))
		return pgbenchTarget{}, nil, fmt.Errorf("pgbouncer did not start: %v %s %s", err, stderr.String(), log)
	}
	stop := func() {
		// runuser does not pass signals on: stop pgbouncer by its pid file.
		if b, err := os.ReadFile(filepath.Join(bdir, "pgbouncer.pid")); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				if p, err := os.FindProcess(pid); err == nil {
					p.Signal(os.Interrupt)
				}
			}
		}
		interruptAndWait(cmd, 5*time.Second)
	}
	pidOf := func() int {
		b, _ := os.ReadFile(filepath.Join(bdir, "pgbouncer.pid"))
		n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		return n
	}
	return pgbenchTarget{pid: pidOf, name: "pgbouncer", host: "127.0.0.1", port: strconv.Itoa(bport), user: o.user, password: o.password, db: db}, stop, nil
}

// startWardenProxy runs `warden serve` with the PostgreSQL proxy on, gets a
// login token the way `warden connect` does, and returns where pgbench
// connects.
func startWardenProxy(ctx context.Context, dir string, o options, db string) (pgbenchTarget, func(), error) {
	mport, err := freePort()
	if err != nil {
		return pgbenchTarget{}, nil, err
	}
	pport, err := freePort()
	if err != nil {
		return pgbenchTarget{}, nil, err
	}
	cfg := fmt.Sprintf(`listen:
  mcp: 127.0.0.1:%d
  postgres: 127.0.0.1:%d
store: sqlite://%s/warden.db
identity:
  local: bench
  allow_anonymous_loopback: true
  users:
    - {name: bench, groups: [bench]}
connections:
  - name: %s
    kind: postgres
    address: %s
    database: %s
    sslmode: disable
    admin: {user: %s, password_file: %s}
    credentials: jit
    jit: {connection_limit: 64}
masking:
  profiles:
    pii:
      columns:
        - {match: "*.pgbench_accounts.filler", strategy: redact}
      detectors: [card, email, ssn, secrets]
rules:
  - name: bench-read
    subjects: {groups: [bench]}
    tools: [run_query]
    effect: allow
    read_only: true
    tables: {read: ["public.pgbench_*"]}
    masking: pii
`, mport, pport, dir, db, o.addr, db, o.user, o.passwordFile)
	path := filepath.Join(dir, "warden.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		return pgbenchTarget{}, nil, err
	}
	args := []string{"serve", "--config", path, "--log-level", "warn"}
	if *pgbenchProfile != "" {
		args = append(args, "--cpuprofile", *pgbenchProfile)
	}
	cmd := exec.Command(o.warden, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return pgbenchTarget{}, nil, err
	}
	stop := func() {
		interruptAndWait(cmd, 15*time.Second)
	}
	if err := waitPort(fmt.Sprintf("127.0.0.1:%d", pport), 20*time.Second); err != nil {
		stop()
		return pgbenchTarget{}, nil, fmt.Errorf("%v: %s", err, stderr.String())
	}
	if err := waitPort(fmt.Sprintf("127.0.0.1:%d", mport), 20*time.Second); err != nil {
		stop()
		return pgbenchTarget{}, nil, fmt.Errorf("%v: %s", err, stderr.String())
	}
	body, _ := json.Marshal(map[string]string{"connection": db})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, fmt.Sprintf("http://127.0.0.1:%d/proxy/token", mport), bytes.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		stop()
		return pgbenchTarget{}, nil, err
	}
	defer resp.Body.Close()
	var info struct {
		User, Password, Host, Port, Database string
	}
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil || info.User == "" {
		stop()
		return pgbenchTarget{}, nil, fmt.Errorf("token: %s %v", resp.Status, err)
	}
	return pgbenchTarget{pid: func() int { return cmd.Process.Pid }, name: "warden", host: info.Host, port: info.Port, user: info.User, password: info.Password, db: info.Database}, stop, nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func waitPort(addr string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("nothing listens on %s", addr)
}

func loadPassword(o *options) error {
	pw, err := os.ReadFile(o.passwordFile)
	if err != nil {
		return fmt.Errorf("read password: %v (start PostgreSQL with scripts/pg.sh start)", err)
	}
	o.password = strings.TrimSpace(string(pw))
	return nil
}

// procCPU is the CPU time (user + system) of t's proxy process so far, in
// nanoseconds; 0 when unknown.
func procCPU(t pgbenchTarget) int64 {
	if t.pid == nil {
		return 0
	}
	return pidCPU(t.pid())
}

// pidCPU is the CPU time (user + system) of process pid so far, in
// nanoseconds, by /proc/PID/stat; 0 when unknown.
func pidCPU(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return (ut + st) * int64(time.Second) / 100 // USER_HZ
}

// selfCPU is the CPU time (user + system) so far of this process and of
// the children it has waited for, in nanoseconds.
func selfCPU() int64 {
	var self, children syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &self) != nil || syscall.Getrusage(syscall.RUSAGE_CHILDREN, &children) != nil {
		return 0
	}
	return self.Utime.Nano() + self.Stime.Nano() + children.Utime.Nano() + children.Stime.Nano()
}
