package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// inFrame is every server frame field the generator looks at.
type inFrame struct {
	Type    string `json:"type"`
	ID      string `json:"id"`
	Seq     uint64 `json:"seq"`
	Room    string `json:"room"`
	Code    string `json:"code"`
	Reason  string `json:"reason"`
	Message *struct {
		Seq  uint64 `json:"seq"`
		Kind string `json:"kind"`
		Text string `json:"text"`
	} `json:"message"`
}

// wsClient is one simulated user's socket. Its reader goroutine owns the
// receive-side fields; they are read only after done is closed.
type wsClient struct {
	idx   int
	token string
	ws    *websocket.Conn
	out   chan int // message numbers to post; heartbeat for a heartbeat
	done  chan struct{}

	pmu     sync.Mutex
	pending map[string]chan inFrame // control commands awaiting ack or error

	// receive side (reader goroutine only until done)
	seen      map[string]*bitset
	fanout    []int64 // delivery latencies of measured messages
	acks      []int64 // ack latencies of measured messages (own sends)
	lag       []int64 // writer goroutine only: scheduled to written
	early     bool    // the socket closed before we closed it
	dups      int
	closeCode websocket.StatusCode
	goodbye   string
	readErr   error
	closing   atomic.Bool // we are closing it: not a disconnect
}

const heartbeat = -1

// dialer opens the sockets of one run.
type dialer struct {
	wsURL, origin string
	http          *http.Client
}

func newDialer(base string, conns int) (*dialer, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	d := &dialer{origin: base, http: newHTTPClient(sourceAddrs(conns, u.Hostname()))}
	switch u.Scheme {
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	}
	u.Path = "/ws"
	d.wsURL = u.String()
	return d, nil
}

// connect dials, starts the reader with handle for every frame, says
// hello and waits for welcome.
func (d *dialer) connect(ctx context.Context, c *wsClient, handle func(*wsClient, inFrame, []byte)) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	h := http.Header{}
	h.Set("Origin", d.origin)
	ws, _, err := websocket.Dial(ctx, d.wsURL, &websocket.DialOptions{HTTPClient: d.http, HTTPHeader: h, CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		return err
	}
	ws.SetReadLimit(256 << 20) // welcome lists everyone's presence
	c.ws, c.done, c.seen, c.pending = ws, make(chan struct{}), map[string]*bitset{}, map[string]chan inFrame{}
	welcome := make(chan struct{})
	var once sync.Once
	go c.read(func(c *wsClient, f inFrame, b []byte) {
		if f.Type == "welcome" {
			once.Do(func() { close(welcome) })
			return
		}
		handle(c, f, b)
	})
	if err := c.write(ctx, []byte(`{"type":"hello","token":`+strconv.Quote(c.token)+`}`)); err != nil {
		return err
	}
	select {
	case <-welcome:
		return nil
	case <-c.done:
		return fmt.Errorf("closed before welcome (%d %s): %v", c.closeCode, c.goodbye, c.readErr)
	case <-ctx.Done():
		return errors.New("no welcome within 60 s")
	}
}

func (c *wsClient) read(handle func(*wsClient, inFrame, []byte)) {
	defer close(c.done)
	for {
		_, b, err := c.ws.Read(context.Background())
		if err != nil {
			c.readErr, c.closeCode = err, websocket.CloseStatus(err)
			c.early = !c.closing.Load()
			return
		}
		var f inFrame
		if json.Unmarshal(b, &f) != nil {
			continue
		}
		switch {
		case f.Type == "goodbye":
			c.goodbye = f.Reason
		case (f.Type == "ack" || f.Type == "error") && f.ID != "" && f.ID[0] == 'c':
			c.pmu.Lock()
			ch := c.pending[f.ID]
			delete(c.pending, f.ID)
			c.pmu.Unlock()
			if ch != nil {
				ch <- f
			}
			continue
		}
		handle(c, f, b)
	}
}

func (c *wsClient) write(ctx context.Context, b []byte) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return c.ws.Write(ctx, websocket.MessageText, b)
}

// command sends a control frame (its id must start with 'c') and waits
// for its ack; an error frame is returned as an error.
func (c *wsClient) command(ctx context.Context, id string, f map[string]any) (inFrame, error) {
	ch := make(chan inFrame, 1)
	c.pmu.Lock()
	c.pending[id] = ch
	c.pmu.Unlock()
	f["id"] = id
	b, _ := json.Marshal(f)
	if err := c.write(ctx, b); err != nil {
		// Say why the socket is gone if the server closed it.
		select {
		case <-c.done:
			return inFrame{}, fmt.Errorf("%s: socket closed (%d %s): %v", f["type"], c.closeCode, c.goodbye, c.readErr)
		case <-time.After(time.Second):
			return inFrame{}, fmt.Errorf("%s: %w", f["type"], err)
		}
	}
	select {
	case r := <-ch:
		if r.Type == "error" {
			return r, fmt.Errorf("%s: %s", f["type"], r.Code)
		}
		return r, nil
	case <-c.done:
		return inFrame{}, fmt.Errorf("%s: socket closed (%d)", f["type"], c.closeCode)
	case <-time.After(30 * time.Second):
		return inFrame{}, fmt.Errorf("%s: no answer in 30 s", f["type"])
	case <-ctx.Done():
		return inFrame{}, ctx.Err()
	}
}

// closeAll closes every socket and waits (bounded) for the readers.
func closeAll(cs []*wsClient) {
	for _, c := range cs {
		if c != nil && c.ws != nil {
			c.closing.Store(true)
			c.ws.CloseNow()
		}
	}
	deadline := time.After(30 * time.Second)
	for _, c := range cs {
		if c == nil || c.done == nil {
			continue
		}
		select {
		case <-c.done:
		case <-deadline:
			return
		}
	}
}

// connectAll connects clients with bounded parallelism and returns the
// set-up latencies (dial to welcome) and the elapsed time.
func connectAll(ctx context.Context, d *dialer, cs []*wsClient, parallel int, handle func(*wsClient, inFrame, []byte)) ([]int64, time.Duration, error) {
	lat := make([]int64, len(cs))
	var next atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	start := time.Now()
	for range max(1, min(parallel, len(cs))) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(cs) || ctx.Err() != nil {
					return
				}
				t := time.Now()
				if err := d.connect(ctx, cs[i], handle); err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("client %d: %w", i, err))
					mu.Unlock()
					if len(errs) > 10 {
						return
					}
					continue
				}
				lat[i] = int64(time.Since(t))
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		return lat, time.Since(start), fmt.Errorf("bench: %d connections failed; first: %w", len(errs), errs[0])
	}
	return lat, time.Since(start), ctx.Err()
}

// parseKey reads the message number from a bench message text ("k<n> …").
func parseKey(text string) (int, bool) {
	if len(text) < 2 || text[0] != 'k' {
		return 0, false
	}
	end := strings.IndexByte(text, ' ')
	if end < 0 {
		end = len(text)
	}
	n, err := strconv.Atoi(text[1:end])
	return n, err == nil
}
