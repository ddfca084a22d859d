package commands

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/components/cqrs"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
	"github.com/google/uuid"

	"switchboard/domain"
	"switchboard/eventstore"
)

// ErrBusClosed is returned by Send once the bus has stopped.
var ErrBusClosed = errors.New("commands: bus closed")

// Channel names a group of topics that share one pub/sub. The bus asks its
// PubSubFactory for one pub/sub per channel, so that each is configured
// for its traffic and so that a publish on one channel never waits on a
// lock of another (see GoChannelPubSub).
type Channel string

const (
	// ChannelEvents carries the log's records, in commit order, from the
	// forwarder to the reactors, on the topic BusConfig.EventsTopic.
	ChannelEvents Channel = "events"
	// ChannelCommands carries the reactors' commands to their handlers,
	// one topic per command: "commands.<Name>" (commands.SweepPresence).
	ChannelCommands Channel = "commands"
	// ChannelPoison receives the messages that a handler failed on for
	// good, on the topic BusConfig.PoisonTopic.
	ChannelPoison Channel = "poison"
)

// PubSub is the pub/sub of one channel.
type PubSub struct {
	// Publisher publishes to the channel's topics.
	Publisher message.Publisher
	// Subscriber returns the subscriber of one router handler. Every
	// handler must receive every message of the topic it subscribes to
	// (reactors do not share work): a broker gives each handler its own
	// durable consumer, named after handler and shared by the nodes of a
	// cluster so that one node reacts to each event.
	Subscriber func(handler string) (message.Subscriber, error)
	// Close releases the publisher and the subscribers; nil means there is
	// nothing to release. The bus calls it once, after the router stopped.
	Close func() error
}

// PubSubFactory builds the pub/sub of a channel. It is the one place the
// message backend is chosen: GoChannelPubSub by default, NATS JetStream
// (watermill-nats) when nodes share a bus.
//
// Reactors rely on the events channel delivering each record to each
// handler in commit order, one at a time, and on Publish returning only
// once the record is safe (handled, or persisted by a broker): the
// forwarder saves its checkpoint after Publish returns.
type PubSubFactory func(ch Channel, logger watermill.LoggerAdapter) (PubSub, error)

// GoChannelPubSub is the default PubSubFactory: an in-process GoChannel
// per channel, which is enough for one node and for tests. It is not a
// durable log: what survives a crash is the forwarder's checkpoint, and
// the log itself.
//
// The events and commands channels block Publish until every subscriber
// acknowledged the message (BlockPublishUntilSubscriberAck). That is what
// makes the bus correct rather than merely fast:
//   - Order: one message in flight per topic, so reactors see records in
//     commit order. The non-blocking mode hands each message to its own
//     goroutine and reorders them.
//   - At-least-once: the forwarder's Publish returns once every reactor
//     handled the record (or poisoned it), so the checkpoint it then
//     saves never runs ahead of the reactors.
//   - Back-pressure: a slow reactor slows the forwarder, which reads the
//     store at its own pace, instead of piling up goroutines. The price is
//     head-of-line blocking: every reactor waits for the slowest.
//   - Send returns once the command was handled, so a reactor's
//     acknowledgement covers the commands it sent.
//
// Blocking Publish holds the GoChannel's subscriber lock while it waits,
// and a concurrent Subscribe queues for that lock as a writer; a publish
// nested inside a handler on the same GoChannel would then deadlock. So
// each channel gets its own GoChannel (an event handler publishes commands,
// never events), and the bus subscribes every handler before the first
// publish and refuses new handlers once running.
//
// A GoChannel drops what is published to a topic nobody subscribes to, so
// Send refuses commands that have no handler. Persistent mode is off: it
// keeps every message for the life of the process. PreserveContext is off:
// handlers must not be cancelled with the forwarder's context.
//
// The poison channel does not block: nothing should stall a handler
// because nobody reads the poison topic. The bus logs every poisoned
// message as an error, so none goes unnoticed when nobody subscribes.
func GoChannelPubSub(ch Channel, logger watermill.LoggerAdapter) (PubSub, error) {
	cfg := gochannel.Config{BlockPublishUntilSubscriberAck: true}
	if ch == ChannelPoison {
		cfg = gochannel.Config{OutputChannelBuffer: 64}
	}
	g := gochannel.NewGoChannel(cfg, logger)
	return PubSub{
		Publisher:  g,
		Subscriber: func(string) (message.Subscriber, error) { return g, nil },
		Close:      g.Close,
	}, nil
}

