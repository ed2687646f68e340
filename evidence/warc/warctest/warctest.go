// Package warctest reads WARC files with an independent implementation,
// github.com/nlnwa/gowarc, in its strict validation mode, for the tests
// of the code that writes them. It does not use shopwatch's own WARC
// reader, so a mistake shared by the writer and the reader in
// evidence/warc cannot hide itself.
package warctest

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	gowarc "github.com/nlnwa/gowarc/v3"
)

// Record is one record as gowarc read it.
type Record struct {
	Type   string // WARC-Type, e.g. "response"
	ID     string // WARC-Record-ID as written, with angle brackets
	Offset int64  // where the record (its gzip member) starts in the file
	Size   int64  // bytes the record takes in the file
	Fields map[string][]string
	Block  []byte
	// Payload is the HTTP payload of an application/http block, after any
	// interim 1xx heads of a response and, for a chunked response, with
	// the chunked framing removed (the entity-body); nil for other blocks.
	Payload []byte
	// Wire is the body of a response block as it stands in the block,
	// after the final head: Payload, or for a chunked response the
	// payload with its framing.
	Wire    []byte
	Interim bool // the response block starts with interim 1xx heads
	Chunked bool // the final head of the response says Transfer-Encoding: chunked
}

// Get returns the first value of the named WARC field (case-insensitive),
// or "".
func (r Record) Get(name string) string {
	if v := r.Fields[strings.ToLower(name)]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Read reads every record of a WARC file (gzip members or plain) with
// gowarc's strict validation: syntax, specification, unknown record types
// and HTTP block parsing all fail the read, and Content-Length,
// WARC-Block-Digest and WARC-Payload-Digest are recomputed.
//
// Two findings of gowarc are not errors. A response block that starts with
// interim 1xx heads (100 Continue, 103 Early Hints) before the final head:
// gowarc takes the payload to begin after the first head; shopwatch, like
// HTTP itself, takes it to be the body of the final response, and digests
// that. And a chunked response: gowarc digests the body as framed, while
// WARC 1.1 (section 5.9) makes the payload the entity-body, the body with
// the transfer coding removed, which shopwatch digests (see IIPC
// warc-specifications issue 22). Read accepts gowarc's payload digest
// mismatch for such records only, de-chunks the body with net/http, and
// then checks the recorded digest against the final, de-chunked body.
//
// On top of gowarc it requires what shopwatch promises of every file it
// writes: records covering the whole file, a warcinfo record first, unique
// record ids, a sha256 WARC-Block-Digest on every record and a
// WARC-Payload-Digest on every response and resource record,
// WARC-Concurrent-To, WARC-Refers-To and WARC-Warcinfo-ID naming records
// of the same file, and response blocks framed as HTTP sent them.
func Read(raw []byte) ([]Record, error) {
	// Strict, except that specification findings are collected (ErrWarn)
	// rather than returned, so that the one above can be told apart; every
	// other finding still fails the read.
	rd, err := gowarc.NewWarcFileReaderFromStream(bytes.NewReader(raw), 0,
		gowarc.WithStrictValidation(), gowarc.WithBlockErrorPolicy(gowarc.ErrFail),
		gowarc.WithSpecViolationPolicy(gowarc.ErrWarn))
	if err != nil {
		return nil, fmt.Errorf("gowarc: %w", err)
	}
	defer rd.Close()
	var out []Record
	for {
		gr, err := rd.Next()
		if errors.Is(err, io.EOF) && gr.WarcRecord == nil {
			break
		}
		if err != nil {
			gr.Close()
			return out, fmt.Errorf("gowarc: record %d at offset %d: %w", len(out)+1, gr.Offset, err)
		}
		rec, err := convert(gr)
		gr.Close()
		if err == nil {
			err = findings(rec, gr.Validation)
		}
		if err != nil {
			return out, fmt.Errorf("gowarc: record %d at offset %d: %w", len(out)+1, gr.Offset, err)
		}
		out = append(out, rec)
	}
	if end := endOf(out); end != int64(len(raw)) {
		return out, fmt.Errorf("gowarc: records cover %d of the file's %d bytes", end, len(raw))
	}
	return out, crossCheck(out)
}

// findings returns gowarc's findings on rec as an error, leaving out a
// payload digest mismatch on a response with interim heads (see Read).
func findings(rec Record, validation []error) error {
	var errs []error
	for _, v := range validation {
		var de *gowarc.DigestError
		if rec.Type == "response" && (rec.Interim || rec.Chunked) && errors.As(v, &de) && strings.HasPrefix(v.Error(), "payload:") {
			continue
		}
		errs = append(errs, v)
	}
	return errors.Join(errs...)
}

// endOf returns where the last record ends in the file.
func endOf(recs []Record) int64 {
	if len(recs) == 0 {
		return 0
	}
	last := recs[len(recs)-1]
	return last.Offset + last.Size
}

// convert copies what the tests need out of a gowarc record.
func convert(gr gowarc.Record) (Record, error) {
	wr := gr.WarcRecord
	rec := Record{
		Type:   wr.Type().String(),
		ID:     wr.WarcHeader().Get(gowarc.WarcRecordID),
		Offset: gr.Offset,
		Size:   gr.Size,
		Fields: map[string][]string{},
	}
	for _, line := range strings.Split(wr.WarcHeader().String(), "\r\n") {
		name, value, ok := strings.Cut(line, ":")
		if ok {
			k := strings.ToLower(name)
			rec.Fields[k] = append(rec.Fields[k], strings.TrimSpace(value))
		}
	}
	block := wr.Block()
	r, err := block.RawBytes()
	if err != nil {
		return rec, fmt.Errorf("block: %w", err)
	}
	if rec.Block, err = io.ReadAll(r); err != nil {
		return rec, fmt.Errorf("block: %w", err)
	}
	if pb, ok := block.(gowarc.PayloadBlock); ok {
		if _, http := block.(gowarc.ProtocolHeaderBlock); http {
			r, err := pb.PayloadBytes()
			if err != nil {
				return rec, fmt.Errorf("payload: %w", err)
			}
			if rec.Payload, err = io.ReadAll(r); err != nil {
				return rec, fmt.Errorf("payload: %w", err)
			}
			if rec.Payload == nil {
				rec.Payload = []byte{}
			}
			if rec.Type == "response" {
				var head []byte
				head, rec.Payload, rec.Interim = finalBody(pb.(gowarc.ProtocolHeaderBlock).ProtocolHeaderBytes(), rec.Payload)
				rec.Wire = rec.Payload
				if body, chunked := dechunk(head, rec.Wire); chunked {
					rec.Payload, rec.Chunked = body, true
				}
			}
		}
	}
	return rec, nil
}

// finalBody skips the heads that follow an interim 1xx head: head is the
// first HTTP head of a response block and rest what follows it. It returns
// the final head and what follows it.
func finalBody(head, rest []byte) ([]byte, []byte, bool) {
	interim := false
	for isInterim(head) {
		interim = true
		end := bytes.Index(rest, []byte("\r\n\r\n"))
		if end < 0 {
			return head, rest, interim
		}
		head, rest = rest[:end+4], rest[end+4:]
	}
	return head, rest, interim
}

// dechunk returns the body that follows a final response head, with the
// chunked framing removed by net/http, when the head says
// Transfer-Encoding: chunked. A cut body (a truncated record) gives what
// precedes the cut.
func dechunk(head, body []byte) ([]byte, bool) {
	resp, err := http.ReadResponse(bufio.NewReader(io.MultiReader(bytes.NewReader(head), bytes.NewReader(body))), nil)
	if err != nil || len(resp.TransferEncoding) == 0 || resp.TransferEncoding[0] != "chunked" {
		return nil, false
	}
	out, _ := io.ReadAll(resp.Body)
	if out == nil {
		out = []byte{}
	}
	return out, true
}

// isInterim reports whether an HTTP response head has a 1xx status other
// than 101 Switching Protocols.
func isInterim(head []byte) bool {
	var proto string
	var code int
	if _, err := fmt.Sscanf(string(head), "%s %d", &proto, &code); err != nil {
		return false
	}
	return code >= 100 && code < 200 && code != 101
}

// crossCheck checks what gowarc leaves to the writer's own promises.
func crossCheck(recs []Record) error {
	if len(recs) == 0 {
		return errors.New("gowarc: no records")
	}
	if recs[0].Type != "warcinfo" {
		return fmt.Errorf("gowarc: first record is %s, want warcinfo", recs[0].Type)
	}
	ids := map[string]string{}
	for i, r := range recs {
		if r.ID == "" {
			return fmt.Errorf("gowarc: record %d (%s) has no WARC-Record-ID", i+1, r.Type)
		}
		if prev, dup := ids[r.ID]; dup {
			return fmt.Errorf("gowarc: record %d (%s) repeats the WARC-Record-ID %s of a %s record", i+1, r.Type, r.ID, prev)
		}
		ids[r.ID] = r.Type
	}
	for i, r := range recs {
		where := fmt.Sprintf("gowarc: record %d (%s %s)", i+1, r.Type, r.ID)
		if err := sha256Field(r.Get("WARC-Block-Digest"), r.Block); err != nil {
			return fmt.Errorf("%s: WARC-Block-Digest: %w", where, err)
		}
		if n := fmt.Sprint(len(r.Block)); r.Get("Content-Length") != n {
			return fmt.Errorf("%s: Content-Length %q, block has %s bytes", where, r.Get("Content-Length"), n)
		}
		switch r.Type {
		case "response":
			if r.Payload == nil {
				return fmt.Errorf("%s: block is not an HTTP response", where)
			}
			// The framing first: a body stored de-chunked under a chunked
			// head has no payload either, and the framing says why.
			if err := httpFraming(r, requestMethod(recs, r)); err != nil {
				return fmt.Errorf("%s: %w", where, err)
			}
			if err := sha256Field(r.Get("WARC-Payload-Digest"), r.Payload); err != nil {
				return fmt.Errorf("%s: WARC-Payload-Digest: %w", where, err)
			}
		case "resource":
			if err := sha256Field(r.Get("WARC-Payload-Digest"), r.Block); err != nil {
				return fmt.Errorf("%s: WARC-Payload-Digest: %w", where, err)
			}
		case "request":
			if r.Payload == nil {
				return fmt.Errorf("%s: block is not an HTTP request", where)
			}
		}
		for _, name := range []string{"WARC-Concurrent-To", "WARC-Refers-To", "WARC-Warcinfo-ID"} {
			for _, ref := range r.Fields[strings.ToLower(name)] {
				typ, ok := ids[ref]
				if !ok {
					return fmt.Errorf("%s: %s %s names no record of the file", where, name, ref)
				}
				if ref == r.ID {
					return fmt.Errorf("%s: %s names the record itself", where, name)
				}
				if name == "WARC-Warcinfo-ID" && typ != "warcinfo" {
					return fmt.Errorf("%s: WARC-Warcinfo-ID names a %s record", where, typ)
				}
			}
		}
		if r.Type != "warcinfo" && r.Get("WARC-Warcinfo-ID") == "" {
			return fmt.Errorf("%s: no WARC-Warcinfo-ID", where)
		}
	}
	return nil
}

// requestMethod returns the method of the request record concurrent to
// the response res, or GET when there is none.
func requestMethod(recs []Record, res Record) string {
	for _, r := range recs {
		if r.Type != "request" || (r.Get("WARC-Concurrent-To") != res.ID && res.Get("WARC-Concurrent-To") != r.ID) {
			continue
		}
		if m, _, ok := bytes.Cut(r.Block, []byte(" ")); ok {
			return string(m)
		}
	}
	return http.MethodGet
}

// httpFraming checks that a response block holds the HTTP message as it
// crossed the wire: the final head's framing (Content-Length, chunked
// Transfer-Encoding or the end of the connection) accounts for exactly the
// payload, unless the record says it is truncated. A body stored decoded
// (de-chunked, decompressed) under a head that frames the encoded one
// fails here.
func httpFraming(r Record, method string) error {
	if r.Get("WARC-Truncated") != "" {
		return nil
	}
	head := r.Block[:len(r.Block)-len(r.Wire)]
	if i := bytes.LastIndex(head[:max(len(head)-4, 0)], []byte("\r\n\r\n")); i >= 0 {
		head = head[i+4:] // the final head, after interim ones
	}
	msg := bufio.NewReader(io.MultiReader(bytes.NewReader(head), bytes.NewReader(r.Wire)))
	resp, err := http.ReadResponse(msg, &http.Request{Method: method})
	if err != nil {
		return fmt.Errorf("HTTP head: %w", err)
	}
	framing := fmt.Sprintf("Content-Length %d", resp.ContentLength)
	if len(resp.TransferEncoding) > 0 {
		framing = "Transfer-Encoding " + strings.Join(resp.TransferEncoding, ", ")
	}
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		return fmt.Errorf("HTTP body does not match its head's framing (%s): %w", framing, err)
	}
	if extra, _ := io.Copy(io.Discard, msg); extra > 0 {
		return fmt.Errorf("HTTP head frames a %d-byte body (%s); %d more bytes follow in the payload", n, framing, extra)
	}
	return nil
}

// sha256Field checks that d is "sha256:<hex>" and the digest of b.
func sha256Field(d string, b []byte) error {
	if d == "" {
		return errors.New("missing")
	}
	alg, val, _ := strings.Cut(d, ":")
	sum := sha256.Sum256(b)
	if alg != "sha256" || val != hex.EncodeToString(sum[:]) {
		return fmt.Errorf("%q, bytes give sha256:%x", d, sum)
	}
	return nil
}

// Check reads raw with Read and fails t on any error.
func Check(t testing.TB, raw []byte) []Record {
	t.Helper()
	recs, err := Read(raw)
	if err != nil {
		t.Fatalf("independent WARC reader: %v", err)
	}
	return recs
}

// Concurrent returns the records whose WARC-Concurrent-To names id.
func Concurrent(recs []Record, id string) []Record {
	var out []Record
	for _, r := range recs {
		for _, v := range r.Fields["warc-concurrent-to"] {
			if v == id {
				out = append(out, r)
			}
		}
	}
	return out
}
