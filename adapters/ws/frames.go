package ws

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Limits of the wire protocol (PROTOCOL.md).
const (
	// MaxFrameBytes is the largest client frame; a larger one closes the
	// socket with 1009.
	MaxFrameBytes = 16 << 10
	// MaxIDLen bounds a frame's client-chosen id.
	MaxIDLen = 64
	// maxDepth bounds JSON nesting: the deepest legal frame is hello's
	// resume map (2).
	maxDepth = 4
	// maxResumeRooms bounds the rooms one hello may resume.
	maxResumeRooms = 1000
)

// Client frame types.
const (
	typeHello      = "hello"
	typeJoin       = "join"
	typeLeave      = "leave"
	typeCreateRoom = "create_room"
	typeInvite     = "invite"
	typeDM         = "dm"
	typeChat       = "chat"
	typeNudge      = "nudge"
	typeWink       = "wink"
	typeTyping     = "typing"
	typeRead       = "read"
	typePresence   = "presence"
	typeHeartbeat  = "heartbeat"
)

// frame is a decoded client frame. Only the fields of its type are set.
type frame struct {
	Type string `json:"type"`
	ID   string `json:"id,omitempty"`

	Token  string            `json:"token,omitempty"`
	Resume map[string]uint64 `json:"resume,omitempty"`

	Room       string  `json:"room,omitempty"`
	User       string  `json:"user,omitempty"`
	Name       string  `json:"name,omitempty"`
	Visibility string  `json:"visibility,omitempty"`
	Text       *string `json:"text,omitempty"`
	Wink       string  `json:"wink,omitempty"`
	Typing     *bool   `json:"typing,omitempty"`
	Seq        *uint64 `json:"seq,omitempty"`

	Status          *string `json:"status,omitempty"`
	DisplayName     *string `json:"displayName,omitempty"`
	PersonalMessage *string `json:"personalMessage,omitempty"`
}

// fields lists, per type, the keys a frame may carry and which are
// required. Anything else is refused: a client that sends a field we do
// not know is told, rather than silently ignored.
var fields = map[string]struct{ allowed, required []string }{
	typeHello:      {[]string{"token", "resume"}, []string{"token"}},
	typeJoin:       {[]string{"id", "room"}, []string{"id", "room"}},
	typeLeave:      {[]string{"id", "room"}, []string{"id", "room"}},
	typeCreateRoom: {[]string{"id", "name", "visibility"}, []string{"id", "name", "visibility"}},
	typeInvite:     {[]string{"id", "room", "user"}, []string{"id", "room", "user"}},
	typeDM:         {[]string{"id", "user"}, []string{"id", "user"}},
	typeChat:       {[]string{"id", "room", "text"}, []string{"id", "room", "text"}},
	typeNudge:      {[]string{"id", "room"}, []string{"id", "room"}},
	typeWink:       {[]string{"id", "room", "wink"}, []string{"id", "room", "wink"}},
	typeTyping:     {[]string{"room", "typing"}, []string{"room", "typing"}},
	typeRead:       {[]string{"room", "seq"}, []string{"room", "seq"}},
	typePresence:   {[]string{"id", "status", "displayName", "personalMessage"}, []string{"id"}},
	typeHeartbeat:  {nil, nil},
}

// errInvalidUTF8 closes the socket with 1007: encoding/json would silently
// replace the bad bytes, so they are caught before it sees them.
var errInvalidUTF8 = errors.New("ws: frame is not valid UTF-8")

// payloadError is a frame the server cannot act on; the socket stays open
// and the client gets an error frame (invalid_payload) with the frame's id
// when it could be read.
type payloadError struct {
	id, msg string
}

func (e *payloadError) Error() string { return "ws: invalid frame: " + e.msg }

func invalid(id, format string, args ...any) error {
	return &payloadError{id: id, msg: fmt.Sprintf(format, args...)}
}

