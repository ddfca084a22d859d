package commands

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"switchboard/domain"
	"switchboard/domain/codec"
	"switchboard/domain/quota"
	"switchboard/domain/room"
	"switchboard/domain/user"
	"switchboard/eventstore"
)

// BotConfig configures a BotOrchestrator. LLM is required; every other
// field's zero value means its documented default.
type BotConfig struct {
	// LLM is the model the bots speak through. If it also has
	// Run(ctx) error (adapters/ollama's start-up and periodic checks), the
	// orchestrator's Run runs it; if it has State() string, State reports
	// it.
	LLM LLM
	// Typing shows the bot typing in the room while it works. Nil: no
	// indicator.
	Typing TypingSignal
	// Bots lists bot handles in the order a mention tries them (the
	// reference's order: an abbreviation that fits two bots goes to the
	// first). Bots registered but not listed come after, in registration
	// order. Empty: registration order.
	Bots []string
	// Workers is how many replies are generated at once. Zero means 1: a
	// small model on two cores answers one at a time faster than two.
	Workers int
	// Queue is how many triggers may wait for a worker. Zero means 8 (a
	// 1B model takes a few seconds per reply; more waiting than that is
	// worse than a prompt "busy"). A trigger that finds the queue full is
	// not reserved nor charged: the room gets a "busy" notice (at most one
	// per BusyNoticeInterval per room) and the trigger is dropped.
	Queue int
	// MaxQueueWait is how long a trigger may wait in the queue; one that
	// waited longer is answered with the "busy" notice instead. Zero means
	// 60 s.
	MaxQueueWait time.Duration
	// BusyNoticeInterval is the least time between two "busy" notices in
	// one room. Zero means 10 s.
	BusyNoticeInterval time.Duration
	// HistoryMessages is how many of the room's messages before the
	// trigger the prompt includes. Zero means 10.
	HistoryMessages int
	// HistoryChars bounds the history's length in the prompt (bytes of
	// text); the oldest messages are dropped first. Zero means 4000.
	HistoryChars int
	// ReplyTimeout bounds one call of the model, as a safety net behind
	// the LLM's own deadlines (adapters/ollama: 10 s to the first token,
	// 30 s in all). Zero means 45 s.
	ReplyTimeout time.Duration
	// MaxTriggerAge: a trigger older than this (by the handlers' clock)
	// when it is delivered is not answered; that only happens when a
	// restart replays the log from an old checkpoint. Zero means 2 min.
	MaxTriggerAge time.Duration
	// TypingRefresh is how often typing:true is repeated while the model
	// works, so that the gateway's own clearing (3 s after the last
	// typing:true) does not hide it. Zero means 2 s; negative: sent once.
	TypingRefresh time.Duration
	// StaleReservation is the age after which a reservation with neither
	// charge nor release is released: a node crashed in the middle of a
	// reply. Zero means ReplyTimeout + 60 s.
	StaleReservation time.Duration
	// SweepInterval is how often stale reservations are looked for (the
	// first time when Run starts). Zero means 1 min; negative: never (the
	// owner calls ReleaseStale).
	SweepInterval time.Duration
	// Logger receives the orchestrator's logs. Nil means slog.Default().
	// Message texts and prompts are never logged.
	Logger *slog.Logger
}

// Validate reports every problem of c at once, or nil.
func (c BotConfig) Validate() error {
	var errs []error
	if c.LLM == nil {
		errs = append(errs, errors.New("commands: bot config: LLM is missing"))
	}
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"Workers", int64(c.Workers)},
		{"Queue", int64(c.Queue)},
		{"MaxQueueWait", int64(c.MaxQueueWait)},
		{"BusyNoticeInterval", int64(c.BusyNoticeInterval)},
		{"HistoryMessages", int64(c.HistoryMessages)},
		{"HistoryChars", int64(c.HistoryChars)},
		{"ReplyTimeout", int64(c.ReplyTimeout)},
		{"MaxTriggerAge", int64(c.MaxTriggerAge)},
		{"StaleReservation", int64(c.StaleReservation)},
	} {
		if f.v < 0 {
			errs = append(errs, fmt.Errorf("commands: bot config: %s is negative", f.name))
		}
	}
	if c.HistoryMessages > 20 {
		errs = append(errs, errors.New("commands: bot config: HistoryMessages is over 20"))
	}
	return errors.Join(errs...)
}

