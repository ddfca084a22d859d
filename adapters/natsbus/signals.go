package natsbus

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/ThreeDotsLabs/watermill"
	wmnats "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/nats"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
)

// Signals carries typing indicators between the nodes on core NATS (see
// the package documentation). It implements the gateway's Signals port.
//
// It publishes through watermill-nats and receives with a plain nats.go
// subscription: watermill-nats v2.1.3's Subscriber closes its output
// channel while a message callback may still be sending to it (a data
// race the race detector caught in CI when a signal arrived during
// Close), and signals need nothing a Watermill subscriber adds (no acks,
// no redelivery).
type Signals struct {
	pub     *wmnats.Publisher
	conn    *nats.Conn // the subscriber's
	sub     *nats.Subscription
	subject string
	log     *slog.Logger

	mu      sync.Mutex // held while delivering; closed is set under it
	closed  bool
	once    sync.Once
	deliver func(room, user string, typing bool)
}

// typingSignal is the wire form of a typing indicator.
type typingSignal struct {
	Room   string `json:"room"`
	User   string `json:"user"`
	Typing bool   `json:"typing"`
}

// maxSignalField bounds a signal's room and user; anything longer is not
// Switchboard's and is dropped.
const maxSignalField = 256

// NewSignals connects to NATS and delivers every node's typing signals,
// this node's included, to deliver, one at a time, until Close.
func NewSignals(cfg Config, deliver func(room, user string, typing bool)) (*Signals, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deliver == nil {
		return nil, errors.New("natsbus: NewSignals needs a deliver function")
	}
	cfg.defaults()
	logger := watermill.NewSlogLoggerWithLevelMapping(cfg.Logger, map[slog.Level]slog.Level{slog.LevelInfo: slog.LevelDebug})
	off := wmnats.JetStreamConfig{Disabled: true}

	// No reconnect buffer: while NATS is away a publish fails at once and
	// the gateway relays the signal on its own node, rather than the
	// client holding it to deliver it stale.
	pc, err := cfg.connect("signals publisher", nats.ReconnectBufSize(-1))
	if err != nil {
		return nil, err
	}
	pub, err := wmnats.NewPublisherWithNatsConn(pc, wmnats.PublisherPublishConfig{
		Marshaler: &wmnats.NATSMarshaler{}, SubjectCalculator: wmnats.DefaultSubjectCalculator, JetStream: off,
	}, logger)
	if err != nil {
		pc.Close()
		return nil, fmt.Errorf("natsbus: signals publisher: %w", err)
	}
	sc, err := cfg.connect("signals subscriber")
	if err != nil {
		pub.Close()
		return nil, err
	}
	s := &Signals{pub: pub, conn: sc, subject: cfg.Prefix + ".typing", log: cfg.Logger.With("component", "nats"), deliver: deliver}
	// nats.go calls the handler from one goroutine per subscription, so
	// signals are delivered one at a time, in the order they arrive.
	if s.sub, err = sc.Subscribe(s.subject, s.receive); err != nil {
		pub.Close()
		sc.Close()
		return nil, fmt.Errorf("natsbus: subscribe to %s: %w", s.subject, err)
	}
	// A round trip makes sure the subscription exists on the server, so
	// that the first signal published after NewSignals comes back.
	if err := sc.Flush(); err != nil {
		s.log.Warn("NATS flush after subscribing", "err", err)
	}
	return s, nil
}

// receive delivers one signal (the subscription's goroutine). The
// payload is what watermill-nats's publisher put in the message's data.
func (s *Signals) receive(m *nats.Msg) {
	var sig typingSignal
	if err := json.Unmarshal(m.Data, &sig); err != nil || sig.Room == "" || sig.User == "" ||
		len(sig.Room) > maxSignalField || len(sig.User) > maxSignalField {
		s.log.Debug("dropped a malformed typing signal", "subject", s.subject)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.deliver(sig.Room, sig.User, sig.Typing)
	}
}

// PublishTyping sends a typing indicator to every node.
func (s *Signals) PublishTyping(room, user string, typing bool) error {
	b, err := json.Marshal(typingSignal{Room: room, User: user, Typing: typing})
	if err != nil {
		return err
	}
	return s.pub.Publish(s.subject, message.NewMessage(watermill.NewUUID(), b))
}

// Close stops delivering (no signal is delivered once it returns) and
// closes the connections.
func (s *Signals) Close() error {
	var errs []error
	s.once.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		if err := s.sub.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
			errs = append(errs, err)
		}
		s.conn.Close()
		errs = append(errs, s.pub.Close())
	})
	return errors.Join(errs...)
}
