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
//
// # Object lock (WORM)
//
// With Config.ObjectLock the bucket is created with S3 object locking (which
// also turns on versioning), and every Put stores its object with a
// retention period in GOVERNANCE or COMPLIANCE mode, counted from the
// local clock at the upload. Until the retention date the server refuses
// to delete or overwrite the object's version or to shorten its retention;
// in COMPLIANCE mode nobody, the root user included, can lift that, in
// GOVERNANCE mode a user holding s3:BypassGovernanceRetention can.
//
// Object lock protects versions, not names: a client that bypasses this
// store can still add a newer version under a key (a plain PUT) or hide it
// behind a delete marker, and the original version stays underneath,
// unchanged. So in a locked bucket this store treats the object under a
// key as its oldest version that holds data: Get, Stat and List read that
// version whatever was stacked on top, Put refuses a key that has such a
// version, and a key with extra versions or delete markers is logged as a
// warning. Get, Stat and Put's existence check list the key's versions
// instead of a plain HEAD; Get costs one request more than in an unlocked
// bucket.
package miniostore

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

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

	// MaxRetries caps how often the client retries a failed request
	// (0: minio-go's default of 10, with back-off up to a second each). A
	// store behind a spool wants few, so an unreachable server is reported
	// quickly.
	MaxRetries int

	// ObjectLock makes the store write once, read many: New creates the
	// bucket with object locking, or refuses an existing bucket without it,
	// and every Put sets a retention period of RetentionDays (at least 1)
	// in RetentionMode, "COMPLIANCE" (the default when empty) or
	// "GOVERNANCE". See the package documentation.
	ObjectLock    bool
	RetentionMode string
	RetentionDays int
}

// MaxRetentionDays is the longest retention period Config accepts, a
// guard against a mistyped number locking objects for centuries.
const MaxRetentionDays = 100 * 365

// Store is an evidence.Store in one bucket. It is safe for concurrent use,
// also by many processes and machines sharing the bucket.
type Store struct {
	client *minio.Client
	bucket string
	log    *slog.Logger
	cfg    Config

	prepMu   sync.Mutex
	prepared bool // bucket created or checked

	// Object lock; mode is "" when off.
	mode minio.RetentionMode
	days int
}

var _ evidence.Store = (*Store)(nil)

// New connects to the server and returns a Store for cfg.Bucket, creating
// the bucket when it does not exist: with object locking when
// cfg.ObjectLock is set, in which case an existing bucket must have object
// lock enabled.
func New(ctx context.Context, cfg Config) (*Store, error) {
	s, err := Open(cfg)
	if err != nil {
		return nil, err
	}
	if err := s.prepare(ctx); err != nil {
		return nil, fmt.Errorf("miniostore: %w", err)
	}
	return s, nil
}

// Open is New without contacting the server, for a store that must be
// usable while the server is down (behind a spool): it checks cfg and
// returns at once. The bucket is created or checked as New does on the
// first call that needs it, and again on each later call until that
// succeeds; a bucket without object lock when cfg asks for it fails every
// call with the same error New would have returned.
func Open(cfg Config) (*Store, error) {
	if cfg.Endpoint == "" || cfg.Bucket == "" {
		return nil, fmt.Errorf("miniostore: open: endpoint %q and bucket %q must both be set", cfg.Endpoint, cfg.Bucket)
	}
	mode, err := retention(cfg)
	if err != nil {
		return nil, fmt.Errorf("miniostore: open %s/%s: %w", cfg.Endpoint, cfg.Bucket, err)
	}
	client, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure: cfg.Secure,
		Region: cfg.Region,
		// Needed to send x-amz-checksum-sha256 with an upload.
		TrailingHeaders: true,
		MaxRetries:      cfg.MaxRetries,
	})
	if err != nil {
		return nil, fmt.Errorf("miniostore: open %s: %w", cfg.Endpoint, err)
	}
	return &Store{client: client, bucket: cfg.Bucket, log: slog.Default(), cfg: cfg, mode: mode, days: cfg.RetentionDays}, nil
}

