// Package hsm keeps the node's Ed25519 signing key in a PKCS#11 token (a
// hardware security module, a smart card, or SoftHSM2) and signs through
// it. A Key implements crypto.Signer, so evidence.NewSigner takes it like a
// key read from a file; the private key never leaves the token: it is
// generated inside it as sensitive and not extractable, and every signature
// is made by the token with the mechanism CKM_EDDSA.
//
// The token is found by its label, the key by its label (and CKA_ID when
// one is given); the user PIN is passed in by the caller, which reads it
// from a file or the environment and never logs it.
package hsm

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/asn1"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/miekg/pkcs11"
)

// PKCS#11 3.0 values for Edwards-curve keys, which the PKCS#11 headers of
// github.com/miekg/pkcs11 (version 2.40) do not name.
const (
	ckkECEdwards            = 0x00000040 // CKK_EC_EDWARDS
	ckmECEdwardsKeyPairGen  = 0x00001055 // CKM_EC_EDWARDS_KEY_PAIR_GEN
	ckmEdDSA                = 0x00001057 // CKM_EDDSA
	defaultSessions         = 4
	maxObjectsPerFindResult = 4
)

// oidEd25519 is id-Ed25519 (RFC 8410), the CKA_EC_PARAMS of an Ed25519 key.
var oidEd25519 = asn1.ObjectIdentifier{1, 3, 101, 112}

// Errors that Open and Generate wrap, so that callers can tell the
// operator what to fix.
var (
	ErrModule        = errors.New("the PKCS#11 module cannot be loaded")
	ErrTokenNotFound = errors.New("no token with that label")
	ErrWrongPIN      = errors.New("the token refused the PIN")
	ErrKeyNotFound   = errors.New("no private key with that label in the token")
	ErrKeyExists     = errors.New("the token already holds a key with that label")
	ErrWrongKeyType  = errors.New("the key is not an Ed25519 key")
)

// Config says where the key is.
type Config struct {
	// Module is the path of the PKCS#11 module, such as
	// /usr/lib/softhsm/libsofthsm2.so.
	Module string
	// TokenLabel is the label of the token (CKA_LABEL of its token info).
	TokenLabel string
	// KeyLabel is the CKA_LABEL of the key pair.
	KeyLabel string
	// KeyID is the CKA_ID of the key pair; when set, the key must have it
	// as well as KeyLabel. Generate gives a new key pair this id, or a
	// random one when it is empty.
	KeyID []byte
	// PIN is the token's user PIN.
	PIN string
	// Sessions is how many signatures the key makes at once (one PKCS#11
	// session each); zero means 4.
	Sessions int
}

func (c Config) check() error {
	switch {
	case c.Module == "":
		return errors.New("no PKCS#11 module path")
	case c.TokenLabel == "":
		return errors.New("no token label")
	case c.KeyLabel == "":
		return errors.New("no key label")
	case c.PIN == "":
		return errors.New("no PIN")
	case c.Sessions < 0:
		return fmt.Errorf("%d sessions", c.Sessions)
	}
	return nil
}

// Key is an Ed25519 private key held in a PKCS#11 token. It implements
// crypto.Signer and is safe for concurrent use; Close releases its
// sessions and, with the last Key of the module, the module.
type Key struct {
	mod    *module
	slot   uint
	logged bool // counted in mod.logins
	label  string
	token  string
	id     []byte
	priv   pkcs11.ObjectHandle
	pub    ed25519.PublicKey
	pool   chan pkcs11.SessionHandle
	all    []pkcs11.SessionHandle
	mu     sync.Mutex // guards closed and all against Close
	closed bool
}

// module is one loaded PKCS#11 library. C_Initialize and C_Finalize act on
// the whole process, so the Keys of one library share it, and the last
// one to close finalizes and unloads it.
type module struct {
	path string
	ctx  *pkcs11.Ctx
	refs int
	// logins are the tokens this process is logged in to, by slot. A
	// PKCS#11 login holds for every session of the process on the token,
	// so a second Key on a token compares its PIN with the one that
	// logged in rather than passing on the strength of the first.
	logins map[uint]*login
}

// login is the state of one logged-in token: how many Keys use it and
// the SHA-256 of the PIN they logged in with.
type login struct {
	keys int
	pin  [sha256.Size]byte
}

var (
	modulesMu sync.Mutex
	modules   = map[string]*module{}
)

