package projections

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"switchboard/domain"
	"switchboard/eventstore"
	"switchboard/projections/internal/decode"
)

// DefaultSnapshotEvery is how many records the Runner applies between
// snapshots unless Options.SnapshotEvery says otherwise.
const DefaultSnapshotEvery = 50_000

// Options configure a Runner. The zero value runs without snapshots, with
// a hub of its own and without logging.
type Options struct {
	// SnapshotDir is the directory of the snapshot files (see
	// SnapshotDir). Empty: no snapshots are read or written, and start-up
	// replays the whole log.
	SnapshotDir string
	// SnapshotEvery is how many records are applied between periodic
	// snapshots. Zero means DefaultSnapshotEvery; negative means only on
	// Close.
	SnapshotEvery int
	// Hub receives the change notices. Nil: the Runner makes one, which
	// Hub returns and Close closes.
	Hub *Hub
	// Logf reports what the Runner gets past: a snapshot it ignores, a
	// record that does not decode, a store error it retries. It may be
	// called from several goroutines at once. Nil: nothing is reported.
	Logf func(format string, args ...any)
}

// Runner feeds projections from the log: it restores each from its
// snapshot, catches up from the lowest checkpoint, then follows the log
// live, snapshotting periodically in the background.
//
// While catching up, one goroutine reads and decodes the log (each record
// decoded once) and another applies each record, in position order, to
// every projection whose checkpoint is below it, so projections restored
// at different positions each replay only what they lack. Live, one
// goroutine follows a subscription and decodes and applies each record as
// it is committed. Applying is idempotent by position: a record at or
// below a projection's checkpoint is never applied to it again.
//
// After a record is applied to every projection, Applied reaches its
// position, Sync calls waiting for it return, and the notices it causes are
// published to the hub.
//
// Lock order: Runner.mu, then nothing (projections and the hub have their
// own locks, never held while taking Runner.mu).
type Runner struct {
	store   eventstore.Store
	opts    Options
	every   uint64 // 0: periodic snapshots off
	logf    func(string, ...any)
	entries []*entry
	hub     *Hub
	ownHub  bool

	applied   atomic.Uint64
	startHead uint64
	ready     chan struct{} // closed once applied >= startHead
	readyOnce sync.Once
	stopped   chan struct{} // closed when the apply loop has ended

	nwait atomic.Int64 // Sync calls waiting
	mu    sync.Mutex
	wake  chan struct{} // closed and replaced to wake Sync (guarded by mu)
	err   error         // why the loop ended (guarded by mu)
	state int           // created, started, closed (guarded by mu)

	cancel   context.CancelFunc
	lastSnap uint64        // applied when the last snapshot was taken (loop only)
	snaps    chan snapJob  // to the snapshot writer
	snapDone chan struct{} // closed when the writer has ended
}

const (
	created = iota
	started
	closed
)

type snapJob struct {
	e      *entry
	h      SnapshotHeader
	encode func() ([]byte, error)
}

// NewRunner returns a runner of the given projections (see Set.All), not
// yet started.
func NewRunner(store eventstore.Store, opts Options, ps ...Projection) (*Runner, error) {
	if store == nil {
		return nil, errors.New("projections: NewRunner: nil store")
	}
	entries, err := newEntries(ps)
	if err != nil {
		return nil, err
	}
	r := &Runner{
		store:    store,
		opts:     opts,
		logf:     opts.Logf,
		entries:  entries,
		hub:      opts.Hub,
		ready:    make(chan struct{}),
		stopped:  make(chan struct{}),
		wake:     make(chan struct{}),
		snaps:    make(chan snapJob, len(entries)),
		snapDone: make(chan struct{}),
	}
	if r.logf == nil {
		r.logf = discard
	}
	if r.hub == nil {
		r.hub, r.ownHub = NewHub(), true
	}
	switch {
	case opts.SnapshotDir == "" || opts.SnapshotEvery < 0:
	case opts.SnapshotEvery == 0:
		r.every = DefaultSnapshotEvery
	default:
		r.every = uint64(opts.SnapshotEvery)
	}
	return r, nil
}

// Hub returns the hub the runner publishes to.
func (r *Runner) Hub() *Hub { return r.hub }

