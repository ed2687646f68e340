// Package storetest is the conformance suite every evidence.Store adapter
// must pass. An adapter's test calls Run with a function that returns a
// fresh, empty store.
package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"

	"shopwatch/evidence"
)

// Run runs the conformance suite against the stores newStore returns, one
// fresh empty store per subtest.
func Run(t *testing.T, newStore func(t *testing.T) evidence.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s evidence.Store)
	}{
		{"RoundTrip", testRoundTrip},
		{"EmptyObject", testEmpty},
		{"LargeObject", testLarge},
		{"WrongDigest", testWrongDigest},
		{"WrongSize", testWrongSize},
		{"NoOverwrite", testNoOverwrite},
		{"NotFound", testNotFound},
		{"Stat", testStat},
		{"List", testList},
		{"InvalidKeys", testInvalidKeys},
		{"ConcurrentDistinctKeys", testConcurrentDistinct},
		{"ConcurrentSameKey", testConcurrentSame},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newStore(t))
		})
	}
}

func sha(b []byte) evidence.Digest { return evidence.SumBytes(evidence.SHA256, b) }

func put(t *testing.T, s evidence.Store, key string, data []byte) {
	t.Helper()
	if err := s.Put(context.Background(), key, bytes.NewReader(data), int64(len(data)), sha(data)); err != nil {
		t.Fatalf("Put(%q, %d bytes) = %v, want nil", key, len(data), err)
	}
}

// get reads key back through Get and checks it holds want.
func get(t *testing.T, s evidence.Store, key string, want []byte) {
	t.Helper()
	rc, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get(%q) = %v, want nil", key, err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %q: %v", key, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Get(%q) returned %d bytes (sha256 %s), want %d bytes (sha256 %s)", key, len(got), sha(got), len(want), sha(want))
	}
}

// absent checks that key holds nothing: Stat and Get say ErrNotFound and
// List does not show it.
func absent(t *testing.T, s evidence.Store, key string) {
	t.Helper()
	ctx := context.Background()
	if info, err := s.Stat(ctx, key); !errors.Is(err, evidence.ErrNotFound) {
		t.Fatalf("Stat(%q) = %+v, %v; want ErrNotFound", key, info, err)
	}
	if rc, err := s.Get(ctx, key); !errors.Is(err, evidence.ErrNotFound) {
		if rc != nil {
			rc.Close()
		}
		t.Fatalf("Get(%q) error = %v, want ErrNotFound", key, err)
	}
	keys := listKeys(t, s, "")
	if slices.Contains(keys, key) {
		t.Fatalf("List shows %q: %v", key, keys)
	}
}

