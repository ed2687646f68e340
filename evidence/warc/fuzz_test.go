package warc

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// maxFuzzBlock bounds what one fuzz input may make the reader hold: a
// record's block is read by copying, never allocated from Content-Length,
// so blocks stay within the decompressed input.
const maxFuzzBlock = 64 << 20

// FuzzRead feeds arbitrary bytes to the reader: it never panics, every
// error starts with "warc:" and names the record, a block is never larger
// than the input holds, and Verify and Payload run on whatever it returns.
// The committed corpus (testdata/fuzz/FuzzRead) holds files the writer
// produced, gzip and plain, and damaged ones; make fuzz runs it longer.
func FuzzRead(f *testing.F) {
	f.Add([]byte("WARC/1.1\r\nWARC-Type: resource\r\nContent-Length: 2\r\n\r\nhi\r\n\r\n"))
	f.Add([]byte("WARC/1.1\r\nContent-Length: 99999999999999\r\n\r\nhi"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rd, err := NewReader(bytes.NewReader(data))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "warc: ") {
				t.Fatalf("error %q does not start with \"warc: \"", err)
			}
			return
		}
		var total int
		for n := 1; ; n++ {
			rec, err := rd.Next()
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				if !strings.HasPrefix(err.Error(), "warc: ") || !strings.Contains(err.Error(), "record ") {
					t.Fatalf("error %q does not name the record", err)
				}
				return
			}
			total += len(rec.Block)
			if total > maxFuzzBlock {
				t.Fatalf("record %d: %d block bytes held from a %d-byte input", n, total, len(data))
			}
			if err := rec.Verify(); err != nil && !strings.HasPrefix(err.Error(), "warc: "+rec.Type+" ") {
				t.Fatalf("record %d: Verify error %q does not name the record", n, err)
			}
			if p, ok := rec.Payload(); ok && len(p) > len(rec.Block) {
				t.Fatalf("record %d: payload of %d bytes from a block of %d", n, len(p), len(rec.Block))
			}
		}
	})
}
