package main

import (
	"crypto/ed25519"
	crand "crypto/rand"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"runtime"
	"slices"

	xssh "golang.org/x/crypto/ssh"
	"golang.org/x/sys/cpu"
)

// sshRelayServe makes this binary the go-relay SSH target instead: an
// x/crypto/ssh server that logs anyone in, and for each session's exec
// runs the command on the test sshd over an x/crypto/ssh client
// connection (one per client connection, with the certificate
// loadSSHHost signs) and copies its output back. It decides, masks and
// records nothing: the floor for an SSH proxy written in Go, two SSH
// connections' crypto and copies with the library's defaults and the
// proxy's ciphers, as Warden's proxy has.
var sshRelayServe = flag.Bool("ssh-relay-serve", false, "internal: serve the go-relay SSH benchmark target in front of the test sshd, printing the port it listens on")

// runSSHRelay serves the relay on a free loopback port until killed.
func runSSHRelay() {
	h, err := loadSSHHost()
	if err != nil {
		log.Fatal(err)
	}
	_, priv, err := ed25519.GenerateKey(crand.Reader)
	if err != nil {
		log.Fatal(err)
	}
	hostKey, err := xssh.NewSignerFromKey(priv)
	if err != nil {
		log.Fatal(err)
	}
	// The proxy's cipher choice (proxy/ssh/ciphers.go): no
	// chacha20-poly1305 where x/crypto has no assembly for it.
	ciphers := xssh.SupportedAlgorithms().Ciphers
	if runtime.GOARCH == "amd64" && cpu.X86.HasAES && cpu.X86.HasPCLMULQDQ {
		ciphers = slices.DeleteFunc(ciphers, func(c string) bool { return c == xssh.CipherChaCha20Poly1305 })
	}
	cfg := &xssh.ServerConfig{Config: xssh.Config{Ciphers: ciphers}, NoClientAuth: true}
	cfg.AddHostKey(hostKey)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ln.Addr().(*net.TCPAddr).Port)
	for {
		nc, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go relaySSHConn(nc, cfg, h)
	}
}

func relaySSHConn(nc net.Conn, cfg *xssh.ServerConfig, h *sshHost) {
	defer nc.Close()
	sc, chans, reqs, err := xssh.NewServerConn(nc, cfg)
	if err != nil {
		return
	}
	defer sc.Close()
	go xssh.DiscardRequests(reqs)
	up, err := h.dial()
	if err != nil {
		log.Printf("go-relay: dial the host: %v", err)
		return
	}
	defer up.Close()
	for nch := range chans {
		if nch.ChannelType() != "session" {
			nch.Reject(xssh.UnknownChannelType, "sessions only")
			continue
		}
		ch, creqs, err := nch.Accept()
		if err != nil {
			continue
		}
		go relaySession(up, ch, creqs)
	}
}

// relaySession answers a session's requests; its exec runs on the host.
func relaySession(up *xssh.Client, ch xssh.Channel, reqs <-chan *xssh.Request) {
	started := false
	for r := range reqs {
		ok := false
		if r.Type == "exec" && !started {
			var cmd struct{ Command string }
			if xssh.Unmarshal(r.Payload, &cmd) == nil {
				if sess, err := up.NewSession(); err == nil {
					sess.Stdin, sess.Stdout, sess.Stderr = ch, ch, ch.Stderr()
					if sess.Start(cmd.Command) == nil {
						ok, started = true, true
						go func() {
							status := 0
							var exit *xssh.ExitError
							if err := sess.Wait(); errors.As(err, &exit) {
								status = exit.ExitStatus()
							} else if err != nil {
								status = 255
							}
							sess.Close()
							ch.SendRequest("exit-status", false, xssh.Marshal(struct{ Status uint32 }{uint32(status)}))
							ch.CloseWrite()
							ch.Close()
						}()
					} else {
						sess.Close()
					}
				}
			}
		}
		if r.WantReply {
			r.Reply(ok, nil)
		}
	}
	if !started {
		ch.Close()
	}
}