// Start restores the projections from their snapshots, notes the log's
// head (Ready waits for it), and starts following the log in the
// background; it returns without waiting for the catch-up. ctx bounds
// Start only: the runner runs until Close. A snapshot that cannot be used
// (damaged, of other code, of another log, beyond the head) is logged and
// its projection replays from zero.
func (r *Runner) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state != created {
		return errors.New("projections: Runner.Start called twice or after Close")
	}
	// Snapshot files first, then the head: a snapshot written meanwhile
	// (by the rebuild tool) is then never beyond the head read.
	var files []snapFile
	if dir := r.opts.SnapshotDir; dir != "" {
		removeStaleTemps(dir, time.Now())
		files = loadSnapshots(dir, r.entries, r.logf)
	}
	head, err := r.store.Head(ctx)
	if err != nil {
		return fmt.Errorf("projections: start: %w", err)
	}
	// Restoring is most of a start with current snapshots: the
	// projections restore in parallel.
	errs := make([]error, len(files))
	var wg sync.WaitGroup
	for i, f := range files {
		wg.Go(func() { errs[i] = useSnapshot(ctx, r.store, head, f) })
	}
	wg.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	for i, err := range errs {
		if err != nil {
			r.logf("projections: %s replays from zero: %v", files[i].e.p.Name(), err)
		}
	}
	r.startHead = head
	r.applied.Store(minPos(r.entries))
	r.lastSnap = r.applied.Load()
	r.checkReady()
	runCtx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.state = started
	go r.writeSnapshots()
	go r.run(runCtx)
	return nil
}

// snapFile is a snapshot read from disk, not yet checked against the log.
type snapFile struct {
	e       *entry
	h       SnapshotHeader
	payload []byte
}

// loadSnapshots reads the snapshot file of every entry that has one; a
// missing file is skipped silently, an unreadable or damaged one is logged
// and skipped.
func loadSnapshots(dir string, entries []*entry, logf func(string, ...any)) []snapFile {
	files := make([]snapFile, len(entries))
	errs := make([]error, len(entries))
	var wg sync.WaitGroup
	for i, e := range entries {
		wg.Go(func() {
			files[i].e = e
			files[i].h, files[i].payload, errs[i] = ReadSnapshot(dir, e.p.Name())
		})
	}
	wg.Wait()
	var out []snapFile
	for i, err := range errs {
		switch {
		case errors.Is(err, os.ErrNotExist):
		case err != nil:
			logf("projections: %s replays from zero: %v", entries[i].p.Name(), err)
		default:
			out = append(out, files[i])
		}
	}
	return out
}

// useSnapshot checks a snapshot against the log whose head is head and
// restores its projection from it. On error the projection is left empty,
// at position 0.
func useSnapshot(ctx context.Context, store eventstore.Store, head uint64, f snapFile) error {
	h, e := f.h, f.e
	if h.Position > head {
		return fmt.Errorf("snapshot at position %d is beyond the log's head %d (was the log cut or replaced?)", h.Position, head)
	}
	if h.Position > 0 {
		recs, err := store.ReadAll(ctx, h.Position, 1)
		if err != nil {
			return fmt.Errorf("reading the record at the snapshot's position %d: %w", h.Position, err)
		}
		if len(recs) != 1 || recs[0].ID != h.LastID {
			return fmt.Errorf("snapshot at position %d was taken of another log (record IDs differ)", h.Position)
		}
	}
	if err := e.p.UnmarshalSnapshot(f.payload); err != nil {
		return err
	}
	e.pos.Store(h.Position)
	e.lastID = h.LastID
	e.snapPos.Store(h.Position)
	return nil
}

// run applies the feed until Close, restarting the feed after store
// errors with a capped backoff; a corrupt log or a closed store ends it.
func (r *Runner) run(ctx context.Context) {
	var err error
	backoff := 50 * time.Millisecond
	for {
		before := r.applied.Load()
		err = r.follow(ctx)
		if ctx.Err() != nil {
			err = ErrClosed
			break
		}
		if errors.Is(err, eventstore.ErrClosed) || errors.Is(err, eventstore.ErrCorrupt) {
			r.logf("projections: stopped at position %d: %v", r.applied.Load(), err)
			break
		}
		if r.applied.Load() > before {
			backoff = 50 * time.Millisecond
		}
		r.logf("projections: feed failed at position %d, retrying in %s: %v", r.applied.Load(), backoff, err)
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
		backoff = min(2*backoff, 5*time.Second)
	}
	r.mu.Lock()
	r.err = err
	close(r.wake)
	r.wake = make(chan struct{})
	r.mu.Unlock()
	close(r.stopped)
}