// prepare creates or checks the bucket once; until it succeeds every call
// tries again. Its errors name the endpoint and bucket.
func (s *Store) prepare(ctx context.Context) error {
	s.prepMu.Lock()
	defer s.prepMu.Unlock()
	if s.prepared {
		return nil
	}
	cfg := s.cfg
	exists, err := s.client.BucketExists(ctx, cfg.Bucket)
	if err != nil {
		return fmt.Errorf("open %s/%s: %w", cfg.Endpoint, cfg.Bucket, err)
	}
	if !exists {
		err := s.client.MakeBucket(ctx, cfg.Bucket, minio.MakeBucketOptions{Region: cfg.Region, ObjectLocking: cfg.ObjectLock})
		if err != nil {
			code := minio.ToErrorResponse(err).Code
			if code != "BucketAlreadyOwnedByYou" && code != "BucketAlreadyExists" {
				return fmt.Errorf("create bucket %s/%s: %w", cfg.Endpoint, cfg.Bucket, err)
			}
			exists = true // created by someone else meanwhile: check it below
		}
	}
	if exists && cfg.ObjectLock {
		if err := checkObjectLock(ctx, s.client, cfg.Bucket); err != nil {
			return fmt.Errorf("open %s/%s: %w", cfg.Endpoint, cfg.Bucket, err)
		}
	}
	s.prepared = true
	return nil
}

// retention checks the object-lock settings of cfg and returns the mode,
// "" when object lock is off.
func retention(cfg Config) (minio.RetentionMode, error) {
	if !cfg.ObjectLock {
		if cfg.RetentionMode != "" || cfg.RetentionDays != 0 {
			return "", fmt.Errorf("retention mode %q and days %d set without object lock", cfg.RetentionMode, cfg.RetentionDays)
		}
		return "", nil
	}
	mode := minio.RetentionMode(strings.ToUpper(cfg.RetentionMode))
	if mode == "" {
		mode = minio.Compliance
	}
	if !mode.IsValid() {
		return "", fmt.Errorf("retention mode %q: want COMPLIANCE or GOVERNANCE", cfg.RetentionMode)
	}
	if cfg.RetentionDays < 1 || cfg.RetentionDays > MaxRetentionDays {
		return "", fmt.Errorf("retention of %d days: want 1 to %d", cfg.RetentionDays, MaxRetentionDays)
	}
	return mode, nil
}

// checkObjectLock returns an error naming the bucket unless it has object
// lock enabled.
func checkObjectLock(ctx context.Context, client *minio.Client, bucket string) error {
	enabled, _, _, _, err := client.GetObjectLockConfig(ctx, bucket)
	if err != nil {
		if minio.ToErrorResponse(err).Code == "ObjectLockConfigurationNotFoundError" {
			return fmt.Errorf("bucket %q exists without object lock; object lock can only be chosen when a bucket is created: use a new bucket name", bucket)
		}
		return fmt.Errorf("bucket %q: read object lock configuration: %w", bucket, err)
	}
	if enabled != "Enabled" {
		return fmt.Errorf("bucket %q exists without object lock (object lock %q); use a new bucket name", bucket, enabled)
	}
	return nil
}

// Bucket returns the bucket's name.
func (s *Store) Bucket() string { return s.bucket }

// SetLogger sets where the store reports keys that carry versions written
// around it (slog.Default() unless set). Call it before using the store.
func (s *Store) SetLogger(l *slog.Logger) { s.log = l }

// Retention returns the retention mode ("COMPLIANCE" or "GOVERNANCE") and
// period every Put sets, or "" and 0 when object lock is off.
func (s *Store) Retention() (mode string, days int) { return string(s.mode), s.days }

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
	if s.mode != "" {
		opts.Mode = s.mode
		opts.RetainUntilDate = time.Now().Add(time.Duration(s.days) * 24 * time.Hour)
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

// Get implements evidence.Store. In a locked bucket it reads the key's
// oldest version.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := evidence.ValidateKey(key); err != nil {
		return nil, fmt.Errorf("miniostore: get: %w", err)
	}
	if err := s.prepare(ctx); err != nil {
		return nil, fmt.Errorf("miniostore: get %q: %w", key, err)
	}
	var opts minio.GetObjectOptions
	if s.mode != "" {
		oi, err := s.firstVersion(ctx, key)
		if err != nil {
			return nil, fmt.Errorf("miniostore: get %q: %w", key, err)
		}
		opts.VersionID = oi.VersionID
	}
	obj, err := s.client.GetObject(ctx, s.bucket, key, opts)
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

// Stat implements evidence.Store. In a locked bucket it describes the
// key's oldest version.
func (s *Store) Stat(ctx context.Context, key string) (evidence.Info, error) {
	if err := evidence.ValidateKey(key); err != nil {
		return evidence.Info{}, fmt.Errorf("miniostore: stat: %w", err)
	}
	if err := s.prepare(ctx); err != nil {
		return evidence.Info{}, fmt.Errorf("miniostore: stat %q: %w", key, err)
	}
	var (
		oi  minio.ObjectInfo
		err error
	)
	if s.mode != "" {
		oi, err = s.firstVersion(ctx, key)
	} else {
		oi, err = s.client.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{})
		err = mapErrorOrNil(err)
	}
	if err != nil {
		return evidence.Info{}, fmt.Errorf("miniostore: stat %q: %w", key, err)
	}
	return evidence.Info{Key: key, Size: oi.Size, ModTime: oi.LastModified}, nil
}

