package miniostore

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"shopwatch/evidence"
	"shopwatch/internal/testparts"
)

func TestRetentionConfig(t *testing.T) {
	cases := []struct {
		cfg      Config
		wantMode minio.RetentionMode
		wantErr  string
	}{
		{Config{}, "", ""},
		{Config{ObjectLock: true, RetentionDays: 30}, minio.Compliance, ""},
		{Config{ObjectLock: true, RetentionMode: "governance", RetentionDays: 1}, minio.Governance, ""},
		{Config{ObjectLock: true, RetentionMode: "COMPLIANCE", RetentionDays: 3650}, minio.Compliance, ""},
		{Config{ObjectLock: true, RetentionMode: "strict", RetentionDays: 1}, "", `retention mode "strict"`},
		{Config{ObjectLock: true, RetentionMode: "COMPLIANCE"}, "", "retention of 0 days"},
		{Config{ObjectLock: true, RetentionDays: MaxRetentionDays + 1}, "", "want 1 to"},
		{Config{RetentionMode: "COMPLIANCE", RetentionDays: 1}, "", "without object lock"},
	}
	for _, c := range cases {
		mode, err := retention(c.cfg)
		switch {
		case c.wantErr == "" && err != nil:
			t.Errorf("retention(%+v) = %v, want nil", c.cfg, err)
		case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
			t.Errorf("retention(%+v) = %v, want an error containing %q", c.cfg, err, c.wantErr)
		case mode != c.wantMode:
			t.Errorf("retention(%+v) mode = %q, want %q", c.cfg, mode, c.wantMode)
		}
	}
}

// putOne stores data under key through s and returns the id of the
// version the server made.
func putOne(t *testing.T, s *Store, key string, data []byte) string {
	t.Helper()
	ctx := context.Background()
	if err := s.Put(ctx, key, bytes.NewReader(data), int64(len(data)), evidence.SumBytes(evidence.SHA256, data)); err != nil {
		t.Fatalf("Put(%q) = %v", key, err)
	}
	versions := listVersions(t, s, key)
	if len(versions) != 1 {
		t.Fatalf("after one Put %q has %d versions, want 1", key, len(versions))
	}
	return versions[0].VersionID
}

func listVersions(t *testing.T, s *Store, key string) []minio.ObjectInfo {
	t.Helper()
	var out []minio.ObjectInfo
	for oi := range s.client.ListObjects(context.Background(), s.bucket, minio.ListObjectsOptions{Prefix: key, Recursive: true, WithVersions: true}) {
		if oi.Err != nil {
			t.Fatalf("list versions of %q: %v", key, oi.Err)
		}
		if oi.Key == key {
			out = append(out, oi)
		}
	}
	return out
}

// readVersion reads one version of key straight from the server.
func readVersion(t *testing.T, s *Store, key, versionID string) []byte {
	t.Helper()
	obj, err := s.client.GetObject(context.Background(), s.bucket, key, minio.GetObjectOptions{VersionID: versionID})
	if err != nil {
		t.Fatalf("get %q version %s: %v", key, versionID, err)
	}
	defer obj.Close()
	b, err := io.ReadAll(obj)
	if err != nil {
		t.Fatalf("read %q version %s: %v", key, versionID, err)
	}
	return b
}

