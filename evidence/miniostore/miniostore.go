// Package miniostore is an evidence.Store in a MinIO (or other
// S3-compatible) bucket, through minio-go.
//
// Put never overwrites: it checks that the key is free and then uploads
// with the conditional header If-None-Match: *, so that of two concurrent
// writers of one key the server lets exactly one finish; the other gets
// 412 Precondition Failed, reported as evidence.ErrExists. The upload
// carries the expected SHA-256 in x-amz-checksum-sha256, so the server
// itself refuses bytes that do not match; independently, the bytes are
// hashed as they are sent and the final bytes withheld when they do not
// match, so the server never sees a complete wrong object.
//
// Every object goes up in a single PUT (no multipart), which MinIO accepts
// up to 5 TiB and AWS S3 up to 5 GiB.
package miniostore

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"shopwatch/evidence"
)

// Config says which server and bucket to use.
type Config struct {
	Endpoint  string // host:port, without scheme
	AccessKey string
	SecretKey string
	Bucket    string
	Secure    bool   // HTTPS
	Region    string // "" lets the client discover it
}

// Store is an evidence.Store in one bucket. It is safe for concurrent use,
// also by many processes and machines sharing the bucket.
type Store struct {
	client *minio.Client
	bucket string
}

var _ evidence.Store = (*Store)(nil)

// New connects to the server and returns a Store for cfg.Bucket, creating
// the bucket when it does not exist.
func New(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Endpoint == "" || cfg.Bucket == "" {
		return nil, fmt.Errorf("miniostore: open: endpoint %q and bucket %q must both be set", cfg.Endpoint, cfg.Bucket)
	}
	client, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure: cfg.Secure,
		Region: cfg.Region,
		// Needed to send x-amz-checksum-sha256 with an upload.
		TrailingHeaders: true,
	})
	if err != nil {
		return nil, fmt.Errorf("miniostore: open %s: %w", cfg.Endpoint, err)
	}
	exists, err := client.BucketExists(ctx, cfg.Bucket)
	if err != nil {
		return nil, fmt.Errorf("miniostore: open %s/%s: %w", cfg.Endpoint, cfg.Bucket, err)
	}
	if !exists {
		err := client.MakeBucket(ctx, cfg.Bucket, minio.MakeBucketOptions{Region: cfg.Region})
		if err != nil {
			code := minio.ToErrorResponse(err).Code
			if code != "BucketAlreadyOwnedByYou" && code != "BucketAlreadyExists" {
				return nil, fmt.Errorf("miniostore: create bucket %s/%s: %w", cfg.Endpoint, cfg.Bucket, err)
			}
		}
	}
	return &Store{client: client, bucket: cfg.Bucket}, nil
}

// Bucket returns the bucket's name.
func (s *Store) Bucket() string { return s.bucket }

// Put implements evidence.Store.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64, sha256 evidence.Digest) error {
	if err := evidence.ValidateKey(key); err != nil {
		return fmt.Errorf("miniostore: put: %w", err)
	}
	pr, err := evidence.NewPutReader(key, r, size, sha256)
	if err != nil {
		return fmt.Errorf("miniostore: %w", err)
	}
	if size == 0 {
		// No body to withhold: check the empty reader before uploading.
		if err := pr.Check(); err != nil {
			return fmt.Errorf("miniostore: %w", err)
		}
	}
	// Cheap refusal without an upload; the conditional PUT below closes the
	// race with a concurrent writer.
	if _, err := s.Stat(ctx, key); err == nil {
		return fmt.Errorf("miniostore: put %q: %w", key, evidence.ErrExists)
	} else if !errors.Is(err, evidence.ErrNotFound) {
		return err
	}
	return s.put(ctx, key, pr, size, sha256)
}

// put uploads conditionally: If-None-Match: * makes the server refuse an
// existing key.
func (s *Store) put(ctx context.Context, key string, pr *evidence.PutReader, size int64, sha256 evidence.Digest) error {
	opts := minio.PutObjectOptions{
		ContentType:      "application/octet-stream",
		DisableMultipart: true,
		UserMetadata: map[string]string{
			"x-amz-checksum-sha256": base64.StdEncoding.EncodeToString(sha256.Sum()),
		},
	}
	opts.SetMatchETagExcept("*")
	var body io.Reader = pr
	if size == 0 {
		body = http.NoBody
	}
	_, err := s.client.PutObject(ctx, s.bucket, key, body, size, opts)
	if err != nil {
		return fmt.Errorf("miniostore: put %q: %w", key, mapPutError(err))
	}
	if size > 0 {
		// The server accepted the bytes; they were checked on the way.
		if err := pr.Check(); err != nil {
			return fmt.Errorf("miniostore: %w", err)
		}
	}
	return nil
}

func mapPutError(err error) error {
	// The PutReader's own verdict travels through the HTTP client.
	if errors.Is(err, evidence.ErrDigestMismatch) || errors.Is(err, evidence.ErrSizeMismatch) {
		return err
	}
	resp := minio.ToErrorResponse(err)
	switch {
	case resp.StatusCode == http.StatusPreconditionFailed || resp.Code == "PreconditionFailed":
		return fmt.Errorf("%w: %v", evidence.ErrExists, err)
	case resp.Code == "BadDigest" || resp.Code == "XAmzContentChecksumMismatch" || resp.Code == "InvalidDigest" ||
		resp.Code == "XAmzContentSHA256Mismatch":
		return fmt.Errorf("%w: server: %v", evidence.ErrDigestMismatch, err)
	}
	return err
}

// Get implements evidence.Store.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := evidence.ValidateKey(key); err != nil {
		return nil, fmt.Errorf("miniostore: get: %w", err)
	}
	obj, err := s.client.GetObject(ctx, s.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, fmt.Errorf("miniostore: get %q: %w", key, mapError(err))
	}
	// GetObject is lazy; Stat sends the request and surfaces NoSuchKey.
	if _, err := obj.Stat(); err != nil {
		obj.Close()
		return nil, fmt.Errorf("miniostore: get %q: %w", key, mapError(err))
	}
	return obj, nil
}

// Stat implements evidence.Store.
func (s *Store) Stat(ctx context.Context, key string) (evidence.Info, error) {
	if err := evidence.ValidateKey(key); err != nil {
		return evidence.Info{}, fmt.Errorf("miniostore: stat: %w", err)
	}
	oi, err := s.client.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return evidence.Info{}, fmt.Errorf("miniostore: stat %q: %w", key, mapError(err))
	}
	return evidence.Info{Key: key, Size: oi.Size, ModTime: oi.LastModified}, nil
}

// List implements evidence.Store. The server returns keys in ascending
// byte order, a page of up to 1000 at a time.
func (s *Store) List(ctx context.Context, prefix string, fn func(evidence.Info) error) error {
	if err := evidence.ValidatePrefix(prefix); err != nil {
		return fmt.Errorf("miniostore: list: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx) // stops the listing goroutine on early return
	defer cancel()
	for oi := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if oi.Err != nil {
			return fmt.Errorf("miniostore: list %q: %w", prefix, mapError(oi.Err))
		}
		if err := fn(evidence.Info{Key: oi.Key, Size: oi.Size, ModTime: oi.LastModified}); err != nil {
			return err
		}
	}
	return ctx.Err()
}

func mapError(err error) error {
	switch minio.ToErrorResponse(err).Code {
	case "NoSuchKey", "NoSuchObject":
		return fmt.Errorf("%w: %v", evidence.ErrNotFound, err)
	}
	return err
}
