package commands

import (
	"context"
	"errors"
	"time"

	"switchboard/domain"
	"switchboard/domain/presence"
	"switchboard/domain/quota"
	"switchboard/domain/room"
	"switchboard/domain/session"
	"switchboard/domain/user"
	"switchboard/eventstore"
)

// Clock tells the time; handlers stamp every command with it, so the
// domain never reads a clock.
type Clock interface{ Now() time.Time }

// SystemClock is the wall clock.
type SystemClock struct{}

func (SystemClock) Now() time.Time { return time.Now() }

// Hasher hashes and checks passwords (Argon2 in production; tests may use
// cheaper parameters).
type Hasher interface {
	Hash(password string) (string, error)
	Verify(hash, password string) (bool, error)
}

// Config configures Handlers. The zero value is usable: DefaultPolicy, the
// system clock, argon2id with OWASP's parameters, 100,000 cached
// aggregates per kind, demo logins refused.
type Config struct {
	Policy domain.Policy
	Clock  Clock
	Hasher Hasher
	// MaxCached bounds the aggregates of each kind kept in memory. Zero
	// means 100,000.
	MaxCached int
	// Demo allows seeded demo accounts to log in without a password.
	Demo bool
	// Shared says that other processes append to the store too (the nodes
	// of a cluster): a cached aggregate may then be behind, so a refusal,
	// a decision to do nothing, or a read is checked against the
	// stream's newest records first. Alone on its store, the cache is the
	// truth and that read is saved.
	Shared bool
}

// Handlers executes every command of Switchboard. Each method loads the
// aggregate (from its cache, or by folding its stream), lets the domain
// decide, and appends the events with the expected revision. Safe for
// concurrent use.
type Handlers struct {
	store  eventstore.Store
	policy domain.Policy
	clock  Clock
	hasher Hasher
	demo   bool

	users    *repo[user.State, user.Command]
	sessions *repo[session.State, session.Command]
	rooms    *repo[room.State, room.Command]
	presence *repo[presence.State, presence.Command]
	quotas   *repo[quota.State, quota.Command]
	bots     *repo[quota.SwitchState, quota.SetBotsEnabled]
}

// New returns the handlers over store.
func New(store eventstore.Store, cfg Config) (*Handlers, error) {
	if cfg.Policy == (domain.Policy{}) {
		cfg.Policy = domain.DefaultPolicy()
	}
	if err := cfg.Policy.Validate(); err != nil {
		return nil, err
	}
	if cfg.Clock == nil {
		cfg.Clock = SystemClock{}
	}
	if cfg.Hasher == nil {
		cfg.Hasher = Argon2{}
	}
	if cfg.MaxCached <= 0 {
		cfg.MaxCached = 100_000
	}
	p := cfg.Policy
	h := &Handlers{store: store, policy: p, clock: cfg.Clock, hasher: cfg.Hasher, demo: cfg.Demo}
	h.users = newRepo(kind[user.State, user.Command]{stream: user.Stream, decide: user.Decide, evolve: user.Evolve}, store, p, cfg.MaxCached, cfg.Shared)
	h.sessions = newRepo(kind[session.State, session.Command]{stream: session.Stream, decide: session.Decide, evolve: session.Evolve}, store, p, cfg.MaxCached, cfg.Shared)
	h.rooms = newRepo(kind[room.State, room.Command]{
		initial: func() room.State { return room.New(p) },
		stream:  room.Stream, decide: room.Decide, evolve: room.Evolve,
	}, store, p, cfg.MaxCached, cfg.Shared)
	h.presence = newRepo(kind[presence.State, presence.Command]{stream: presence.Stream, decide: presence.Decide, evolve: presence.Evolve}, store, p, cfg.MaxCached, cfg.Shared)
	h.quotas = newRepo(kind[quota.State, quota.Command]{stream: quota.Stream, decide: quota.Decide, evolve: quota.Evolve}, store, p, 8, cfg.Shared)
	h.bots = newRepo(kind[quota.SwitchState, quota.SetBotsEnabled]{
		stream: func(string) string { return quota.SwitchStream() },
		decide: func(s quota.SwitchState, c quota.SetBotsEnabled, _ domain.Policy) ([]domain.Event, error) {
			return quota.DecideSwitch(s, c)
		},
		evolve: quota.EvolveSwitch,
	}, store, p, 1, cfg.Shared)
	return h, nil
}

// Policy returns the policy the handlers decide with.
func (h *Handlers) Policy() domain.Policy { return h.policy }

// now is the command time: UTC, to the millisecond, as the wire carries it.
func (h *Handlers) now() time.Time { return h.clock.Now().UTC().Truncate(time.Millisecond) }

// clientMeta is the metadata of a command a user's client sent with its
// own command id.
func clientMeta(userHandle, clientID string, at time.Time) Meta {
	return Meta{User: userHandle, CommandID: ClientCommandID(userHandle, clientID), At: at}
}

// Ack is what a command that acted on a room answers.
type Ack struct {
	// Room is the room acted on (for create and direct rooms, the id the
	// server chose).
	Room string
	// Seq and At are the posted message's, for posts; At is the command
	// time otherwise.
	Seq uint64
	At  time.Time
	// Position is where the events landed in the log (0 when nothing was
	// appended): wait for the projections to reach it before reading them
	// back (read-your-writes).
	Position uint64
	// Duplicate: the command was applied before (same user and client
	// id); this is the original outcome and nothing was appended.
	Duplicate bool
}

// roomCommand runs a room command and turns its outcome, or the domain's
// duplicate answer, into an Ack.
func (h *Handlers) roomCommand(ctx context.Context, id string, cmd room.Command, meta Meta) (Ack, error) {
	out, err := h.rooms.execute(ctx, id, cmd, meta)
	var dup *domain.DuplicateError
	if errors.As(err, &dup) {
		ack := Ack{Room: dup.Room, Seq: dup.Seq, At: dup.At, Duplicate: true}
		if ack.Room == "" {
			ack.Room = id
		}
		return ack, nil
	}
	if err != nil {
		return Ack{}, err
	}
	ack := Ack{Room: id, At: meta.At, Position: out.Result.Position}
	for _, ev := range out.Events {
		if m, ok := ev.(room.MessagePosted); ok {
			ack.Seq, ack.At = m.Seq, m.At
		}
	}
	return ack, nil
}