func openModule(path string) (*module, error) {
	modulesMu.Lock()
	defer modulesMu.Unlock()
	if m := modules[path]; m != nil {
		m.refs++
		return m, nil
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrModule, err)
	}
	ctx := pkcs11.New(path)
	if ctx == nil {
		return nil, fmt.Errorf("%w: %s is not a PKCS#11 library (dlopen or C_GetFunctionList failed)", ErrModule, path)
	}
	if err := ctx.Initialize(); err != nil && !isCKR(err, pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		ctx.Destroy()
		return nil, fmt.Errorf("%w: %s: C_Initialize: %w", ErrModule, path, err)
	}
	m := &module{path: path, ctx: ctx, refs: 1, logins: map[uint]*login{}}
	modules[path] = m
	return m, nil
}

func (m *module) release() error {
	modulesMu.Lock()
	defer modulesMu.Unlock()
	m.refs--
	if m.refs > 0 {
		return nil
	}
	delete(modules, m.path)
	err := m.ctx.Finalize()
	m.ctx.Destroy()
	if err != nil {
		return fmt.Errorf("pkcs11 %s: C_Finalize: %w", m.path, err)
	}
	return nil
}

func isCKR(err error, code uint) bool {
	var e pkcs11.Error
	return errors.As(err, &e) && uint(e) == code
}

// Open finds the Ed25519 private key cfg names in its token, logs in with
// cfg.PIN and reads the public key. The errors wrap ErrModule,
// ErrTokenNotFound, ErrWrongPIN, ErrKeyNotFound or ErrWrongKeyType.
func Open(cfg Config) (*Key, error) {
	k, err := start(cfg)
	if err != nil {
		return nil, err
	}
	if err := k.find(cfg); err != nil {
		k.Close()
		return nil, fmt.Errorf("pkcs11 token %q: %w", cfg.TokenLabel, err)
	}
	return k, nil
}

// Generate makes a new Ed25519 key pair inside the token cfg names, under
// cfg.KeyLabel (and cfg.KeyID, or a random CKA_ID), and returns it as
// Open would. The private key is made sensitive and not extractable, so
// it can sign but never be read out. It refuses, with ErrKeyExists, a
// label that a private key in the token already has.
func Generate(cfg Config) (*Key, error) {
	k, err := start(cfg)
	if err != nil {
		return nil, err
	}
	if err := k.generate(cfg); err != nil {
		k.Close()
		return nil, fmt.Errorf("pkcs11 token %q: %w", cfg.TokenLabel, err)
	}
	return k, nil
}

// start loads the module, finds the token, opens the sessions and logs in.
func start(cfg Config) (*Key, error) {
	if err := cfg.check(); err != nil {
		return nil, fmt.Errorf("pkcs11: %w", err)
	}
	m, err := openModule(cfg.Module)
	if err != nil {
		return nil, fmt.Errorf("pkcs11: %w", err)
	}
	slot, err := findToken(m.ctx, cfg.TokenLabel)
	if err != nil {
		_ = m.release()
		return nil, fmt.Errorf("pkcs11 %s: %w", cfg.Module, err)
	}
	k := &Key{mod: m, slot: slot, label: cfg.KeyLabel, token: cfg.TokenLabel}
	n := cfg.Sessions
	if n == 0 {
		n = defaultSessions
	}
	k.pool = make(chan pkcs11.SessionHandle, n)
	for range n {
		sh, err := m.ctx.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
		if err != nil {
			k.Close()
			return nil, fmt.Errorf("pkcs11 token %q: open session: %w", cfg.TokenLabel, err)
		}
		k.all = append(k.all, sh)
		k.pool <- sh
	}
	if err := k.login(cfg.PIN); err != nil {
		k.Close()
		return nil, fmt.Errorf("pkcs11 token %q: %w", cfg.TokenLabel, err)
	}
	return k, nil
}

