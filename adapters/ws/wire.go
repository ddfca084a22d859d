package ws

import (
	"encoding/json"
	"time"
)

// Server frames (PROTOCOL.md, "Server → client"). Times are Unix
// milliseconds.

// Message is a room message as clients see it.
type Message struct {
	ID         string `json:"id"`
	Seq        uint64 `json:"seq"`
	Sender     string `json:"sender,omitempty"`
	SenderName string `json:"senderName,omitempty"`
	Kind       string `json:"kind"`
	Text       string `json:"text,omitempty"`
	Wink       string `json:"wink,omitempty"`
	At         int64  `json:"at"`
}

// Presence is one user's presence as a given viewer sees it.
type Presence struct {
	User            string `json:"user"`
	Status          string `json:"status"`
	DisplayName     string `json:"displayName"`
	PersonalMessage string `json:"personalMessage"`
	Avatar          string `json:"avatar,omitempty"`
	Bot             bool   `json:"bot,omitempty"`
}

// RoomInfo is a room as listed in welcome.
type RoomInfo struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	Visibility string   `json:"visibility"`
	LastSeq    uint64   `json:"lastSeq"`
	Members    []string `json:"members,omitempty"`
}

type userInfo struct {
	Handle          string `json:"handle"`
	DisplayName     string `json:"displayName"`
	PersonalMessage string `json:"personalMessage"`
	Avatar          string `json:"avatar,omitempty"`
	Status          string `json:"status"`
}

type welcomeFrame struct {
	Type      string     `json:"type"`
	User      userInfo   `json:"user"`
	ExpiresAt int64      `json:"expiresAt"`
	Rooms     []RoomInfo `json:"rooms"`
	Presence  []Presence `json:"presence"`
	Limits    any        `json:"limits"`
}

type ackFrame struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	Seq  uint64 `json:"seq,omitempty"`
	At   int64  `json:"at,omitempty"`
	Room string `json:"room,omitempty"`
}

type errorFrame struct {
	Type         string `json:"type"`
	ID           string `json:"id,omitempty"`
	Code         string `json:"code"`
	Message      string `json:"message"`
	RetryAfterMs int64  `json:"retryAfterMs,omitempty"`
}

type historyFrame struct {
	Type     string    `json:"type"`
	Room     string    `json:"room"`
	Messages []Message `json:"messages"`
	Complete bool      `json:"complete"`
}

type messageFrame struct {
	Type    string  `json:"type"`
	Room    string  `json:"room"`
	Message Message `json:"message"`
}

type memberFrame struct {
	Type   string `json:"type"`
	Room   string `json:"room"`
	User   string `json:"user"`
	Change string `json:"change"`
}

type typingFrame struct {
	Type   string `json:"type"`
	Room   string `json:"room"`
	User   string `json:"user"`
	Typing bool   `json:"typing"`
}

type receiptFrame struct {
	Type string `json:"type"`
	Room string `json:"room"`
	User string `json:"user"`
	Seq  uint64 `json:"seq"`
}

type presenceFrame struct {
	Type string `json:"type"`
	Presence
}

type heartbeatFrame struct {
	Type      string `json:"type"`
	At        int64  `json:"at"`
	ExpiresAt int64  `json:"expiresAt"`
}

type goodbyeFrame struct {
	Type   string `json:"type"`
	Reason string `json:"reason"`
}

// Goodbye reasons.
const (
	reasonSessionExpired   = "session_expired"
	reasonLoggedOut        = "logged_out"
	reasonHeartbeatTimeout = "heartbeat_timeout"
	reasonSlowConsumer     = "slow_consumer"
	reasonServerShutdown   = "server_shutdown"
)

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// encode marshals a server frame; every frame type above marshals.
func encode(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("ws: unencodable frame: " + err.Error())
	}
	return b
}
