package main

// The MySQL proxy benchmark: sysbench's oltp_point_select (Debian's
// sysbench), with server-side prepared statements and in text, the same
// threads and time, on the same MariaDB, three ways: direct, through a Go
// byte relay (the floor for a proxy in Go), and through Warden's MySQL
// proxy with classification, policy, audit, a masking profile and a
// just-in-time user per client connection.

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/go-sql-driver/mysql"
)

var (
	sysbenchOnly    = flag.Bool("sysbench", false, "run only the MySQL proxy benchmark (sysbench oltp_point_select direct, a Go relay, Warden)")
	sysbenchThreads = flag.Int("sysbench-threads", 8, "sysbench --threads")
	sysbenchModes   = flag.String("sysbench-modes", "prepared,text", "sysbench statement modes to measure: prepared (--db-ps-mode=auto), text (disable)")
	sysbenchProfile = flag.String("sysbench-cpuprofile", "", "write Warden's CPU profile of the MySQL proxy benchmark to this file")
	mysqlAddr       = flag.String("mysql-addr", os.Getenv("WARDEN_TEST_MYSQL_ADDR"), "MariaDB host:port (scripts/mariadb.sh start)")
	mysqlUser       = flag.String("mysql-user", os.Getenv("WARDEN_TEST_MYSQL_USER"), "MariaDB admin user")
	mysqlPwFile     = flag.String("mysql-password-file", os.Getenv("WARDEN_TEST_MYSQL_PASSWORD_FILE"), "file holding the MariaDB admin password")
)

type sysbenchResult struct {
	Mode       string  `json:"mode"`
	Target     string  `json:"target"`
	Threads    int     `json:"threads"`
	Seconds    float64 `json:"seconds"`
	TPS        float64 `json:"tps"`
	LatencyMs  float64 `json:"latency_ms"`
	Errors     int     `json:"errors"`
	CPUPerTxUs float64 `json:"proxy_cpu_us_per_tx,omitempty"`
	Note       string  `json:"note,omitempty"`
}

type sysbenchTarget struct {
	pid            func() int
	name           string
	host, port     string
	user, password string
}

const sysbenchDB = "warden_bench_sysbench"

func runSysbench(o options) error {
	bin, err := exec.LookPath("sysbench")
	if err != nil {
		return errors.New("sysbench not found (apt-get install sysbench; scripts/bench.sh installs it)")
	}
	if *mysqlAddr == "" {
		return errors.New("no MariaDB: source \"$(scripts/mariadb.sh start)\"")
	}
	pw, err := os.ReadFile(*mysqlPwFile)
	if err != nil {
		return fmt.Errorf("read the MariaDB password: %w", err)
	}
	password := strings.TrimSpace(string(pw))
	host, port, _ := strings.Cut(*mysqlAddr, ":")
	direct := sysbenchTarget{name: "direct", host: host, port: port, user: *mysqlUser, password: password}
	if err := prepareSysbench(bin, direct); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "warden-sysbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	targets := []sysbenchTarget{direct}
	if rport, rpid, stop, err := startRelayProcess(*mysqlAddr); err != nil {
		fmt.Printf("(go-relay not measured: %v)\n", err)
	} else {
		defer stop()
		targets = append(targets, sysbenchTarget{pid: rpid, name: "go-relay", host: "127.0.0.1", port: rport, user: *mysqlUser, password: password})
	}
	w, stop, err := startWardenMySQL(dir, o)
	if err != nil {
		return fmt.Errorf("start Warden: %w", err)
	}
	defer stop()
	targets = append(targets, w)

	var results []sysbenchResult
	for _, mode := range strings.Split(*sysbenchModes, ",") {
		for _, t := range targets {
			runSysbenchOnce(bin, t, mode, *sysbenchThreads, 2*time.Second) // warm-up
			cpu0 := int64(0)
			if t.pid != nil {
				cpu0 = pidCPU(t.pid())
			}
			r, err := runSysbenchOnce(bin, t, mode, *sysbenchThreads, o.duration)
			if err != nil {
				r.Note = err.Error()
			}
			if t.pid != nil {
				if cpu1 := pidCPU(t.pid()); cpu1 > cpu0 && r.TPS > 0 {
					r.CPUPerTxUs = float64(cpu1-cpu0) / 1e3 / (r.TPS * r.Seconds)
				}
			}
			results = append(results, r)
			fmt.Fprintf(os.Stderr, "  %-9s %-9s %8.0f tps %7.3f ms\n", mode, t.name, r.TPS, r.LatencyMs)
		}
	}
	printSysbench(results)
	if o.jsonOut != "" {
		b, _ := json.MarshalIndent(results, "", "  ")
		os.MkdirAll(filepath.Dir(o.jsonOut), 0o755)
		return os.WriteFile(o.jsonOut, append(b, '\n'), 0o644)
	}
	return nil
}

