package testparts

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"testing"
	"time"
)

// PKI is a root CA, an intermediate CA and a server certificate the
// intermediate issued, as an office with its own CA would have, for
// HTTPS servers on loopback.
type PKI struct {
	Pool  *x509.CertPool  // holds the root only
	Chain [][]byte        // server certificate, then intermediate (DER), as served
	Cert  tls.Certificate // the served chain with the server's key
}

// NewPKI issues a fresh PKI whose server certificate names dnsNames and
// ips; it is valid from an hour ago for a day.
func NewPKI(tb testing.TB, dnsNames []string, ips []net.IP) *PKI {
	tb.Helper()
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			tb.Fatal(err)
		}
		return k
	}
	now := time.Now()
	issue := func(tmpl, parent *x509.Certificate, pub, signer any) *x509.Certificate {
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
		if err != nil {
			tb.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			tb.Fatal(err)
		}
		return c
	}
	ca := func(serial int64, name string) *x509.Certificate {
		return &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name, Organization: []string{"shopwatch test"}},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
			IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		}
	}
	rootKey, interKey, leafKey := key(), key(), key()
	rootTmpl := ca(1, "shopwatch test root")
	root := issue(rootTmpl, rootTmpl, &rootKey.PublicKey, rootKey)
	inter := issue(ca(2, "shopwatch test intermediate"), root, &interKey.PublicKey, rootKey)
	leaf := issue(&x509.Certificate{
		SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "shop under test"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		DNSNames: dnsNames, IPAddresses: ips,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, inter, &leafKey.PublicKey, interKey)
	p := &PKI{Pool: x509.NewCertPool(), Chain: [][]byte{leaf.Raw, inter.Raw}}
	p.Pool.AddCert(root)
	p.Cert = tls.Certificate{Certificate: p.Chain, PrivateKey: leafKey, Leaf: leaf}
	return p
}