// login logs the process in to the key's token as its user, or, when
// another Key of this process already did, checks that pin is the PIN it
// used.
func (k *Key) login(pin string) error {
	modulesMu.Lock()
	defer modulesMu.Unlock()
	sum := sha256.Sum256([]byte(pin))
	if l := k.mod.logins[k.slot]; l != nil {
		if subtle.ConstantTimeCompare(l.pin[:], sum[:]) != 1 {
			return ErrWrongPIN
		}
		l.keys++
		k.logged = true
		return nil
	}
	err := k.mod.ctx.Login(k.all[0], pkcs11.CKU_USER, pin)
	switch {
	case err == nil:
	case isCKR(err, pkcs11.CKR_PIN_INCORRECT), isCKR(err, pkcs11.CKR_PIN_LEN_RANGE), isCKR(err, pkcs11.CKR_PIN_INVALID):
		return fmt.Errorf("%w (%v)", ErrWrongPIN, err)
	case isCKR(err, pkcs11.CKR_PIN_LOCKED):
		return fmt.Errorf("%w: the PIN is locked; the security officer must unlock it (%v)", ErrWrongPIN, err)
	default:
		return fmt.Errorf("login: %w", err)
	}
	k.mod.logins[k.slot] = &login{keys: 1, pin: sum}
	k.logged = true
	return nil
}

// logout forgets the key's share of its token's login; the token logs
// the process out by itself when its last session closes.
func (k *Key) logout() {
	if !k.logged {
		return
	}
	modulesMu.Lock()
	defer modulesMu.Unlock()
	if l := k.mod.logins[k.slot]; l != nil {
		if l.keys--; l.keys <= 0 {
			delete(k.mod.logins, k.slot)
		}
	}
	k.logged = false
}

// findToken returns the slot holding the token labelled label.
func findToken(ctx *pkcs11.Ctx, label string) (uint, error) {
	slots, err := ctx.GetSlotList(true)
	if err != nil {
		return 0, fmt.Errorf("list slots: %w", err)
	}
	var seen []string
	for _, s := range slots {
		ti, err := ctx.GetTokenInfo(s)
		if err != nil {
			continue
		}
		l := strings.TrimRight(ti.Label, " \x00")
		if l == label {
			if ti.Flags&pkcs11.CKF_TOKEN_INITIALIZED == 0 {
				return 0, fmt.Errorf("token %q is not initialized", label)
			}
			return s, nil
		}
		seen = append(seen, fmt.Sprintf("%q", l))
	}
	have := "no token is present"
	if len(seen) > 0 {
		have = "tokens present: " + strings.Join(seen, ", ")
	}
	return 0, fmt.Errorf("%w %q (%s)", ErrTokenNotFound, label, have)
}

// withSession runs f on a session of the pool.
func (k *Key) withSession(f func(pkcs11.SessionHandle) error) error {
	sh, ok := <-k.pool
	if !ok {
		return errors.New("pkcs11 key is closed")
	}
	defer func() { k.pool <- sh }()
	return f(sh)
}

// findObjects returns the handles of the objects matching template.
func (k *Key) findObjects(sh pkcs11.SessionHandle, template []*pkcs11.Attribute) ([]pkcs11.ObjectHandle, error) {
	ctx := k.mod.ctx
	if err := ctx.FindObjectsInit(sh, template); err != nil {
		return nil, fmt.Errorf("find objects: %w", err)
	}
	hs, _, err := ctx.FindObjects(sh, maxObjectsPerFindResult)
	if ferr := ctx.FindObjectsFinal(sh); err == nil && ferr != nil {
		err = ferr
	}
	if err != nil {
		return nil, fmt.Errorf("find objects: %w", err)
	}
	return hs, nil
}

func (k *Key) keyTemplate(class uint, id []byte) []*pkcs11.Attribute {
	t := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, class),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, k.label),
	}
	if len(id) > 0 {
		t = append(t, pkcs11.NewAttribute(pkcs11.CKA_ID, id))
	}
	return t
}

