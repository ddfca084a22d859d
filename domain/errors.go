package domain

import (
	"errors"
	"fmt"
	"time"
)

// Fixed rejections shared by every aggregate. Deciders return them as they
// are or wrapped in one of the typed errors below; match with errors.Is.
var (
	// ErrNotMember: the acting user is not a member of the room.
	ErrNotMember = errors.New("domain: not a member")
	// ErrForbidden: the acting user may not do this (wrong visibility, not
	// invited, not one of a direct room's two users, a conflicting id).
	ErrForbidden = errors.New("domain: forbidden")
	// ErrNotFound: the aggregate (room, user, session, reservation) does
	// not exist.
	ErrNotFound = errors.New("domain: not found")
	// ErrInvalid: a malformed payload; every *InvalidError matches it.
	ErrInvalid = errors.New("domain: invalid")
	// ErrTooLong: a text over its limit; every *TooLongError matches it.
	ErrTooLong = errors.New("domain: too long")
	// ErrHandleTaken: a user with this handle is already registered.
	ErrHandleTaken = errors.New("domain: handle taken")
	// ErrInvalidCredentials: the password (or demo login) was refused.
	ErrInvalidCredentials = errors.New("domain: invalid credentials")
	// ErrVerificationFailed: the human verification (proof of work,
	// Turnstile) was refused.
	ErrVerificationFailed = errors.New("domain: verification failed")
	// ErrSessionEnded: the session was ended or has expired.
	ErrSessionEnded = errors.New("domain: session ended")
	// ErrBotsDisabled: the bot kill switch is off.
	ErrBotsDisabled = errors.New("domain: bots disabled")

	// ErrRateLimited matches every *RateLimitedError.
	ErrRateLimited = errors.New("domain: rate limited")
	// ErrQuotaExhausted matches every *QuotaExhaustedError.
	ErrQuotaExhausted = errors.New("domain: quota exhausted")
	// ErrDuplicate matches every *DuplicateError.
	ErrDuplicate = errors.New("domain: duplicate command")
)

// RateLimitedError rejects a post that would exceed the sender's rate window
// (Policy.ChatLimit and the like). The window is kept in the aggregate's
// state, so it holds across reconnects and restarts.
type RateLimitedError struct {
	// Action is what was limited: "chat", "nudge" or "wink".
	Action string
	// RetryAfter is how long until the oldest post of the window leaves it,
	// i.e. the earliest moment the same post would be accepted. Positive.
	RetryAfter time.Duration
}

func (e *RateLimitedError) Error() string {
	return fmt.Sprintf("domain: rate limited: too many %ss, retry after %s", e.Action, e.RetryAfter)
}

// Is matches ErrRateLimited and an equal *RateLimitedError.
func (e *RateLimitedError) Is(target error) bool {
	if target == ErrRateLimited {
		return true
	}
	t, ok := target.(*RateLimitedError)
	return ok && t != nil && *t == *e
}

// The quotas a QuotaExhaustedError can name.
const (
	QuotaUser   = "user"   // the user's bot replies of the day
	QuotaGlobal = "global" // everyone's bot replies of the day
	QuotaTokens = "tokens" // the day's LLM token budget
)

// QuotaExhaustedError rejects a bot reservation because a daily quota is
// used up. When several are, the global one is named.
type QuotaExhaustedError struct {
	// Quota is QuotaGlobal, QuotaUser or QuotaTokens.
	Quota string
}

func (e *QuotaExhaustedError) Error() string {
	return "domain: quota exhausted: " + e.Quota
}

// Is matches ErrQuotaExhausted and an equal *QuotaExhaustedError.
func (e *QuotaExhaustedError) Is(target error) bool {
	if target == ErrQuotaExhausted {
		return true
	}
	t, ok := target.(*QuotaExhaustedError)
	return ok && t != nil && *t == *e
}

// InvalidError rejects a malformed field of a command.
type InvalidError struct {
	// Field is the command field at fault, as named in Go ("Text").
	Field string
	// Reason says what is wrong, lowercase ("empty", "invalid UTF-8").
	Reason string
}

func (e *InvalidError) Error() string {
	return "domain: invalid " + e.Field + ": " + e.Reason
}

// Is matches ErrInvalid and an equal *InvalidError.
func (e *InvalidError) Is(target error) bool {
	if target == ErrInvalid {
		return true
	}
	t, ok := target.(*InvalidError)
	return ok && t != nil && *t == *e
}

// TooLongError rejects a text over its limit. It matches ErrTooLong, not
// ErrInvalid: the protocol has a code of its own for it.
type TooLongError struct {
	Field string
	// Max is the limit in runes (Unicode code points), after trimming.
	Max int
}

func (e *TooLongError) Error() string {
	return fmt.Sprintf("domain: %s too long: at most %d characters", e.Field, e.Max)
}

// Is matches ErrTooLong and an equal *TooLongError.
func (e *TooLongError) Is(target error) bool {
	if target == ErrTooLong {
		return true
	}
	t, ok := target.(*TooLongError)
	return ok && t != nil && *t == *e
}

// DuplicateError answers a command that was already applied: the same
// acting user and client command id (or the same reservation id, or a
// second bot reply to the same message). Nothing is to be appended; the
// caller answers with the original outcome, so a resend after a reconnect
// or a restart gets the same ack as the first send.
type DuplicateError struct {
	// ID is the command id that repeats (client id, reservation id, or
	// "trigger:<seq>" for a second bot reply to one message).
	ID string
	// Room is the room the original command acted on, if any.
	Room string
	// Seq is the seq of the message the original command posted, or 0 if
	// it posted none.
	Seq uint64
	// At is when the original command was applied.
	At time.Time
}

func (e *DuplicateError) Error() string {
	return fmt.Sprintf("domain: duplicate command %q", e.ID)
}

// Is matches ErrDuplicate and an equal *DuplicateError.
func (e *DuplicateError) Is(target error) bool {
	if target == ErrDuplicate {
		return true
	}
	t, ok := target.(*DuplicateError)
	return ok && t != nil && t.ID == e.ID && t.Room == e.Room && t.Seq == e.Seq && t.At.Equal(e.At)
}
