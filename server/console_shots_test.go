//go:build screenshots

package server_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"shopwatch/db"
	"shopwatch/internal/sandbox"
	"shopwatch/internal/testparts"
	"shopwatch/server"
)

// TestConsoleScreenshots writes the console's main pages as PNG files to
// docs/console for the README: go test -tags screenshots -run
// TestConsoleScreenshots ./server.
func TestConsoleScreenshots(t *testing.T) {
	chromium := testparts.Chromium(t)
	r := start(t, server.Options{})
	base := r.tcp(t)
	ctx := context.Background()
	for _, j := range []string{"上海市/杨浦区", "上海市/杨浦区/五角场", "上海市/杨浦区/控江"} {
		seedFinding(t, r.db, j)
	}
	if err := r.db.AddUser(ctx, &db.User{Name: "检查员", Role: db.RoleInspector, Jurisdiction: "上海市/杨浦区"}); err != nil {
		t.Fatal(err)
	}
	hash, err := server.HashPassword("口令 检查员 123")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.db.SetPasswordHash(ctx, "检查员", hash); err != nil {
		t.Fatal(err)
	}
	profile, err := os.MkdirTemp("", "shopwatch-shots-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(profile)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.UserDataDir(profile), chromedp.WindowSize(1280, 800))
	sandboxed, err := sandbox.Options(profile)
	if err != nil {
		t.Fatal(err)
	}
	actx, acancel := chromedp.NewExecAllocator(ctx, append(opts, sandboxed...)...)
	defer acancel()
	tab, cancel := chromedp.NewContext(actx)
	defer cancel()
	tctx, tcancel := context.WithTimeout(tab, time.Minute)
	defer tcancel()
	out := filepath.Join("..", "docs", "console")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	shot := func(name string) {
		png, err := chromedp.Run(tctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(out, name), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := chromedp.Do(tctx, chromedp.Navigate(base+"/console/login"), chromedp.WaitVisible(chromedp.CSS("#login"))); err != nil {
		t.Fatal(err)
	}
	shot("login.png")
	if err := chromedp.Do(tctx, chromedp.SendKeys(chromedp.CSS("#name"), "检查员"), chromedp.SendKeys(chromedp.CSS("#password"), "口令 检查员 123"),
		chromedp.Click(chromedp.CSS("#submit")), chromedp.WaitVisible(chromedp.CSS("#new"))); err != nil {
		t.Fatal(err)
	}
	shot("dashboard.png")
	if err := chromedp.Do(tctx, chromedp.Navigate(base+"/console/findings"), chromedp.WaitVisible(chromedp.CSS("#findings"))); err != nil {
		t.Fatal(err)
	}
	shot("findings.png")
}
