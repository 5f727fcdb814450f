package web_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/node"
	"github.com/crosstalk-im/crosstalk/web"
)

// chromium finds Debian's Chromium. Without it the browser tests skip,
// except under CI (CI=true), where they must run and fail instead.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	msg := "chromium is not installed (apt-get install chromium)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + "; CI=true requires the browser tests to run")
	}
	t.Skip(msg + "; set CI=true to make this a failure")
	return ""
}

// newBrowser starts a headless Chromium of its own for the test.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox, // the CI container runs as root, which Chromium's sandbox refuses
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1100, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		// Close Chromium and wait for it, so that no process or goroutine
		// outlives the test.
		cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
		defer ccancel()
		_ = chromedp.Cancel(cctx)
		cancel()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	// Every later step is bounded by this test's own deadline.
	ctx, cancelRun := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(cancelRun)
	return ctx
}

// screenshot saves the whole page as name in the test's screenshot
// directory.
func screenshot(t *testing.T, dir, name string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			return err
		}
		t.Logf("screenshot %s", filepath.Join(dir, name))
		return os.WriteFile(filepath.Join(dir, name), png, 0o644)
	})
}

// run runs browser actions, failing the test on an error.
func run(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// value runs one browser action that returns a value.
func value[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// fillSignUp opens the sign-up page and fills its form in.
func fillSignUp(base, email, name, password string) []chromedp.Action[chromedp.Void] {
	return []chromedp.Action[chromedp.Void]{
		chromedp.Navigate(base + "/web/signup"),
		chromedp.WaitVisible(chromedp.CSS("#signup-form")),
		chromedp.SendKeys(chromedp.CSS("#email"), email),
		chromedp.SendKeys(chromedp.CSS("#name"), name),
		chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.SendKeys(chromedp.CSS("#password2"), password),
	}
}

// until reloads the page until the script's answer is true.
func until(t *testing.T, ctx context.Context, what, script string) {
	t.Helper()
	waitFor(t, what, func() bool {
		run(t, ctx, what, chromedp.Reload(), chromedp.WaitReady(chromedp.CSS("body")))
		return value(t, ctx, chromedp.Evaluate[bool](script))
	})
}

// A person signs up, signs in again, sees a GG contact come online and,
// given admin rights, kicks that contact's session from the admin page:
// in a real Chromium, with the pages' scripts under their CSP.
func TestBrowser(t *testing.T) {
	e := start(t, node.Options{Web: web.Config{Registration: web.RegistrationOpen}})
	e.account(2001, "carol@example.com", "Carol <GG>", "carol-secret", false)
	ctx := newBrowser(t)
	shots := artifactDir(t)
	console := watchConsole(ctx)

	run(t, ctx, "sign up", append(fillSignUp(e.base, "alice@example.com", "Alice", "alice-secret"),
		screenshot(t, shots, "1-signup.png"),
		chromedp.Click(chromedp.CSS("#signup-submit")),
		chromedp.WaitVisible(chromedp.CSS("#number")),
		screenshot(t, shots, "2-welcome.png"),
	)...)
	number := value(t, ctx, chromedp.Text(chromedp.CSS("#number")))
	login := value(t, ctx, chromedp.Text(chromedp.CSS("#msn-login")))
	if number != "2002" || login != "alice@example.com" {
		t.Fatalf("welcome page: number %q, MSN login %q", number, login)
	}
	alice, _ := strconv.ParseUint(number, 10, 32)
	if _, err := e.n.Store.AddToList(context.Background(), uint32(alice), 2001, hub.Forward, 0, 100); err != nil {
		t.Fatal(err)
	}

	run(t, ctx, "sign out and in again",
		chromedp.Click(chromedp.CSS("#signout")),
		chromedp.WaitVisible(chromedp.CSS("#signin-form")),
		chromedp.SendKeys(chromedp.CSS("#login"), "alice@example.com"),
		chromedp.SendKeys(chromedp.CSS("#password"), "alice-secret"),
		screenshot(t, shots, "3-signin.png"),
		chromedp.Click(chromedp.CSS("#signin-submit")),
		chromedp.WaitVisible(chromedp.CSS(`#contacts tr.offline[data-number="2001"]`)),
	)

	gg := e.ggLogin(2001, "carol-secret")
	until(t, ctx, "carol online on the account page", `document.querySelector('#contacts tr.online[data-number="2001"]') !== null`)
	run(t, ctx, "the account page", screenshot(t, shots, "4-account.png"))
	name := value(t, ctx, chromedp.Text(chromedp.CSS(`#contacts tr[data-number="2001"] td`)))
	if name != "Carol <GG>" {
		t.Fatalf("carol's name shows as %q", name)
	}

	if err := e.n.Store.SetAdmin(context.Background(), uint32(alice), true); err != nil {
		t.Fatal(err)
	}
	kick := `#sessions tr[data-account="2001"] button.kick`
	run(t, ctx, "the admin page",
		chromedp.Navigate(e.base+"/web/admin"),
		chromedp.WaitVisible(chromedp.CSS(kick)),
		chromedp.WaitVisible(chromedp.CSS(`#accounts tr[data-account="2002"]`)),
		screenshot(t, shots, "5-admin.png"),
		chromedp.Click(chromedp.CSS(kick)),
	)
	waitClosed(t, gg)
	until(t, ctx, "the kicked session gone from the admin page",
		`document.body.dataset.loaded === "true" && document.querySelector('#sessions tr[data-account="2001"]') === null`)
	run(t, ctx, "after the kick", screenshot(t, shots, "6-admin-kicked.png"))
	alert := value(t, ctx, chromedp.Text(chromedp.CSS("#admin-error")))
	if alert != "" {
		t.Fatalf("the admin page shows an error: %q", alert)
	}
	e.noSecrets("alice-secret", "carol-secret")
	console.check(t)
}

// consoleLog keeps what the pages write to the browser's console:
// exceptions of their scripts and the browser's reports of what the
// Content-Security-Policy blocked.
type consoleLog struct {
	mu   sync.Mutex
	seen []chromedp.ConsoleMessage
}

func watchConsole(ctx context.Context) *consoleLog {
	l := &consoleLog{}
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			l.mu.Lock()
			l.seen = append(l.seen, m)
			l.mu.Unlock()
		}
	}()
	return l
}

// check fails the test for every script exception and every report of
// something the Content-Security-Policy blocked.
func (l *consoleLog) check(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, m := range l.seen {
		if m.IsException() || strings.Contains(m.Text, "Content Security Policy") {
			t.Errorf("browser console: %s", m)
		}
	}
}