// firstVersion returns the oldest version of key that holds data (not a
// delete marker), or an error wrapping evidence.ErrNotFound. It lists the
// versions of key, which the server returns before those of any longer key
// sharing the prefix, and logs a warning when there is more than one.
func (s *Store) firstVersion(ctx context.Context, key string) (minio.ObjectInfo, error) {
	ctx, cancel := context.WithCancel(ctx) // stops the listing goroutine on early return
	defer cancel()
	var (
		first minio.ObjectInfo
		found bool
		n     int
	)
	// Small pages: the key's own versions come first, the rest is waste.
	opts := minio.ListObjectsOptions{Prefix: key, Recursive: true, WithVersions: true, MaxKeys: 100}
	for oi := range s.client.ListObjects(ctx, s.bucket, opts) {
		if oi.Err != nil {
			return minio.ObjectInfo{}, mapError(oi.Err)
		}
		if oi.Key != key {
			break
		}
		n++
		if oi.IsDeleteMarker {
			continue
		}
		// Newest first: on equal times the later entry is the older one.
		if !found || !oi.LastModified.After(first.LastModified) {
			first, found = oi, true
		}
	}
	if err := ctx.Err(); err != nil {
		return minio.ObjectInfo{}, err
	}
	if !found {
		return minio.ObjectInfo{}, evidence.ErrNotFound
	}
	if n > 1 {
		s.warnVersions(key, n, first)
	}
	return first, nil
}

func (s *Store) warnVersions(key string, n int, first minio.ObjectInfo) {
	s.log.Warn("miniostore: key has versions or delete markers written around the store; reading its oldest version",
		"bucket", s.bucket, "key", key, "versions", n, "version_id", first.VersionID)
}

// List implements evidence.Store. The server returns keys in ascending
// byte order, a page of up to 1000 at a time. In a locked bucket it lists
// every key that has a version holding data, with its oldest version's
// size and time, also when a delete marker hides the key from a plain
// listing.
func (s *Store) List(ctx context.Context, prefix string, fn func(evidence.Info) error) error {
	if err := evidence.ValidatePrefix(prefix); err != nil {
		return fmt.Errorf("miniostore: list: %w", err)
	}
	if err := s.prepare(ctx); err != nil {
		return fmt.Errorf("miniostore: list %q: %w", prefix, err)
	}
	ctx, cancel := context.WithCancel(ctx) // stops the listing goroutine on early return
	defer cancel()
	opts := minio.ListObjectsOptions{Prefix: prefix, Recursive: true, WithVersions: s.mode != ""}
	if !opts.WithVersions {
		for oi := range s.client.ListObjects(ctx, s.bucket, opts) {
			if oi.Err != nil {
				return fmt.Errorf("miniostore: list %q: %w", prefix, mapError(oi.Err))
			}
			if err := fn(evidence.Info{Key: oi.Key, Size: oi.Size, ModTime: oi.LastModified}); err != nil {
				return err
			}
		}
		return ctx.Err()
	}
	// Versions come grouped by key, keys in ascending order.
	var (
		cur   string
		first minio.ObjectInfo
		found bool
		n     int
	)
	flush := func() error {
		if !found {
			return nil
		}
		if n > 1 {
			s.warnVersions(cur, n, first)
		}
		return fn(evidence.Info{Key: cur, Size: first.Size, ModTime: first.LastModified})
	}
	for oi := range s.client.ListObjects(ctx, s.bucket, opts) {
		if oi.Err != nil {
			return fmt.Errorf("miniostore: list %q: %w", prefix, mapError(oi.Err))
		}
		if oi.Key != cur {
			if err := flush(); err != nil {
				return err
			}
			cur, found, n = oi.Key, false, 0
		}
		n++
		if oi.IsDeleteMarker {
			continue
		}
		if !found || !oi.LastModified.After(first.LastModified) {
			first, found = oi, true
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return flush()
}

func mapErrorOrNil(err error) error {
	if err == nil {
		return nil
	}
	return mapError(err)
}

func mapError(err error) error {
	switch minio.ToErrorResponse(err).Code {
	case "NoSuchKey", "NoSuchObject":
		return fmt.Errorf("%w: %v", evidence.ErrNotFound, err)
	}
	return err
}
