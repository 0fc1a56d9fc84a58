package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/exec"
	"strings"
	"time"
)

// relayServe makes this binary the go-relay target instead: a TCP relay
// that copies bytes both ways between each client and the upstream, and
// does nothing else. It is the floor for a proxy written in Go (the
// runtime's network poller, two goroutines a connection, the same
// system calls): what Warden costs above it is Warden's own work.
var relayServe = flag.String("relay-serve", "", "internal: serve the go-relay benchmark target to `UPSTREAM` (host:port), printing the port it listens on")

// runRelay serves the relay on a free loopback port until killed.
func runRelay(upstream string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ln.Addr().(*net.TCPAddr).Port)
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go func() {
			defer c.Close()
			u, err := net.Dial("tcp", upstream)
			if err != nil {
				return
			}
			defer u.Close()
			go func() {
				io.Copy(u, c)
				u.Close()
			}()
			io.Copy(c, u)
		}()
	}
}

// startGoRelay runs this binary as the go-relay target in front of o's
// PostgreSQL.
func startGoRelay(o options, db string) (pgbenchTarget, func(), error) {
	port, pid, stop, err := startRelayProcess(o.addr)
	if err != nil {
		return pgbenchTarget{}, nil, err
	}
	return pgbenchTarget{pid: pid, name: "go-relay", host: "127.0.0.1", port: port,
		user: o.user, password: o.password, db: db}, stop, nil
}

// startRelayProcess runs this binary as a relay to upstream and returns
// the loopback port it listens on, its process id and how to stop it.
func startRelayProcess(upstream string) (string, func() int, func(), error) {
	self, err := os.Executable()
	if err != nil {
		return "", nil, nil, err
	}
	cmd := exec.Command(self, "-relay-serve", upstream)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return "", nil, nil, err
	}
	stop := func() { interruptAndWait(cmd, 5*time.Second) }
	port := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		port <- strings.TrimSpace(line)
	}()
	select {
	case p := <-port:
		if p == "" {
			stop()
			return "", nil, nil, errors.New("go-relay did not start")
		}
		return p, func() int { return cmd.Process.Pid }, stop, nil
	case <-time.After(10 * time.Second):
		stop()
		return "", nil, nil, errors.New("go-relay did not start in 10s")
	}
}
