package ssh

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strings"
	"time"

	xssh "golang.org/x/crypto/ssh"

	"github.com/wardenhq/warden/connectors"
	"github.com/wardenhq/warden/policy"
)

var leasePattern = regexp.MustCompile(`^[a-z0-9]{6,40}$`)

// backdate is how far before now a certificate becomes valid, for hosts
// whose clocks run behind Warden's.
const backdate = time.Minute

// forgetRevoked is how long a revoked lease of unknown expiry is
// remembered (a reaper's revocation after a restart: its certificate was
// never in this process).
const forgetRevoked = 24 * time.Hour

// Grants implements connectors.Credentialer: the decision's principal, or
// the connection's only one when the rule names none, and its pty grant.
func (s *SSH) Grants(d policy.Decision) (connectors.Grants, error) {
	p := d.GrantPrincipal
	if p == "" {
		if len(s.principals) != 1 {
			return nil, fmt.Errorf("ssh: connection %q has several principals (%s) and rule %q names none in grants.principal", s.info.Name, strings.Join(s.principals, ", "), d.Rule)
		}
		p = s.principals[0]
	}
	if !slices.Contains(s.principals, p) {
		return nil, fmt.Errorf("ssh: principal %q is not one connection %q allows (%s)", p, s.info.Name, strings.Join(s.principals, ", "))
	}
	return connectors.SSHGrants{Principal: p, PTY: d.GrantPTY}, nil
}

// Principal implements connectors.Credentialer: warden-<lease>@<address>,
// which is also the certificate's key ID, so sshd's log of each login
// ("ID warden-...") names the lease. The remote user is in the lease's
// grants summary (Principal is asked before the grants are known).
func (s *SSH) Principal(lease string) string { return "warden-" + lease + "@" + s.address }

// Mint implements connectors.Credentialer: a fresh ed25519 key pair, kept
// in memory, and a user certificate for it signed by the CA: key ID
// Principal(lease), exactly one principal, valid from a minute ago to now
// + TTL, critical option source-address set to Warden's own address(es)
// as the host sees them, extension permit-pty only when granted, and no
// other extension (no port, agent or X11 forwarding, no user rc). Nothing
// is created on the host.
func (s *SSH) Mint(ctx context.Context, req connectors.MintRequest) (connectors.MintResponse, error) {
	if s.isClosed() {
		return connectors.MintResponse{}, connectors.ErrClosed
	}
	if !leasePattern.MatchString(req.Lease) {
		return connectors.MintResponse{}, fmt.Errorf("ssh: mint: bad lease id %q", req.Lease)
	}
	g, ok := req.Grants.(connectors.SSHGrants)
	if !ok {
		return connectors.MintResponse{}, fmt.Errorf("ssh: mint: grants of type %T are not a host's", req.Grants)
	}
	if !slices.Contains(s.principals, g.Principal) {
		return connectors.MintResponse{}, fmt.Errorf("ssh: mint: principal %q is not one connection %q allows", g.Principal, s.info.Name)
	}
	ttl := req.TTL
	if ttl <= 0 {
		ttl = s.ttl
	}
	src := s.sources
	if len(src) == 0 {
		var err error
		if src, err = SourceAddresses(ctx, s.address); err != nil {
			return connectors.MintResponse{}, fmt.Errorf("ssh: mint: %w", err)
		}
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return connectors.MintResponse{}, fmt.Errorf("ssh: mint: generate key: %w", err)
	}
	sshPub, err := xssh.NewPublicKey(pub)
	if err != nil {
		return connectors.MintResponse{}, fmt.Errorf("ssh: mint: %w", err)
	}
	var serial [8]byte
	if _, err := rand.Read(serial[:]); err != nil {
		return connectors.MintResponse{}, fmt.Errorf("ssh: mint: serial: %w", err)
	}
	now := time.Now()
	after, before := now.Add(-backdate).UTC().Truncate(time.Second), now.Add(ttl).UTC().Truncate(time.Second)
	ext := map[string]string{}
	if g.PTY {
		ext["permit-pty"] = ""
	}
	cert := &xssh.Certificate{
		Key:             sshPub,
		Serial:          binary.BigEndian.Uint64(serial[:]),
		CertType:        xssh.UserCert,
		KeyId:           s.Principal(req.Lease),
		ValidPrincipals: []string{g.Principal},
		ValidAfter:      uint64(after.Unix()),
		ValidBefore:     uint64(before.Unix()),
		Permissions: xssh.Permissions{
			CriticalOptions: map[string]string{"source-address": strings.Join(src, ",")},
			Extensions:      ext,
		},
	}
	if err := cert.SignCert(rand.Reader, s.ca.signer); err != nil {
		return connectors.MintResponse{}, fmt.Errorf("ssh: mint: sign the certificate: %w", err)
	}
	pty := "no pty"
	if g.PTY {
		pty = "pty"
	}
	return connectors.MintResponse{
		Credential: connectors.Credential{Mode: connectors.ModeJIT, Lease: req.Lease,
			SSHCertificate: &connectors.SSHCertificate{
				Principal:   g.Principal,
				Key:         &memKey{k: priv},
				Certificate: xssh.MarshalAuthorizedKey(cert),
				ValidBefore: before,
			}},
		Expires: before,
		Summary: fmt.Sprintf("login %s on %s, %s, no forwarding, from %s, certificate valid %s to %s (serial %d, CA %s)",
			g.Principal, s.address, pty, strings.Join(src, ","), after.Format(time.RFC3339), before.Format(time.RFC3339), cert.Serial, s.ca.Fingerprint()),
	}, nil
}

// Revoke implements connectors.Credentialer. sshd checks a certificate
// only at login, so revoking ends what the certificate opened: every
// session of the lease is sent SIGKILL and every connection is closed,
// and no new connection is opened for the lease. The certificate itself
// stays valid until it expires, but its private key never left this
// process's memory, which forgets it here. Revoking twice, or a lease
// this process never saw, is not an error.
func (s *SSH) Revoke(_ context.Context, req connectors.RevokeRequest) error {
	s.mu.Lock()
	now := time.Now()
	for l, until := range s.revoked {
		if now.After(until) {
			delete(s.revoked, l)
		}
	}
	until := now.Add(forgetRevoked)
	victims := s.clients[req.Lease]
	delete(s.clients, req.Lease)
	for _, c := range victims {
		until = c.validBefore
	}
	if old, ok := s.revoked[req.Lease]; !ok || old.Before(until) {
		s.revoked[req.Lease] = until
	}
	s.mu.Unlock()
	killAll(victims)
	if len(victims) > 0 {
		s.logger.Info("ssh credential revoked", "lease", req.Lease, "connections", len(victims))
	}
	return nil
}

// SourceAddresses are the addresses the host at address sees Warden
// connect from: for each of its IP addresses, the local address of the
// route to it, as the kernel chooses it (a UDP socket "connected" to the
// host sends nothing; its local address is the route's source). Behind
// NAT the host sees another address, and the certificate's
// source-address refuses the login.
func SourceAddresses(ctx context.Context, address string) ([]string, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	ips, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil {
		return nil, fmt.Errorf("%w: resolve %s: %v", connectors.ErrUnavailable, host, err)
	}
	var out []string
	for _, ip := range ips {
		c, err := net.Dial("udp", net.JoinHostPort(ip.IP.String(), port))
		if err != nil {
			continue
		}
		local := c.LocalAddr().(*net.UDPAddr).IP
		c.Close()
		if a := local.String(); !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no route to %s", connectors.ErrUnavailable, host)
	}
	return out, nil
}
