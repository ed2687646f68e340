package tsa

import (
	"bytes"
	"crypto"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"time"

	"github.com/digitorus/pkcs7"
	"github.com/digitorus/timestamp"
)

// Errors Verify, VerifyDigest, Token and Request return, wrapped with the
// operation. Test for them with errors.Is.
var (
	// ErrMalformed: the bytes are not a DER TimeStampResp or
	// TimeStampToken (truncated, trailing data, a missing part), or a
	// request is not a TimeStampReq.
	ErrMalformed = errors.New("malformed timestamp")
	// ErrRejected: the authority answered with a status other than granted.
	ErrRejected = errors.New("timestamp request rejected")
	// ErrBadSignature: the token's CMS signature does not verify, or its
	// signed attributes do not name the certificate that signed.
	ErrBadSignature = errors.New("timestamp signature does not verify")
	// ErrUntrusted: the signing certificate does not chain to the trusted
	// roots at genTime, or is not a time-stamping certificate.
	ErrUntrusted = errors.New("timestamp authority not trusted")
	// ErrImprintMismatch: the token is valid but over other data (its
	// message imprint differs from the digest of the data given).
	ErrImprintMismatch = errors.New("timestamp is over other data")
	// ErrNonceMismatch: a reply to a request does not carry the request's
	// nonce (none, or another): it was not made for this request.
	ErrNonceMismatch = errors.New("timestamp reply nonce does not match the request")
)

// Info is what a verified token says.
type Info struct {
	GenTime       time.Time             // when the authority stamped the data (UTC)
	Accuracy      time.Duration         // 0 when the token states none
	Serial        *big.Int              // unique per authority
	Policy        asn1.ObjectIdentifier // the TSA policy
	TSA           string                // subject of the signing certificate
	Nonce         *big.Int              // nil when the request had none
	HashAlgorithm crypto.Hash           // of the message imprint
	Imprint       []byte                // the digest that was stamped
	Certificate   *x509.Certificate     // the signing certificate
	Chain         []*x509.Certificate   // from Certificate up to the trusted root
}

// Verify verifies token (a DER TimeStampResp or bare TimeStampToken)
// against the trusted roots and checks that it was issued over data: its
// message imprint must equal the hash of data under the token's hash
// algorithm (SHA-256, SHA-384 or SHA-512). See the package documentation
// for every check. A nil or empty roots pool trusts nothing.
func Verify(token, data []byte, roots *x509.CertPool) (*Info, error) {
	info, err := verifyToken(token, roots)
	if err != nil {
		return nil, fmt.Errorf("verify timestamp: %w", err)
	}
	switch info.HashAlgorithm {
	case crypto.SHA256, crypto.SHA384, crypto.SHA512:
	default:
		return nil, fmt.Errorf("verify timestamp: %w: imprint uses %v, want SHA-256, SHA-384 or SHA-512", ErrMalformed, info.HashAlgorithm)
	}
	h := info.HashAlgorithm.New()
	h.Write(data)
	if sum := h.Sum(nil); subtle.ConstantTimeCompare(sum, info.Imprint) != 1 {
		return nil, fmt.Errorf("verify timestamp: %w: token stamps %x, data hashes to %x", ErrImprintMismatch, info.Imprint, sum)
	}
	return info, nil
}

// VerifyDigest is Verify for a caller that holds only the SHA-256 digest of
// the data; the token must use SHA-256.
func VerifyDigest(token, digest []byte, roots *x509.CertPool) (*Info, error) {
	info, err := verifyToken(token, roots)
	if err != nil {
		return nil, fmt.Errorf("verify timestamp over %x: %w", digest, err)
	}
	if info.HashAlgorithm != crypto.SHA256 {
		return nil, fmt.Errorf("verify timestamp over %x: %w: imprint uses %v, want SHA-256", digest, ErrImprintMismatch, info.HashAlgorithm)
	}
	if len(digest) != sha256.Size || subtle.ConstantTimeCompare(digest, info.Imprint) != 1 {
		return nil, fmt.Errorf("verify timestamp over %x: %w: token stamps %x", digest, ErrImprintMismatch, info.Imprint)
	}
	return info, nil
}