func (c *BotConfig) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if c.Workers == 0 {
		c.Workers = 1
	}
	if c.Queue == 0 {
		c.Queue = 8
	}
	if c.HistoryMessages == 0 {
		c.HistoryMessages = 10
	}
	if c.HistoryChars == 0 {
		c.HistoryChars = 4000
	}
	def(&c.MaxQueueWait, time.Minute)
	def(&c.BusyNoticeInterval, 10*time.Second)
	def(&c.ReplyTimeout, 45*time.Second)
	def(&c.MaxTriggerAge, 2*time.Minute)
	def(&c.TypingRefresh, 2*time.Second)
	def(&c.StaleReservation, c.ReplyTimeout+time.Minute)
	def(&c.SweepInterval, time.Minute)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// BotStats counts what the orchestrator did since it started.
type BotStats struct {
	// Triggers is the messages that called on a bot.
	Triggers uint64
	// Replies is the replies posted (and charged).
	Replies uint64
	// Failures is the triggers that ended in an "unavailable" notice
	// (model down, slow, or answering garbage; a reply refused).
	Failures uint64
	// Busy is the triggers turned away because the queue was full or
	// waited too long.
	Busy uint64
	// QuotaExhausted is the triggers refused by a daily quota.
	QuotaExhausted uint64
	// Disabled is the triggers ignored because the kill switch was off.
	Disabled uint64
	// Duplicates is the triggers already handled (redelivered events,
	// found by their reservation).
	Duplicates uint64
	// Stale is the triggers too old to answer when delivered.
	Stale uint64
	// StaleReleased is the reservations released by ReleaseStale.
	StaleReleased uint64
	// PromptTokens and GeneratedTokens add up the charged counts.
	PromptTokens, GeneratedTokens uint64
}

type botCounters struct {
	triggers, replies, failures, busy, quota, disabled, duplicates, stale, staleReleased,
	promptTokens, generatedTokens atomic.Uint64
}

// BotOrchestrator is the reactor that makes the bots answer (PROTOCOL.md
// "Bots"). Add it to the bus with AddReactor; the bus primes it and runs
// it.
//
// Observe (on every node, from the node's own reading of the log) learns
// the bots, the kill switch and the outstanding reservations. Handle (on
// one node of a cluster per record) only looks: when a human message calls
// on a bot (a message in a direct room with the bot, or a chat whose first
// mention names one; see botDirectory.target) it puts a job on a bounded
// queue and returns. It never waits on the model or the store (in a
// cluster, at most observeWait for its node to have read the trigger), so
// a slow or dead model never holds up the event feed, and nothing here is
// on the path of a human message's ack.
//
// A worker then, for each job: checks the kill switch (off: nothing at
// all); reserves the quota (a redelivered trigger finds its reservation
// and stops: it was handled; a used-up quota posts a system notice naming
// it, without calling the model); shows the bot typing; builds the prompt
// from that room's messages before the trigger, read from the room's own
// stream; calls the model; cleans the reply; posts it (PostBotReply,
// validated against the room's state); charges the model's token counts;
// clears typing. Any failure after reserving releases the reservation
// (nothing is charged), clears typing and posts "<bot> is unavailable
// right now".
//
// The prompt holds the bot's persona and the trigger's room only: the
// history is read from that room's stream, before the trigger (whose
// sender was a member when posting, or the room refused the message), so
// no other room's text can reach it whatever the model is told. The
// model's output is untrusted text: cleaned, capped to the room's text
// limit, and posted as kind bot, which never triggers a bot.
//
// The worker calls the handlers directly rather than through the bus's
// command bus: it needs their answers (a duplicate, which quota is used
// up, the reply's seq), which Bus.Send does not return.
//
// Every command's id derives from the trigger event's ID (ReactionID), so
// a redelivered trigger, here or on another node, never reserves, posts
// or charges twice. A node that crashed mid-reply leaves an outstanding
// reservation; ReleaseStale (run every SweepInterval, the first time at
// start) releases reservations older than StaleReservation.
//
// Safe for concurrent use.
type BotOrchestrator struct {
	h     *Handlers
	store eventstore.Store
	cfg   BotConfig
	log   *slog.Logger

	dir      atomic.Pointer[botDirectory]
	disabled atomic.Bool // the kill switch as the log last said
	jobs     chan botJob
	notices  chan botNotice
	running  atomic.Bool
	stats    botCounters

	mu           sync.Mutex // guards the fields below and writes of dir
	seen         uint64     // position of the last record observed
	handledPos   uint64     // position of the last record handled here
	selectedPos  uint64     // position of the last record observed that Selects
	pending      int        // jobs and notices not finished
	changed      chan struct{}
	busyAt       map[string]time.Time // room → last "busy" notice
	reservations map[string]openReservation
	inflight     map[string]bool // reservation ids this process works on
}

