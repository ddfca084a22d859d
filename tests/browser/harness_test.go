package browser

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"switchboard/adapters/ollama/fake"
	"switchboard/adapters/web"
	"switchboard/cmd/switchboard/app"
)

var (
	serveFor = flag.Duration("browser.serve", 0,
		"TestServe: serve a demo server with the web client for this long, for trying the client by hand")
	updateScreenshot = flag.Bool("browser.update-screenshot", false,
		"TestShowcase: also write its screenshot to docs/screenshot.png (the README's)")
	showLogs = flag.Bool("browser.server-logs", false, "print the server's logs")
)

// artifacts is where screenshots go (gitignored; CI keeps them).
const artifacts = "../artifacts"

// chromium finds Debian's chromium. Without one the browser tests skip,
// except in CI, where a missing browser is a broken setup.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no chromium on PATH: install Debian's chromium (apt-get install -y chromium)")
	}
	t.Skip("no chromium on PATH; install Debian's chromium to run the browser tests")
	return ""
}

// server is a real Switchboard (the composition root the binary runs) in
// demo mode, serving the embedded web client.
type server struct {
	t         *testing.T
	tune      func(*app.Config)
	ollama    *fake.Server // the bots' LLM: a local stand-in of Ollama
	ollamaURL string
	dir       string
	addr      string // host:port, kept across restarts
	url       string
	app       *app.App
}

// startServer starts a server; tune, if given, adjusts its configuration.
func startServer(t *testing.T, tune ...func(*app.Config)) *server {
	t.Helper()
	s := &server{t: t, dir: t.TempDir(), ollama: fake.New()}
	if len(tune) > 0 {
		s.tune = tune[0]
	}
	hs := httptest.NewServer(s.ollama)
	t.Cleanup(func() {
		s.ollama.Close()
		hs.Close()
	})
	s.ollamaURL = hs.URL
	s.start()
	t.Cleanup(func() {
		if s.app != nil {
			s.app.Close()
		}
	})
	return s
}

func (s *server) start() {
	s.t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if *showLogs {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := app.Config{
		Data:       s.dir,
		Addr:       s.addr,
		Demo:       true,
		Static:     web.Handler(),
		Logger:     logger,
		OllamaHost: s.ollamaURL,
	}
	if s.tune != nil {
		s.tune(&cfg)
	}
	a, err := app.New(ctx, cfg)
	if err != nil {
		s.t.Fatalf("app.New: %v", err)
	}
	u, err := a.Start(ctx)
	if err != nil {
		a.Close()
		s.t.Fatalf("app.Start: %v", err)
	}
	s.app, s.url = a, u
	parsed, _ := url.Parse(u)
	s.addr = parsed.Host
}

// restart stops the server (every socket gets goodbye and 1001) and starts
// a new one on the same data and address.
func (s *server) restart() {
	s.t.Helper()
	if err := s.app.Close(); err != nil {
		s.t.Fatalf("close: %v", err)
	}
	s.app = nil
	s.start()
}

// browser is one headless Chromium; each user gets a browser context of
// their own (separate storage, like two people on two machines).
type browser struct {
	t      *testing.T
	alloc  context.Context
	mu     sync.Mutex
	issues []string // uncaught exceptions and CSP violations
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	path := chromium(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-features", "Translate,MediaRouter,OptimizationHints"),
		chromedp.Flag("mute-audio", true),
		chromedp.WindowSize(1280, 800),
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	// The first tab starts the browser; each user then gets a browser
	// context of their own.
	root, cancel := chromedp.NewContext(alloc)
	t.Cleanup(cancel)
	if err := chromedp.Do(root); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return &browser{t: t, alloc: root}
}

// page is one user's tab.
type page struct {
	t    *testing.T
	name string
	ctx  context.Context
	b    *browser
}

func (b *browser) newPage(name string) *page {
	b.t.Helper()
	listener := func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			msg := ev.ExceptionDetails.Text
			if ev.ExceptionDetails.Exception != nil {
				msg += " " + ev.ExceptionDetails.Exception.Description
			}
			b.report(fmt.Sprintf("%s: uncaught exception: %s", name, msg))
		case *cdplog.EventEntryAdded:
			if strings.Contains(ev.Entry.Text, "Content Security Policy") {
				b.report(fmt.Sprintf("%s: CSP violation: %s", name, ev.Entry.Text))
			}
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError {
				var parts []string
				for _, a := range ev.Args {
					parts = append(parts, string(a.Value)+a.Description)
				}
				b.t.Logf("%s: console.error: %s", name, strings.Join(parts, " "))
			}
		}
	}
	ctx, cancel := chromedp.NewContext(b.alloc, chromedp.WithNewBrowserContext(), chromedp.WithListener(listener))
	b.t.Cleanup(cancel)
	p := &page{t: b.t, name: name, ctx: ctx, b: b}
	if _, err := chromedp.Call(ctx, cdplog.Enable, cdp.Empty{}); err != nil {
		b.t.Fatalf("%s: starting the tab: %v", name, err)
	}
	p.viewport(1280, 800, false)
	return p
}