// intact checks that the store serves want under key through Get, Stat,
// List and a verified read, and that the server still holds version
// versionID with those bytes.
func intact(t *testing.T, s *Store, key, versionID string, want []byte) {
	t.Helper()
	ctx := context.Background()
	if got := readVersion(t, s, key, versionID); !bytes.Equal(got, want) {
		t.Fatalf("version %s of %q holds %q, want %q", versionID, key, got, want)
	}
	b, err := evidence.ReadVerified(ctx, s, key, int64(len(want)), evidence.SumBytes(evidence.SHA256, want))
	if err != nil || !bytes.Equal(b, want) {
		t.Fatalf("store reads %q as %q, %v; want %q", key, b, err, want)
	}
	info, err := s.Stat(ctx, key)
	if err != nil || info.Size != int64(len(want)) {
		t.Fatalf("Stat(%q) = %+v, %v; want size %d", key, info, err, len(want))
	}
	var listed []evidence.Info
	if err := s.List(ctx, key, func(i evidence.Info) error { listed = append(listed, i); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(listed) != 1 || listed[0].Key != key || listed[0].Size != int64(len(want)) {
		t.Fatalf("List(%q) = %+v, want the one original object of %d bytes", key, listed, len(want))
	}
}

func TestObjectLock(t *testing.T) {
	srv := startMinIO(t)
	ctx := context.Background()
	orig := []byte("<html>原始证据 captured page</html>")
	forged := []byte("<html>forged</html>")

	t.Run("RetentionIsSet", func(t *testing.T) {
		for _, mode := range []string{"COMPLIANCE", "GOVERNANCE"} {
			cfg := lockedConfig(srv, mode)
			cfg.RetentionDays = 7
			s := newStoreWith(t, cfg)
			if m, d := s.Retention(); m != mode || d != 7 {
				t.Fatalf("Retention() = %q, %d; want %s, 7", m, d, mode)
			}
			before := time.Now()
			id := putOne(t, s, "evidence/ev-1/page.html", orig)
			after := time.Now()
			gotMode, until, err := s.client.GetObjectRetention(ctx, s.bucket, "evidence/ev-1/page.html", id)
			if err != nil {
				t.Fatalf("GetObjectRetention: %v", err)
			}
			t.Logf("%s: version %s retained until %s", mode, id, until)
			if gotMode == nil || string(*gotMode) != mode {
				t.Errorf("retention mode = %v, want %s", gotMode, mode)
			}
			lo := before.Add(7*24*time.Hour - time.Second) // the header carries whole seconds
			hi := after.Add(7*24*time.Hour + time.Second)
			if until == nil || until.Before(lo) || until.After(hi) {
				t.Errorf("retained until %v, want between %v and %v", until, lo, hi)
			}
		}
	})

	t.Run("ComplianceVersionCannotBeDeleted", func(t *testing.T) {
		s := newStoreWith(t, lockedConfig(srv, "COMPLIANCE"))
		const key = "evidence/ev-1/page.html"
		id := putOne(t, s, key, orig)
		err := s.client.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{VersionID: id})
		t.Logf("delete refused: %v", err)
		if err == nil {
			t.Fatal("server deleted a version under compliance retention")
		}
		// Not even the root user with the governance bypass.
		err = s.client.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{VersionID: id, GovernanceBypass: true})
		if err == nil {
			t.Fatal("server deleted a compliance-retained version with the governance bypass")
		}
		// Nor shorten the retention to get there.
		soon := time.Now().Add(time.Minute)
		mode := minio.Compliance
		err = s.client.PutObjectRetention(ctx, s.bucket, key, minio.PutObjectRetentionOptions{VersionID: id, Mode: &mode, RetainUntilDate: &soon})
		if err == nil {
			t.Fatal("server shortened a compliance retention")
		}
		intact(t, s, key, id, orig)
	})

	t.Run("GovernanceVersionCannotBeDeletedWithoutBypass", func(t *testing.T) {
		s := newStoreWith(t, lockedConfig(srv, "GOVERNANCE"))
		const key = "evidence/ev-1/page.html"
		id := putOne(t, s, key, orig)
		err := s.client.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{VersionID: id})
		t.Logf("delete refused: %v", err)
		if err == nil {
			t.Fatal("server deleted a version under governance retention without the bypass")
		}
		intact(t, s, key, id, orig)
		// What GOVERNANCE means: a user allowed to bypass it (here the
		// root user) can delete. This is why COMPLIANCE is the default.
		err = s.client.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{VersionID: id, GovernanceBypass: true})
		if err != nil {
			t.Fatalf("root with the governance bypass could not delete: %v", err)
		}
		if _, err := s.Stat(ctx, key); !errors.Is(err, evidence.ErrNotFound) {
			t.Fatalf("Stat after the bypassing delete = %v, want ErrNotFound", err)
		}
	})

	t.Run("OverwriteFails", func(t *testing.T) {
		s := newStoreWith(t, lockedConfig(srv, "COMPLIANCE"))
		s.SetLogger(slog.New(slog.NewTextHandler(io.Discard, nil))) // the shadowing version is warned about
		const key = "evidence/ev-1/page.html"
		id := putOne(t, s, key, orig)

		// Through the store.
		err := s.Put(ctx, key, bytes.NewReader(forged), int64(len(forged)), evidence.SumBytes(evidence.SHA256, forged))
		if !errors.Is(err, evidence.ErrExists) {
			t.Fatalf("store Put over a locked key = %v, want ErrExists", err)
		}
		// Straight to the server, conditional as the store sends it.
		opts := minio.PutObjectOptions{DisableMultipart: true}
		opts.SetMatchETagExcept("*")
		_, err = s.client.PutObject(ctx, s.bucket, key, bytes.NewReader(forged), int64(len(forged)), opts)
		t.Logf("conditional overwrite refused: %v", err)
		if code := minio.ToErrorResponse(err).Code; code != "PreconditionFailed" {
			t.Fatalf("conditional PUT over a locked key = %v (code %q), want PreconditionFailed", err, code)
		}
		// Overwriting the version itself: MinIO lets a privileged client
		// (replication, here the root user) choose the version id of a
		// PUT. On a fresh key that works, as the control shows; on the
		// locked version the server must refuse.
		opts = minio.PutObjectOptions{DisableMultipart: true}
		opts.Internal.SourceVersionID = "0c4b6a3e-5a0e-4c57-9a8d-2f6b1d9e7c11"
		up, err := s.client.PutObject(ctx, s.bucket, "control", bytes.NewReader(forged), int64(len(forged)), opts)
		t.Logf("control: PUT of a fresh key naming version %s: version %q, %v", opts.Internal.SourceVersionID, up.VersionID, err)
		controlOK := err == nil && up.VersionID == opts.Internal.SourceVersionID
		opts.Internal.SourceVersionID = id
		up, err = s.client.PutObject(ctx, s.bucket, key, bytes.NewReader(forged), int64(len(forged)), opts)
		t.Logf("PUT naming the locked version %s: version %q, %v", id, up.VersionID, err)
		if err == nil {
			t.Fatalf("server accepted a PUT over locked version %s (returned version %q)", id, up.VersionID)
		}
		if controlOK && !strings.Contains(err.Error(), "WORM") {
			t.Errorf("PUT over the locked version refused for another reason than the lock: %v", err)
		}
		intact(t, s, key, id, orig)
		// A plain PUT is not refused by S3 object lock: it stacks a new
		// version on top. The original version must stay, unchanged and
		// locked, and the store must go on serving it.
		up, err = s.client.PutObject(ctx, s.bucket, key, bytes.NewReader(forged), int64(len(forged)), minio.PutObjectOptions{DisableMultipart: true})
		t.Logf("plain PUT: version %q, %v", up.VersionID, err)
		if err == nil && up.VersionID == id {
			t.Fatalf("server replaced version %s in place", id)
		}
		intact(t, s, key, id, orig)
		if got := listVersions(t, s, key); len(got) < 2 {
			t.Logf("server refused every unconditional PUT (%d versions)", len(got))
		} else {
			t.Logf("unconditional PUTs stacked %d versions over the original; the store still serves the original", len(got)-1)
		}
		if err := s.client.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{VersionID: id}); err == nil {
			t.Fatal("server deleted the original version after it was shadowed")
		}
		intact(t, s, key, id, orig)
	})

	t.Run("DeleteMarkerDoesNotHideEvidence", func(t *testing.T) {
		s := newStoreWith(t, lockedConfig(srv, "COMPLIANCE"))
		var logs strings.Builder
		s.SetLogger(slog.New(slog.NewTextHandler(&logs, nil)))
		const key = "evidence/ev-1/page.html"
		id := putOne(t, s, key, orig)
		// A delete without a version id only adds a delete marker.
		if err := s.client.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{}); err != nil {
			t.Fatalf("adding a delete marker: %v", err)
		}
		if _, err := s.client.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{}); err == nil {
			t.Fatal("a plain stat still sees the object behind the delete marker; the test proves nothing")
		}
		intact(t, s, key, id, orig)
		// The key is still taken: a Put cannot slip new bytes in behind
		// the marker.
		err := s.Put(ctx, key, bytes.NewReader(forged), int64(len(forged)), evidence.SumBytes(evidence.SHA256, forged))
		if !errors.Is(err, evidence.ErrExists) {
			t.Fatalf("store Put behind a delete marker = %v, want ErrExists", err)
		}
		intact(t, s, key, id, orig)
		if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "key="+key) {
			t.Errorf("no warning naming %s about the extra version; log:\n%s", key, logs.String())
		}
	})

	t.Run("ExistingBucketWithoutLockRefused", func(t *testing.T) {
		plain := newStore(t, srv)
		cfg := lockedConfig(srv, "COMPLIANCE")
		cfg.Bucket = plain.Bucket()
		_, err := New(ctx, cfg)
		t.Logf("refused: %v", err)
		if err == nil || !strings.Contains(err.Error(), `"`+plain.Bucket()+`"`) || !strings.Contains(err.Error(), "object lock") {
			t.Fatalf("New with object lock on a bucket without it = %v, want an error naming the bucket", err)
		}
	})

	t.Run("ExistingLockedBucketKept", func(t *testing.T) {
		cfg := lockedConfig(srv, "COMPLIANCE")
		s := newStoreWith(t, cfg)
		id := putOne(t, s, "k", orig)
		again := newStoreWith(t, cfg)
		intact(t, again, "k", id, orig)
	})
}