// find looks up the private key and its public key.
func (k *Key) find(cfg Config) error {
	return k.withSession(func(sh pkcs11.SessionHandle) error {
		ctx := k.mod.ctx
		privs, err := k.findObjects(sh, k.keyTemplate(pkcs11.CKO_PRIVATE_KEY, cfg.KeyID))
		if err != nil {
			return err
		}
		what := fmt.Sprintf("label %q", k.label)
		if len(cfg.KeyID) > 0 {
			what += fmt.Sprintf(" and id %s", hex.EncodeToString(cfg.KeyID))
		}
		switch len(privs) {
		case 0:
			return fmt.Errorf("%w: %s", ErrKeyNotFound, what)
		case 1:
		default:
			return fmt.Errorf("%d private keys have %s; give the key's id to choose one", len(privs), what)
		}
		attrs, err := ctx.GetAttributeValue(sh, privs[0], []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, nil),
			pkcs11.NewAttribute(pkcs11.CKA_ID, nil),
		})
		if err != nil {
			return fmt.Errorf("key %s: read attributes: %w", what, err)
		}
		var keyType uint64
		for _, a := range attrs {
			switch a.Type {
			case pkcs11.CKA_KEY_TYPE:
				keyType = ulong(a.Value)
			case pkcs11.CKA_ID:
				k.id = bytes.Clone(a.Value)
			}
		}
		if keyType != ckkECEdwards {
			return fmt.Errorf("key %s: %w (its CKA_KEY_TYPE is %#x, want CKK_EC_EDWARDS %#x)", what, ErrWrongKeyType, keyType, ckkECEdwards)
		}
		k.priv = privs[0]
		pubs, err := k.findObjects(sh, k.keyTemplate(pkcs11.CKO_PUBLIC_KEY, k.id))
		if err != nil {
			return err
		}
		if len(pubs) != 1 {
			return fmt.Errorf("key %s: %d public keys match its label and id, want 1 (the public key is read from the token's public key object)", what, len(pubs))
		}
		pub, err := k.readPublic(sh, pubs[0])
		if err != nil {
			return fmt.Errorf("key %s: %w", what, err)
		}
		k.pub = pub
		return nil
	})
}

// ulong decodes a CK_ULONG attribute value (native byte order, as the
// module wrote it).
func ulong(b []byte) uint64 {
	var v uint64
	switch len(b) {
	case 4:
		v = uint64(binary.NativeEndian.Uint32(b))
	case 8:
		v = binary.NativeEndian.Uint64(b)
	}
	return v
}

// readPublic reads an Ed25519 public key object: CKA_EC_PARAMS must name
// Ed25519, and CKA_EC_POINT holds the 32 key bytes as a DER OCTET STRING
// (PKCS#11 3.0; some modules give the bare 32 bytes).
func (k *Key) readPublic(sh pkcs11.SessionHandle, h pkcs11.ObjectHandle) (ed25519.PublicKey, error) {
	attrs, err := k.mod.ctx.GetAttributeValue(sh, h, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, nil),
		pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, nil),
		pkcs11.NewAttribute(pkcs11.CKA_EC_POINT, nil),
	})
	if err != nil {
		return nil, fmt.Errorf("read public key: %w", err)
	}
	var params, point []byte
	for _, a := range attrs {
		switch a.Type {
		case pkcs11.CKA_KEY_TYPE:
			if t := ulong(a.Value); t != ckkECEdwards {
				return nil, fmt.Errorf("public key: %w (its CKA_KEY_TYPE is %#x)", ErrWrongKeyType, t)
			}
		case pkcs11.CKA_EC_PARAMS:
			params = a.Value
		case pkcs11.CKA_EC_POINT:
			point = a.Value
		}
	}
	if !isEd25519Params(params) {
		return nil, fmt.Errorf("public key: %w (CKA_EC_PARAMS %x names another curve, such as Ed448)", ErrWrongKeyType, params)
	}
	raw := point
	if len(point) != ed25519.PublicKeySize {
		var inner []byte
		rest, err := asn1.Unmarshal(point, &inner)
		if err != nil || len(rest) != 0 {
			return nil, fmt.Errorf("public key: CKA_EC_POINT %x is not a DER OCTET STRING", point)
		}
		raw = inner
	}
	if len(raw) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("public key: %w (CKA_EC_POINT holds %d bytes, want %d)", ErrWrongKeyType, len(raw), ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(bytes.Clone(raw)), nil
}

// isEd25519Params reports whether CKA_EC_PARAMS names Ed25519: by its
// object identifier, or by the printable string "edwards25519" that
// PKCS#11 3.0 also allows.
func isEd25519Params(p []byte) bool {
	var oid asn1.ObjectIdentifier
	if rest, err := asn1.Unmarshal(p, &oid); err == nil && len(rest) == 0 {
		return oid.Equal(oidEd25519)
	}
	var name string
	if rest, err := asn1.UnmarshalWithParams(p, &name, "printable"); err == nil && len(rest) == 0 {
		return name == "edwards25519"
	}
	return false
}