func verifyToken(token []byte, roots *x509.CertPool) (*Info, error) {
	der, err := tokenDER(token)
	if err != nil {
		return nil, err
	}
	p7, err := pkcs7.Parse(der)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if len(p7.Signers) != 1 {
		return nil, fmt.Errorf("%w: token has %d signers, want 1", ErrMalformed, len(p7.Signers))
	}
	signer := p7.GetOnlySigner()
	if signer == nil {
		return nil, fmt.Errorf("%w: token does not include the TSA certificate", ErrMalformed)
	}
	// The signature over the signed attributes, and the content digest in
	// them, without the chain (checked below at genTime).
	if err := p7.Verify(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	var contentType asn1.ObjectIdentifier
	if err := p7.UnmarshalSignedAttribute(pkcs7.OIDAttributeContentType, &contentType); err != nil || !contentType.Equal(oidContentTSTInfo) {
		return nil, fmt.Errorf("%w: signed content type is %v, want id-ct-TSTInfo", ErrMalformed, contentType)
	}
	if err := checkESSCert(p7, signer); err != nil {
		return nil, err
	}
	ts, err := timestamp.Parse(der)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	var others []*x509.Certificate
	for _, c := range p7.Certificates {
		if c != signer {
			others = append(others, c)
		}
	}
	chain, err := verifyChain(signer, others, roots, ts.Time)
	if err != nil {
		return nil, err
	}
	return &Info{
		GenTime:       ts.Time.UTC(),
		Accuracy:      ts.Accuracy,
		Serial:        ts.SerialNumber,
		Policy:        ts.Policy,
		TSA:           signer.Subject.String(),
		Nonce:         ts.Nonce,
		HashAlgorithm: ts.HashAlgorithm,
		Imprint:       ts.HashedMessage,
		Certificate:   signer,
		Chain:         chain,
	}, nil
}

// checkSigningCert checks that cert is a time-stamping certificate that
// chains to roots at time at.
func checkSigningCert(cert *x509.Certificate, intermediates []*x509.Certificate, roots *x509.CertPool, at time.Time) error {
	_, err := verifyChain(cert, intermediates, roots, at)
	return err
}

func verifyChain(cert *x509.Certificate, intermediates []*x509.Certificate, roots *x509.CertPool, at time.Time) ([]*x509.Certificate, error) {
	// RFC 3161 section 2.3: exactly one extended key usage, timeStamping,
	// in a critical extension.
	if len(cert.ExtKeyUsage) != 1 || cert.ExtKeyUsage[0] != x509.ExtKeyUsageTimeStamping || len(cert.UnknownExtKeyUsage) != 0 {
		return nil, fmt.Errorf("%w: certificate %q is not for time stamping only (extended key usage %v)", ErrUntrusted, cert.Subject, cert.ExtKeyUsage)
	}
	critical := slices.ContainsFunc(cert.Extensions, func(e pkix.Extension) bool {
		return e.Id.Equal(oidExtKeyUsage) && e.Critical
	})
	if !critical {
		return nil, fmt.Errorf("%w: certificate %q: extended key usage is not critical", ErrUntrusted, cert.Subject)
	}
	if roots == nil {
		return nil, fmt.Errorf("%w: no trusted roots given", ErrUntrusted)
	}
	pool := x509.NewCertPool()
	for _, c := range intermediates {
		pool.AddCert(c)
	}
	chains, err := cert.Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: pool,
		CurrentTime:   at,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping},
	})
	if err != nil {
		return nil, fmt.Errorf("%w: certificate %q at %s: %v", ErrUntrusted, cert.Subject, at.UTC().Format(time.RFC3339), err)
	}
	return chains[0], nil
}

// ESS signing-certificate attributes (RFC 2634 section 5.4, RFC 5035
// section 3): the hash of the signing certificate, under the signature so
// that the certificate cannot be swapped for another with the same key.
var (
	oidSigningCertificate   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 12}
	oidSigningCertificateV2 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 47}
)

type essCertID struct {
	CertHash     []byte
	IssuerSerial asn1.RawValue `asn1:"optional"`
}

type signingCertificate struct {
	Certs    []essCertID
	Policies asn1.RawValue `asn1:"optional"`
}

type essCertIDv2 struct {
	HashAlgorithm pkix.AlgorithmIdentifier `asn1:"optional"`
	CertHash      []byte
	IssuerSerial  asn1.RawValue `asn1:"optional"`
}

