package warc

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// maxLine caps one version or field line when reading.
const maxLine = 64 << 10

// Field is one named field of a record header, as written.
type Field struct {
	Name  string
	Value string
}

// Header is the fields of a record in file order.
type Header []Field

// Get returns the value of the first field named name (case-insensitive),
// or "".
func (h Header) Get(name string) string {
	for _, f := range h {
		if strings.EqualFold(f.Name, name) {
			return f.Value
		}
	}
	return ""
}

// Values returns the values of every field named name (case-insensitive).
func (h Header) Values(name string) []string {
	var out []string
	for _, f := range h {
		if strings.EqualFold(f.Name, name) {
			out = append(out, f.Value)
		}
	}
	return out
}

// Record is one WARC record read back.
type Record struct {
	Version string // "WARC/1.1" or "WARC/1.0"
	Type    string // WARC-Type
	Headers Header
	Block   []byte
}

// Reader reads the records of a WARC file one at a time.
type Reader struct {
	br *bufio.Reader
	n  int // records read so far
}

// NewReader returns a Reader for r, which holds a WARC file either gzip
// compressed (one or more members) or plain.
func NewReader(r io.Reader) (*Reader, error) {
	br := bufio.NewReader(r)
	magic, err := br.Peek(2)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("warc: read: %w", err)
	}
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("warc: read: %w", err)
		}
		br = bufio.NewReader(zr)
	}
	return &Reader{br: br}, nil
}

// Next returns the next record, or io.EOF after the last one.
func (rd *Reader) Next() (*Record, error) {
	rec, err := rd.next()
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("warc: record %d: %w", rd.n+1, err)
	}
	if err == nil {
		rd.n++
	}
	return rec, err
}

func (rd *Reader) next() (*Record, error) {
	line, err := rd.line()
	if errors.Is(err, io.EOF) && line == "" {
		return nil, io.EOF
	}
	if err != nil {
		return nil, unexpected(err)
	}
	if line != "WARC/1.1" && line != "WARC/1.0" {
		return nil, fmt.Errorf("bad version line %q", line)
	}
	rec := &Record{Version: line}
	for {
		l, err := rd.line()
		if err != nil {
			return nil, unexpected(err)
		}
		if l == "" {
			break
		}
		if l[0] == ' ' || l[0] == '\t' {
			if len(rec.Headers) == 0 {
				return nil, errors.New("continuation line before any field")
			}
			last := &rec.Headers[len(rec.Headers)-1]
			last.Value = strings.TrimSpace(last.Value + " " + strings.TrimSpace(l))
			continue
		}
		name, value, ok := strings.Cut(l, ":")
		if !ok || !isToken(name) {
			return nil, fmt.Errorf("bad field line %q", l)
		}
		rec.Headers = append(rec.Headers, Field{name, strings.TrimSpace(value)})
	}
	rec.Type = rec.Headers.Get("WARC-Type")
	cl := rec.Headers.Get("Content-Length")
	size, err := strconv.ParseInt(cl, 10, 64)
	if err != nil || size < 0 {
		return nil, fmt.Errorf("bad Content-Length %q", cl)
	}
	// Copy rather than allocate size up front: a damaged length fails
	// with a short read instead of a huge allocation.
	var block bytes.Buffer
	if _, err := io.CopyN(&block, rd.br, size); err != nil {
		return nil, fmt.Errorf("block: %w", unexpected(err))
	}
	rec.Block = block.Bytes()
	var tail [4]byte
	if _, err := io.ReadFull(rd.br, tail[:]); err != nil {
		return nil, fmt.Errorf("record end: %w", unexpected(err))
	}
	if string(tail[:]) != "\r\n\r\n" {
		return nil, fmt.Errorf("record not ended by CRLF CRLF (got %q)", tail[:])
	}
	return rec, nil
}

// line reads one CRLF-ended line and returns it without the CRLF.
func (rd *Reader) line() (string, error) {
	var b []byte
	for {
		chunk, err := rd.br.ReadSlice('\n')
		b = append(b, chunk...)
		if len(b) > maxLine {
			return "", fmt.Errorf("line longer than %d bytes", maxLine)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil {
			if len(b) > 0 && errors.Is(err, io.EOF) {
				return "", io.ErrUnexpectedEOF
			}
			return "", err
		}
		break
	}
	if !bytes.HasSuffix(b, []byte("\r\n")) {
		return "", fmt.Errorf("line %q not ended by CRLF", b)
	}
	return string(b[:len(b)-2]), nil
}

// unexpected turns io.EOF inside a record into io.ErrUnexpectedEOF.
func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// Read reads every record of r (gzip compressed or plain).
func Read(r io.Reader) ([]Record, error) {
	rd, err := NewReader(r)
	if err != nil {
		return nil, err
	}
	var out []Record
	for {
		rec, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, *rec)
	}
}