// prepareSysbench makes the benchmark's database anew and loads it with
// sysbench prepare, directly.
func prepareSysbench(bin string, t sysbenchTarget) error {
	c := mysql.NewConfig()
	c.Net, c.Addr, c.User, c.Passwd = "tcp", net2(t), t.user, t.password
	conn, err := mysql.NewConnector(c)
	if err != nil {
		return err
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	ctx := context.Background()
	for _, s := range []string{"DROP DATABASE IF EXISTS " + sysbenchDB, "CREATE DATABASE " + sysbenchDB} {
		if _, err := db.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
	}
	out, err := exec.Command(bin, append(sysbenchArgs(t, "prepared", 1, 0), "prepare")...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("sysbench prepare: %v: %s", err, out)
	}
	return nil
}

func net2(t sysbenchTarget) string { return t.host + ":" + t.port }

func sysbenchArgs(t sysbenchTarget, mode string, threads int, d time.Duration) []string {
	ps := "auto"
	if mode == "text" {
		ps = "disable"
	}
	args := []string{"oltp_point_select", "--db-driver=mysql", "--mysql-host=" + t.host, "--mysql-port=" + t.port,
		"--mysql-user=" + t.user, "--mysql-password=" + t.password, "--mysql-db=" + sysbenchDB, "--mysql-ssl=off",
		"--tables=1", "--table-size=10000", "--db-ps-mode=" + ps, "--threads=" + strconv.Itoa(threads)}
	if d > 0 {
		args = append(args, "--time="+strconv.Itoa(max(1, int(d.Seconds()))), "--report-interval=0")
	}
	return args
}

var (
	sbTPS     = regexp.MustCompile(`transactions:\s+\d+\s+\(([\d.]+) per sec\.\)`)
	sbLatency = regexp.MustCompile(`avg:\s+([\d.]+)`)
	sbErrors  = regexp.MustCompile(`ignored errors:\s+(\d+)`)
)

func runSysbenchOnce(bin string, t sysbenchTarget, mode string, threads int, d time.Duration) (sysbenchResult, error) {
	r := sysbenchResult{Mode: mode, Target: t.name, Threads: threads, Seconds: d.Seconds()}
	out, err := exec.Command(bin, append(sysbenchArgs(t, mode, threads, d), "run")...).CombinedOutput()
	if m := sbTPS.FindSubmatch(out); m != nil {
		r.TPS, _ = strconv.ParseFloat(string(m[1]), 64)
	}
	if m := sbLatency.FindSubmatch(out); m != nil {
		r.LatencyMs, _ = strconv.ParseFloat(string(m[1]), 64)
	}
	if m := sbErrors.FindSubmatch(out); m != nil {
		r.Errors, _ = strconv.Atoi(string(m[1]))
	}
	if err != nil || r.TPS == 0 {
		tail := string(bytes.ReplaceAll(out, []byte(t.password), []byte("[token]")))
		if len(tail) > 400 {
			tail = tail[len(tail)-400:]
		}
		return r, fmt.Errorf("sysbench: %v: %s", err, strings.TrimSpace(tail))
	}
	return r, nil
}

// startWardenMySQL runs `warden serve` with the MySQL proxy in front of
// the benchmark database, and takes a token for it.
func startWardenMySQL(dir string, o options) (sysbenchTarget, func(), error) {
	mport, err := freePort()
	if err != nil {
		return sysbenchTarget{}, nil, err
	}
	pport, err := freePort()
	if err != nil {
		return sysbenchTarget{}, nil, err
	}
	cfg := fmt.Sprintf(`listen:
  mcp: 127.0.0.1:%d
  mysql: 127.0.0.1:%d
store: sqlite://%s/warden.db
identity:
  local: bench
  allow_anonymous_loopback: true
  users:
    - {name: bench, groups: [bench]}
connections:
  - name: sbtest
    kind: mysql
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
        - {match: "*.sbtest1.pad", strategy: redact}
      detectors: [card, email, ssn, secrets]
rules:
  - name: bench-read
    subjects: {groups: [bench]}
    tools: [run_query]
    effect: allow
    read_only: true
    tables: {read: ["sbtest*"]}
    masking: pii
`, mport, pport, dir, *mysqlAddr, sysbenchDB, *mysqlUser, *mysqlPwFile)
	path := filepath.Join(dir, "warden.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		return sysbenchTarget{}, nil, err
	}
	args := []string{"serve", "--config", path, "--log-level", "warn"}
	if *sysbenchProfile != "" {
		args = append(args, "--cpuprofile", *sysbenchProfile)
	}
	cmd := exec.Command(o.warden, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return sysbenchTarget{}, nil, err
	}
	stop := func() { interruptAndWait(cmd, 15*time.Second) }
	for _, p := range []int{pport, mport} {
		if err := waitPort(fmt.Sprintf("127.0.0.1:%d", p), 20*time.Second); err != nil {
			stop()
			return sysbenchTarget{}, nil, fmt.Errorf("%v: %s", err, stderr.String())
		}
	}
	body, _ := json.Marshal(map[string]string{"connection": "sbtest"})
	resp, err := http.Post(fmt.Sprintf("http://127.0.0.1:%d/proxy/token", mport), "application/json", bytes.NewReader(body))
	if err != nil {
		stop()
		return sysbenchTarget{}, nil, err
	}
	defer resp.Body.Close()
	var info struct {
		Login, Password, Host, Port string
	}
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil || info.Login == "" {
		stop()
		return sysbenchTarget{}, nil, fmt.Errorf("token: %s %v", resp.Status, err)
	}
	return sysbenchTarget{pid: func() int { return cmd.Process.Pid }, name: "warden", host: info.Host, port: info.Port,
		user: info.Login, password: info.Password}, stop, nil
}

func printSysbench(rs []sysbenchResult) {
	fmt.Printf("== sysbench oltp_point_select, %d threads, %s per run: direct vs a Go relay vs Warden's MySQL proxy (MariaDB)\n",
		*sysbenchThreads, time.Duration(rs[0].Seconds*float64(time.Second)))
	fmt.Println("   Warden: classification, policy, audit intent + outcome per statement, masking profile with detectors, JIT user")
	fmt.Println("   prepared: --db-ps-mode=auto (COM_STMT_EXECUTE); text: --db-ps-mode=disable (COM_QUERY)")
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "mode\ttarget\ttps\tmean latency ms\terrors\tproxy CPU µs/tx\tvs direct\tWarden/go-relay\t")
	by := map[string]sysbenchResult{}
	for _, r := range rs {
		by[r.Mode+"/"+r.Target] = r
	}
	for _, r := range rs {
		ratio, wr := "", ""
		if d := by[r.Mode+"/direct"]; d.TPS > 0 {
			ratio = fmt.Sprintf("%.2fx", r.TPS/d.TPS)
		}
		if g := by[r.Mode+"/go-relay"]; r.Target == "warden" && g.TPS > 0 {
			wr = fmt.Sprintf("%.2fx", r.TPS/g.TPS)
		}
		cpu := "-"
		if r.CPUPerTxUs > 0 {
			cpu = fmt.Sprintf("%.0f", r.CPUPerTxUs)
		}
		fmt.Fprintf(tw, "%s\t%s\t%.0f\t%.3f\t%d\t%s\t%s\t%s\t\n", r.Mode, r.Target, r.TPS, r.LatencyMs, r.Errors, cpu, ratio, wr)
		if r.Note != "" {
			fmt.Fprintf(tw, "\t\t\t\t\t\t\t%s\t\n", r.Note)
		}
	}
	tw.Flush()
}
