package domain

import (
	"errors"
	"fmt"
	"time"
)

// Policy holds the limits the deciders enforce. It is configuration, passed
// to every Decide call; it is never stored in events, so changing it takes
// effect on the next command without rewriting history.
//
// For every limit, zero disables it and negative values are invalid, except
// where a field says otherwise. The room decider also sizes the retention of
// its state (rate windows, remembered command ids) from the Policy given to
// room.New, so a room State must be decided with the Policy it was built
// with.
type Policy struct {
	// ChatLimit is how many chat messages one user may post in one room
	// within any ChatWindow (a sliding window, decided from the post times
	// kept in the room's state). Zero: unlimited.
	ChatLimit int
	// ChatWindow is the length of the chat window. Must be positive when
	// ChatLimit is.
	ChatWindow time.Duration
	// NudgeLimit and NudgeWindow: the same, for nudges.
	NudgeLimit  int
	NudgeWindow time.Duration
	// WinkLimit and WinkWindow: the same, for winks.
	WinkLimit  int
	WinkWindow time.Duration

	// MaxTextRunes limits a message text, in Unicode code points after
	// trimming. Zero: no limit (the transport still bounds frame sizes).
	MaxTextRunes int
	// MaxDisplayNameRunes limits a user's display name. Zero: no limit.
	MaxDisplayNameRunes int
	// MaxPersonalMessageRunes limits a user's personal message. Zero: no
	// limit.
	MaxPersonalMessageRunes int
	// MaxRoomNameRunes limits a room's name. Zero: no limit.
	MaxRoomNameRunes int

	// SessionTTL is the sliding lifetime of a session: each recorded
	// renewal moves the expiry to the renewal time plus SessionTTL. Must be
	// positive.
	SessionTTL time.Duration
	// SessionRenewInterval coalesces renewals: a renewal is recorded only
	// if the last recorded one (or the start) is at least this old, so
	// heartbeats every 30 s cost one event every few minutes. Zero: every
	// renewal is recorded. Must be shorter than SessionTTL.
	SessionRenewInterval time.Duration
	// SessionMaxLifetime caps a session's expiry at its start plus this,
	// however often it is renewed. Zero: no cap. At least SessionTTL when
	// set.
	SessionMaxLifetime time.Duration

	// HeartbeatInterval coalesces presence heartbeats: one is recorded at
	// most once per interval. Zero: every heartbeat is recorded.
	HeartbeatInterval time.Duration
	// PresenceTimeout is how long without a recorded heartbeat before the
	// sweeper marks a user offline. Zero: never. Must exceed
	// HeartbeatInterval when both are set, or coalescing alone would time
	// users out.
	PresenceTimeout time.Duration

	// BotRepliesPerUserPerDay caps the bot replies triggered by one user in
	// one UTC day, counting charged replies and outstanding reservations.
	// Zero: unlimited.
	BotRepliesPerUserPerDay int
	// BotRepliesPerDay caps everyone's bot replies in one UTC day, counted
	// the same way. Zero: unlimited.
	BotRepliesPerDay int
	// BotTokensPerDay caps the LLM tokens (prompt plus generated) of one UTC
	// day, counting charged tokens and BotReservationTokens per outstanding
	// reservation. Zero: unlimited.
	BotTokensPerDay int
	// BotReservationTokens is the number of tokens set aside by a
	// reservation until it is charged with the real count or released.
	// Zero: nothing is set aside.
	BotReservationTokens int

	// DedupWindow is how long a room remembers the (user, client id) of an
	// applied command, so that a resend is answered with the original ack.
	// Ids older than this (measured against the newest remembered command)
	// are forgotten. Zero: no age limit.
	DedupWindow time.Duration
	// DedupMaxPerRoom is how many command ids a room remembers at most; the
	// oldest are forgotten first. Zero: no count limit. DedupWindow and
	// DedupMaxPerRoom may not both be zero, or a room's state would grow
	// without bound.
	DedupMaxPerRoom int
}