// follow applies the log from the applied position until it fails or
// parent ends: it catches up through the feed, whose goroutine reads and
// decodes while this one applies, then follows the log live on this
// goroutine alone, so that a new record goes from the store's commit to
// the hub with one hand-off.
func (r *Runner) follow(parent context.Context) error {
	for {
		head, err := r.store.Head(parent)
		if err != nil {
			return err
		}
		if r.applied.Load() >= head {
			break
		}
		if err := r.catchUp(parent, head); err != nil {
			return err
		}
	}
	sub, err := r.store.Subscribe(parent, r.applied.Load())
	if err != nil {
		return err
	}
	defer sub.Close()
	d := decode.NewDecoder()
	var recs [1]eventstore.Record
	var evs [1]domain.Event
	for {
		rec, err := sub.Next(parent)
		if err != nil {
			return err
		}
		if rec.Position <= r.applied.Load() {
			continue // never from a conforming store; applied already
		}
		recs[0], evs[0] = rec, decodeRecord(d, rec, r.logf)
		r.apply(batch{recs: recs[:], evs: evs[:]})
	}
}

// catchUp applies the records after the applied position up to to.
func (r *Runner) catchUp(parent context.Context, to uint64) error {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	ch := make(chan batch, 4)
	go feed(ctx, r.store, r.applied.Load(), to, ch, r.logf)
	var err error
	for b := range ch {
		if b.err != nil {
			err = b.err
			break
		}
		r.apply(b)
	}
	cancel()
	for range ch { // let the feeder finish
	}
	if err == nil {
		err = parent.Err() // the feeder stops early without an error only then
	}
	if err == nil && r.applied.Load() < to {
		err = fmt.Errorf("projections: catch-up stopped at position %d of %d", r.applied.Load(), to)
	}
	return err
}

// apply applies one batch, publishes its notices, wakes Sync calls and
// takes a periodic snapshot when one is due (loop only).
func (r *Runner) apply(b batch) {
	for i, rec := range b.recs {
		ev := b.evs[i]
		mask := applyRecord(r.entries, rec, ev)
		r.applied.Store(rec.Position)
		if ev != nil && mask != 0 && r.hub.Active() {
			for j, e := range r.entries {
				if mask&(1<<j) != 0 && e.notifier != nil {
					e.notifier.Notify(rec, ev, r.hub)
				}
			}
		}
	}
	if r.nwait.Load() > 0 {
		r.mu.Lock()
		close(r.wake)
		r.wake = make(chan struct{})
		r.mu.Unlock()
	}
	r.checkReady()
	// No periodic snapshots while catching up: the catch-up is short, and
	// snapshotting a growing state every few hundred milliseconds would
	// slow it down. The first batch after it takes one if due.
	if r.every > 0 && r.Ready() && r.applied.Load()-r.lastSnap >= r.every {
		r.snapshot(false)
	}
}

func (r *Runner) checkReady() {
	if r.applied.Load() >= r.startHead {
		r.readyOnce.Do(func() { close(r.ready) })
	}
}

// snapshot captures every projection that moved since its last snapshot
// and hands the captures to the writer, which encodes and writes them off
// the apply path. A Capturer's capture is quick; others are marshalled
// here, which for the small projections takes milliseconds. A periodic
// snapshot is skipped while the writer is still busy with the previous
// one (it is tried again after the next batch); the final one waits.
func (r *Runner) snapshot(final bool) {
	if r.opts.SnapshotDir == "" {
		return
	}
	if !final && len(r.snaps) > 0 {
		return
	}
	r.lastSnap = r.applied.Load()
	for _, e := range r.entries {
		pos := e.pos.Load()
		if pos == e.snapPos.Load() {
			continue
		}
		var encode func() ([]byte, error)
		if c, ok := e.p.(Capturer); ok {
			encode = c.Capture()
		} else {
			payload, err := e.p.MarshalSnapshot()
			if err != nil {
				r.logf("projections: %s: snapshot at %d not taken: %v", e.p.Name(), pos, err)
				continue
			}
			encode = func() ([]byte, error) { return payload, nil }
		}
		e.snapPos.Store(pos)
		r.snaps <- snapJob{e: e, h: SnapshotHeader{Name: e.p.Name(), Position: pos, LastID: e.lastID}, encode: encode}
	}
}