// openReservation is an outstanding reservation seen in the log.
type openReservation struct {
	day string
	at  time.Time
}

// botJob is a trigger waiting for a worker.
type botJob struct {
	trigger  uuid.UUID // the event's ID
	revision uint64    // its revision in the room's stream
	msg      room.MessagePosted
	bot      *botProfile
	queued   time.Time // wall clock
}

// botNotice is a system notice waiting to be posted.
type botNotice struct {
	job        botJob
	what, text string
}

// NewBotOrchestrator returns the orchestrator over the handlers h.
func NewBotOrchestrator(h *Handlers, cfg BotConfig) (*BotOrchestrator, error) {
	if h == nil {
		return nil, errors.New("commands: NewBotOrchestrator needs handlers")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	o := &BotOrchestrator{
		h:            h,
		store:        h.store,
		cfg:          cfg,
		log:          cfg.Logger.With("component", "bots"),
		jobs:         make(chan botJob, cfg.Queue),
		notices:      make(chan botNotice, 16),
		changed:      make(chan struct{}),
		busyAt:       map[string]time.Time{},
		reservations: map[string]openReservation{},
		inflight:     map[string]bool{},
	}
	o.dir.Store(&botDirectory{byHandle: map[string]*botProfile{}})
	return o, nil
}

// HandlerName implements cqrs.EventHandler. It names the orchestrator's
// consumer: do not change it.
func (o *BotOrchestrator) HandlerName() string { return "bots" }

// NewEvent implements cqrs.EventHandler.
func (o *BotOrchestrator) NewEvent() any { return new(Event) }

// observeWait bounds how long Handle waits for this node's own feed to
// observe the record it is given (see Handle).
const observeWait = 2 * time.Second

// Observe implements Observer: the orchestrator learns the bots, the kill
// switch and the outstanding reservations from every record, on every
// node, in commit order. Records at or below the last position observed
// are redeliveries and change nothing.
func (o *BotOrchestrator) Observe(_ context.Context, e *Event) error {
	o.mu.Lock()
	if e.Position != 0 && e.Position <= o.seen {
		o.mu.Unlock()
		return nil
	}
	o.observeLocked(e.Domain)
	if o.Selects(e.Record) {
		o.selectedPos = e.Position
	}
	o.mu.Unlock()
	o.mark(e.Position, &o.seen)
	return nil
}

// Handle implements cqrs.EventHandler: it reacts to a record, on one node
// of the cluster. It returns at once: the work a trigger calls for is
// queued (see BotOrchestrator). A redelivered trigger is queued again and
// stops at its reservation.
//
// The memory a trigger is judged by (the bots, the kill switch) comes from
// Observe, fed by this node's own reading of the log. On one node that
// reading is ahead of Handle; in a cluster the broker may hand a trigger
// to this node before its reading reached it, so Handle waits for it, up
// to observeWait, and then judges with what it knows.
func (o *BotOrchestrator) Handle(ctx context.Context, ev any) error {
	e, ok := ev.(*Event)
	if !ok {
		return permanentError{errors.New("commands: bots: not an *Event")}
	}
	defer o.mark(e.Position, &o.handledPos)
	m, ok := e.Domain.(room.MessagePosted)
	if !ok {
		return nil
	}
	if e.Position != 0 {
		wctx, cancel := context.WithTimeout(ctx, observeWait)
		err := o.awaitSeen(wctx, e.Position)
		cancel()
		if err != nil && ctx.Err() != nil {
			return ctx.Err()
		}
	}
	o.consider(e, m)
	return nil
}

// awaitSeen waits until the record at position was observed.
func (o *BotOrchestrator) awaitSeen(ctx context.Context, position uint64) error {
	for {
		o.mu.Lock()
		seen, changed := o.seen >= position, o.changed
		o.mu.Unlock()
		if seen {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Selects implements Selector: Handle acts on messages only, and only on
// one that may call on a bot: in a direct room, or with an '@' in its
// data (a mention; Handle decides which). The bus publishes no other
// record to the orchestrator, which keeps every other chat message off
// Watermill.
func (o *BotOrchestrator) Selects(rec eventstore.Record) bool { return mayCallBot(rec) }

// mayCallBot reports whether rec may be a message that calls on a bot: a
// superset of what target finds, judged from the raw record.
func mayCallBot(rec eventstore.Record) bool {
	if rec.Type != "MessagePosted" {
		return false
	}
	return strings.HasPrefix(rec.Stream, directStreamPrefix) ||
		bytes.IndexByte(rec.Data, '@') >= 0 || bytes.Contains(rec.Data, escapedAt)
}

var (
	directStreamPrefix = room.Stream(room.DirectPrefix)
	escapedAt          = []byte(`\u0040`) // '@' as a JSON encoder may escape it
)

// Observes implements TypeFilter: Observe reads only botTypes (a chat
// message is Handle's).
func (o *BotOrchestrator) Observes(recordType string) bool { return botTypes[recordType] }

// botTypes are the event types Prime and Observe decode.
var botTypes = map[string]bool{
	"UserRegistered": true, "ProfileChanged": true, "BotsEnabled": true, "BotsDisabled": true,
	"QuotaReserved": true, "QuotaCharged": true, "QuotaReleased": true,
}

// Prime implements Primer: the orchestrator learns the bots, the kill
// switch and the outstanding reservations from the log up to the
// checkpoint. It never acts on a message there: those were delivered
// before.
func (o *BotOrchestrator) Prime(_ context.Context, rec eventstore.Record) error {
	if botTypes[rec.Type] {
		ev, err := codec.Decode(rec.Type, rec.Data)
		if err != nil && !errors.Is(err, codec.ErrUnknownType) {
			return fmt.Errorf("commands: bots: record %d: %w", rec.Position, err)
		}
		o.mu.Lock()
		o.observeLocked(ev)
		o.mu.Unlock()
	}
	o.mark(rec.Position, &o.seen, &o.handledPos)
	return nil
}

// observeLocked folds an event into what the orchestrator knows (o.mu
// held).
func (o *BotOrchestrator) observeLocked(ev domain.Event) {
	switch e := ev.(type) {
	case user.UserRegistered:
		if e.Bot != nil {
			o.dir.Store(o.dir.Load().with(newBotProfile(e.Handle, e.DisplayName, e.PersonalMessage, *e.Bot), o.cfg.Bots))
		}
	case user.ProfileChanged:
		if b := o.dir.Load().byHandle[e.Handle]; b != nil {
			o.dir.Store(o.dir.Load().with(newBotProfile(e.Handle, e.DisplayName, e.PersonalMessage, b.Persona), o.cfg.Bots))
		}
	case quota.BotsDisabled:
		o.disabled.Store(true)
	case quota.BotsEnabled:
		o.disabled.Store(false)
	case quota.QuotaReserved:
		o.reservations[e.Reservation] = openReservation{day: e.Day, at: e.At}
	case quota.QuotaCharged:
		delete(o.reservations, e.Reservation)
	case quota.QuotaReleased:
		delete(o.reservations, e.Reservation)
	}
}

// mark moves the watermarks ws (o.seen: observed; o.handledPos: handled
// here) up to position, and wakes Sync and awaitSeen once if one moved.
func (o *BotOrchestrator) mark(position uint64, ws ...*uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	moved := false
	for _, w := range ws {
		if position > *w {
			*w, moved = position, true
		}
	}
	if moved {
		close(o.changed)
		o.changed = make(chan struct{})
	}
}

// finish marks a job or notice as done.
func (o *BotOrchestrator) finish() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.pending--
	close(o.changed)
	o.changed = make(chan struct{})
}

// consider queues the job of a message that calls on a bot.
func (o *BotOrchestrator) consider(e *Event, m room.MessagePosted) {
	b := o.dir.Load().target(m)
	if b == nil {
		return
	}
	o.stats.triggers.Add(1)
	if o.disabled.Load() {
		o.stats.disabled.Add(1)
		return
	}
	if age := o.h.clock.Now().Sub(m.At); age > o.cfg.MaxTriggerAge {
		o.stats.stale.Add(1)
		o.log.Debug("trigger too old to answer", "room", m.Room, "seq", m.Seq, "bot", b.Handle, "age", age.String())
		return
	}
	j := botJob{trigger: e.ID, revision: e.Revision, msg: m, bot: b, queued: time.Now()}
	o.mu.Lock()
	o.pending++
	o.mu.Unlock()
	select {
	case o.jobs <- j:
	default:
		o.busy(j, "queue full")
	}
}

// busy turns a trigger away: a "busy" notice, at most one per
// BusyNoticeInterval per room, and nothing reserved. It finishes the job.
func (o *BotOrchestrator) busy(j botJob, why string) {
	o.stats.busy.Add(1)
	now := time.Now()
	o.mu.Lock()
	last, noticed := o.busyAt[j.msg.Room]
	tell := !noticed || now.Sub(last) >= o.cfg.BusyNoticeInterval
	if tell {
		if len(o.busyAt) >= 1024 {
			for r, t := range o.busyAt {
				if now.Sub(t) >= o.cfg.BusyNoticeInterval {
					delete(o.busyAt, r)
				}
			}
		}
		o.busyAt[j.msg.Room] = now
	}
	o.mu.Unlock()
	// Logged once per notice: a flood of triggers must not flood the log.
	level := slog.LevelDebug
	if tell {
		level = slog.LevelWarn
	}
	if o.log.Enabled(context.Background(), level) {
		o.log.Log(context.Background(), level, "bot busy: trigger dropped", "room", j.msg.Room, "seq", j.msg.Seq, "bot", j.bot.Handle, "why", why)
	}
	if tell {
		select {
		case o.notices <- botNotice{job: j, what: "bot-busy", text: j.bot.DisplayName + " is busy right now. Try again in a minute."}:
			return // the notice loop finishes the job
		default:
		}
	}
	o.finish()
}

// Run implements Runner: it runs the workers, the notice poster, the
// sweep of stale reservations and the LLM's own Run (if it has one) until
// ctx ends. Triggers still queued then are dropped: their events were
// acknowledged, and nothing was reserved for them. A reply in progress is
// cut short and ends as a failure (released, "unavailable").
func (o *BotOrchestrator) Run(ctx context.Context) error {
	if !o.running.CompareAndSwap(false, true) {
		return errors.New("commands: bots: Run called twice")
	}
	var wg sync.WaitGroup
	for range o.cfg.Workers {
		wg.Go(func() { o.work(ctx) })
	}
	wg.Go(func() { o.postNotices(ctx) })
	if r, ok := o.cfg.LLM.(Runner); ok {
		wg.Go(func() {
			if err := r.Run(ctx); err != nil && ctx.Err() == nil {
				o.log.Error("LLM checks stopped", "err", err)
			}
		})
	}
	if o.cfg.SweepInterval > 0 {
		wg.Go(func() { o.sweep(ctx) })
	}
	<-ctx.Done()
	wg.Wait()
	for {
		select {
		case <-o.jobs:
			o.finish()
		case <-o.notices:
			o.finish()
		default:
			return nil
		}
	}
}

func (o *BotOrchestrator) work(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-o.jobs:
			if ctx.Err() != nil {
				o.finish() // stopping: dropped like the rest of the queue
				return
			}
			if waited := time.Since(j.queued); waited > o.cfg.MaxQueueWait {
				o.busy(j, "waited "+waited.Round(time.Second).String())
				continue
			}
			o.reply(ctx, j)
			o.finish()
		}
	}
}

func (o *BotOrchestrator) postNotices(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case n := <-o.notices:
			o.notice(ctx, n.job, n.what, n.text)
			o.finish()
		}
	}
}

