package httpapi

import (
	"time"

	"switchboard/commands"
	"switchboard/domain"
	"switchboard/domain/room"
	"switchboard/domain/user"
)

// The JSON shapes of the API. Times on the wire are Unix milliseconds.

// Envelope is every JSON response (PROTOCOL.md): Success is true iff the
// status is 2xx; Data is set on success (and on a failed readiness check,
// which also reports its state), Error on failure.
type Envelope struct {
	Success bool       `json:"success"`
	Data    any        `json:"data,omitempty"`
	Error   *ErrorBody `json:"error,omitempty"`
	Meta    Meta       `json:"meta"`
}

// ErrorBody is the error of a failed request. RetryAfterMs is set with
// 429 too_many_attempts and 503 unavailable; the Retry-After header then
// carries the same delay in whole seconds, rounded up.
type ErrorBody struct {
	Code         string `json:"code"`
	Message      string `json:"message"`
	RetryAfterMs int64  `json:"retryAfterMs,omitempty"`
}

// Meta identifies a response. RequestID is a fresh UUIDv4 per request,
// also sent as the X-Request-Id header and logged with the request.
type Meta struct {
	Timestamp int64  `json:"timestamp"`
	RequestID string `json:"requestId"`
}

// User is a directory entry: a human or a bot.
type User struct {
	Handle          string `json:"handle"`
	DisplayName     string `json:"displayName"`
	Avatar          string `json:"avatar"`
	PersonalMessage string `json:"personalMessage"`
	// Status is "online", "busy", "away", "invisible" or "offline". The
	// API shows "invisible" only to the user themself (GET
	// /api/auth/me); the directory shows it as "offline" whatever Views
	// returns.
	Status string `json:"status"`
	Bot    bool   `json:"bot"`
}

// Room is a room as GET /api/rooms lists it.
type Room struct {
	ID         string          `json:"id"`
	Name       string          `json:"name"`
	Visibility room.Visibility `json:"visibility"`
	// Members is the member list; Views may leave it empty for large
	// public rooms.
	Members []string `json:"members,omitempty"`
	// LastSeq is the seq of the room's newest message (0: none yet).
	LastSeq uint64 `json:"lastSeq"`
	// Invited: the caller is invited to this private room and has not
	// joined it yet.
	Invited bool `json:"invited,omitempty"`
}

// Message is a room message, as in the WebSocket protocol.
type Message struct {
	ID         string `json:"id"`
	Seq        uint64 `json:"seq"`
	Sender     string `json:"sender,omitempty"`
	SenderName string `json:"senderName,omitempty"`
	// Kind is "chat", "nudge", "wink", "bot" or "system".
	Kind string `json:"kind"`
	Text string `json:"text,omitempty"`
	Wink string `json:"wink,omitempty"`
	// At is Unix milliseconds.
	At int64 `json:"at"`
}

// SessionInfo is a session as the read side knows it. It never leaves the
// server.
type SessionInfo struct {
	ID   string
	User string
	// TokenHash is commands.TokenHash of the session's token, as recorded
	// in SessionStarted. The API compares it with the hash of the
	// presented token in constant time.
	TokenHash string
	ExpiresAt time.Time
	// Ended: logged out, expired or revoked.
	Ended bool
}

// DemoAccount is a seeded account listed on the sign-in page in demo mode.
type DemoAccount struct {
	Handle      string `json:"handle"`
	DisplayName string `json:"displayName"`
}

