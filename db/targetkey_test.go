package db

import (
	"context"
	"errors"
	"strings"
	"testing"

	"shopwatch"
)

func TestTargetKey(t *testing.T) {
	for in, want := range map[string]string{
		"http://Shop.example/item?id=1&spm=a.b.c":              "http://shop.example/item?id=1",
		"http://shop.example/item?spm=x&id=1&utm_source=wx":    "http://shop.example/item?id=1",
		"http://shop.example/item?UTM_Medium=x&scm=1&id=1#top": "http://shop.example/item?id=1",
		"http://shop.example/?":                                "http://shop.example/",
		"http://shop.example:80":                               "http://shop.example/",
		"http://shop.example/item?b=2&a=1":                     "http://shop.example/item?b=2&a=1",
		"http://shop.example/item?spmx=1":                      "http://shop.example/item?spmx=1",
		"http://shop.example/item?%73pm=1&id=2":                "http://shop.example/item?id=2",
	} {
		got, err := TargetKey(in, nil)
		if err != nil || got != want {
			t.Errorf("TargetKey(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if got, _ := TargetKey("http://shop.example/item?id=1&spm=a", []string{}); got != "http://shop.example/item?id=1&spm=a" {
		t.Errorf("with no tracking parameters: %q", got)
	}
	for _, bad := range []string{"http://shop.example:0/", "http://shop.example:65536/", "http://shop.example:99999999/"} {
		if _, err := TargetKey(bad, nil); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "port") {
			t.Errorf("TargetKey(%q): %v, want a port error", bad, err)
		}
	}
}

func TestAddTargetRefusesCredentialsAndDepth(t *testing.T) {
	d, _ := newTestDB(t)
	ctx := context.Background()
	err := d.AddTarget(ctx, &shopwatch.Target{URL: "https://u:hunter2@shop.example/", Kind: shopwatch.KindStorefront})
	if !errors.Is(err, ErrInvalid) || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("credentials: %v", err)
	}
	err = d.AddTarget(ctx, &shopwatch.Target{URL: "https://shop.example/", Kind: shopwatch.KindStorefront, Depth: MaxDepth + 1})
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("depth above the maximum: %v", err)
	}
	tg := shopwatch.Target{URL: "https://shop.example/", Kind: shopwatch.KindStorefront}
	if err := d.AddTarget(ctx, &tg); err != nil {
		t.Fatal(err)
	}
	if _, err := d.UpdateTarget(ctx, tg.ID, "target.paused", func(t *shopwatch.Target) error { t.Paused = true; t.URL = "https://elsewhere/"; return nil }); err != nil {
		t.Fatal(err)
	}
	got, _ := d.GetTarget(ctx, tg.ID)
	if !got.Paused || got.URL != tg.URL {
		t.Errorf("after pause: %+v", got)
	}
	if active, _ := d.ListTargets(ctx); len(active) != 0 {
		t.Errorf("ListTargets lists a paused target: %+v", active)
	}
	if all, _ := d.ListAllTargets(ctx); len(all) != 1 {
		t.Errorf("ListAllTargets: %+v", all)
	}
	if _, err := d.UpdateTarget(ctx, tg.ID, "target.edited", func(t *shopwatch.Target) error { t.Depth = MaxDepth + 1; return nil }); !errors.Is(err, ErrInvalid) {
		t.Errorf("edit to a depth above the maximum: %v", err)
	}
	if f, err := d.FindTarget(ctx, "https://SHOP.example/?utm_source=x"); err != nil || f.ID != tg.ID {
		t.Errorf("FindTarget by URL: %v %v", f, err)
	}
	if _, err := d.FindTarget(ctx, "t-none"); !errors.Is(err, ErrNotFound) {
		t.Errorf("FindTarget of an unknown id: %v", err)
	}
}
