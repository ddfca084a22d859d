package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// newHTTPClient returns a client whose connections leave from the given
// loopback source addresses in turn (nil: the kernel's choice). The
// WebSocket dialer uses it too.
func newHTTPClient(sources []net.IP) *http.Client {
	var n atomic.Uint64
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		d := net.Dialer{Timeout: 10 * time.Second}
		if len(sources) > 0 {
			d.LocalAddr = &net.TCPAddr{IP: sources[n.Add(1)%uint64(len(sources))]}
		}
		return d.DialContext(ctx, network, addr)
	}
	return &http.Client{Transport: &http.Transport{
		DialContext: dial, MaxIdleConns: 64, MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second,
	}}
}

// envelope is the API's response body.
type envelope struct {
	Success bool            `json:"success"`
	Data    json.RawMessage `json:"data"`
	Error   *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func getJSON(ctx context.Context, c *http.Client, u string, into any) error {
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(into)
}

// postJSON posts body and returns the status, the envelope and the
// server's Retry-After.
func postJSON(ctx context.Context, c *http.Client, u string, body any) (int, envelope, time.Duration, error) {
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, "POST", u, bytes.NewReader(b))
	if err != nil {
		return 0, envelope{}, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return 0, envelope{}, 0, err
	}
	defer resp.Body.Close()
	var env envelope
	json.NewDecoder(resp.Body).Decode(&env)
	retry, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
	return resp.StatusCode, env, time.Duration(retry) * time.Second, nil
}

// httpProvision registers n users through the API and logs them in. The
// API allows a few sign-ups and logins per client address and minute; on a
// loopback server the requests leave from up to 250 source addresses, and
// a refused request waits as told (bounded by 10 minutes in all).
func httpProvision(ctx context.Context, base string, n int, log io.Writer) (handles, tokens []string, err error) {
	var sources []net.IP
	if u, err := url.Parse(base); err == nil {
		if ip := net.ParseIP(u.Hostname()); ip != nil && ip.IsLoopback() && ip.To4() != nil {
			for i := range 250 {
				sources = append(sources, net.IPv4(127, 0, 2, byte(1+i)))
			}
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	var run [4]byte
	rand.Read(run[:])
	prefix := "b" + hex.EncodeToString(run[:]) + "_"
	handles, tokens = make([]string, n), make([]string, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	workers := max(1, min(n, 16, max(1, len(sources))))
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []net.IP // each worker its own addresses, so limits are not shared
			for i := w; i < len(sources); i += workers {
				mine = append(mine, sources[i])
			}
			c := newHTTPClient(mine)
			// A new connection, so a new source address, per request.
			c.Transport.(*http.Transport).DisableKeepAlives = true
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				h := fmt.Sprintf("%s%d", prefix, i)
				pw := hex.EncodeToString(run[:]) + "-bench-password"
				if _, err := call(ctx, c, base+"/api/auth/register", map[string]any{"handle": h, "displayName": "Bench " + strconv.Itoa(i), "password": pw, "verification": ""}); err != nil {
					fail(fmt.Errorf("register %s: %w", h, err))
					return
				}
				env, err := call(ctx, c, base+"/api/auth/login", map[string]any{"handle": h, "password": pw, "verification": ""})
				if err != nil {
					fail(fmt.Errorf("log in %s: %w", h, err))
					return
				}
				var d struct{ Token string }
				json.Unmarshal(env.Data, &d)
				handles[i], tokens[i] = h, d.Token
			}
		}()
	}
	wg.Wait()
	if len(errs) == 0 && ctx.Err() != nil {
		errs = append(errs, ctx.Err())
	}
	if len(errs) == 0 {
		fmt.Fprintf(log, "bench: registered and logged in %d users through %s\n", n, base)
	}
	return handles, tokens, errors.Join(errs...)
}

// call posts until the API answers other than 429 (waiting as told).
func call(ctx context.Context, c *http.Client, u string, body any) (envelope, error) {
	for {
		code, env, retry, err := postJSON(ctx, c, u, body)
		if err != nil {
			return env, err
		}
		switch {
		case code == http.StatusTooManyRequests:
			select {
			case <-time.After(max(retry, time.Second)):
				continue
			case <-ctx.Done():
				return env, ctx.Err()
			}
		case code/100 != 2:
			if env.Error != nil {
				return env, fmt.Errorf("%d %s: %s", code, env.Error.Code, env.Error.Message)
			}
			return env, fmt.Errorf("status %d", code)
		}
		return env, nil
	}
}
