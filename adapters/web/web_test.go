package web_test

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"switchboard/adapters/web"
)

func get(t *testing.T, h http.Handler, method, path string, header http.Header) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func TestServesFilesWithTheirTypes(t *testing.T) {
	t.Parallel()
	h := web.Handler()
	for path, want := range map[string]string{
		"/":            "text/html; charset=utf-8",
		"/index.html":  "text/html; charset=utf-8",
		"/app.js":      "text/javascript; charset=utf-8",
		"/style.css":   "text/css; charset=utf-8",
		"/favicon.svg": "image/svg+xml",
	} {
		res := get(t, h, http.MethodGet, path, nil)
		if res.StatusCode != http.StatusOK {
			t.Errorf("GET %s: status %d", path, res.StatusCode)
			continue
		}
		if got := res.Header.Get("Content-Type"); got != want {
			t.Errorf("GET %s: Content-Type %q, want %q", path, got, want)
		}
		if got := res.Header.Get("Cache-Control"); got != "no-cache" {
			t.Errorf("GET %s: Cache-Control %q, want no-cache", path, got)
		}
		if res.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: no nosniff", path)
		}
		if res.Header.Get("ETag") == "" {
			t.Errorf("GET %s: no ETag", path)
		}
	}
}

func TestRevalidatesWithETag(t *testing.T) {
	t.Parallel()
	h := web.Handler()
	etag := get(t, h, http.MethodGet, "/app.js", nil).Header.Get("ETag")
	res := get(t, h, http.MethodGet, "/app.js", http.Header{"If-None-Match": {etag}})
	if res.StatusCode != http.StatusNotModified {
		t.Fatalf("If-None-Match with the current ETag: status %d, want 304", res.StatusCode)
	}
	res = get(t, h, http.MethodGet, "/app.js", http.Header{"If-None-Match": {`"stale"`}})
	if res.StatusCode != http.StatusOK {
		t.Fatalf("If-None-Match with another ETag: status %d, want 200", res.StatusCode)
	}
}

func TestUnknownPathsAndMethods(t *testing.T) {
	t.Parallel()
	h := web.Handler()
	for _, path := range []string{"/nope.js", "/static/app.js", "/../go.mod", "/index.html/", "/api"} {
		if res := get(t, h, http.MethodGet, path, nil); res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404", path, res.StatusCode)
		}
	}
	if res := get(t, h, http.MethodPost, "/", nil); res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /: status %d, want 405", res.StatusCode)
	}
	res := get(t, h, http.MethodHead, "/app.js", nil)
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK || len(body) != 0 || res.Header.Get("Content-Length") == "" {
		t.Errorf("HEAD /app.js: status %d, %d body bytes, Content-Length %q", res.StatusCode, len(body), res.Header.Get("Content-Length"))
	}
}

func TestKeepsTheCallersCSP(t *testing.T) {
	t.Parallel()
	h := web.Handler()
	if got := get(t, h, http.MethodGet, "/", nil).Header.Get("Content-Security-Policy"); got != web.DefaultCSP {
		t.Errorf("CSP on its own: %q", got)
	}
	wrapped := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'none'")
		h.ServeHTTP(w, r)
	})
	if got := get(t, wrapped, http.MethodGet, "/", nil).Header.Get("Content-Security-Policy"); got != "default-src 'none'" {
		t.Errorf("CSP behind the API: %q", got)
	}
}

// TestNoInlineCodeOrExternalResources keeps the client within its CSP and
// offline: no inline script, style attribute or event handler in the
// markup, no innerHTML in the code, and nothing loaded from elsewhere
// (Turnstile's script, loaded only when configured, excepted).
func TestNoInlineCodeOrExternalResources(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("static/*")
	if err != nil || len(files) == 0 {
		t.Fatalf("no static files: %v", err)
	}
	inlineScript := regexp.MustCompile(`<script(?:\s[^>]*)?>\s*[^<\s]`)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		src := string(b)
		switch filepath.Ext(f) {
		case ".html", ".svg":
			if inlineScript.MatchString(src) || strings.Contains(src, "<style") || strings.Contains(src, " style=") ||
				regexp.MustCompile(`\son[a-z]+=`).MatchString(src) {
				t.Errorf("%s has inline script or style", f)
			}
		case ".js":
			for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"} {
				if strings.Contains(src, bad) {
					t.Errorf("%s uses %s", f, bad)
				}
			}
		}
		for _, m := range regexp.MustCompile(`https?://[a-zA-Z0-9.-]+`).FindAllString(src, -1) {
			switch m {
			case "http://www.w3.org", "https://challenges.cloudflare.com":
			default:
				t.Errorf("%s refers to %s", f, m)
			}
		}
	}
}

// TestEveryReferencedFileIsEmbedded checks the module imports and the
// page's links against the embedded files.
func TestEveryReferencedFileIsEmbedded(t *testing.T) {
	t.Parallel()
	h := web.Handler()
	ref := regexp.MustCompile(`(?:from|import\(|href=|src=|new URL\()\s*['"]\.?/?([a-z0-9-]+\.(?:js|css|svg))['"]`)
	err := fs.WalkDir(os.DirFS("static"), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(filepath.Join("static", p))
		if err != nil {
			return err
		}
		for _, m := range ref.FindAllStringSubmatch(string(b), -1) {
			if res := get(t, h, http.MethodGet, "/"+m[1], nil); res.StatusCode != http.StatusOK {
				t.Errorf("%s refers to %s, which is not served (%d)", p, m[1], res.StatusCode)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