func (b *browser) report(issue string) {
	b.mu.Lock()
	b.issues = append(b.issues, issue)
	b.mu.Unlock()
}

// checkIssues fails the test for any uncaught exception or CSP violation.
func (b *browser) checkIssues() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, i := range b.issues {
		b.t.Error(i)
	}
	b.issues = nil
}

const waitTimeout = 20 * time.Second

// do runs actions with a deadline, failing the test on error.
func (p *page) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.fail(what, err)
	}
}

func (p *page) fail(what string, err error) {
	p.t.Helper()
	p.screenshot("failure-" + p.name)
	p.t.Fatalf("%s: %s: %v", p.name, what, err)
}

// waitFor polls a JavaScript expression until it is true. A page that
// reloads meanwhile is polled again after the reload.
func (p *page) waitFor(what, expr string) {
	p.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		left := time.Until(deadline)
		ctx, cancel := context.WithTimeout(p.ctx, left+5*time.Second)
		_, err := chromedp.Run(ctx, chromedp.Poll[bool]("!!("+expr+")", chromedp.WithPollingTimeout(left), chromedp.WithPollingInterval(50*time.Millisecond)))
		cancel()
		if err == nil {
			return
		}
		if navigated(err) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond) // the new document is loading
			continue
		}
		if errors.Is(err, chromedp.ErrPollingTimeout) {
			err = fmt.Errorf("timed out after %s: %s", waitTimeout, expr)
		}
		p.fail("waiting for "+what, err)
	}
}

// navigated reports whether err says the document went away under the
// command (a reload).
func navigated(err error) bool {
	s := err.Error()
	return strings.Contains(s, "navigated or closed") || strings.Contains(s, "context was destroyed") ||
		strings.Contains(s, "Cannot find context")
}

// eval evaluates a JavaScript expression.
func eval[T any](p *page, expr string) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		p.fail("evaluating "+expr, err)
	}
	return v
}

func (p *page) click(sel string) {
	p.t.Helper()
	p.do("clicking "+sel, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
}

// typeInto types text into a field as a person would (key events).
func (p *page) typeInto(sel, text string) {
	p.t.Helper()
	p.do("typing into "+sel, chromedp.Focus(chromedp.CSS(sel)), chromedp.SendKeys(chromedp.CSS(sel), text))
}

func (p *page) screenshot(name string) []byte {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 15*time.Second)
	defer cancel()
	buf, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		p.t.Logf("%s: screenshot %s: %v", p.name, name, err)
		return nil
	}
	if err := os.MkdirAll(artifacts, 0o755); err == nil {
		path := filepath.Join(artifacts, name+".png")
		if err := os.WriteFile(path, buf, 0o644); err != nil {
			p.t.Logf("writing %s: %v", path, err)
		}
	}
	return buf
}

func (p *page) viewport(w, h int64, mobile bool) {
	p.t.Helper()
	var opts []chromedp.EmulateViewportOption
	if mobile {
		opts = append(opts, chromedp.EmulateMobile)
	}
	p.do("resizing", chromedp.EmulateViewport(w, h, opts...))
}

func (p *page) navigate(url string) {
	p.t.Helper()
	p.do("opening "+url, chromedp.Navigate(url))
}

// eval0 evaluates JavaScript for its effect.
func (p *page) eval0(expr string) {
	p.t.Helper()
	p.do("evaluating "+expr, chromedp.Evaluate[chromedp.Void](expr+";undefined"))
}

// selectOption picks an option of a <select> as a person would (a change
// event follows).
func (p *page) selectOption(sel, value string) {
	p.t.Helper()
	p.eval0(fmt.Sprintf(`(() => { const s = document.querySelector(%s); s.focus(); s.value = %s; s.dispatchEvent(new Event('change', {bubbles: true})); })()`, q(sel), q(value)))
}

// q quotes a string for JavaScript.
func q(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r < 0x20 || r == 0x2028 || r == 0x2029:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// TestServe serves a demo server with the web client for -browser.serve,
// so the client can be tried by hand: go test ./tests/browser -run TestServe -browser.serve=30m -v
func TestServe(t *testing.T) {
	if *serveFor == 0 {
		t.Skip("set -browser.serve to run a server for manual testing")
	}
	s := startServer(t)
	t.Logf("serving %s for %s (demo accounts user_1…user_20)", s.url, *serveFor)
	time.Sleep(*serveFor)
}