func (o *BotOrchestrator) sweep(ctx context.Context) {
	t := time.NewTicker(o.cfg.SweepInterval)
	defer t.Stop()
	for {
		if err := o.ReleaseStale(ctx, o.h.clock.Now()); err != nil && ctx.Err() == nil {
			o.log.Error("releasing stale reservations", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// errEmptyReply: nothing was left of the model's output after cleaning.
var errEmptyReply = errors.New("commands: bots: the model's reply is empty")

// reply is the worker's flow for one trigger.
func (o *BotOrchestrator) reply(ctx context.Context, j botJob) {
	m, b := j.msg, j.bot
	log := o.log.With("room", m.Room, "seq", m.Seq, "bot", b.Handle)
	on, err := o.h.BotsEnabled(ctx)
	if err != nil {
		// The store is in trouble: a notice would fail the same way.
		o.stats.failures.Add(1)
		log.Error("reading the kill switch", "err", err)
		return
	}
	if !on {
		o.stats.disabled.Add(1)
		return
	}
	res, err := o.h.ReserveQuota(ctx, ReserveQuota{User: m.Sender, Bot: b.Handle, Room: m.Room, TriggerSeq: m.Seq, Trigger: j.trigger})
	var dup *domain.DuplicateError
	var exhausted *domain.QuotaExhaustedError
	switch {
	case errors.As(err, &dup):
		o.stats.duplicates.Add(1)
		log.Debug("trigger already handled")
		return
	case errors.As(err, &exhausted):
		o.stats.quota.Add(1)
		log.Info("bot quota used up", "quota", exhausted.Quota)
		o.notice(ctx, j, "bot-quota", quotaNotice(exhausted.Quota, m.Sender))
		return
	case err != nil:
		o.stats.failures.Add(1)
		log.Error("reserving bot quota", "err", err)
		o.notice(ctx, j, "bot-unavailable", unavailableNotice(b))
		return
	}
	o.mu.Lock()
	o.inflight[res.ID] = true
	o.mu.Unlock()
	defer func() {
		o.mu.Lock()
		delete(o.inflight, res.ID)
		o.mu.Unlock()
	}()

	stopTyping := o.typing(m.Room, b.Handle)
	defer stopTyping()
	started := time.Now()
	text, out, err := o.generate(ctx, j)
	if err != nil {
		o.fail(ctx, j, res, stopTyping, "model", err)
		return
	}
	ack, err := o.h.PostBotReply(ctx, PostBotReply{Room: m.Room, Bot: b.Handle, TriggerSeq: m.Seq, Trigger: j.trigger, Text: text})
	if err != nil {
		o.fail(ctx, j, res, stopTyping, "post", err)
		return
	}
	stopTyping()
	after, cancel := afterCtx(ctx)
	defer cancel()
	if ack.Duplicate {
		// The message was answered before, under another day's
		// reservation: this one is not a reply of its own.
		o.stats.duplicates.Add(1)
		if err := o.h.ReleaseQuota(after, res, "already answered"); err != nil {
			log.Error("releasing a reservation", "err", err)
		}
		return
	}
	if err := o.charge(after, res, out); err != nil {
		// The reply stands; the reservation stays outstanding until
		// ReleaseStale gives it back uncharged.
		log.Error("charging bot quota", "err", err)
	}
	o.stats.replies.Add(1)
	o.stats.promptTokens.Add(uint64(max(out.PromptTokens, 0)))
	o.stats.generatedTokens.Add(uint64(max(out.GeneratedTokens, 0)))
	log.Info("bot replied", "reply_seq", ack.Seq, "took", time.Since(started).Round(time.Millisecond).String(),
		"prompt_tokens", out.PromptTokens, "generated_tokens", out.GeneratedTokens, "truncated", out.Truncated)
}

// generate builds the prompt, calls the model and cleans its reply.
func (o *BotOrchestrator) generate(ctx context.Context, j botJob) (string, LLMReply, error) {
	history, err := readHistory(ctx, o.store, j.msg.Room, j.revision, o.cfg.HistoryMessages)
	if err != nil {
		return "", LLMReply{}, fmt.Errorf("reading the room's history: %w", err)
	}
	dir := o.dir.Load()
	prompt := buildPrompt(j.bot, dir, history, j.msg, o.cfg.HistoryChars)
	cctx, cancel := context.WithTimeout(ctx, o.cfg.ReplyTimeout)
	defer cancel()
	out, err := o.cfg.LLM.Chat(cctx, prompt)
	if err != nil {
		return "", out, err
	}
	text := CleanBotReply(out.Text, j.bot.DisplayName, replySpeakers(j.bot, dir, history, j.msg), o.h.policy.MaxTextRunes)
	if text == "" {
		return "", out, errEmptyReply
	}
	return text, out, nil
}

// replySpeakers are the labels a reply may start with: the bot's other
// names, every bot's names, and the people in the prompt.
func replySpeakers(b *botProfile, dir *botDirectory, history []room.MessagePosted, trigger room.MessagePosted) []string {
	out := []string{b.Handle, strings.TrimPrefix(b.Handle, "bot_"), b.Persona.Key}
	for _, o := range dir.bots {
		out = append(out, o.DisplayName, o.Handle)
	}
	for _, m := range history {
		out = append(out, m.Sender)
	}
	return append(out, trigger.Sender)
}

// charge records the tokens used, retrying briefly: the charge is
// idempotent (its id derives from the reservation).
func (o *BotOrchestrator) charge(ctx context.Context, res Reservation, out LLMReply) error {
	var err error
	for attempt, wait := 0, 50*time.Millisecond; attempt < 3; attempt, wait = attempt+1, wait*4 {
		if err = o.h.ChargeQuota(ctx, res, max(out.PromptTokens, 0), max(out.GeneratedTokens, 0)); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(wait):
		}
	}
	return err
}

// fail ends a reply that went wrong after reserving: release (nothing is
// charged), typing off, "unavailable" notice.
func (o *BotOrchestrator) fail(ctx context.Context, j botJob, res Reservation, stopTyping func(), stage string, cause error) {
	o.stats.failures.Add(1)
	o.log.Warn("bot reply failed", "room", j.msg.Room, "seq", j.msg.Seq, "bot", j.bot.Handle, "stage", stage, "err", cause)
	after, cancel := afterCtx(ctx)
	defer cancel()
	reason := stage + ": " + cause.Error()
	if len(reason) > 200 {
		reason = strings.ToValidUTF8(reason[:200], "")
	}
	if err := o.h.ReleaseQuota(after, res, reason); err != nil {
		o.log.Error("releasing a reservation", "room", j.msg.Room, "seq", j.msg.Seq, "err", err)
	}
	stopTyping()
	o.notice(after, j, "bot-unavailable", unavailableNotice(j.bot))
}

// afterCtx is the context of what must still be done when ctx was
// cancelled (shutdown) in the middle of a reply: release, notice.
func afterCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
}

// notice posts a system notice about a trigger; its id derives from the
// trigger and what, so there is one per trigger and kind.
func (o *BotOrchestrator) notice(ctx context.Context, j botJob, what, text string) {
	if _, err := o.h.PostSystem(ctx, PostSystem{Room: j.msg.Room, Text: text, What: what, Cause: j.trigger}); err != nil {
		o.log.Error("posting a bot notice", "room", j.msg.Room, "seq", j.msg.Seq, "what", what, "err", err)
	}
}

func unavailableNotice(b *botProfile) string { return b.DisplayName + " is unavailable right now." }

// quotaNotice says which daily quota stopped a bot.
func quotaNotice(which, sender string) string {
	switch which {
	case domain.QuotaUser:
		return "(Bot limit reached: User Quota. " + sender + " has had all of today's bot replies; more at midnight UTC.)"
	case domain.QuotaTokens:
		return "(Bot limit reached: Token Quota. Today's token budget for the bots is spent; more at midnight UTC.)"
	default:
		return "(Bot limit reached: Global Quota. The bots have answered all they may today; more at midnight UTC.)"
	}
}

// typing shows the bot typing and keeps the indicator alive; the returned
// func clears it (once; later calls do nothing).
func (o *BotOrchestrator) typing(roomID, bot string) func() {
	t := o.cfg.Typing
	if t == nil {
		return func() {}
	}
	t.Typing(roomID, bot, true)
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		if o.cfg.TypingRefresh <= 0 {
			<-stop
			return
		}
		tick := time.NewTicker(o.cfg.TypingRefresh)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				t.Typing(roomID, bot, true)
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(stop)
			<-stopped // no refresh after the typing:false
			t.Typing(roomID, bot, false)
		})
	}
}