func listKeys(t *testing.T, s evidence.Store, prefix string) []string {
	t.Helper()
	var keys []string
	err := s.List(context.Background(), prefix, func(info evidence.Info) error {
		keys = append(keys, info.Key)
		return nil
	})
	if err != nil {
		t.Fatalf("List(%q) = %v", prefix, err)
	}
	return keys
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func testRoundTrip(t *testing.T, s evidence.Store) {
	data := []byte("HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=gbk\r\n\r\n<p>\xd7\xee\xbc\xd1</p>")
	put(t, s, "evidence/ev-1/exchanges/001-response.http", data)
	get(t, s, "evidence/ev-1/exchanges/001-response.http", data)

	// OpenVerified re-hashes on the way out.
	b, err := evidence.ReadVerified(context.Background(), s, "evidence/ev-1/exchanges/001-response.http", int64(len(data)), sha(data), evidence.SumBytes(evidence.SM3, data))
	if err != nil || !bytes.Equal(b, data) {
		t.Fatalf("ReadVerified = %q, %v; want the stored bytes", b, err)
	}
	_, err = evidence.ReadVerified(context.Background(), s, "evidence/ev-1/exchanges/001-response.http", -1, sha([]byte("other")))
	if !errors.Is(err, evidence.ErrDigestMismatch) || !strings.Contains(err.Error(), "evidence/ev-1/exchanges/001-response.http") {
		t.Fatalf("ReadVerified with a wrong digest = %v, want ErrDigestMismatch naming the key", err)
	}
}

func testEmpty(t *testing.T, s evidence.Store) {
	put(t, s, "evidence/ev-1/screenshot.png", nil)
	get(t, s, "evidence/ev-1/screenshot.png", []byte{})
	info, err := s.Stat(context.Background(), "evidence/ev-1/screenshot.png")
	if err != nil || info.Size != 0 {
		t.Fatalf("Stat(empty) = %+v, %v; want size 0", info, err)
	}
	// An empty reader with the digest of something else is refused.
	err = s.Put(context.Background(), "evidence/ev-1/empty-wrong", bytes.NewReader(nil), 0, sha([]byte("x")))
	if !errors.Is(err, evidence.ErrDigestMismatch) {
		t.Fatalf("Put(empty, wrong digest) = %v, want ErrDigestMismatch", err)
	}
	absent(t, s, "evidence/ev-1/empty-wrong")
}

func testLarge(t *testing.T, s evidence.Store) {
	data := randomBytes(t, 5<<20)
	put(t, s, "evidence/ev-1/big.bin", data)
	get(t, s, "evidence/ev-1/big.bin", data)
}

func testWrongDigest(t *testing.T, s evidence.Store) {
	ctx := context.Background()
	for _, n := range []int{1, 100, 300 << 10, 1 << 20} {
		data := randomBytes(t, n)
		wrong := sha(append(bytes.Clone(data), 'x'))
		key := fmt.Sprintf("evidence/ev-1/wrong-%d", n)
		err := s.Put(ctx, key, bytes.NewReader(data), int64(n), wrong)
		if !errors.Is(err, evidence.ErrDigestMismatch) {
			t.Fatalf("Put(%d bytes, wrong digest) = %v, want ErrDigestMismatch", n, err)
		}
		if !strings.Contains(err.Error(), key) {
			t.Errorf("error %q does not name the key %q", err, key)
		}
		absent(t, s, key)
	}
	// Not a SHA-256 digest at all.
	data := []byte("abc")
	err := s.Put(ctx, "evidence/ev-1/sm3", bytes.NewReader(data), 3, evidence.SumBytes(evidence.SM3, data))
	if !errors.Is(err, evidence.ErrInvalidDigest) {
		t.Fatalf("Put with an SM3 digest = %v, want ErrInvalidDigest", err)
	}
	absent(t, s, "evidence/ev-1/sm3")
}

func testWrongSize(t *testing.T, s evidence.Store) {
	ctx := context.Background()
	data := randomBytes(t, 4096)
	// Short: the reader ends before size.
	err := s.Put(ctx, "evidence/ev-1/short", bytes.NewReader(data[:1000]), 4096, sha(data))
	if !errors.Is(err, evidence.ErrSizeMismatch) {
		t.Fatalf("Put(short reader) = %v, want ErrSizeMismatch", err)
	}
	absent(t, s, "evidence/ev-1/short")
	// Long: more bytes than size, even when the first size bytes hash right.
	err = s.Put(ctx, "evidence/ev-1/long", bytes.NewReader(data), 1000, sha(data[:1000]))
	if !errors.Is(err, evidence.ErrSizeMismatch) {
		t.Fatalf("Put(long reader) = %v, want ErrSizeMismatch", err)
	}
	absent(t, s, "evidence/ev-1/long")
}

func testNoOverwrite(t *testing.T, s evidence.Store) {
	ctx := context.Background()
	orig := []byte("original capture")
	put(t, s, "evidence/ev-1/page.html", orig)
	for _, other := range [][]byte{[]byte("forged capture!!"), orig, nil} {
		err := s.Put(ctx, "evidence/ev-1/page.html", bytes.NewReader(other), int64(len(other)), sha(other))
		if !errors.Is(err, evidence.ErrExists) {
			t.Fatalf("second Put(%q) = %v, want ErrExists", other, err)
		}
		if !strings.Contains(err.Error(), "evidence/ev-1/page.html") {
			t.Errorf("error %q does not name the key", err)
		}
	}
	get(t, s, "evidence/ev-1/page.html", orig)
}

func testNotFound(t *testing.T, s evidence.Store) {
	absent(t, s, "evidence/ev-none/page.html")
	put(t, s, "evidence/ev-1/page.html", []byte("x"))
	// A folder-like prefix of a stored key is not an object.
	absent(t, s, "evidence/ev-1")
	absent(t, s, "evidence/ev-1/page.htm")
}

func testStat(t *testing.T, s evidence.Store) {
	data := randomBytes(t, 12345)
	put(t, s, "evidence/ev-1/text.txt", data)
	info, err := s.Stat(context.Background(), "evidence/ev-1/text.txt")
	if err != nil {
		t.Fatalf("Stat = %v", err)
	}
	if info.Key != "evidence/ev-1/text.txt" || info.Size != 12345 || info.ModTime.IsZero() {
		t.Fatalf("Stat = %+v, want key evidence/ev-1/text.txt, size 12345 and a mod time", info)
	}
}

func testList(t *testing.T, s evidence.Store) {
	keys := []string{
		"evidence/ev-2/page.html",
		"evidence/ev-1/page.html",
		"evidence/ev-1/exchanges/001-request.http",
		"evidence/ev-10/page.html",
		"evidence/ev-1-b/page.html",
		"other/x",
		"top",
	}
	sizes := map[string]int64{}
	for i, k := range keys {
		data := bytes.Repeat([]byte{'a'}, i+1)
		put(t, s, k, data)
		sizes[k] = int64(len(data))
	}
	cases := []struct {
		prefix string
		want   []string
	}{
		{"", []string{"evidence/ev-1-b/page.html", "evidence/ev-1/exchanges/001-request.http", "evidence/ev-1/page.html", "evidence/ev-10/page.html", "evidence/ev-2/page.html", "other/x", "top"}},
		{"evidence/ev-1/", []string{"evidence/ev-1/exchanges/001-request.http", "evidence/ev-1/page.html"}},
		{"evidence/ev-1", []string{"evidence/ev-1-b/page.html", "evidence/ev-1/exchanges/001-request.http", "evidence/ev-1/page.html", "evidence/ev-10/page.html"}},
		{"evidence/ev-1/p", []string{"evidence/ev-1/page.html"}},
		{"evidence/ev-3/", nil},
		{"nothing", nil},
		{"to", []string{"top"}},
	}
	for _, c := range cases {
		var got []string
		err := s.List(context.Background(), c.prefix, func(info evidence.Info) error {
			if info.Size != sizes[info.Key] {
				t.Errorf("List(%q): %s has size %d, want %d", c.prefix, info.Key, info.Size, sizes[info.Key])
			}
			got = append(got, info.Key)
			return nil
		})
		if err != nil {
			t.Fatalf("List(%q) = %v", c.prefix, err)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("List(%q) = %q, want %q", c.prefix, got, c.want)
		}
	}
	// fn's error stops the listing and comes back.
	stop := errors.New("stop")
	calls := 0
	err := s.List(context.Background(), "", func(evidence.Info) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("List with failing fn = %v after %d calls, want stop after 1", err, calls)
	}
}

func testInvalidKeys(t *testing.T, s evidence.Store) {
	ctx := context.Background()
	for _, key := range []string{"", "/abs/key", "../escape", "a/../b", "a/./b", "a//b", "a/", ".tmp/x", "a\\b", "a\x00b", "a\nb"} {
		data := []byte("x")
		err := s.Put(ctx, key, bytes.NewReader(data), 1, sha(data))
		if !errors.Is(err, evidence.ErrInvalidKey) {
			t.Errorf("Put(%q) = %v, want ErrInvalidKey", key, err)
			continue
		}
		if !strings.Contains(err.Error(), fmt.Sprintf("%q", key)) {
			t.Errorf("Put(%q) error %q does not name the key", key, err)
		}
		if _, err := s.Get(ctx, key); !errors.Is(err, evidence.ErrInvalidKey) {
			t.Errorf("Get(%q) = %v, want ErrInvalidKey", key, err)
		}
		if _, err := s.Stat(ctx, key); !errors.Is(err, evidence.ErrInvalidKey) {
			t.Errorf("Stat(%q) = %v, want ErrInvalidKey", key, err)
		}
	}
	if err := s.List(ctx, "../", func(evidence.Info) error { return nil }); !errors.Is(err, evidence.ErrInvalidKey) {
		t.Errorf("List(\"../\") = %v, want ErrInvalidKey", err)
	}
	if keys := listKeys(t, s, ""); len(keys) != 0 {
		t.Errorf("invalid puts stored %q", keys)
	}
}

func testConcurrentDistinct(t *testing.T, s evidence.Store) {
	const n = 16
	datas := make([][]byte, n)
	for i := range datas {
		datas[i] = randomBytes(t, 1000+i*997)
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			key := fmt.Sprintf("evidence/ev-%02d/page.html", i)
			errs[i] = s.Put(context.Background(), key, bytes.NewReader(datas[i]), int64(len(datas[i])), sha(datas[i]))
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("concurrent Put %d = %v", i, err)
		}
	}
	for i := range n {
		get(t, s, fmt.Sprintf("evidence/ev-%02d/page.html", i), datas[i])
	}
	if keys := listKeys(t, s, "evidence/"); len(keys) != n {
		t.Fatalf("List after %d concurrent puts shows %d keys: %q", n, len(keys), keys)
	}
}

func testConcurrentSame(t *testing.T, s evidence.Store) {
	const n = 8
	const key = "evidence/ev-1/manifest.json"
	datas := make([][]byte, n)
	for i := range datas {
		datas[i] = randomBytes(t, 64<<10+i)
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = s.Put(context.Background(), key, bytes.NewReader(datas[i]), int64(len(datas[i])), sha(datas[i]))
		})
	}
	close(start)
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("concurrent Puts %d and %d of one key both succeeded", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, evidence.ErrExists):
			t.Fatalf("concurrent Put %d = %v, want nil or ErrExists", i, err)
		}
	}
	if winner < 0 {
		t.Fatalf("no concurrent Put of one key succeeded: %v", errs)
	}
	get(t, s, key, datas[winner])
}
