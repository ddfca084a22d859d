package natsbus

import (
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wmnats "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/nats"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"

	"switchboard/commands"
)

// Config configures the connection to NATS. Zero values take the defaults
// noted.
type Config struct {
	// URL is the NATS server, or a comma-separated list of a cluster's
	// servers (nats://host:4222). Required.
	URL string
	// Prefix namespaces the subjects (<prefix>.events) and, upper-cased,
	// the streams (<PREFIX>_EVENTS). Letters, digits, '_' and '-'. Empty:
	// "switchboard".
	Prefix string
	// Name names this node's connections on the server (monitoring).
	Name string
	// Duplicates is the window in which JetStream drops a message whose id
	// it stored already. Zero: 10 minutes. A node whose forwarder lags the
	// others by more than this (a long pause) publishes its records a
	// second time, and the reactors get them twice (they are idempotent).
	Duplicates time.Duration
	// MaxAge is how long a stream keeps a message. Zero: 24 hours. A node
	// down longer than this misses what its handlers' queue groups were
	// not handed meanwhile only if no other node was up to take it.
	MaxAge time.Duration
	// Replicas is the streams' replication factor in a JetStream cluster.
	// Zero: 1.
	Replicas int
	// AckWait is how long a handler may take before its message is handed
	// to another member of its queue group. Zero: 30 s.
	AckWait time.Duration
	// Logger receives connection changes and publish retries. Nil:
	// slog.Default().
	Logger *slog.Logger
}

var prefixRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

// Validate reports every problem of c at once.
func (c Config) Validate() error {
	var errs []error
	if strings.TrimSpace(c.URL) == "" {
		errs = append(errs, errors.New("natsbus: the NATS URL is empty"))
	}
	if c.Prefix != "" && !prefixRE.MatchString(c.Prefix) {
		errs = append(errs, fmt.Errorf("natsbus: prefix %q: want 1 to 32 letters, digits, '_' or '-'", c.Prefix))
	}
	if c.Duplicates < 0 || c.MaxAge < 0 || c.AckWait < 0 || c.Replicas < 0 {
		errs = append(errs, errors.New("natsbus: negative duration or replica count"))
	}
	if c.MaxAge > 0 && c.Duplicates > c.MaxAge {
		errs = append(errs, errors.New("natsbus: the duplicates window is longer than the streams' MaxAge"))
	}
	return errors.Join(errs...)
}