// ReleaseStale releases every outstanding reservation made StaleReservation
// or longer before now that this process is not working on: what a
// crashed reply left behind. Releasing is idempotent, and a reservation
// charged or released meanwhile is left as it is. Run calls it every
// SweepInterval; tests call it with their clock.
func (o *BotOrchestrator) ReleaseStale(ctx context.Context, now time.Time) error {
	type stale struct {
		id string
		r  openReservation
	}
	var due []stale
	o.mu.Lock()
	for id, r := range o.reservations {
		if !o.inflight[id] && !r.at.Add(o.cfg.StaleReservation).After(now) {
			due = append(due, stale{id, r})
		}
	}
	o.mu.Unlock()
	var errs []error
	for _, s := range due {
		err := o.h.ReleaseQuota(ctx, Reservation{Day: s.r.day, ID: s.id}, "stale: no reply within the deadline")
		if err != nil {
			errs = append(errs, err)
			continue
		}
		o.stats.staleReleased.Add(1)
		o.mu.Lock()
		delete(o.reservations, s.id)
		o.mu.Unlock()
	}
	if len(due) > 0 {
		o.log.Info("released stale bot reservations", "count", len(due)-len(errs))
	}
	return errors.Join(errs...)
}

// State reports the bot backend for /readyz: "disabled" while the kill
// switch is off, else the LLM's State() if it has one ("ok", "degraded:
// <reason>"), else "ok".
func (o *BotOrchestrator) State() string {
	if o.disabled.Load() {
		return "disabled"
	}
	if s, ok := o.cfg.LLM.(interface{ State() string }); ok {
		return s.State()
	}
	return "ok"
}