// decodeFrame parses one client frame strictly: valid UTF-8, one JSON
// object, no duplicate or case-variant keys, nesting within maxDepth, no
// trailing data, a known type, exactly that type's fields, each of the
// right JSON type.
func decodeFrame(b []byte) (frame, error) {
	var f frame
	if !utf8.Valid(b) {
		return f, errInvalidUTF8
	}
	keys, err := scanObject(b)
	if err != nil {
		return f, invalid("", "%v", err)
	}
	// One decoding: encoding/json goes on past a field of the wrong type
	// and reports the first, so type and id are read whatever else is
	// wrong; the error waits until the keys are checked, whose errors come
	// first. A key that is no field of frame (which encoding/json would
	// skip) is refused by those checks.
	decErr := json.Unmarshal(b, &f)
	// The id, when readable, is echoed in the error frame so the client
	// can match the rejection to what it sent.
	id := f.ID
	if len(id) > MaxIDLen || !utf8.ValidString(id) {
		id = ""
	}
	if keys["type"] == 0 {
		return frame{}, invalid(id, "missing type")
	}
	spec, ok := fields[f.Type]
	if !ok {
		return frame{}, invalid(id, "unknown type %.40q", f.Type)
	}
	for k := range keys {
		if k != "type" && !contains(spec.allowed, k) {
			return frame{}, invalid(id, "%s frames have no field %.40q", f.Type, k)
		}
	}
	for _, k := range spec.required {
		if keys[k] == 0 {
			return frame{}, invalid(id, "%s frames need %q", f.Type, k)
		}
	}
	if decErr != nil {
		var te *json.UnmarshalTypeError
		if errors.As(decErr, &te) {
			return f, invalid(id, "field %q has the wrong type (%s)", te.Field, te.Value)
		}
		return f, invalid(id, "%v", decErr)
	}
	if contains(spec.allowed, "id") {
		if f.ID == "" || utf8.RuneCountInString(f.ID) > MaxIDLen {
			return f, invalid(id, "id must be 1 to %d characters", MaxIDLen)
		}
	}
	if len(f.Resume) > maxResumeRooms {
		return f, invalid(id, "resume names more than %d rooms", maxResumeRooms)
	}
	return f, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// scanObject checks that b is exactly one JSON object with unique keys
// (compared case-insensitively, since encoding/json matches them so) at
// every level and nesting no deeper than maxDepth. It returns the top
// level's keys (with a count each, all 1).
func scanObject(b []byte) (map[string]int, error) {
	if keys, ok := scanFlat(b); ok {
		return keys, nil
	}
	return scanTokens(b)
}

// scanFlat is scanObject for the common frame: valid JSON, one object
// whose values are strings, numbers, booleans or null, with unique keys
// of ASCII characters and no escapes. It reports false for anything else
// (scanTokens decides), so its answers are scanTokens' at a tenth of the
// cost: a chat frame is read without a token allocated per key and value.
func scanFlat(b []byte) (map[string]int, bool) {
	if !json.Valid(b) {
		return nil, false
	}
	// Valid: one value, only whitespace around it, well-formed strings.
	i := skipSpace(b, 0)
	if b[i] != '{' {
		return nil, false
	}
	keys := make(map[string]int, 8)
	for i = skipSpace(b, i+1); b[i] != '}'; {
		j := i + 1 // b[i] is the key's opening quote
		for ; b[j] != '"'; j++ {
			if b[j] == '\\' || b[j] >= utf8.RuneSelf {
				return nil, false
			}
		}
		key := string(b[i+1 : j])
		for k := range keys {
			if strings.EqualFold(k, key) { // ASCII: as strings.ToLower
				return nil, false
			}
		}
		keys[key] = 1
		i = skipSpace(b, skipSpace(b, j+1)+1) // past the colon
		switch b[i] {
		case '{', '[':
			return nil, false
		case '"':
			for i++; b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
			i++
		default:
			for i < len(b) && b[i] != ',' && b[i] != '}' && !isSpace(b[i]) {
				i++
			}
		}
		if i = skipSpace(b, i); b[i] == ',' {
			i = skipSpace(b, i+1)
		}
	}
	return keys, true
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// scanTokens is scanObject for any input, with encoding/json's tokenizer.
func scanTokens(b []byte) (map[string]int, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("not JSON: %v", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("a frame is a JSON object")
	}
	top := map[string]int{}
	// stack of key sets for the open objects (nil for arrays)
	stack := []map[string]bool{{}}
	expectKey := []bool{true}
	for len(stack) > 0 {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("not JSON: %v", err)
		}
		level := len(stack) - 1
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{', '[':
				if len(stack) >= maxDepth {
					return nil, fmt.Errorf("nested deeper than %d", maxDepth)
				}
				if d == '{' {
					stack = append(stack, map[string]bool{})
				} else {
					stack = append(stack, nil)
				}
				if stack[level] != nil {
					expectKey[level] = true
				}
				expectKey = append(expectKey, d == '{')
			case '}', ']':
				stack = stack[:level]
				expectKey = expectKey[:level]
			}
			continue
		}
		if stack[level] != nil && expectKey[level] {
			key, _ := tok.(string)
			fold := strings.ToLower(key)
			if stack[level][fold] {
				return nil, fmt.Errorf("duplicate key %.40q", key)
			}
			stack[level][fold] = true
			if level == 0 {
				top[key]++
			}
			expectKey[level] = false
			continue
		}
		if stack[level] != nil {
			expectKey[level] = true
		}
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the frame")
	}
	return top, nil
}