// BusConfig configures a Bus. The zero value is usable: GoChannel, an
// in-memory checkpoint, five retries from 100 ms.
type BusConfig struct {
	// PubSub builds each channel's pub/sub. Nil means GoChannelPubSub.
	PubSub PubSubFactory
	// Logger receives Watermill's logs and the bus's. Nil means
	// slog.Default().
	Logger watermill.LoggerAdapter

	// EventsTopic is the topic the forwarder publishes the log to. Empty
	// means "events".
	EventsTopic string
	// PoisonTopic is the topic of the messages a handler failed on after
	// its retries. Empty means "poison".
	PoisonTopic string

	// Checkpoint keeps the position of the last record forwarded, across
	// restarts. Nil means a fresh MemoryCheckpoint: every Run replays the
	// whole log to the reactors, which is correct (reactors are
	// idempotent) but slow on a long log.
	Checkpoint Checkpoint
	// CheckpointEvery saves the checkpoint after this many records. Zero
	// means 100.
	CheckpointEvery int
	// CheckpointInterval saves the checkpoint at most this long after a
	// record was forwarded, when fewer than CheckpointEvery followed it.
	// Zero means 1 s. After a crash, the records forwarded since the last
	// save are delivered again.
	CheckpointInterval time.Duration

	// MaxRetries is how many times a failing handler is retried before its
	// message goes to the poison topic. Zero means 5; negative means no
	// retry. Domain rejections (not found, invalid, ...) are not retried:
	// they would fail the same way.
	MaxRetries int
	// RetryInterval is the wait before the first retry; it doubles with
	// each retry, ±20 % jitter, up to MaxRetryInterval. Zero means 100 ms.
	RetryInterval time.Duration
	// MaxRetryInterval caps the wait between retries. Zero means 10 s.
	MaxRetryInterval time.Duration

	// CloseTimeout bounds how long shutdown waits for the handlers and the
	// forwarder to finish what they are doing. Zero means 30 s.
	CloseTimeout time.Duration

	// JoinAtHead makes a node without a checkpoint start forwarding at
	// the log's head instead of its start. Set it when the pub/sub is
	// shared by several nodes (every node forwards every record and the
	// broker drops the copies by message id): the nodes already there
	// forwarded the past, and forwarding it again after the broker's
	// deduplication window would deliver it twice.
	JoinAtHead bool
}

// Validate reports every problem of c at once, or nil.
func (c BusConfig) Validate() error {
	var errs []error
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"CheckpointEvery", int64(c.CheckpointEvery)},
		{"CheckpointInterval", int64(c.CheckpointInterval)},
		{"RetryInterval", int64(c.RetryInterval)},
		{"MaxRetryInterval", int64(c.MaxRetryInterval)},
		{"CloseTimeout", int64(c.CloseTimeout)},
	} {
		if f.v < 0 {
			errs = append(errs, fmt.Errorf("commands: bus config: %s is negative", f.name))
		}
	}
	if c.EventsTopic != "" && c.EventsTopic == c.PoisonTopic {
		errs = append(errs, errors.New("commands: bus config: EventsTopic and PoisonTopic are the same"))
	}
	return errors.Join(errs...)
}

func (c *BusConfig) setDefaults() {
	if c.PubSub == nil {
		c.PubSub = GoChannelPubSub
	}
	if c.Logger == nil {
		c.Logger = watermill.NewSlogLogger(slog.Default())
	}
	if c.EventsTopic == "" {
		c.EventsTopic = "events"
	}
	if c.PoisonTopic == "" {
		c.PoisonTopic = "poison"
	}
	if c.Checkpoint == nil {
		c.Checkpoint = &MemoryCheckpoint{}
	}
	if c.CheckpointEvery == 0 {
		c.CheckpointEvery = 100
	}
	if c.CheckpointInterval == 0 {
		c.CheckpointInterval = time.Second
	}
	switch {
	case c.MaxRetries == 0:
		c.MaxRetries = 5
	case c.MaxRetries < 0:
		c.MaxRetries = 0
	}
	if c.RetryInterval == 0 {
		c.RetryInterval = 100 * time.Millisecond
	}
	if c.MaxRetryInterval == 0 {
		c.MaxRetryInterval = 10 * time.Second
	}
	if c.MaxRetryInterval < c.RetryInterval {
		c.MaxRetryInterval = c.RetryInterval
	}
	if c.CloseTimeout == 0 {
		c.CloseTimeout = 30 * time.Second
	}
}

