package miniostore

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"shopwatch/evidence"
	"shopwatch/evidence/storetest"
	"shopwatch/internal/testparts"
)

var bucketSeq atomic.Int64

// startMinIO starts a MinIO server and waits until it serves S3 requests:
// its readiness probe answers 200 before the object layer is up, and a
// request sent in that window fails with XMinioServerNotInitialized.
func startMinIO(t *testing.T) *testparts.MinIO {
	t.Helper()
	srv := testparts.StartMinIO(t)
	client, err := minio.New(srv.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(srv.AccessKey, srv.SecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := client.ListBuckets(context.Background())
		if err == nil {
			return srv
		}
		if time.Now().After(deadline) {
			testparts.Unavailable(t, "MinIO server", fmt.Errorf("not serving requests after 30s: %w", err))
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func config(srv *testparts.MinIO) Config {
	return Config{
		Endpoint:  srv.Endpoint,
		AccessKey: srv.AccessKey,
		SecretKey: srv.SecretKey,
		Bucket:    fmt.Sprintf("shopwatch-test-%d", bucketSeq.Add(1)),
	}
}

func lockedConfig(srv *testparts.MinIO, mode string) Config {
	cfg := config(srv)
	cfg.ObjectLock, cfg.RetentionMode, cfg.RetentionDays = true, mode, 1
	return cfg
}

// newStore returns a Store on a fresh bucket of srv.
func newStore(t *testing.T, srv *testparts.MinIO) *Store {
	t.Helper()
	return newStoreWith(t, config(srv))
}

func newStoreWith(t *testing.T, cfg Config) *Store {
	t.Helper()
	s, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	srv := startMinIO(t)
	storetest.Run(t, func(t *testing.T) evidence.Store { return newStore(t, srv) })
}

func TestConformanceObjectLock(t *testing.T) {
	srv := startMinIO(t)
	storetest.Run(t, func(t *testing.T) evidence.Store { return newStoreWith(t, lockedConfig(srv, "COMPLIANCE")) })
}

func TestServerSide(t *testing.T) {
	srv := startMinIO(t)
	ctx := context.Background()

	t.Run("NewKeepsExistingBucket", func(t *testing.T) {
		s := newStore(t, srv)
		data := []byte("kept")
		if err := s.Put(ctx, "k", bytes.NewReader(data), 4, evidence.SumBytes(evidence.SHA256, data)); err != nil {
			t.Fatal(err)
		}
		again, err := New(ctx, Config{Endpoint: srv.Endpoint, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Bucket: s.Bucket()})
		if err != nil {
			t.Fatalf("New on an existing bucket: %v", err)
		}
		if info, err := again.Stat(ctx, "k"); err != nil || info.Size != 4 {
			t.Fatalf("Stat through the second store = %+v, %v", info, err)
		}
	})

	t.Run("ConditionalPutRefusesExistingKey", func(t *testing.T) {
		// Bypass the existence check: the server itself must refuse.
		s := newStore(t, srv)
		first, second := []byte("first"), []byte("second!")
		if err := s.Put(ctx, "k", bytes.NewReader(first), int64(len(first)), evidence.SumBytes(evidence.SHA256, first)); err != nil {
			t.Fatal(err)
		}
		pr, err := evidence.NewPutReader("k", bytes.NewReader(second), int64(len(second)), evidence.SumBytes(evidence.SHA256, second))
		if err != nil {
			t.Fatal(err)
		}
		err = s.put(ctx, "k", pr, int64(len(second)), evidence.SumBytes(evidence.SHA256, second))
		t.Logf("server refused: %v", err)
		if !errors.Is(err, evidence.ErrExists) {
			t.Fatalf("conditional put over an existing key = %v, want ErrExists", err)
		}
		b, err := evidence.ReadVerified(ctx, s, "k", int64(len(first)), evidence.SumBytes(evidence.SHA256, first))
		if err != nil || !bytes.Equal(b, first) {
			t.Fatalf("object after refused put = %q, %v; want %q", b, err, first)
		}
	})

	t.Run("ServerChecksSHA256", func(t *testing.T) {
		// Send the checksum header the store sends, but for other bytes,
		// straight through the client: the server must refuse the object.
		s := newStore(t, srv)
		data := []byte("the bytes actually sent")
		wrong := evidence.SumBytes(evidence.SHA256, []byte("other bytes"))
		opts := minio.PutObjectOptions{
			DisableMultipart: true,
			UserMetadata:     map[string]string{"x-amz-checksum-sha256": base64.StdEncoding.EncodeToString(wrong.Sum())},
		}
		_, err := s.client.PutObject(ctx, s.bucket, "k", bytes.NewReader(data), int64(len(data)), opts)
		if err == nil {
			t.Fatal("server accepted bytes whose x-amz-checksum-sha256 does not match")
		}
		t.Logf("server refused: %v (code %q)", err, minio.ToErrorResponse(err).Code)
		if !errors.Is(mapPutError(err), evidence.ErrDigestMismatch) {
			t.Errorf("server error %v (code %q) does not map to ErrDigestMismatch", err, minio.ToErrorResponse(err).Code)
		}
		if _, err := s.Stat(ctx, "k"); !errors.Is(err, evidence.ErrNotFound) {
			t.Fatalf("Stat after refused put = %v, want ErrNotFound", err)
		}
	})
	t.Run("WithheldBytesNeverComplete", func(t *testing.T) {
		// Without any server-side checksum the PutReader alone must keep a
		// wrong object from being completed, small or several chunks long.
		s := newStore(t, srv)
		for _, n := range []int{10, 200 << 10} {
			data := bytes.Repeat([]byte{'z'}, n)
			wrong := evidence.SumBytes(evidence.SHA256, append(bytes.Clone(data), '!'))
			key := fmt.Sprintf("plain-%d", n)
			pr, err := evidence.NewPutReader(key, bytes.NewReader(data), int64(n), wrong)
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.client.PutObject(ctx, s.bucket, key, pr, int64(n), minio.PutObjectOptions{DisableMultipart: true})
			if !errors.Is(err, evidence.ErrDigestMismatch) {
				t.Fatalf("plain upload through a PutReader with a wrong digest = %v, want ErrDigestMismatch", err)
			}
			if _, err := s.Stat(ctx, key); !errors.Is(err, evidence.ErrNotFound) {
				t.Fatalf("Stat after withheld upload of %d bytes = %v, want ErrNotFound", n, err)
			}
		}
	})
}