// DefaultPolicy returns the limits Switchboard runs with unless configured
// otherwise. They follow the wire protocol (PROTOCOL.md) and the reference
// system's published numbers.
func DefaultPolicy() Policy {
	return Policy{
		ChatLimit:   20,
		ChatWindow:  30 * time.Second,
		NudgeLimit:  3,
		NudgeWindow: 10 * time.Second,
		WinkLimit:   3,
		WinkWindow:  10 * time.Second,

		MaxTextRunes:            2048,
		MaxDisplayNameRunes:     50,
		MaxPersonalMessageRunes: 128,
		MaxRoomNameRunes:        64,

		SessionTTL:           20 * time.Minute,
		SessionRenewInterval: 2 * time.Minute,
		SessionMaxLifetime:   12 * time.Hour,

		HeartbeatInterval: 60 * time.Second,
		PresenceTimeout:   150 * time.Second,

		BotRepliesPerUserPerDay: 50,
		BotRepliesPerDay:        4000,
		BotTokensPerDay:         2_000_000,
		BotReservationTokens:    1024,

		DedupWindow:     24 * time.Hour,
		DedupMaxPerRoom: 10_000,
	}
}

// Validate reports every problem of p at once (joined with errors.Join), or
// nil if p is usable.
func (p Policy) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("domain: policy: "+format, args...))
	}
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"ChatLimit", int64(p.ChatLimit)},
		{"ChatWindow", int64(p.ChatWindow)},
		{"NudgeLimit", int64(p.NudgeLimit)},
		{"NudgeWindow", int64(p.NudgeWindow)},
		{"WinkLimit", int64(p.WinkLimit)},
		{"WinkWindow", int64(p.WinkWindow)},
		{"MaxTextRunes", int64(p.MaxTextRunes)},
		{"MaxDisplayNameRunes", int64(p.MaxDisplayNameRunes)},
		{"MaxPersonalMessageRunes", int64(p.MaxPersonalMessageRunes)},
		{"MaxRoomNameRunes", int64(p.MaxRoomNameRunes)},
		{"SessionTTL", int64(p.SessionTTL)},
		{"SessionRenewInterval", int64(p.SessionRenewInterval)},
		{"SessionMaxLifetime", int64(p.SessionMaxLifetime)},
		{"HeartbeatInterval", int64(p.HeartbeatInterval)},
		{"PresenceTimeout", int64(p.PresenceTimeout)},
		{"BotRepliesPerUserPerDay", int64(p.BotRepliesPerUserPerDay)},
		{"BotRepliesPerDay", int64(p.BotRepliesPerDay)},
		{"BotTokensPerDay", int64(p.BotTokensPerDay)},
		{"BotReservationTokens", int64(p.BotReservationTokens)},
		{"DedupWindow", int64(p.DedupWindow)},
		{"DedupMaxPerRoom", int64(p.DedupMaxPerRoom)},
	} {
		if f.v < 0 {
			bad("%s is negative", f.name)
		}
	}
	for _, w := range []struct {
		limit  string
		n      int
		window string
		d      time.Duration
	}{
		{"ChatLimit", p.ChatLimit, "ChatWindow", p.ChatWindow},
		{"NudgeLimit", p.NudgeLimit, "NudgeWindow", p.NudgeWindow},
		{"WinkLimit", p.WinkLimit, "WinkWindow", p.WinkWindow},
	} {
		if w.n > 0 && w.d <= 0 {
			bad("%s must be positive when %s is set", w.window, w.limit)
		}
	}
	if p.SessionTTL <= 0 {
		bad("SessionTTL must be positive")
	}
	if p.SessionRenewInterval >= p.SessionTTL && p.SessionTTL > 0 {
		bad("SessionRenewInterval (%s) must be shorter than SessionTTL (%s)", p.SessionRenewInterval, p.SessionTTL)
	}
	if p.SessionMaxLifetime > 0 && p.SessionMaxLifetime < p.SessionTTL {
		bad("SessionMaxLifetime (%s) must be at least SessionTTL (%s)", p.SessionMaxLifetime, p.SessionTTL)
	}
	if p.PresenceTimeout > 0 && p.HeartbeatInterval > 0 && p.PresenceTimeout <= p.HeartbeatInterval {
		bad("PresenceTimeout (%s) must exceed HeartbeatInterval (%s)", p.PresenceTimeout, p.HeartbeatInterval)
	}
	if p.DedupWindow == 0 && p.DedupMaxPerRoom == 0 {
		bad("DedupWindow and DedupMaxPerRoom are both zero: rooms would remember command ids forever")
	}
	return errors.Join(errs...)
}