// Limits tells clients what the server enforces; GET /api/config reports
// it as given. The JSON names match the WebSocket welcome's limits.
// LimitsFromPolicy fills the fields that follow from the domain policy.
type Limits struct {
	MaxFrameBytes       int   `json:"maxFrameBytes"`
	MaxTextChars        int   `json:"maxTextChars"`
	HeartbeatIntervalMs int64 `json:"heartbeatIntervalMs,omitempty"`
	IdleTimeoutMs       int64 `json:"idleTimeoutMs,omitempty"`
	TypingTTLMs         int64 `json:"typingTtlMs,omitempty"`

	ChatPerWindow  int   `json:"chatPerWindow"`
	ChatWindowMs   int64 `json:"chatWindowMs"`
	NudgePerWindow int   `json:"nudgePerWindow"`
	NudgeWindowMs  int64 `json:"nudgeWindowMs"`
	WinkPerWindow  int   `json:"winkPerWindow"`
	WinkWindowMs   int64 `json:"winkWindowMs"`
	// Winks is the wink catalogue.
	Winks []string `json:"winks"`

	// For the sign-up and profile forms.
	MinHandleChars          int `json:"minHandleChars,omitempty"`
	MaxHandleChars          int `json:"maxHandleChars,omitempty"`
	MinPasswordChars        int `json:"minPasswordChars,omitempty"`
	MaxPasswordChars        int `json:"maxPasswordChars,omitempty"`
	MaxDisplayNameChars     int `json:"maxDisplayNameChars,omitempty"`
	MaxPersonalMessageChars int `json:"maxPersonalMessageChars,omitempty"`
	MaxRoomNameChars        int `json:"maxRoomNameChars,omitempty"`
}

// LimitsFromPolicy returns the limits that follow from p, the wink
// catalogue and the handle and password rules. The transport's own
// (MaxFrameBytes, HeartbeatIntervalMs, IdleTimeoutMs, TypingTTLMs) are the
// gateway's: cmd sets them.
func LimitsFromPolicy(p domain.Policy) Limits {
	return Limits{
		MaxTextChars:            p.MaxTextRunes,
		ChatPerWindow:           p.ChatLimit,
		ChatWindowMs:            p.ChatWindow.Milliseconds(),
		NudgePerWindow:          p.NudgeLimit,
		NudgeWindowMs:           p.NudgeWindow.Milliseconds(),
		WinkPerWindow:           p.WinkLimit,
		WinkWindowMs:            p.WinkWindow.Milliseconds(),
		Winks:                   room.Winks(),
		MinHandleChars:          user.MinHandleLen,
		MaxHandleChars:          user.MaxHandleLen,
		MinPasswordChars:        commands.MinPasswordLen,
		MaxPasswordChars:        commands.MaxPasswordLen,
		MaxDisplayNameChars:     p.MaxDisplayNameRunes,
		MaxPersonalMessageChars: p.MaxPersonalMessageRunes,
		MaxRoomNameChars:        p.MaxRoomNameRunes,
	}
}

// Response bodies (the envelope's data).

type configData struct {
	Verifier          string        `json:"verifier"`
	TurnstileSiteKey  string        `json:"turnstileSiteKey,omitempty"`
	SessionTTLSeconds int64         `json:"sessionTtlSeconds"`
	Limits            Limits        `json:"limits"`
	Demo              bool          `json:"demo"`
	DemoAccounts      []DemoAccount `json:"demoAccounts,omitempty"`
}

type userData struct {
	User User `json:"user"`
}

type loginData struct {
	Token     string `json:"token"`
	User      User   `json:"user"`
	ExpiresAt int64  `json:"expiresAt"`
}

type meData struct {
	User      User  `json:"user"`
	ExpiresAt int64 `json:"expiresAt"`
}

type usersData struct {
	Users []User `json:"users"`
}

type roomsData struct {
	Rooms []Room `json:"rooms"`
}

type messagesData struct {
	Room string `json:"room"`
	// Messages are newest first.
	Messages []Message `json:"messages"`
	// Complete: no message older than the last one listed exists.
	Complete bool `json:"complete"`
}

type botsData struct {
	Enabled bool `json:"enabled"`
}

type readyData struct {
	Ready       bool   `json:"ready"`
	Store       string `json:"store"`
	Projections string `json:"projections"`
	Bots        string `json:"bots"`
}

// Request bodies. Every field is listed by its exact JSON name; decodeBody
// refuses any other key.

type registerRequest struct {
	Handle       string `json:"handle"`
	DisplayName  string `json:"displayName"`
	Password     string `json:"password"`
	Verification string `json:"verification"`
}

type loginRequest struct {
	Handle       string `json:"handle"`
	Password     string `json:"password"`
	Verification string `json:"verification"`
}

type botsRequest struct {
	Enabled *bool `json:"enabled"`
}

type emptyRequest struct{}

func millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}