func TestOpenIsLazy(t *testing.T) {
	ctx := context.Background()
	// No server at all: Open still succeeds, calls fail naming the key.
	addr, err := testparts.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	down, err := Open(Config{Endpoint: addr, Bucket: "b", MaxRetries: 1, ObjectLock: true, RetentionDays: 1})
	if err != nil {
		t.Fatalf("Open with the server down = %v, want nil", err)
	}
	if _, err := down.Stat(ctx, "evidence/k"); err == nil || errors.Is(err, evidence.ErrNotFound) || !strings.Contains(err.Error(), `"evidence/k"`) {
		t.Fatalf("Stat with the server down = %v, want a connection error naming the key", err)
	}
	if _, err := Open(Config{Endpoint: addr, Bucket: "b", RetentionDays: 1}); err == nil {
		t.Fatal("Open accepted retention without object lock")
	}

	srv := startMinIO(t)
	cfg := lockedConfig(srv, "COMPLIANCE")
	s, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := s.client.BucketExists(ctx, cfg.Bucket); err != nil || ok {
		t.Fatalf("bucket exists after Open = %v, %v; want not yet", ok, err)
	}
	id := putOne(t, s, "evidence/ev-1/page.html", []byte("x"))
	if state, _, _, _, err := s.client.GetObjectLockConfig(ctx, cfg.Bucket); err != nil || state != "Enabled" {
		t.Fatalf("object lock of the bucket made on first use = %q, %v; want Enabled", state, err)
	}
	intact(t, s, "evidence/ev-1/page.html", id, []byte("x"))

	// An existing bucket without object lock fails every call.
	plain := newStore(t, srv)
	cfg.Bucket = plain.Bucket()
	s, err = Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := s.Stat(ctx, "k"); err == nil || !strings.Contains(err.Error(), `bucket "`+cfg.Bucket+`" exists without object lock`) {
			t.Fatalf("Stat on a bucket without object lock = %v, want the object lock error", err)
		}
	}
}
