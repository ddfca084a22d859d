package natsbus

import (
	"context"
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
type Signals struct {
	pub     *wmnats.Publisher
	sub     *wmnats.Subscriber
	subject string
	log     *slog.Logger
	cancel  context.CancelFunc
	done    chan struct{}
	once    sync.Once
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
	sub, err := wmnats.NewSubscriberWithNatsConn(sc, wmnats.SubscriberSubscriptionConfig{
		Unmarshaler: &wmnats.NATSMarshaler{}, JetStream: off,
	}, logger)
	if err != nil {
		pub.Close()
		sc.Close()
		return nil, fmt.Errorf("natsbus: signals subscriber: %w", err)
	}
	s := &Signals{pub: pub, sub: sub, subject: cfg.Prefix + ".typing", log: cfg.Logger.With("component", "nats"), done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	msgs, err := sub.Subscribe(ctx, s.subject)
	if err != nil {
		cancel()
		pub.Close()
		sub.Close()
		return nil, fmt.Errorf("natsbus: subscribe to %s: %w", s.subject, err)
	}
	// The subscription exists on the server once Subscribe returns; a
	// round trip makes sure, so that the first signal published after
	// NewSignals comes back.
	if err := sc.Flush(); err != nil {
		s.log.Warn("NATS flush after subscribing", "err", err)
	}
	go s.receive(msgs, deliver)
	return s, nil
}

func (s *Signals) receive(msgs <-chan *message.Message, deliver func(room, user string, typing bool)) {
	defer close(s.done)
	for m := range msgs {
		var sig typingSignal
		if err := json.Unmarshal(m.Payload, &sig); err != nil || sig.Room == "" || sig.User == "" ||
			len(sig.Room) > maxSignalField || len(sig.User) > maxSignalField {
			s.log.Debug("dropped a malformed typing signal", "subject", s.subject)
		} else {
			deliver(sig.Room, sig.User, sig.Typing)
		}
		m.Ack()
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

// Close stops delivering and closes the connections.
func (s *Signals) Close() error {
	var errs []error
	s.once.Do(func() {
		s.cancel()
		errs = append(errs, s.sub.Close(), s.pub.Close())
		<-s.done
	})
	return errors.Join(errs...)
}