// generate makes the key pair in the token.
func (k *Key) generate(cfg Config) error {
	return k.withSession(func(sh pkcs11.SessionHandle) error {
		ctx := k.mod.ctx
		existing, err := k.findObjects(sh, k.keyTemplate(pkcs11.CKO_PRIVATE_KEY, nil))
		if err != nil {
			return err
		}
		if len(existing) > 0 {
			return fmt.Errorf("%w: %q", ErrKeyExists, k.label)
		}
		id := bytes.Clone(cfg.KeyID)
		if len(id) == 0 {
			id = make([]byte, 16)
			if _, err := rand.Read(id); err != nil {
				return fmt.Errorf("key id: %w", err)
			}
		}
		params, err := asn1.Marshal(oidEd25519)
		if err != nil {
			return err
		}
		pubT := []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
			pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, false),
			pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true),
			pkcs11.NewAttribute(pkcs11.CKA_LABEL, k.label),
			pkcs11.NewAttribute(pkcs11.CKA_ID, id),
			pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, params),
		}
		privT := []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
			pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
			pkcs11.NewAttribute(pkcs11.CKA_SIGN, true),
			pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
			pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false),
			pkcs11.NewAttribute(pkcs11.CKA_LABEL, k.label),
			pkcs11.NewAttribute(pkcs11.CKA_ID, id),
		}
		pubH, privH, err := ctx.GenerateKeyPair(sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(ckmECEdwardsKeyPairGen, nil)}, pubT, privT)
		if err != nil {
			return fmt.Errorf("generate Ed25519 key pair %q: %w", k.label, err)
		}
		pub, err := k.readPublic(sh, pubH)
		if err != nil {
			_ = ctx.DestroyObject(sh, privH)
			_ = ctx.DestroyObject(sh, pubH)
			return fmt.Errorf("generated key pair %q: %w", k.label, err)
		}
		k.priv, k.pub, k.id = privH, pub, id
		return nil
	})
}

// Public returns the ed25519.PublicKey of the key.
func (k *Key) Public() crypto.PublicKey { return ed25519.PublicKey(bytes.Clone(k.pub)) }

// ID returns the key's CKA_ID.
func (k *Key) ID() []byte { return bytes.Clone(k.id) }

// Label returns the key's CKA_LABEL.
func (k *Key) Label() string { return k.label }

// Sign signs msg with pure Ed25519 (CKM_EDDSA) in the token. opts must
// ask for no pre-hash (crypto.Hash(0)) and no context, as ed25519.Sign
// does; rand is not used, Ed25519 signatures being deterministic.
func (k *Key) Sign(_ io.Reader, msg []byte, opts crypto.SignerOpts) ([]byte, error) {
	if opts != nil && opts.HashFunc() != crypto.Hash(0) {
		return nil, fmt.Errorf("pkcs11 key %q: Ed25519ph (%v) is not supported, only pure Ed25519", k.label, opts.HashFunc())
	}
	if o, ok := opts.(*ed25519.Options); ok && o.Context != "" {
		return nil, fmt.Errorf("pkcs11 key %q: Ed25519 with a context is not supported", k.label)
	}
	var sig []byte
	err := k.withSession(func(sh pkcs11.SessionHandle) error {
		ctx := k.mod.ctx
		if err := ctx.SignInit(sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(ckmEdDSA, nil)}, k.priv); err != nil {
			return fmt.Errorf("C_SignInit: %w", err)
		}
		s, err := ctx.Sign(sh, msg)
		if err != nil {
			return fmt.Errorf("C_Sign: %w", err)
		}
		sig = s
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pkcs11 key %q in token %q: %w", k.label, k.token, err)
	}
	if len(sig) != ed25519.SignatureSize {
		return nil, fmt.Errorf("pkcs11 key %q in token %q: signature of %d bytes, want %d", k.label, k.token, len(sig), ed25519.SignatureSize)
	}
	return sig, nil
}

// Close waits for signatures under way, closes the key's sessions and
// releases the module. The key cannot sign afterwards.
func (k *Key) Close() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return nil
	}
	k.closed = true
	var errs []error
	for range k.all {
		sh := <-k.pool
		if err := k.mod.ctx.CloseSession(sh); err != nil {
			errs = append(errs, fmt.Errorf("pkcs11 token %q: close session: %w", k.token, err))
		}
	}
	close(k.pool)
	k.logout()
	if err := k.mod.release(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
