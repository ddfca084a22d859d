package httpapi

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// requestIDKey carries the request id in the request's context.
type requestIDKey struct{}

func requestID(r *http.Request) string {
	id, _ := r.Context().Value(requestIDKey{}).(string)
	return id
}

// contentSecurityPolicy is the CSP of every response. The web client is
// served from our origin with no inline script or style; Turnstile's
// widget needs its script and iframe from challenges.cloudflare.com.
func contentSecurityPolicy(turnstile bool) string {
	script, frame := "script-src 'self'", "frame-src 'none'"
	if turnstile {
		script += " https://challenges.cloudflare.com"
		frame = "frame-src https://challenges.cloudflare.com"
	}
	return strings.Join([]string{
		"default-src 'self'", script, frame, "connect-src 'self'", "img-src 'self' data:",
		"style-src 'self'", "object-src 'none'", "base-uri 'none'", "form-action 'self'",
		"frame-ancestors 'none'",
	}, "; ")
}

// middleware wraps every response: request id, security headers, CORS for
// the allowed origins, refusal of cross-origin state-changing requests
// from browsers, panic recovery and the access log.
func (a *API) middleware(next http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	for o := range a.origins {
		// Validate checked the form; AddTrustedOrigin only refuses
		// malformed origins.
		_ = cop.AddTrustedOrigin(o)
	}
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.writeError(w, r, errForbidden)
	}))
	inner := cop.Handler(next)

	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now() // durations use the real clock, not Deps.Now
		id := uuid.NewString()
		r = r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id))
		rec := &recorder{ResponseWriter: w}

		h := w.Header()
		h.Set("X-Request-Id", id)
		h.Set("Content-Security-Policy", a.csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		if a.cfg.HSTS {
			h.Set("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
		}
		api := strings.HasPrefix(r.URL.Path, "/api/") || r.URL.Path == "/api" ||
			r.URL.Path == "/healthz" || r.URL.Path == "/readyz"
		if api {
			h.Set("Cache-Control", "no-store")
		}

		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				a.log.Error("http: panic", "requestId", id, "method", r.Method, "path", r.URL.Path,
					"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				if !rec.wrote && !rec.hijacked {
					a.writeAPIError(rec, r, apiError{Status: http.StatusInternalServerError, Code: codeInternal, Message: "internal error"}, nil)
				}
			}
			level := slog.LevelInfo
			if (r.URL.Path == "/healthz" || r.URL.Path == "/readyz") && rec.status() < 500 {
				level = slog.LevelDebug // probes every few seconds
			}
			a.log.LogAttrs(r.Context(), level, "http request",
				slog.String("requestId", id),
				slog.String("method", r.Method),
				slog.String("path", r.URL.Path),
				slog.Int("status", rec.status()),
				slog.Int64("bytes", rec.bytes),
				slog.Duration("duration", time.Since(start)),
				slog.String("remote", a.clientIP(r)),
			)
		}()

		if api && len(a.origins) > 0 {
			h.Add("Vary", "Origin")
		}
		if origin := r.Header.Get("Origin"); origin != "" && api && a.origins[strings.ToLower(origin)] {
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Expose-Headers", "Retry-After, X-Request-Id")
			if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
				h.Set("Access-Control-Allow-Methods", "GET, POST")
				h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
				h.Set("Access-Control-Max-Age", "600")
				rec.WriteHeader(http.StatusNoContent)
				return
			}
		}
		inner.ServeHTTP(rec, r)
	})
}

// recorder remembers the status and size of a response for the access
// log. It passes Hijack through (the WebSocket upgrade) and unwraps for
// http.ResponseController.
type recorder struct {
	http.ResponseWriter
	code     int
	wrote    bool
	hijacked bool
	bytes    int64
}

func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.code, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if !r.wrote {
		r.code, r.wrote = http.StatusOK, true
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := r.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("httpapi: the connection cannot be hijacked")
	}
	c, rw, err := hj.Hijack()
	if err == nil {
		r.hijacked = true
	}
	return c, rw, err
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (r *recorder) status() int {
	switch {
	case r.hijacked:
		return http.StatusSwitchingProtocols
	case !r.wrote:
		return http.StatusOK
	}
	return r.code
}

// writeJSON sends a success envelope with data.
func (a *API) writeJSON(w http.ResponseWriter, r *http.Request, status int, data any) {
	a.send(w, r, status, Envelope{Success: status >= 200 && status < 300, Data: data})
}

// writeError sends the envelope of err, as errorStatus maps it.
func (a *API) writeError(w http.ResponseWriter, r *http.Request, err error) {
	a.writeAPIError(w, r, errorStatus(err), err)
}

// writeAPIError sends e. Unexpected errors are logged with the request id
// (the client gets only "internal error" and the id); expected ones are
// not, beyond the access log's status.
func (a *API) writeAPIError(w http.ResponseWriter, r *http.Request, e apiError, err error) {
	if e.Internal && err != nil {
		a.log.Error("http: unexpected error", "requestId", requestID(r), "method", r.Method,
			"path", r.URL.Path, "error", err.Error())
	}
	body := &ErrorBody{Code: e.Code, Message: e.Message}
	if e.RetryAfter > 0 {
		body.RetryAfterMs = max(1, e.RetryAfter.Milliseconds())
		w.Header().Set("Retry-After", strconv.FormatInt(retrySeconds(e.RetryAfter), 10))
	}
	a.send(w, r, e.Status, Envelope{Error: body})
}

func (a *API) send(w http.ResponseWriter, r *http.Request, status int, env Envelope) {
	env.Success = status >= 200 && status < 300
	env.Meta = Meta{Timestamp: a.now().UnixMilli(), RequestID: requestID(r)}
	b, err := json.Marshal(env)
	if err != nil {
		a.log.Error("http: encode response", "requestId", requestID(r), "error", err.Error())
		status = http.StatusInternalServerError
		b, _ = json.Marshal(Envelope{Error: &ErrorBody{Code: codeInternal, Message: "internal error"}, Meta: env.Meta})
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(append(b, '\n'))
	}
}

// clientIP is the client's address: the connection's peer, or with
// Config.TrustProxy the last X-Forwarded-For entry (the one our proxy
// appended; earlier entries are the client's to forge). It is passed to
// the verifier as is.
func (a *API) clientIP(r *http.Request) string {
	raw := r.RemoteAddr
	if a.cfg.TrustProxy {
		if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
			last := xff[len(xff)-1]
			if i := strings.LastIndexByte(last, ','); i >= 0 {
				last = last[i+1:]
			}
			if s := strings.TrimSpace(last); s != "" {
				raw = s
			}
		}
	}
	if addr, err := netip.ParseAddr(raw); err == nil {
		return addr.Unmap().String()
	}
	if ap, err := netip.ParseAddrPort(raw); err == nil {
		return ap.Addr().Unmap().String()
	}
	if host, _, err := net.SplitHostPort(raw); err == nil {
		return truncate(host, 64)
	}
	return truncate(raw, 64)
}

// addrKey is the key the per-address limits count ip under: IPv6
// addresses are reduced to their /64, which one subscriber typically holds
// whole, so rotating addresses within it buys nothing.
func addrKey(ip string) string {
	addr, err := netip.ParseAddr(ip)
	if err != nil || !addr.Is6() {
		return ip
	}
	p, _ := addr.WithZone("").Prefix(64)
	return p.String()
}

// hashBytes is SHA-256 of s: comparing digests in constant time hides
// the length of the secret too.
func hashBytes(s string) []byte {
	sum := sha256.Sum256([]byte(s))
	return sum[:]
}