type signingCertificateV2 struct {
	Certs    []essCertIDv2
	Policies asn1.RawValue `asn1:"optional"`
}

var hashByOID = map[string]crypto.Hash{
	"2.16.840.1.101.3.4.2.1": crypto.SHA256,
	"2.16.840.1.101.3.4.2.2": crypto.SHA384,
	"2.16.840.1.101.3.4.2.3": crypto.SHA512,
}

func checkESSCert(p7 *pkcs7.PKCS7, signer *x509.Certificate) error {
	var v2 signingCertificateV2
	if err := p7.UnmarshalSignedAttribute(oidSigningCertificateV2, &v2); err == nil {
		if len(v2.Certs) == 0 {
			return fmt.Errorf("%w: empty signing-certificate-v2 attribute", ErrMalformed)
		}
		h := crypto.SHA256 // the default when the algorithm is absent
		if len(v2.Certs[0].HashAlgorithm.Algorithm) > 0 {
			var ok bool
			if h, ok = hashByOID[v2.Certs[0].HashAlgorithm.Algorithm.String()]; !ok {
				return fmt.Errorf("%w: signing-certificate-v2 uses hash %v", ErrMalformed, v2.Certs[0].HashAlgorithm.Algorithm)
			}
		}
		d := h.New()
		d.Write(signer.Raw)
		if !bytes.Equal(d.Sum(nil), v2.Certs[0].CertHash) {
			return fmt.Errorf("%w: signing-certificate-v2 names another certificate than %q", ErrBadSignature, signer.Subject)
		}
		return nil
	}
	var v1 signingCertificate
	if err := p7.UnmarshalSignedAttribute(oidSigningCertificate, &v1); err == nil {
		if len(v1.Certs) == 0 {
			return fmt.Errorf("%w: empty signing-certificate attribute", ErrMalformed)
		}
		sum := sha1.Sum(signer.Raw)
		if !bytes.Equal(sum[:], v1.Certs[0].CertHash) {
			return fmt.Errorf("%w: signing-certificate names another certificate than %q", ErrBadSignature, signer.Subject)
		}
		return nil
	}
	return fmt.Errorf("%w: token has no ESS signing-certificate attribute", ErrMalformed)
}

// The outer structures of RFC 3161 section 2.4.2.
type pkiStatusInfo struct {
	Status       int
	StatusString []string       `asn1:"optional,utf8"`
	FailInfo     asn1.BitString `asn1:"optional"`
}

type timeStampResp struct {
	Status         pkiStatusInfo
	TimeStampToken asn1.RawValue `asn1:"optional"`
}

// Token returns the bare TimeStampToken (a DER ContentInfo) of a DER
// TimeStampResp; given a bare token it returns it unchanged. A response
// whose status is neither granted nor granted-with-mods yields an error
// wrapping ErrRejected.
func Token(b []byte) ([]byte, error) {
	der, err := tokenDER(b)
	if err != nil {
		return nil, fmt.Errorf("timestamp token: %w", err)
	}
	return bytes.Clone(der), nil
}

// tokenDER tells a TimeStampResp (SEQUENCE { SEQUENCE status, token }) from
// a ContentInfo (SEQUENCE { OID, [0] content }) by the first inner element.
func tokenDER(b []byte) ([]byte, error) {
	var outer asn1.RawValue
	rest, err := asn1.Unmarshal(b, &outer)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the DER value", ErrMalformed, len(rest))
	}
	var first asn1.RawValue
	if _, err := asn1.Unmarshal(outer.Bytes, &first); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if first.Class == asn1.ClassUniversal && first.Tag == asn1.TagOID {
		return b, nil // a bare ContentInfo
	}
	var resp timeStampResp
	if _, err := asn1.Unmarshal(b, &resp); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if s := timestamp.Status(resp.Status.Status); s != timestamp.Granted && s != timestamp.GrantedWithMods {
		return nil, fmt.Errorf("%w: %v %q (failure bits %x)", ErrRejected, s, resp.Status.StatusString, resp.Status.FailInfo.Bytes)
	}
	if len(resp.TimeStampToken.FullBytes) == 0 {
		return nil, fmt.Errorf("%w: granted response carries no token", ErrMalformed)
	}
	return resp.TimeStampToken.FullBytes, nil
}