func (c *Config) defaults() {
	if c.Prefix == "" {
		c.Prefix = "switchboard"
	}
	if c.Duplicates == 0 {
		c.Duplicates = 10 * time.Minute
	}
	if c.MaxAge == 0 {
		c.MaxAge = 24 * time.Hour
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.AckWait == 0 {
		c.AckWait = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// connect opens a connection that reconnects for ever, logging changes.
func (c *Config) connect(role string, extra ...nats.Option) (*nats.Conn, error) {
	log := c.Logger.With("component", "nats", "role", role)
	nc, err := nats.Connect(c.URL, append([]nats.Option{
		nats.Name(strings.Trim(c.Name+" "+role, " ")),
		nats.Timeout(5 * time.Second),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("NATS connection lost; reconnecting", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) { log.Info("NATS connection restored", "server", nc.ConnectedUrlRedacted()) }),
	}, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("natsbus: connect to %s: %w", redact(c.URL), err)
	}
	return nc, nil
}

// redact drops credentials from a URL list for messages.
func redact(urls string) string {
	var out []string
	for _, u := range strings.Split(urls, ",") {
		if at := strings.LastIndex(u, "@"); at >= 0 {
			if i := strings.Index(u, "://"); i >= 0 && i < at {
				u = u[:i+3] + "***" + u[at:]
			}
		}
		out = append(out, strings.TrimSpace(u))
	}
	return strings.Join(out, ",")
}

// PubSub returns the bus's PubSubFactory on JetStream (see the package
// documentation). Each channel it builds connects to NATS and creates or
// updates its stream; it fails if NATS cannot be reached.
func PubSub(cfg Config) (commands.PubSubFactory, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.defaults()
	return func(ch commands.Channel, logger watermill.LoggerAdapter) (commands.PubSub, error) {
		return newChannel(cfg, ch, logger)
	}, nil
}

// streamSpec is the stream of a channel: its name and subjects.
func streamSpec(cfg Config, ch commands.Channel) (name string, subjects []string) {
	name = strings.ToUpper(cfg.Prefix + "_" + string(ch))
	switch ch {
	case commands.ChannelCommands:
		return name, []string{cfg.Prefix + ".commands.>"}
	default:
		return name, []string{cfg.Prefix + "." + string(ch)}
	}
}

func newChannel(cfg Config, ch commands.Channel, logger watermill.LoggerAdapter) (commands.PubSub, error) {
	nc, err := cfg.connect(string(ch) + " publisher")
	if err != nil {
		return commands.PubSub{}, err
	}
	stream, subjects := streamSpec(cfg, ch)
	if err := ensureStream(nc, &nats.StreamConfig{
		Name:        stream,
		Description: "Switchboard bus: " + string(ch),
		Subjects:    subjects,
		Retention:   nats.LimitsPolicy,
		Storage:     nats.FileStorage,
		MaxAge:      cfg.MaxAge,
		Duplicates:  cfg.Duplicates,
		Replicas:    cfg.Replicas,
		Discard:     nats.DiscardOld,
	}); err != nil {
		nc.Close()
		return commands.PubSub{}, err
	}
	inner, err := wmnats.NewPublisherWithNatsConn(nc, wmnats.PublisherPublishConfig{
		Marshaler:         &wmnats.NATSMarshaler{},
		SubjectCalculator: wmnats.DefaultSubjectCalculator,
		JetStream: wmnats.JetStreamConfig{
			TrackMsgId:     true,
			PublishOptions: []nats.PubOpt{nats.ExpectStream(stream)},
		},
	}, logger)
	if err != nil {
		nc.Close()
		return commands.PubSub{}, fmt.Errorf("natsbus: publisher of %s: %w", ch, err)
	}
	c := &channel{
		cfg:    cfg,
		stream: stream,
		logger: logger,
		pub:    &publisher{inner: inner, prefix: cfg.Prefix, log: cfg.Logger.With("component", "nats", "channel", string(ch)), closed: make(chan struct{})},
	}
	return commands.PubSub{Publisher: c.pub, Subscriber: c.subscriber, Close: c.close}, nil
}

// ensureStream creates the stream, or updates it to cfg when it exists.
func ensureStream(nc *nats.Conn, cfg *nats.StreamConfig) error {
	js, err := nc.JetStream(nats.MaxWait(10 * time.Second))
	if err != nil {
		return fmt.Errorf("natsbus: JetStream: %w", err)
	}
	if _, err := js.StreamInfo(cfg.Name); err == nil {
		if _, err := js.UpdateStream(cfg); err != nil {
			return fmt.Errorf("natsbus: update stream %s: %w", cfg.Name, err)
		}
		return nil
	} else if !errors.Is(err, nats.ErrStreamNotFound) {
		return fmt.Errorf("natsbus: stream %s: %w (is JetStream enabled on the server?)", cfg.Name, err)
	}
	if _, err := js.AddStream(cfg); err != nil && !errors.Is(err, nats.ErrStreamNameAlreadyInUse) {
		return fmt.Errorf("natsbus: create stream %s: %w", cfg.Name, err)
	}
	return nil
}

// channel is one channel's publisher and the subscribers of its handlers.
type channel struct {
	cfg    Config
	stream string
	logger watermill.LoggerAdapter
	pub    *publisher

	mu   sync.Mutex
	subs []*wmnats.Subscriber
}

var unsafeRE = regexp.MustCompile(`[^A-Za-z0-9_-]`)

// consumerName is the durable consumer, and the queue group, of a handler
// on a topic: the same on every node, so the nodes share it.
func consumerName(handler, topic string) string {
	return unsafeRE.ReplaceAllString(handler, "_") + "__" + unsafeRE.ReplaceAllString(topic, "_")
}

// subscriber returns the subscriber of one router handler: a durable
// queue group of its own, one message in flight, acknowledged by hand.
func (c *channel) subscriber(handler string) (message.Subscriber, error) {
	nc, err := c.cfg.connect(handler + " subscriber")
	if err != nil {
		return nil, err
	}
	prefix := c.cfg.Prefix + "."
	sub, err := wmnats.NewSubscriberWithNatsConn(nc, wmnats.SubscriberSubscriptionConfig{
		Unmarshaler: &wmnats.NATSMarshaler{},
		SubjectCalculator: func(_, topic string) *wmnats.SubjectDetail {
			return &wmnats.SubjectDetail{Primary: prefix + topic, QueueGroup: consumerName(handler, topic)}
		},
		AckWaitTimeout:   c.cfg.AckWait,
		CloseTimeout:     5 * time.Second,
		SubscribeTimeout: 10 * time.Second,
		JetStream: wmnats.JetStreamConfig{
			DurableCalculator: func(_, subject string) string {
				return consumerName(handler, strings.TrimPrefix(subject, prefix))
			},
			SubscribeOptions: []nats.SubOpt{
				nats.BindStream(c.stream),
				nats.ManualAck(),
				nats.AckExplicit(),
				nats.MaxAckPending(1),
				nats.DeliverAll(),
				// A little longer than the subscriber's own wait, after
				// which it gives the message up without an ack.
				nats.AckWait(c.cfg.AckWait + 5*time.Second),
			},
		},
	}, c.logger)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("natsbus: subscriber %s: %w", handler, err)
	}
	c.mu.Lock()
	c.subs = append(c.subs, sub)
	c.mu.Unlock()
	return sub, nil
}

func (c *channel) close() error {
	errs := []error{c.pub.Close()}
	c.mu.Lock()
	subs := c.subs
	c.subs = nil
	c.mu.Unlock()
	for _, s := range subs {
		errs = append(errs, s.Close())
	}
	return errors.Join(errs...)
}

// publisher publishes under the prefix and retries, with backoff, what
// NATS refuses for a passing reason, until it succeeds or Close. A
// retried message keeps its id, so JetStream stores it once.
type publisher struct {
	inner   *wmnats.Publisher
	prefix  string
	log     *slog.Logger
	failing atomic.Bool

	closeOnce sync.Once
	closed    chan struct{}
}

// Publish implements message.Publisher.
func (p *publisher) Publish(topic string, msgs ...*message.Message) error {
	subject := p.prefix + "." + topic
	for _, m := range msgs {
		for attempt := 0; ; attempt++ {
			err := p.inner.Publish(subject, m)
			if err == nil {
				if p.failing.CompareAndSwap(true, false) {
					p.log.Info("publishing to NATS again", "subject", subject)
				}
				break
			}
			if permanentPublishError(err) {
				return fmt.Errorf("natsbus: publish to %s: %w", subject, err)
			}
			if p.failing.CompareAndSwap(false, true) {
				p.log.Warn("publishing to NATS failed; retrying until it works", "subject", subject, "err", err)
			}
			select {
			case <-p.closed:
				return fmt.Errorf("natsbus: publish to %s: closed while retrying: %w", subject, err)
			case <-time.After(retryDelay(attempt)):
			}
		}
	}
	return nil
}

// Close implements message.Publisher; a Publish retrying gives up.
func (p *publisher) Close() error {
	p.closeOnce.Do(func() { close(p.closed) })
	return p.inner.Close()
}

// retryDelay is 100 ms doubling up to 5 s.
func retryDelay(attempt int) time.Duration {
	d := 100 * time.Millisecond << min(attempt, 6)
	return min(d, 5*time.Second)
}

// permanentPublishError: retrying would fail the same way.
func permanentPublishError(err error) bool {
	return errors.Is(err, nats.ErrMaxPayload) || errors.Is(err, nats.ErrBadSubject) || errors.Is(err, nats.ErrConnectionClosed)
}