// Stats returns the counts so far.
func (o *BotOrchestrator) Stats() BotStats {
	c := &o.stats
	return BotStats{
		Triggers: c.triggers.Load(), Replies: c.replies.Load(), Failures: c.failures.Load(),
		Busy: c.busy.Load(), QuotaExhausted: c.quota.Load(), Disabled: c.disabled.Load(),
		Duplicates: c.duplicates.Load(), Stale: c.stale.Load(), StaleReleased: c.staleReleased.Load(),
		PromptTokens: c.promptTokens.Load(), GeneratedTokens: c.generatedTokens.Load(),
	}
}

// Sync waits until the orchestrator has observed the record at position,
// handled every record up to it that it selects (the bus hands it no
// other), and finished every trigger and notice it queued (a reply
// posted, a notice posted, or dropped), or ctx ends. Tests use it, on one
// node, to wait for a bot's answer, or for its silence, without sleeping.
func (o *BotOrchestrator) Sync(ctx context.Context, position uint64) error {
	for {
		o.mu.Lock()
		// Records are handled in commit order: once the last selected
		// record up to position is handled, all of them are. Which one
		// that is, is known while it is the newest selected; otherwise
		// handling position or beyond proves it.
		need := position
		if o.selectedPos < need {
			need = o.selectedPos
		}
		done, changed := o.seen >= position && o.handledPos >= need && o.pending == 0, o.changed
		o.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

var (
	_ Primer     = (*BotOrchestrator)(nil)
	_ Observer   = (*BotOrchestrator)(nil)
	_ TypeFilter = (*BotOrchestrator)(nil)
	_ Selector   = (*BotOrchestrator)(nil)
	_ Runner     = (*BotOrchestrator)(nil)
)
