package kurrentdb_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"switchboard/adapters/kurrentdb"
	"switchboard/adapters/kurrentdb/standin"
	"switchboard/eventstore"
)

const appendMethod = "/event_store.client.streams.Streams/Append"

func startStandin(t *testing.T, dir string, opts standin.Options) *standin.Server {
	t.Helper()
	srv, err := standin.Start(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

func openStore(t *testing.T, url string, opts kurrentdb.Options) *kurrentdb.Store {
	t.Helper()
	s := open(t, url, opts)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func record(typ string, n int) eventstore.Proposed {
	return eventstore.Proposed{ID: uuid.New(), Type: typ, Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, n))}
}

func records(typ string, n int) []eventstore.Proposed {
	out := make([]eventstore.Proposed, n)
	for i := range out {
		out[i] = record(typ, i)
	}
	return out
}

// rawClient is a client of the stand-in that bypasses the adapter, to
// look at what the adapter wrote.
func rawClient(t *testing.T, srv *standin.Server) *esdb.Client {
	t.Helper()
	cfg, err := esdb.ParseConnectionString(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	cfg.Logger = esdb.NoopLogging()
	c, err := esdb.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func readRaw(t *testing.T, ctx context.Context, rs *esdb.ReadStream, err error) []*esdb.RecordedEvent {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	var out []*esdb.RecordedEvent
	for {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ev.Event)
	}
}

// TestConnectionStrings checks the schemes Open accepts and that a bad
// string is refused without repeating a password.
func TestConnectionStrings(t *testing.T) {
	t.Parallel()
	srv := startStandin(t, t.TempDir(), standin.Options{})
	ctx := testContext(t)
	for _, url := range []string{
		srv.URL(),
		"kurrentdb://" + srv.Addr() + "?tls=false&keepAliveInterval=-1",
		"KurrentDB://" + srv.Addr() + "?tls=false&keepAliveInterval=-1",
	} {
		s, err := kurrentdb.Open(ctx, url, kurrentdb.Options{})
		if err != nil {
			t.Fatalf("Open(%q): %v", url, err)
		}
		if _, err := s.Append(ctx, "conn-1", eventstore.Any, records("T", 1)); err != nil {
			t.Fatalf("Append through %q: %v", url, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	for _, url := range []string{
		"http://" + srv.Addr(),
		"esdb://admin:s3cret@" + srv.Addr() + ":bad?tls=false",
		"kurrentdb://admin:s3cret@host:99999999?tls=false",
		"",
	} {
		s, err := kurrentdb.Open(ctx, url, kurrentdb.Options{})
		if err == nil {
			s.Close()
			t.Fatalf("Open(%q) succeeded", url)
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("Open(%q): the error repeats the password: %v", url, err)
		}
	}
	if _, err := kurrentdb.Open(ctx, srv.URL(), kurrentdb.Options{StreamPrefix: "$sys", Timeout: -1}); err == nil ||
		!strings.Contains(err.Error(), "StreamPrefix") || !strings.Contains(err.Error(), "Timeout") {
		t.Fatalf("Open with bad options: %v, want both problems reported", err)
	}
}

// TestUnreachable checks that a server nobody listens for fails Open
// promptly with ErrUnavailable.
func TestUnreachable(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	started := time.Now()
	s, err := kurrentdb.Open(testContext(t), "esdb://"+addr+"?tls=false", kurrentdb.Options{})
	if err == nil {
		s.Close()
		t.Fatal("Open of a closed port succeeded")
	}
	if !errors.Is(err, eventstore.ErrUnavailable) || !strings.Contains(err.Error(), addr) {
		t.Fatalf("Open of a closed port: %v, want ErrUnavailable naming %s", err, addr)
	}
	if d := time.Since(started); d > 5*time.Second {
		t.Fatalf("Open took %v to give up", d)
	}
	t.Logf("unreachable after %v: %v", time.Since(started).Round(time.Millisecond), err)
}

// TestOutage stops the server under a store and a subscription, checks
// the errors while it is down, and that both recover when it returns, the
// subscription without a gap or a repeat.
func TestOutage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv := startStandin(t, dir, standin.Options{})
	s := openStore(t, srv.URL(), kurrentdb.Options{MaxBackoff: 200 * time.Millisecond, Timeout: 3 * time.Second})
	ctx := testContext(t)

	if _, err := s.Append(ctx, "up-1", eventstore.NoStream, records("Before", 3)); err != nil {
		t.Fatal(err)
	}
	sub, err := s.Subscribe(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	for want := uint64(1); want <= 3; want++ {
		if r, err := sub.Next(ctx); err != nil || r.Position != want {
			t.Fatalf("Next before the outage: position %d, %v; want %d", r.Position, err, want)
		}
	}

	addr := srv.Addr()
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	down := time.Now()
	pending := records("During", 2)
	_, err = s.Append(ctx, "up-1", eventstore.Exact(2), pending)
	if !errors.Is(err, eventstore.ErrUnavailable) {
		t.Fatalf("Append with the server down: %v, want ErrUnavailable", err)
	}
	if d := time.Since(down); d > 2*time.Second {
		t.Errorf("the first Append took %v to report the outage, want at most 2 s", d)
	}
	t.Logf("outage reported after %v: %v", time.Since(down).Round(time.Millisecond), err)
	start := time.Now()
	if _, err := s.Append(ctx, "up-1", eventstore.Exact(2), pending); !errors.Is(err, eventstore.ErrUnavailable) {
		t.Fatalf("second Append with the server down: %v, want ErrUnavailable", err)
	} else if d := time.Since(start); d > 50*time.Millisecond {
		t.Errorf("second Append took %v, want a fast failure", d)
	}
	if err := s.Health(); !errors.Is(err, eventstore.ErrUnavailable) {
		t.Errorf("Health with the server down: %v, want ErrUnavailable", err)
	}
	if _, err := s.ReadStream(ctx, "other-1", eventstore.Forwards, 0, 10); !errors.Is(err, eventstore.ErrUnavailable) {
		t.Errorf("ReadStream of a stream the store has not seen, with the server down: %v, want ErrUnavailable", err)
	}
	// What the store has in memory stays readable.
	if recs, err := s.ReadAll(ctx, 1, 10); err != nil || len(recs) != 3 {
		t.Errorf("ReadAll of cached records with the server down: %d records, %v", len(recs), err)
	}

	srv = startStandin(t, dir, standin.Options{Addr: addr})
	var res eventstore.AppendResult
	for {
		// The retry carries the same IDs, as after any unknown outcome.
		if res, err = s.Append(ctx, "up-1", eventstore.Exact(2), pending); err == nil {
			break
		}
		if !errors.Is(err, eventstore.ErrUnavailable) {
			t.Fatalf("Append after the restart: %v", err)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no successful Append within the test's time after the restart: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Logf("appending again %v after the restart", time.Since(down).Round(time.Millisecond))
	if res != (eventstore.AppendResult{Revision: 4, Position: 5}) {
		t.Fatalf("Append after the restart = %+v, want {4 5}", res)
	}
	if err := s.Health(); err != nil {
		t.Errorf("Health after recovery: %v", err)
	}
	if _, err := s.Append(ctx, "up-2", eventstore.NoStream, records("After", 1)); err != nil {
		t.Fatal(err)
	}
	for want := uint64(4); want <= 6; want++ {
		r, err := sub.Next(ctx)
		if err != nil || r.Position != want {
			t.Fatalf("Next after the outage: position %d, %v; want %d", r.Position, err, want)
		}
	}
	nctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if r, err := sub.Next(nctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next past the end: position %d, %v", r.Position, err)
	}
}

// TestInvalidInputMakesNoCall checks that refused input never reaches the
// server, including the adapter's own rule on $ types.
func TestInvalidInputMakesNoCall(t *testing.T) {
	t.Parallel()
	srv := startStandin(t, t.TempDir(), standin.Options{})
	s := openStore(t, srv.URL(), kurrentdb.Options{})
	ctx := testContext(t)

	before := srv.Calls()[appendMethod]
	bad := record("T", 0)
	bad.Data = json.RawMessage(`{`)
	system := record("$metadata", 0)
	for _, c := range []struct {
		stream string
		recs   []eventstore.Proposed
		want   error
	}{
		{"nodash", records("T", 1), eventstore.ErrInvalidStream},
		{"$all-1", records("T", 1), eventstore.ErrInvalidStream},
		{"bad-1", []eventstore.Proposed{bad}, eventstore.ErrInvalidData},
		{"bad-1", nil, eventstore.ErrInvalidRecord},
		{"bad-1", []eventstore.Proposed{record("T", 1), system}, eventstore.ErrInvalidRecord},
	} {
		if _, err := s.Append(ctx, c.stream, eventstore.Any, c.recs); !errors.Is(err, c.want) {
			t.Errorf("Append(%q): %v, want %v", c.stream, err, c.want)
		}
	}
	if _, err := s.Append(ctx, "bad-1", eventstore.Expected(-9), records("T", 1)); !errors.Is(err, eventstore.ErrInvalidExpected) {
		t.Errorf("Append with expected -9: %v", err)
	}
	if got := srv.Calls()[appendMethod]; got != before {
		t.Fatalf("%d appends reached the server for refused input", got-before)
	}
}

// TestPositionMap checks the mapping itself: the server's $all has system
// events and gapped positions, the store numbers its records 1, 2, 3…
// in the server's order, and its ReadAll, stream reads and results agree.
func TestPositionMap(t *testing.T) {
	t.Parallel()
	srv := startStandin(t, t.TempDir(), standin.Options{})
	s := openStore(t, srv.URL(), kurrentdb.Options{})
	ctx := testContext(t)

	var results []eventstore.AppendResult
	for i := range 7 {
		res, err := s.Append(ctx, fmt.Sprintf("map-%d", i%2), eventstore.Any, records("T", 1+i%3))
		if err != nil {
			t.Fatal(err)
		}
		results = append(results, res)
	}
	raw := rawClient(t, srv)
	rs, err := raw.ReadAll(ctx, esdb.ReadAllOptions{}, 1000)
	all := readRaw(t, ctx, rs, err)
	var user []*esdb.RecordedEvent
	system, gapped := 0, false
	for i, e := range all {
		if strings.HasPrefix(e.StreamID, "$") {
			system++
			continue
		}
		user = append(user, e)
		if i > 0 && e.Position.Commit != all[i-1].Position.Commit+1 {
			gapped = true
		}
	}
	if system == 0 || !gapped {
		t.Fatalf("the stand-in's $all has %d system events, gapped %v: the test proves nothing", system, gapped)
	}
	mine, err := s.ReadAll(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(mine) != len(user) {
		t.Fatalf("ReadAll: %d records, the server has %d", len(mine), len(user))
	}
	for i, r := range mine {
		if r.Position != uint64(i+1) || r.ID != user[i].EventID || r.Stream != user[i].StreamID || r.Revision != user[i].EventNumber {
			t.Fatalf("record %d: %+v; the server has %s %s/%d", i, r, user[i].EventID, user[i].StreamID, user[i].EventNumber)
		}
	}
	last := results[len(results)-1]
	if h, _ := s.Head(ctx); h != uint64(len(user)) || last.Position != h {
		t.Fatalf("Head %d, last append %+v, want %d", h, last, len(user))
	}
}

// TestMetadataOnTheWire checks how a record's metadata is kept in
// KurrentDB: JSON custom metadata with KurrentDB's correlation keys.
func TestMetadataOnTheWire(t *testing.T) {
	t.Parallel()
	srv := startStandin(t, t.TempDir(), standin.Options{})
	s := openStore(t, srv.URL(), kurrentdb.Options{})
	ctx := testContext(t)

	p := record("MessagePosted", 1)
	p.Metadata = eventstore.Metadata{
		CorrelationID: uuid.New(), CausationID: uuid.New(), User: "alice",
		Time: time.Date(2025, 5, 6, 7, 8, 9, 123456789, time.UTC),
	}
	if _, err := s.Append(ctx, "meta-1", eventstore.NoStream, []eventstore.Proposed{p}); err != nil {
		t.Fatal(err)
	}
	rs, err := rawClient(t, srv).ReadStream(ctx, "meta-1", esdb.ReadStreamOptions{}, 10)
	events := readRaw(t, ctx, rs, err)
	if len(events) != 1 {
		t.Fatalf("%d events", len(events))
	}
	e := events[0]
	var got map[string]any
	if err := json.Unmarshal(e.UserMetadata, &got); err != nil {
		t.Fatalf("custom metadata %q: %v", e.UserMetadata, err)
	}
	want := map[string]any{
		"$correlationId": p.Metadata.CorrelationID.String(),
		"$causationId":   p.Metadata.CausationID.String(),
		"user":           "alice",
		"time":           "2025-05-06T07:08:09.123456789Z",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("custom metadata %s, want %v", e.UserMetadata, want)
	}
	if e.ContentType != "application/json" || e.EventID != p.ID || e.EventType != p.Type || string(e.Data) != string(p.Data) {
		t.Fatalf("event %+v", e)
	}
}

// TestStreamPrefix checks that stores with different prefixes share a
// server without seeing each other, and that a store without a prefix
// sees every stream.
func TestStreamPrefix(t *testing.T) {
	t.Parallel()
	srv := startStandin(t, t.TempDir(), standin.Options{})
	ctx := testContext(t)
	a := openStore(t, srv.URL(), kurrentdb.Options{StreamPrefix: "a."})
	b := openStore(t, srv.URL(), kurrentdb.Options{StreamPrefix: "b."})
	for i := range 3 {
		if _, err := a.Append(ctx, "chat-1", eventstore.Any, records("A", 2)); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Append(ctx, "chat-1", eventstore.Any, records("B", 1)); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Append(ctx, "chat-2", eventstore.Any, records("B", i+1)); err != nil {
			t.Fatal(err)
		}
	}
	for name, c := range map[string]struct {
		s            *kurrentdb.Store
		typ          string
		total, chat1 int
	}{"a": {a, "A", 6, 6}, "b": {b, "B", 9, 3}} {
		all, err := c.s.ReadAll(ctx, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != c.total {
			t.Fatalf("store %s: %d records, want %d", name, len(all), c.total)
		}
		for i, r := range all {
			if r.Position != uint64(i+1) || r.Type != c.typ || strings.Contains(r.Stream, ".") {
				t.Fatalf("store %s, record %d: %+v", name, i, r)
			}
		}
		recs, err := c.s.ReadStream(ctx, "chat-1", eventstore.Forwards, 0, 100)
		if err != nil || len(recs) != c.chat1 {
			t.Fatalf("store %s: ReadStream(chat-1): %d records, %v", name, len(recs), err)
		}
	}
	whole := openStore(t, srv.URL(), kurrentdb.Options{})
	if h, err := whole.Head(ctx); err != nil || h != 15 {
		t.Fatalf("the unprefixed store's Head = %d, %v; want 15", h, err)
	}
}

// TestMaxAppendSize checks that the server's append size limit surfaces as
// ErrRecordTooLarge.
func TestMaxAppendSize(t *testing.T) {
	t.Parallel()
	srv := startStandin(t, t.TempDir(), standin.Options{MaxAppendSize: 1000})
	s := openStore(t, srv.URL(), kurrentdb.Options{})
	ctx := testContext(t)
	big := record("Big", 0)
	big.Data = json.RawMessage(`"` + strings.Repeat("x", 2000) + `"`)
	if _, err := s.Append(ctx, "big-1", eventstore.Any, []eventstore.Proposed{big}); !errors.Is(err, eventstore.ErrRecordTooLarge) {
		t.Fatalf("Append over the server's limit: %v, want ErrRecordTooLarge", err)
	}
	if _, err := s.Append(ctx, "big-1", eventstore.Any, records("Small", 1)); err != nil {
		t.Fatalf("Append after a refused one: %v", err)
	}
}

// TestTwoProcesses runs two stores on one server, as two Switchboard
// processes would: both number the log alike, each sees the other's
// records, and a retry of one's exact-revision append by the other
// returns the original result.
func TestTwoProcesses(t *testing.T) {
	t.Parallel()
	srv := startStandin(t, t.TempDir(), standin.Options{})
	ctx := testContext(t)
	a := openStore(t, srv.URL(), kurrentdb.Options{})
	b := openStore(t, srv.URL(), kurrentdb.Options{})

	sub, err := b.Subscribe(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	batch := records("T", 3)
	orig, err := a.Append(ctx, "room-1", eventstore.NoStream, batch)
	if err != nil {
		t.Fatal(err)
	}
	// b may or may not have seen the records yet: either way the retry
	// returns the original result (from its index, or from the server's
	// idempotency for an exact revision).
	retry, err := b.Append(ctx, "room-1", eventstore.NoStream, batch)
	if err != nil || retry != orig {
		t.Fatalf("retry by the other process: %+v, %v; want %+v", retry, err, orig)
	}
	if _, err := b.Append(ctx, "room-1", eventstore.Exact(2), records("U", 1)); err != nil {
		t.Fatal(err)
	}
	for want := uint64(1); want <= 4; want++ {
		r, err := sub.Next(ctx)
		if err != nil || r.Position != want {
			t.Fatalf("b's subscription: position %d, %v; want %d", r.Position, err, want)
		}
	}
	// a learns of b's record from $all, maybe not yet: its append at the
	// revision it knew is refused (by its index or by the server), and
	// the reload after the refusal reads what the refusal reported.
	_, err = a.Append(ctx, "room-1", eventstore.Exact(2), records("V", 1))
	var wrong *eventstore.WrongExpectedVersionError
	if !errors.As(err, &wrong) || wrong.Actual != 3 {
		t.Fatalf("a's append at a stale revision: %v, want actual 3", err)
	}
	recs, err := a.ReadStream(ctx, "room-1", eventstore.Backwards, eventstore.End, 1)
	if err != nil || len(recs) != 1 || recs[0].Position != 4 || recs[0].Type != "U" {
		t.Fatalf("a's reload after the refusal: %+v, %v", recs, err)
	}
}

// TestServerReads checks the reads that go to the server (records no
// longer in the cache, streams the store has not seen) against the same
// reads served from memory, which the conformance suite checks: stream
// reads in both directions from every kind of start, and $all reads
// through the stand-in's system events and position gaps.
func TestServerReads(t *testing.T) {
	t.Parallel()
	srv := startStandin(t, t.TempDir(), standin.Options{})
	ctx := testContext(t)
	cached := openStore(t, srv.URL(), kurrentdb.Options{})
	uncached := openStore(t, srv.URL(), kurrentdb.Options{CacheRecords: -1})

	const n = 10
	for i := range n {
		if _, err := cached.Append(ctx, "rs-1", eventstore.Any, records("T", 1)); err != nil {
			t.Fatal(err)
		}
		if _, err := cached.Append(ctx, "rs-2", eventstore.Any, records("U", 1+i%3)); err != nil {
			t.Fatal(err)
		}
	}
	head, err := cached.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The uncached store has seen everything once its subscription has.
	sub, err := uncached.Subscribe(ctx, head-1)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := sub.Next(ctx); err != nil || r.Position != head {
		t.Fatalf("uncached store's subscription: %d, %v", r.Position, err)
	}
	sub.Close()

	same := func(what string, want, got []eventstore.Record, errW, errG error) {
		t.Helper()
		if errW != nil || errG != nil {
			t.Fatalf("%s: %v / %v", what, errW, errG)
		}
		if len(want) != len(got) {
			t.Fatalf("%s: %d records from the server, %d from memory", what, len(got), len(want))
		}
		for i := range want {
			w, g := want[i], got[i]
			if w.ID != g.ID || w.Stream != g.Stream || w.Type != g.Type || string(w.Data) != string(g.Data) ||
				w.Revision != g.Revision || w.Position != g.Position || !w.Committed.Equal(g.Committed) || w.Metadata != g.Metadata {
				t.Fatalf("%s: record %d from the server %+v, from memory %+v", what, i, g, w)
			}
		}
	}
	for _, stream := range []string{"rs-1", "rs-2", "missing-1"} {
		for _, dir := range []eventstore.Direction{eventstore.Forwards, eventstore.Backwards} {
			for _, from := range []uint64{0, 1, 5, 9, 10, 11, 25, 1000, eventstore.End} {
				for _, limit := range []int{1, 3, 100} {
					want, errW := cached.ReadStream(ctx, stream, dir, from, limit)
					got, errG := uncached.ReadStream(ctx, stream, dir, from, limit)
					same(fmt.Sprintf("ReadStream(%s, %d, %d, %d)", stream, dir, from, limit), want, got, errW, errG)
				}
			}
		}
	}
	for from := uint64(0); from <= head+2; from++ {
		for _, limit := range []int{1, 2, 7, 100} {
			want, errW := cached.ReadAll(ctx, from, limit)
			got, errG := uncached.ReadAll(ctx, from, limit)
			same(fmt.Sprintf("ReadAll(%d, %d)", from, limit), want, got, errW, errG)
		}
	}
	all, err := uncached.ReadAll(ctx, 0, 1000)
	if err != nil || uint64(len(all)) != head {
		t.Fatalf("ReadAll from the server: %d records, %v; want %d", len(all), err, head)
	}
	for i, r := range all {
		if r.Position != uint64(i+1) {
			t.Fatalf("record %d has position %d", i, r.Position)
		}
	}
}