// writeSnapshots encodes and writes the snapshots it is handed, off the
// apply path, until Close closes the channel.
func (r *Runner) writeSnapshots() {
	defer close(r.snapDone)
	for j := range r.snaps {
		payload, err := j.encode()
		if err == nil {
			err = WriteSnapshot(r.opts.SnapshotDir, j.h, payload)
		}
		if err != nil {
			r.logf("projections: %s: snapshot at %d not written: %v", j.h.Name, j.h.Position, err)
			j.e.snapPos.CompareAndSwap(j.h.Position, 0) // write it again next time
		}
	}
}

// Sync waits until every projection has applied position pos (an append's
// AppendResult.Position, for reading your own writes), ctx ends, or the
// runner stops. It returns at once if pos is applied already.
func (r *Runner) Sync(ctx context.Context, pos uint64) error {
	for {
		if r.applied.Load() >= pos {
			return nil
		}
		r.nwait.Add(1)
		r.mu.Lock()
		wake, err, state := r.wake, r.err, r.state
		r.mu.Unlock()
		if r.applied.Load() >= pos {
			r.nwait.Add(-1)
			return nil
		}
		if state == created {
			r.nwait.Add(-1)
			return errors.New("projections: Sync on a runner not started")
		}
		if err != nil {
			r.nwait.Add(-1)
			return err
		}
		select {
		case <-wake:
			r.nwait.Add(-1)
		case <-ctx.Done():
			r.nwait.Add(-1)
			return ctx.Err()
		}
	}
}

// SyncHead waits until the projections have applied every record the log
// held when it was called (ctx ends, or the runner stops): whatever was
// acknowledged before, through any channel, is then visible.
func (r *Runner) SyncHead(ctx context.Context) error {
	head, err := r.store.Head(ctx)
	if err != nil {
		return err
	}
	return r.Sync(ctx, head)
}

// Ready reports whether the projections have caught up with the log's
// head as of Start (for /readyz). It stays true afterwards.
func (r *Runner) Ready() bool {
	select {
	case <-r.ready:
		return true
	default:
		return false
	}
}

// WaitReady waits until Ready, ctx ends, or the runner stops.
func (r *Runner) WaitReady(ctx context.Context) error {
	select {
	case <-r.ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-r.stopped:
		if r.Ready() {
			return nil
		}
		return r.Err()
	}
}

// Applied returns the position every projection has applied (their lowest
// checkpoint).
func (r *Runner) Applied() uint64 { return r.applied.Load() }

// Lag returns how many records the log has that the projections have not
// applied yet (head − applied), for metrics.
func (r *Runner) Lag(ctx context.Context) (uint64, error) {
	head, err := r.store.Head(ctx)
	if err != nil {
		return 0, err
	}
	if a := r.applied.Load(); head > a {
		return head - a, nil
	}
	return 0, nil
}

// Checkpoints returns each projection's last applied position, by name.
func (r *Runner) Checkpoints() map[string]uint64 {
	out := make(map[string]uint64, len(r.entries))
	for _, e := range r.entries {
		out[e.p.Name()] = e.pos.Load()
	}
	return out
}

// Err returns why the runner stopped (ErrClosed after Close, or the store
// error it could not get past), or nil while it runs.
func (r *Runner) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// Close stops following the log, writes a final snapshot of every
// projection that moved since its last one, waits for the snapshot writer,
// and closes the hub if the runner made it. Queries keep working on the
// final state. Closing twice is a no-op.
func (r *Runner) Close() error {
	r.mu.Lock()
	state := r.state
	r.state = closed
	r.mu.Unlock()
	switch state {
	case closed:
		return nil
	case created:
		close(r.snaps)
		r.mu.Lock()
		r.err = ErrClosed
		r.mu.Unlock()
		if r.ownHub {
			r.hub.Close()
		}
		return nil
	}
	r.cancel()
	<-r.stopped
	r.snapshot(true)
	close(r.snaps)
	<-r.snapDone
	if r.ownHub {
		r.hub.Close()
	}
	var errs []error
	for _, e := range r.entries {
		if r.opts.SnapshotDir != "" && e.snapPos.Load() != e.pos.Load() {
			errs = append(errs, fmt.Errorf("projections: %s: final snapshot at %d not written", e.p.Name(), e.pos.Load()))
		}
	}
	return errors.Join(errs...)
}
