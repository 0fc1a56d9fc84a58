package kubernetes

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// certValidity is how long a self-signed certificate is made for.
const certValidity = 2 * 365 * 24 * time.Hour

// LoadOrCreateCert returns the proxy's certificate from certFile and
// keyFile, making a self-signed one there (the key mode 0600) when
// neither exists: for 127.0.0.1, ::1, localhost and hosts. created says
// so; pemCert is the certificate clients pin (a kubeconfig's
// certificate-authority-data). A key file others can read is refused.
func LoadOrCreateCert(certFile, keyFile string, hosts ...string) (cert tls.Certificate, pemCert []byte, created bool, err error) {
	_, cerr := os.Stat(certFile)
	_, kerr := os.Stat(keyFile)
	if errors.Is(cerr, fs.ErrNotExist) && errors.Is(kerr, fs.ErrNotExist) {
		pemCert, err = createCert(certFile, keyFile, hosts)
		if err != nil {
			return tls.Certificate{}, nil, false, err
		}
		created = true
	} else if fi, err := os.Stat(keyFile); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return tls.Certificate{}, nil, false, fmt.Errorf("kubernetes proxy key %s: mode %04o lets others read it: chmod 600 it", keyFile, fi.Mode().Perm())
	}
	cert, err = tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return tls.Certificate{}, nil, false, fmt.Errorf("kubernetes proxy certificate: %w", err)
	}
	pemCert = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]})
	return cert, pemCert, created, nil
}

func createCert(certFile, keyFile string, hosts []string) ([]byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "Warden Kubernetes proxy", Organization: []string{"Warden"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(certValidity),
		// Its own CA: a kubeconfig pins it as certificate-authority-data.
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	for _, h := range hosts {
		if h == "" || h == "localhost" {
			continue
		}
		if ip := net.ParseIP(h); ip != nil {
			if !ip.IsUnspecified() && !ip.IsLoopback() {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			}
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	for _, f := range []string{certFile, keyFile} {
		if err := os.MkdirAll(filepath.Dir(f), 0o700); err != nil {
			return nil, fmt.Errorf("kubernetes proxy certificate: %w", err)
		}
	}
	pemCert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := writeNew(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		return nil, err
	}
	if err := writeNew(certFile, pemCert, 0o644); err != nil {
		os.Remove(keyFile)
		return nil, err
	}
	return pemCert, nil
}

func writeNew(file string, b []byte, mode os.FileMode) error {
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("kubernetes proxy certificate: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(file)
		return fmt.Errorf("kubernetes proxy certificate: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(file)
		return fmt.Errorf("kubernetes proxy certificate: %w", err)
	}
	return nil
}