// Primer is a reactor whose memory is a function of the whole log, such as
// the sweeper's deadlines. Before delivery resumes after the checkpoint,
// Run feeds it every record up to the checkpoint, in commit order; the
// reactor updates its memory and must not act. Records after the
// checkpoint then arrive through Handle.
type Primer interface {
	Prime(ctx context.Context, rec eventstore.Record) error
}

// Runner is a reactor with work of its own besides handling events (the
// sweeper's ticker). Run starts it once the bus is running, so its
// commands find their handlers, and cancels ctx before the bus stops.
type Runner interface {
	Run(ctx context.Context) error
}

// Observer is a reactor with memory of the log that every node must keep
// whole, such as the bots' kill switch or the sweeper's deadlines, while
// the reactions happen on one node. The forwarder of every node calls
// Observe with every record after the checkpoint, in commit order, before
// publishing it; Prime covers the records before. An Observer that is
// also an event handler (AddReactor) thus observes a record on its own
// node before, or (in a cluster, where a broker shares the reactions
// between nodes) about when, Handle sees it. Observe must be quick: it is
// on the forwarder's path.
type Observer interface {
	Observe(ctx context.Context, e *Event) error
}

// TypeFilter is an Observer that reads only some record types: the
// forwarder decodes a record's domain event only if some observer reads
// its type (or is no TypeFilter), and otherwise hands the observers the
// record alone (Event.Domain nil), which still tells them its position.
type TypeFilter interface {
	Observes(recordType string) bool
}

// Selector is a reactor that reacts to some records only, and can tell
// which from the record alone (its type, stream and raw data, never its
// memory): the forwarder publishes a record only if some reactor selects
// it, where a reactor that is no Selector selects every record. Records
// nobody selects never reach the pub/sub, which spares the chat path the
// broker's per-message cost; their positions still count as forwarded.
// Every node selects alike, since the choice depends on the record alone.
// The pub/sub hands each published record to every handler, so a
// Selector's Handle still skips what it does not want; a Selector that is
// also an Observer still observes every record.
type Selector interface {
	Selects(rec eventstore.Record) bool
}

// Bus is the asynchronous side of the write model, on Watermill: a
// forwarder puts the store's ordered feed on the events topic; reactors
// (cqrs event handlers receiving *Event) react to it; the commands they
// issue go through a cqrs.CommandBus to handlers that call the same
// *Handlers methods as the rest of Switchboard.
//
// Delivery to reactors is at least once: after a crash the forwarder
// replays from its last saved checkpoint. Reactors are therefore
// idempotent: a reactor derives the id of each command it issues from the
// triggering event (ReactionID), and the command handlers do nothing when
// the command is not due or was applied before.
//
// Every handler runs inside the router's middlewares, outermost first:
// PoisonQueue (a message still failing after the retries goes to the
// poison topic and is acknowledged, so the feed moves on), CorrelationID,
// Retry (bounded, exponential backoff), Recoverer (a panic becomes an
// error, which Retry then retries).
//
// Typical wiring:
//
//	bus, err := commands.NewBus(h, store, commands.BusConfig{Checkpoint: commands.NewFileCheckpoint(path)})
//	err = bus.AddReactor(commands.NewSweeper(h, bus, commands.SweeperConfig{}))
//	go bus.Run(ctx)
type Bus struct {
	store  eventstore.Store
	cfg    BusConfig
	logger watermill.LoggerAdapter

	events, commands, poison PubSub
	closeOnce                sync.Once
	closeErr                 error

	router     *message.Router
	commandBus *cqrs.CommandBus
	marshaler  cqrs.CommandEventMarshaler
	eventProc  *cqrs.EventProcessor
	known      map[string]bool // command names with a handler; read-only after NewBus
	fwd        *forwarder

	stopping atomic.Bool   // shutdown began
	running  chan struct{} // closed once every handler subscribed
	shut     chan struct{} // closed when the bus stops
	shutOnce sync.Once
	done     chan struct{} // closed when Run returns

	mu        sync.Mutex // guards the fields below
	reactors  []cqrs.EventHandler
	observers []Observer
	parts     []any           // reactors and observers, each once: primed and run
	names     map[string]bool // router handler names in use
	started   bool
	closed    bool
	stop      context.CancelFunc
}