// Payload returns the payload of the record: for an application/http block,
// the bytes after the final message head (interim 1xx response heads are
// skipped), with the chunked framing removed when that head of a response
// says Transfer-Encoding: chunked; for any other block, the whole block.
// ok is false when an application/http block has no complete head.
func (r *Record) Payload() (payload []byte, ok bool) {
	ct := strings.ToLower(r.Headers.Get("Content-Type"))
	if !strings.HasPrefix(ct, "application/http") {
		return r.Block, true
	}
	response := strings.Contains(ct, "msgtype=response")
	start := 0
	for {
		end := headEnd(r.Block, start)
		if end < 0 {
			return nil, false
		}
		if response && interim(r.Block[start:end]) {
			start = end
			continue
		}
		if response {
			if body, ok := dechunk(r.Block[start:end], r.Block[end:]); ok {
				return body, true
			}
		}
		return r.Block[end:], true
	}
}

// dechunk returns the body of a response with a chunked transfer coding,
// framing removed, and true; false when head does not say chunked. A body
// cut short (a truncated record) gives the bytes up to the cut.
func dechunk(head, rest []byte) ([]byte, bool) {
	resp, err := http.ReadResponse(bufio.NewReader(io.MultiReader(bytes.NewReader(head), bytes.NewReader(rest))), nil)
	if err != nil || !slices.Contains(resp.TransferEncoding, "chunked") {
		return nil, false
	}
	body, _ := io.ReadAll(resp.Body)
	if body == nil {
		body = []byte{}
	}
	return body, true
}

// Verify checks that Content-Length matches the block, that the record has
// a WARC-Block-Digest and that it and any WARC-Payload-Digest match the
// bytes. Only sha256 digests are understood.
func (r *Record) Verify() error {
	id := r.Headers.Get("WARC-Record-ID")
	if cl := r.Headers.Get("Content-Length"); cl != strconv.Itoa(len(r.Block)) {
		return fmt.Errorf("warc: %s %s: Content-Length %q, block has %d bytes", r.Type, id, cl, len(r.Block))
	}
	bd := r.Headers.Get("WARC-Block-Digest")
	if bd == "" {
		return fmt.Errorf("warc: %s %s: no WARC-Block-Digest", r.Type, id)
	}
	if err := checkDigest(bd, r.Block); err != nil {
		return fmt.Errorf("warc: %s %s: block: %w", r.Type, id, err)
	}
	pd := r.Headers.Get("WARC-Payload-Digest")
	if pd == "" {
		return nil
	}
	payload, ok := r.Payload()
	if !ok {
		return fmt.Errorf("warc: %s %s: payload: no end of HTTP head in block", r.Type, id)
	}
	if err := checkDigest(pd, payload); err != nil {
		return fmt.Errorf("warc: %s %s: payload: %w", r.Type, id, err)
	}
	return nil
}

// checkDigest compares an "algorithm:value" digest with b.
func checkDigest(d string, b []byte) error {
	alg, val, ok := strings.Cut(d, ":")
	if !ok || !strings.EqualFold(alg, "sha256") {
		return fmt.Errorf("unsupported digest %q (want sha256:<hex>)", d)
	}
	want, err := hex.DecodeString(val)
	if err != nil || len(want) != sha256.Size {
		return fmt.Errorf("malformed digest %q", d)
	}
	got := sha256.Sum256(b)
	if !bytes.Equal(got[:], want) {
		return fmt.Errorf("digest mismatch: recorded %s, bytes give sha256:%s", d, hex.EncodeToString(got[:]))
	}
	return nil
}

// headEnd returns the index just past the empty line ending the HTTP head
// that starts at start, or -1. Lines may end in CRLF or a bare LF.
func headEnd(b []byte, start int) int {
	i := start
	for {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return -1
		}
		i += j + 1
		k := i - 2
		if k >= start && b[k] == '\r' {
			k--
		}
		if k >= start && b[k] == '\n' {
			return i
		}
	}
}

// interim reports whether head is a 1xx response head other than
// 101 Switching Protocols.
func interim(head []byte) bool {
	line, _, _ := bytes.Cut(head, []byte("\n"))
	_, rest, ok := bytes.Cut(line, []byte(" "))
	return ok && len(rest) >= 3 && rest[0] == '1' && !bytes.HasPrefix(rest, []byte("101"))
}
