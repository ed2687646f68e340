package tsa

import (
	"crypto/x509"
	"strings"
)

// builtinRootPrefix starts the common name of every root the built-in
// authority makes (see LoadOrCreateAuthority).
const builtinRootPrefix = "shopwatch TSA root "

// IsBuiltinRoot reports whether root looks like a root the built-in
// authority made: self-issued by a shopwatch node, so that its tokens are
// no third-party trusted timestamps. It goes by the subject name, which
// anyone can copy: it tells the reports how to label a token, never
// whether to trust one.
func IsBuiltinRoot(root *x509.Certificate) bool {
	return strings.HasPrefix(root.Subject.CommonName, builtinRootPrefix)
}