// NewBus builds the bus over h and store: the pub/subs, the router with
// its middlewares, the command bus and processor with a handler for each
// bus command (SweepPresence, ExpireSession, PostSystem), and the event
// processor that AddReactor adds to. Nothing runs until Run.
func NewBus(h *Handlers, store eventstore.Store, cfg BusConfig) (*Bus, error) {
	if h == nil || store == nil {
		return nil, errors.New("commands: NewBus needs handlers and a store")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	b := &Bus{
		store:   store,
		cfg:     cfg,
		logger:  cfg.Logger,
		known:   map[string]bool{},
		names:   map[string]bool{},
		running: make(chan struct{}),
		shut:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	if err := b.build(h); err != nil {
		return nil, errors.Join(err, b.closeBackends())
	}
	return b, nil
}

func (b *Bus) build(h *Handlers) error {
	var err error
	for _, c := range []struct {
		ch Channel
		ps *PubSub
	}{{ChannelEvents, &b.events}, {ChannelCommands, &b.commands}, {ChannelPoison, &b.poison}} {
		if *c.ps, err = b.cfg.PubSub(c.ch, b.logger); err != nil {
			return fmt.Errorf("commands: bus: pub/sub of channel %s: %w", c.ch, err)
		}
		if c.ps.Publisher == nil || c.ps.Subscriber == nil {
			return fmt.Errorf("commands: bus: pub/sub of channel %s lacks a publisher or subscriber", c.ch)
		}
	}

	b.router, err = message.NewRouter(message.RouterConfig{CloseTimeout: b.cfg.CloseTimeout}, b.logger)
	if err != nil {
		return err
	}
	// A handler cut short by the shutdown has not failed: its message is
	// nacked, not poisoned, and comes again after the restart.
	poison, err := middleware.PoisonQueueWithFilter(poisonLogger{b.poison.Publisher, b.logger}, b.cfg.PoisonTopic, func(err error) bool {
		return !b.stopping.Load() || !(errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded))
	})
	if err != nil {
		return err
	}
	retry := middleware.Retry{
		MaxRetries:          b.cfg.MaxRetries,
		InitialInterval:     b.cfg.RetryInterval,
		MaxInterval:         b.cfg.MaxRetryInterval,
		Multiplier:          2,
		RandomizationFactor: 0.2,
		ShouldRetry:         func(p middleware.RetryParams) bool { return !permanent(p.Err) },
		ResetContextOnRetry: true,
		Logger:              b.logger,
	}
	// First added is outermost: the poison queue sees an error only once
	// the retries are used up, and a recovered panic is retried.
	b.router.AddMiddleware(poison, middleware.CorrelationID, retry.Middleware, middleware.Recoverer)

	b.marshaler = commandMarshaler{cqrs.JSONMarshaler{GenerateName: cqrs.StructName}}
	b.commandBus, err = cqrs.NewCommandBusWithConfig(b.commands.Publisher, cqrs.CommandBusConfig{
		GeneratePublishTopic: func(p cqrs.CommandBusGeneratePublishTopicParams) (string, error) {
			return commandTopic(p.CommandName), nil
		},
		OnSend:    onSend,
		Marshaler: b.marshaler,
		Logger:    b.logger,
	})
	if err != nil {
		return err
	}
	proc, err := cqrs.NewCommandProcessorWithConfig(b.router, cqrs.CommandProcessorConfig{
		GenerateSubscribeTopic: func(p cqrs.CommandProcessorGenerateSubscribeTopicParams) (string, error) {
			return commandTopic(p.CommandName), nil
		},
		SubscriberConstructor: func(p cqrs.CommandProcessorSubscriberConstructorParams) (message.Subscriber, error) {
			return b.commands.Subscriber(p.HandlerName)
		},
		Marshaler: b.marshaler,
		Logger:    b.logger,
	})
	if err != nil {
		return err
	}
	for _, ch := range commandHandlers(h) {
		name := b.marshaler.Name(ch.NewCommand())
		b.known[name] = true
		b.names[ch.HandlerName()] = true
		if err := proc.AddHandlers(ch); err != nil {
			return err
		}
	}

	b.eventProc, err = cqrs.NewEventProcessorWithConfig(b.router, cqrs.EventProcessorConfig{
		GenerateSubscribeTopic: func(cqrs.EventProcessorGenerateSubscribeTopicParams) (string, error) {
			return b.cfg.EventsTopic, nil
		},
		SubscriberConstructor: func(p cqrs.EventProcessorSubscriberConstructorParams) (message.Subscriber, error) {
			return b.events.Subscriber(p.HandlerName)
		},
		Marshaler: eventMarshaler{},
		Logger:    b.logger,
	})
	if err != nil {
		return err
	}

	b.fwd = &forwarder{
		store:    b.store,
		pub:      b.events.Publisher,
		topic:    b.cfg.EventsTopic,
		cp:       b.cfg.Checkpoint,
		every:    b.cfg.CheckpointEvery,
		interval: b.cfg.CheckpointInterval,
		logger:   b.logger,
	}
	return nil
}

// AddReactor adds an event handler to the events topic. Its NewEvent must
// return a *Event: every handler receives every record, and picks what it
// needs from Event.Domain. A reactor that is a Primer is primed, and one
// that is a Runner is run, by Run. Handler names are unique (they name the
// consumer of a broker: renaming one replays the log to it). Reactors are
// added before Run.
func (b *Bus) AddReactor(r cqrs.EventHandler) error {
	if r == nil {
		return errors.New("commands: AddReactor: nil reactor")
	}
	if _, ok := r.NewEvent().(*Event); !ok {
		return fmt.Errorf("commands: reactor %s: NewEvent returns %T, want *commands.Event", r.HandlerName(), r.NewEvent())
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch name := r.HandlerName(); {
	case b.started || b.closed:
		return fmt.Errorf("commands: reactor %s: the bus was already started", name)
	case name == "" || b.names[name]:
		return fmt.Errorf("commands: reactor %q: handler name empty or in use", name)
	}
	if _, err := b.eventProc.AddHandler(r); err != nil {
		return fmt.Errorf("commands: reactor %s: %w", r.HandlerName(), err)
	}
	b.names[r.HandlerName()] = true
	b.reactors = append(b.reactors, r)
	if o, ok := r.(Observer); ok {
		b.observers = append(b.observers, o)
	}
	b.parts = append(b.parts, r)
	return nil
}

// AddObserver adds an Observer that handles no event itself (the
// sweeper): it is primed, fed every record by this node's forwarder, and
// run if it is a Runner. Observers are added before Run.
func (b *Bus) AddObserver(o Observer) error {
	if o == nil {
		return errors.New("commands: AddObserver: nil observer")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.started || b.closed {
		return fmt.Errorf("commands: observer %T: the bus was already started", o)
	}
	b.observers = append(b.observers, o)
	b.parts = append(b.parts, o)
	return nil
}

// Running is closed once Run has subscribed every handler and started the
// forwarder: from then on, Send reaches its handler.
func (b *Bus) Running() <-chan struct{} { return b.running }

// Send sends cmd (SweepPresence, ExpireSession, PostSystem; a value or a
// pointer) through the command bus to its handler. The message's UUID is
// the command's id, and it carries the correlation id of the event being
// handled (when Send is called from a reactor's Handle) or of the cause
// the reactor attached to ctx.
//
// Send waits for the bus to be running. With GoChannel it returns once
// the command was handled, retried and, if it kept failing, poisoned: the
// handler's error does not come back here (it is logged and sits on the
// poison topic). A command nobody handles is refused rather than dropped.
func (b *Bus) Send(ctx context.Context, cmd any) error {
	if cmd == nil {
		return errors.New("commands: Send: nil command")
	}
	if name := b.marshaler.Name(cmd); !b.known[name] {
		return fmt.Errorf("commands: Send: no handler for command %s", name)
	}
	select {
	case <-b.shut:
		return ErrBusClosed
	default:
	}
	select {
	case <-b.running:
	case <-b.shut:
		return ErrBusClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := b.commandBus.Send(ctx, cmd); err != nil {
		select {
		case <-b.shut:
			return fmt.Errorf("%w: %v", ErrBusClosed, err)
		default:
			return err
		}
	}
	return nil
}

// Run runs the bus until ctx ends or Close is called: it primes the
// Primer reactors up to the checkpoint, starts the router (subscribing
// every handler), then the forwarder from the checkpoint and the Runner
// reactors. It returns nil after a requested stop, or the error that
// stopped the forwarder or the router. It may be called once.
//
// Shutdown is ordered so that nothing is lost: the forwarder and the
// runners stop first, letting the record in flight be handled, and the
// forwarder saves its checkpoint; then the router stops (waiting for its
// handlers), then the pub/subs close. If that takes longer than
// CloseTimeout, the record in flight is left out of the checkpoint, to be
// delivered again on the next start.
func (b *Bus) Run(ctx context.Context) (err error) {
	b.mu.Lock()
	if b.started || b.closed {
		b.mu.Unlock()
		return errors.New("commands: bus: Run called twice or after Close")
	}
	b.started = true
	parts := slices.Clone(b.parts)
	b.fwd.observers = slices.Clone(b.observers)
	b.fwd.selectors, b.fwd.selectAll = selectorsOf(b.reactors)
	ctx, stop := context.WithCancel(ctx)
	b.stop = stop
	b.mu.Unlock()
	defer close(b.done)
	defer stop()
	defer b.shutOnce.Do(func() { close(b.shut) })

	from, err := b.start(ctx, parts)
	if err != nil {
		// The router never ran: closing it would wait for handlers that
		// never start.
		return errors.Join(err, b.closeBackends())
	}

	routerCtx, cancelRouter := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelRouter()
	routerDone := make(chan error, 1)
	go func() { routerDone <- b.router.Run(routerCtx) }()
	select {
	case <-b.router.Running():
	case err := <-routerDone:
		return errors.Join(fmt.Errorf("commands: bus: router stopped while starting: %v", err), b.closeBackends())
	case <-ctx.Done():
		b.router.Close() // running or about to: Run returns
		<-routerDone
		return b.closeBackends()
	}

	work, stopWork := context.WithCancel(ctx)
	defer stopWork()
	fwdDone := make(chan error, 1)
	go func() { fwdDone <- b.fwd.run(work, from) }()
	var runners sync.WaitGroup
	for _, r := range parts {
		if rr, ok := r.(Runner); ok {
			runners.Go(func() {
				if err := rr.Run(work); err != nil && !errors.Is(err, context.Canceled) {
					b.logger.Error("Reactor stopped", err, watermill.LogFields{"reactor": fmt.Sprintf("%T", r)})
				}
			})
		}
	}
	close(b.running)

	var fwdErr error
	fwdStopped := false
	select {
	case <-ctx.Done():
	case fwdErr = <-fwdDone:
		fwdStopped = true
	case rerr := <-routerDone:
		// The handlers are gone (a broker connection closed their
		// subscriptions): what the forwarder publishes from now on may
		// reach nobody, so none of it counts as forwarded.
		b.fwd.abort()
		routerDone <- rerr // read again below
		err = fmt.Errorf("commands: bus: router stopped: %v", rerr)
	}

	// Stop the producers first, while the handlers still run.
	b.stopping.Store(true)
	stopWork()
	idle := make(chan struct{})
	go func() {
		runners.Wait()
		if !fwdStopped {
			fwdErr = <-fwdDone
		}
		close(idle)
	}()
	select {
	case <-idle:
	case <-time.After(b.cfg.CloseTimeout):
		b.fwd.abort()
		b.logger.Error("Shutdown timed out: the record in flight will be delivered again", nil, nil)
	}
	if cerr := b.router.Close(); cerr != nil {
		b.logger.Error("Closing the router", cerr, nil)
	}
	cancelRouter()
	cerr := b.closeBackends()
	<-idle
	<-routerDone
	return errors.Join(err, fwdErr, cerr)
}

// start checks the checkpoint against the log and primes the reactors;
// it returns the position to forward from.
func (b *Bus) start(ctx context.Context, parts []any) (uint64, error) {
	from, err := b.cfg.Checkpoint.Load(ctx)
	if err != nil {
		return 0, fmt.Errorf("commands: bus: load checkpoint: %w", err)
	}
	head, err := b.store.Head(ctx)
	if err != nil {
		return 0, fmt.Errorf("commands: bus: %w", err)
	}
	if from > head {
		// A checkpoint past the log means another log (restored, wiped):
		// forwarding from it would silently skip what comes next.
		return 0, fmt.Errorf("commands: bus: checkpoint %d is past the log's head %d", from, head)
	}
	if from == 0 && b.cfg.JoinAtHead {
		// A node joining a cluster: the others forwarded the past.
		from = head
		if err := b.cfg.Checkpoint.Save(ctx, from); err != nil {
			return 0, fmt.Errorf("commands: bus: save checkpoint: %w", err)
		}
	}
	var primers []Primer
	for _, r := range parts {
		if p, ok := r.(Primer); ok {
			primers = append(primers, p)
		}
	}
	if len(primers) == 0 {
		return from, nil
	}
	const batch = 1000
	for next := uint64(1); next <= from; {
		recs, err := b.store.ReadAll(ctx, next, batch)
		if err != nil {
			return 0, fmt.Errorf("commands: bus: prime: %w", err)
		}
		if len(recs) == 0 {
			break
		}
		for _, rec := range recs {
			if rec.Position > from {
				return from, nil
			}
			for _, p := range primers {
				if err := p.Prime(ctx, rec); err != nil {
					return 0, fmt.Errorf("commands: bus: prime at position %d: %w", rec.Position, err)
				}
			}
			next = rec.Position + 1
		}
	}
	return from, nil
}

// Close stops the bus: it ends Run and waits for it to return, or, if Run
// was never called, releases the pub/subs. Calling it again does nothing.
func (b *Bus) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	started, stop := b.started, b.stop
	b.mu.Unlock()
	b.shutOnce.Do(func() { close(b.shut) })
	if started {
		stop()
		<-b.done
		return nil
	}
	// The router never ran, so there is nothing to stop (closing it would
	// wait for handlers that never start).
	return b.closeBackends()
}

// closeBackends closes the pub/subs, once.
func (b *Bus) closeBackends() error {
	b.closeOnce.Do(func() {
		var errs []error
		for _, ps := range []PubSub{b.events, b.commands, b.poison} {
			if ps.Close != nil {
				errs = append(errs, ps.Close())
			}
		}
		b.closeErr = errors.Join(errs...)
	})
	return b.closeErr
}

// The commands the bus carries. Their ids derive from what triggered them,
// so that a redelivered trigger sends the same command again, which a
// message deduplicator or the handler recognises.

// SweepPresence asks for User to be marked offline if no heartbeat was
// recorded for Policy.PresenceTimeout; its handler is
// Handlers.SweepPresence, which does nothing when that is not so.
type SweepPresence struct {
	// ID is the command's id: ReactionID of the event that set the
	// deadline.
	ID   uuid.UUID `json:"id"`
	User string    `json:"user"`
}

// ExpireSession asks for Session to end as expired if its expiry passed;
// its handler is Handlers.ExpireSession, which does nothing otherwise.
type ExpireSession struct {
	// ID is the command's id: ReactionID of the event that set the expiry.
	ID      uuid.UUID `json:"id"`
	Session string    `json:"session"`
}

// commandHandlers are the bus's command handlers: each calls the *Handlers
// method that the synchronous callers use. A duplicate (the command was
// applied before) is a success: that is what redelivery looks like.
func commandHandlers(h *Handlers) []cqrs.CommandHandler {
	return []cqrs.CommandHandler{
		cqrs.NewCommandHandler("commands.SweepPresence", func(ctx context.Context, c *SweepPresence) error {
			_, err := h.SweepPresence(ctx, c.User)
			return ignoreDuplicate(err)
		}),
		cqrs.NewCommandHandler("commands.ExpireSession", func(ctx context.Context, c *ExpireSession) error {
			_, err := h.ExpireSession(ctx, c.Session)
			return ignoreDuplicate(err)
		}),
		cqrs.NewCommandHandler("commands.PostSystem", func(ctx context.Context, c *PostSystem) error {
			_, err := h.PostSystem(ctx, *c)
			return ignoreDuplicate(err)
		}),
	}
}

func ignoreDuplicate(err error) error {
	if errors.Is(err, domain.ErrDuplicate) {
		return nil
	}
	return err
}

// commandTopic is the topic of the command named name.
func commandTopic(name string) string { return "commands." + name }

// commandMarshaler is cqrs.JSONMarshaler with the command's id as the
// message UUID, so that the same command sent twice is the same message
// (a broker's deduplication window, or a Deduplicator middleware, can drop
// the second).
type commandMarshaler struct{ cqrs.JSONMarshaler }

func (m commandMarshaler) Marshal(v any) (*message.Message, error) {
	msg, err := m.JSONMarshaler.Marshal(v)
	if err != nil {
		return nil, err
	}
	if id := commandID(v); id != uuid.Nil {
		msg.UUID = id.String()
	}
	return msg, nil
}

// commandID is the id of a bus command, or the zero UUID if it has none.
func commandID(v any) uuid.UUID {
	switch c := v.(type) {
	case *SweepPresence:
		return c.ID
	case SweepPresence:
		return c.ID
	case *ExpireSession:
		return c.ID
	case ExpireSession:
		return c.ID
	case *PostSystem:
		return ReactionID(c.Cause, "system:"+c.What)
	case PostSystem:
		return ReactionID(c.Cause, "system:"+c.What)
	}
	return uuid.Nil
}

// cause is why a command is sent: the correlation id to carry on and the
// event that caused it.
type cause struct {
	correlation, causation uuid.UUID
}

type causeKey struct{}

// withCause attaches the cause of the commands sent with ctx. A reactor
// that sends outside its Handle (the sweeper's ticker) uses it; inside
// Handle, the event being handled is the cause.
func withCause(ctx context.Context, c cause) context.Context {
	return context.WithValue(ctx, causeKey{}, c)
}

// onSend stamps a command's message with its correlation id (Watermill's
// correlation_id, so that middleware.CorrelationID carries it further)
// and causation id. middleware.CorrelationID only covers messages a
// handler returns, not those it publishes through the command bus: hence
// this hook.
func onSend(p cqrs.CommandBusOnSendParams) error {
	ctx := p.Message.Context()
	var correlation, causation string
	if c, ok := ctx.Value(causeKey{}).(cause); ok {
		if c.correlation != uuid.Nil {
			correlation = c.correlation.String()
		}
		if c.causation != uuid.Nil {
			causation = c.causation.String()
		}
	} else if orig := cqrs.OriginalMessageFromCtx(ctx); orig != nil {
		correlation = middleware.MessageCorrelationID(orig)
		causation = orig.UUID
	}
	if correlation == "" {
		correlation = p.Message.UUID
	}
	middleware.SetCorrelationID(correlation, p.Message)
	if causation != "" {
		p.Message.Metadata.Set(metaCausationID, causation)
	}
	return nil
}

// permanentError marks an error that retrying cannot fix.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// permanent reports whether retrying the handler cannot help: a malformed
// message, or a domain rejection, which the same state decides the same
// way. Conflicts, rate limits and I/O errors are retried.
func permanent(err error) bool {
	var p permanentError
	if errors.As(err, &p) {
		return true
	}
	for _, target := range []error{
		domain.ErrNotMember, domain.ErrForbidden, domain.ErrNotFound, domain.ErrInvalid,
		domain.ErrTooLong, domain.ErrHandleTaken, domain.ErrInvalidCredentials,
		domain.ErrVerificationFailed, domain.ErrSessionEnded, domain.ErrBotsDisabled,
		domain.ErrQuotaExhausted, ErrIDReused,
	} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

// poisonLogger logs each poisoned message as an error before publishing
// it, so that a failure is seen even when nobody reads the poison topic.
type poisonLogger struct {
	message.Publisher
	logger watermill.LoggerAdapter
}

func (p poisonLogger) Publish(topic string, msgs ...*message.Message) error {
	for _, m := range msgs {
		p.logger.Error("Message poisoned", errors.New(m.Metadata.Get(middleware.ReasonForPoisonedKey)), watermill.LogFields{
			"message_uuid": m.UUID,
			"topic":        m.Metadata.Get(middleware.PoisonedTopicKey),
			"handler":      m.Metadata.Get(middleware.PoisonedHandlerKey),
		})
	}
	return p.Publisher.Publish(topic, msgs...)
}
