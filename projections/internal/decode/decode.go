package decode

import (
	"encoding/json"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"switchboard/domain"
	"switchboard/domain/codec"
	"switchboard/domain/presence"
	"switchboard/domain/quota"
	"switchboard/domain/room"
	"switchboard/domain/session"
	"switchboard/domain/user"
)

// Decode returns the event of type typ encoded in data: the same value and
// the same error as codec.Decode(typ, data), usually much faster. It is
// safe for concurrent use.
func Decode(typ string, data []byte) (domain.Event, error) {
	return (*Decoder)(nil).Decode(typ, data)
}

// Fast decodes data with the hand-written scanner only. ok is false when
// the payload holds anything the scanner does not handle (or is invalid);
// the caller then asks codec.Decode, which has the last word. Whenever ok
// is true, the event equals what codec.Decode returns.
func Fast(typ string, data []byte) (ev domain.Event, ok bool) {
	return (*Decoder)(nil).fast(typ, data)
}

// maxNames bounds a Decoder's table of shared names, and maxNameLen the
// names it shares.
const (
	maxNames   = 1 << 16
	maxNameLen = 64
)

// Decoder decodes like Decode, and makes the events it returns share the
// memory of names that repeat from record to record (room ids, handles,
// days), which saves an allocation per name and the memory of every copy a
// projection keeps. A Decoder is not safe for concurrent use; the nil
// *Decoder shares nothing and is.
type Decoder struct {
	names map[string]string
}

// NewDecoder returns a decoder with an empty table of names.
func NewDecoder() *Decoder { return &Decoder{names: make(map[string]string)} }

// Decode is like the package's Decode.
func (d *Decoder) Decode(typ string, data []byte) (domain.Event, error) {
	if ev, ok := d.fast(typ, data); ok {
		return ev, nil
	}
	return codec.Decode(typ, data)
}

func (d *Decoder) fast(typ string, data []byte) (ev domain.Event, ok bool) {
	var names map[string]string
	if d != nil {
		names = d.names
	}
	switch typ {
	case "MessagePosted":
		return ret(messagePosted(data, names))
	case "HeartbeatRecorded":
		return ret(heartbeatRecorded(data, names))
	case "PresenceChanged":
		return ret(presenceChanged(data, names))
	case "ReadMarkerMoved":
		return ret(readMarkerMoved(data, names))
	case "SessionRenewed":
		return ret(sessionRenewed(data, names))
	case "SessionStarted":
		return ret(sessionStarted(data, names))
	case "SessionEnded":
		return ret(sessionEnded(data, names))
	case "MemberJoined":
		return ret(memberJoined(data, names))
	case "MemberLeft":
		return ret(memberLeft(data, names))
	case "MemberInvited":
		return ret(memberInvited(data, names))
	case "RoomCreated":
		return ret(roomCreated(data, names))
	case "UserRegistered":
		return ret(userRegistered(data, names))
	case "ProfileChanged":
		return ret(profileChanged(data, names))
	case "QuotaReserved":
		return ret(quotaReserved(data, names))
	case "QuotaCharged":
		return ret(quotaCharged(data, names))
	case "QuotaReleased":
		return ret(quotaReleased(data, names))
	case "BotsEnabled":
		by, at, ok := switchEvent(data, names)
		return ret(quota.BotsEnabled{By: by, At: at}, ok)
	case "BotsDisabled":
		by, at, ok := switchEvent(data, names)
		return ret(quota.BotsDisabled{By: by, At: at}, ok)
	}
	return nil, false
}

func ret[E domain.Event](e E, ok bool) (domain.Event, bool) {
	if !ok {
		return nil, false
	}
	return e, true
}

// scanner reads one flat JSON object. Every method is a no-op once ok is
// false, so a decoder checks ok once, at the end.
type scanner struct {
	b     []byte
	i     int
	ok    bool
	first bool
	seen  uint32            // fields already read: a repeat goes to the codec
	names map[string]string // shared names; nil: share nothing
}

func newScanner(b []byte, names map[string]string) scanner {
	s := scanner{b: b, ok: true, first: true, names: names}
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == '{' {
		s.i++
	} else {
		s.ok = false
	}
	return s
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// next reports whether another member follows, consuming the ',' or the
// closing '}'.
func (s *scanner) next() bool {
	if !s.ok {
		return false
	}
	s.ws()
	if s.i >= len(s.b) {
		s.ok = false
		return false
	}
	c := s.b[s.i]
	if c == '}' {
		s.i++
		return false
	}
	if s.first {
		s.first = false
		return true
	}
	if c != ',' {
		s.ok = false
		return false
	}
	s.i++
	return true
}

// key reads a member name and its ':'; field n of the object is marked
// seen, and a name seen before fails the scan.
func (s *scanner) key() []byte {
	s.ws()
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		s.ok = false
		return nil
	}
	start := s.i + 1
	j := start
	for j < len(s.b) && s.b[j] != '"' {
		if c := s.b[j]; c == '\\' || c < 0x20 {
			s.ok = false
			return nil
		}
		j++
	}
	if j >= len(s.b) {
		s.ok = false
		return nil
	}
	k := s.b[start:j]
	s.i = j + 1
	s.ws()
	if s.i >= len(s.b) || s.b[s.i] != ':' {
		s.ok = false
		return nil
	}
	s.i++
	s.ws()
	return k
}

// field marks field n as read; a repeat fails the scan (encoding/json lets
// the last one win, or merges objects: the codec decides those).
func (s *scanner) field(n uint) {
	if s.seen&(1<<n) != 0 {
		s.ok = false
	}
	s.seen |= 1 << n
}

// fail gives up (an unknown member: the codec ignores it or matches it
// case-insensitively).
func (s *scanner) fail() { s.ok = false }

// end checks that nothing but white space follows the object.
func (s *scanner) end() bool {
	if !s.ok {
		return false
	}
	s.ws()
	return s.i == len(s.b)
}

// rawString returns the string token at the cursor, quotes included, and
// whether it holds escapes or bytes that need more than a copy.
func (s *scanner) rawString() (raw []byte, plain bool) {
	if !s.ok || s.i >= len(s.b) || s.b[s.i] != '"' {
		s.ok = false
		return nil, false
	}
	start := s.i
	plain, ascii := true, true
	j := s.i + 1
	for j < len(s.b) {
		c := s.b[j]
		if c == '"' {
			break
		}
		if c == '\\' {
			plain = false
			j += 2
			continue
		}
		if c < 0x20 {
			s.ok = false
			return nil, false
		}
		if c >= 0x80 {
			ascii = false
		}
		j++
	}
	if j >= len(s.b) {
		s.ok = false
		return nil, false
	}
	s.i = j + 1
	raw = s.b[start:s.i]
	if plain && !ascii && !utf8.Valid(raw) {
		plain = false
	}
	return raw, plain
}

func (s *scanner) str() string {
	raw, plain := s.rawString()
	if !s.ok {
		return ""
	}
	if plain {
		return string(raw[1 : len(raw)-1])
	}
	return s.slow(raw)
}

// slow decodes a string with escapes (common: the codec escapes <, > and
// &) or invalid UTF-8 (rare: the standard library decides).
func (s *scanner) slow(raw []byte) string {
	if v, ok := unescape(raw[1 : len(raw)-1]); ok {
		return v
	}
	var v string
	if err := json.Unmarshal(raw, &v); err != nil {
		s.ok = false
	}
	return v
}

// unescape decodes the body of a JSON string as encoding/json does, for
// bodies that are valid UTF-8 without control characters (rawString
// checked that); ok is false for anything else, such as an unknown escape.
func unescape(body []byte) (string, bool) {
	if !utf8.Valid(body) {
		return "", false
	}
	b := make([]byte, 0, len(body))
	for i := 0; i < len(body); {
		c := body[i]
		if c != '\\' {
			b = append(b, c)
			i++
			continue
		}
		if i+1 >= len(body) {
			return "", false
		}
		switch body[i+1] {
		case '"', '\\', '/':
			b = append(b, body[i+1])
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r := getu4(body[i:])
			if r < 0 {
				return "", false
			}
			i += 6
			if utf16.IsSurrogate(r) {
				if dec := utf16.DecodeRune(r, getu4(body[i:])); dec != unicode.ReplacementChar {
					i += 6
					b = utf8.AppendRune(b, dec)
					continue
				}
				r = unicode.ReplacementChar
			}
			b = utf8.AppendRune(b, r)
			continue
		default:
			return "", false
		}
		i += 2
	}
	return string(b), true
}

// getu4 reads \uXXXX at the start of s; -1 if it is not there.
func getu4(s []byte) rune {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range s[2:6] {
		switch {
		case '0' <= c && c <= '9':
			c = c - '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}

// name reads a string that repeats across records (an id, a handle, a
// day), shared through the decoder's table when it has one.
func (s *scanner) name() string {
	if s.names == nil {
		return s.str()
	}
	raw, plain := s.rawString()
	if !s.ok {
		return ""
	}
	if !plain {
		return s.slow(raw)
	}
	body := raw[1 : len(raw)-1]
	if v, ok := s.names[string(body)]; ok {
		return v
	}
	v := string(body)
	if len(v) <= maxNameLen && len(s.names) < maxNames {
		s.names[v] = v
	}
	return v
}

// enum reads a string that is usually one of vals, returning the constant
// itself (no allocation) when it is.
func (s *scanner) enum(vals []string) string {
	raw, plain := s.rawString()
	if !s.ok {
		return ""
	}
	if !plain {
		return s.slow(raw)
	}
	body := raw[1 : len(raw)-1]
	for _, v := range vals {
		if string(body) == v {
			return v
		}
	}
	return string(body)
}

var (
	kinds           = []string{string(room.KindChat), string(room.KindNudge), string(room.KindWink), string(room.KindBot), string(room.KindSystem)}
	statuses        = []string{string(presence.Online), string(presence.Busy), string(presence.Away), string(presence.Invisible), string(presence.Offline)}
	presenceReasons = []string{string(presence.ReasonConnected), string(presence.ReasonStatus), string(presence.ReasonResumed), string(presence.ReasonDisconnected), string(presence.ReasonTimeout)}
	sessionReasons  = []string{string(session.ReasonLogout), string(session.ReasonExpired), string(session.ReasonRevoked)}
	visibilities    = []string{string(room.Public), string(room.Private), string(room.Direct)}
)

func (s *scanner) time() time.Time {
	raw, _ := s.rawString()
	var t time.Time
	if !s.ok {
		return t
	}
	if err := t.UnmarshalJSON(raw); err != nil {
		s.ok = false
	}
	return t
}

// uint reads a JSON integer without sign, fraction or exponent, as
// strconv.ParseUint would (the codec's rule for uint64 fields).
func (s *scanner) uint() uint64 {
	if !s.ok {
		return 0
	}
	start := s.i
	var v uint64
	for s.i < len(s.b) && '0' <= s.b[s.i] && s.b[s.i] <= '9' {
		d := uint64(s.b[s.i] - '0')
		if v > (1<<64-1-d)/10 {
			s.ok = false
			return 0
		}
		v = v*10 + d
		s.i++
	}
	n := s.i - start
	if n == 0 || (n > 1 && s.b[start] == '0') {
		s.ok = false
		return 0
	}
	if s.i < len(s.b) {
		switch s.b[s.i] {
		case '.', 'e', 'E':
			s.ok = false
		}
	}
	return v
}

func (s *scanner) int() int {
	if !s.ok {
		return 0
	}
	neg := s.i < len(s.b) && s.b[s.i] == '-'
	if neg {
		s.i++
	}
	u := s.uint()
	if !s.ok || u > 1<<62 { // far beyond any count; the codec judges the rest
		s.ok = false
		return 0
	}
	if neg {
		return -int(u)
	}
	return int(u)
}

func (s *scanner) bool() bool {
	if !s.ok {
		return false
	}
	rest := s.b[s.i:]
	switch {
	case len(rest) >= 4 && string(rest[:4]) == "true":
		s.i += 4
		return true
	case len(rest) >= 5 && string(rest[:5]) == "false":
		s.i += 5
		return false
	}
	s.ok = false
	return false
}

// strings reads an array of strings (not null).
func (s *scanner) strings() []string {
	if !s.ok || s.i >= len(s.b) || s.b[s.i] != '[' {
		s.ok = false
		return nil
	}
	s.i++
	out := []string{}
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == ']' {
		s.i++
		return out
	}
	for s.ok {
		s.ws()
		out = append(out, s.str())
		s.ws()
		if s.i >= len(s.b) {
			s.ok = false
			break
		}
		if s.b[s.i] == ']' {
			s.i++
			break
		}
		if s.b[s.i] != ',' {
			s.ok = false
			break
		}
		s.i++
	}
	return out
}

func messagePosted(b []byte, names map[string]string) (e room.MessagePosted, ok bool) {
	s := newScanner(b, names)
	for s.next() {
		switch k := s.key(); string(k) {
		case "room":
			s.field(0)
			e.Room = s.name()
		case "seq":
			s.field(1)
			e.Seq = s.uint()
		case "sender":
			s.field(2)
			e.Sender = s.name()
		case "kind":
			s.field(3)
			e.Kind = room.Kind(s.enum(kinds))
		case "text":
			s.field(4)
			e.Text = s.str()
		case "wink":
			s.field(5)
			e.Wink = s.str()
		case "clientId":
			s.field(6)
			e.ClientID = s.str()
		case "triggerSeq":
			s.field(7)
			e.TriggerSeq = s.uint()
		case "causeId":
			s.field(8)
			e.CauseID = s.str()
		case "at":
			s.field(9)
			e.At = s.time()
		default:
			s.fail()
		}
	}
	return e, s.end()
}

func heartbeatRecorded(b []byte, names map[string]string) (e presence.HeartbeatRecorded, ok bool) {
	s := newScanner(b, names)
	for s.next() {
		switch k := s.key(); string(k) {
		case "user":
			s.field(0)
			e.User = s.name()
		case "at":
			s.field(1)
			e.At = s.time()
		default:
			s.fail()
		}
	}
	return e, s.end()
}

func presenceChanged(b []byte, names map[string]string) (e presence.PresenceChanged, ok bool) {
	s := newScanner(b, names)
	for s.next() {
		switch k := s.key(); string(k) {
		case "user":
			s.field(0)
			e.User = s.name()
		case "status":
			s.field(1)
			e.Status = presence.Status(s.enum(statuses))
		case "chosen":
			s.field(2)
			e.Chosen = presence.Status(s.enum(statuses))
		case "reason":
			s.field(3)
			e.Reason = presence.Reason(s.enum(presenceReasons))
		case "at":
			s.field(4)
			e.At = s.time()
		default:
			s.fail()
		}
	}
	return e, s.end()
}

func readMarkerMoved(b []byte, names map[string]string) (e room.ReadMarkerMoved, ok bool) {
	s := newScanner(b, names)
	for s.next() {
		switch k := s.key(); string(k) {
		case "room":
			s.field(0)
			e.Room = s.name()
		case "user":
			s.field(1)
			e.User = s.name()
		case "seq":
			s.field(2)
			e.Seq = s.uint()
		case "at":
			s.field(3)
			e.At = s.time()
		default:
			s.fail()
		}
	}
	return e, s.end()
}

func sessionStarted(b []byte, names map[string]string) (e session.SessionStarted, ok bool) {
	s := newScanner(b, names)
	for s.next() {
		switch k := s.key(); string(k) {
		case "session":
			s.field(0)
			e.Session = s.str()
		case "user":
			s.field(1)
			e.User = s.name()
		case "tokenHash":
			s.field(2)
			e.TokenHash = s.str()
		case "verifier":
			s.field(3)
			e.Verifier = s.str()
		case "expiresAt":
			s.field(4)
			e.ExpiresAt = s.time()
		case "at":
			s.field(5)
			e.At = s.time()
		default:
			s.fail()
		}
	}
	return e, s.end()
}

func sessionRenewed(b []byte, names map[string]string) (e session.SessionRenewed, ok bool) {
	s := newScanner(b, names)
	for s.next() {
		switch k := s.key(); string(k) {
		case "session":
			s.field(0)
			e.Session = s.str()
		case "expiresAt":
			s.field(1)
			e.ExpiresAt = s.time()
		case "at":
			s.field(2)
			e.At = s.time()
		default:
			s.fail()
		}
	}
	return e, s.end()
}

func sessionEnded(b []byte, names map[string]string) (e session.SessionEnded, ok bool) {
	s := newScanner(b, names)
	for s.next() {
		switch k := s.key(); string(k) {
		case "session":
			s.field(0)
			e.Session = s.str()
		case "reason":
			s.field(1)
			e.Reason = session.Reason(s.enum(sessionReasons))
		case "at":
			s.field(2)
			e.At = s.time()
		default:
			s.fail()
		}
	}
	return e, s.end()
}

// membership reads the fields MemberJoined, MemberLeft and MemberInvited
// share; by is read only when withBy is set (MemberInvited).
func membership(b []byte, names map[string]string, withBy bool) (roomID, usr, by, clientID string, at time.Time, ok bool) {
	s := newScanner(b, names)
	for s.next() {
		switch k := s.key(); string(k) {
		case "room":
			s.field(0)
			roomID = s.name()
		case "user":
			s.field(1)
			usr = s.name()
		case "by":
			if !withBy {
				s.fail()
				break
			}
			s.field(2)
			by = s.name()
		case "clientId":
			s.field(3)
			clientID = s.str()
		case "at":
			s.field(4)
			at = s.time()
		default:
			s.fail()
		}
	}
	return roomID, usr, by, clientID, at, s.end()
}

func memberJoined(b []byte, names map[string]string) (room.MemberJoined, bool) {
	r, u, _, c, at, ok := membership(b, names, false)
	return room.MemberJoined{Room: r, User: u, ClientID: c, At: at}, ok
}

func memberLeft(b []byte, names map[string]string) (room.MemberLeft, bool) {
	r, u, _, c, at, ok := membership(b, names, false)
	return room.MemberLeft{Room: r, User: u, ClientID: c, At: at}, ok
}

func memberInvited(b []byte, names map[string]string) (room.MemberInvited, bool) {
	r, u, by, c, at, ok := membership(b, names, true)
	return room.MemberInvited{Room: r, User: u, By: by, ClientID: c, At: at}, ok
}

func roomCreated(b []byte, names map[string]string) (e room.RoomCreated, ok bool) {
	s := newScanner(b, names)
	for s.next() {
		switch k := s.key(); string(k) {
		case "room":
			s.field(0)
			e.Room = s.name()
		case "name":
			s.field(1)
			e.Name = s.str()
		case "visibility":
			s.field(2)
			e.Visibility = room.Visibility(s.enum(visibilities))
		case "members":
			s.field(3)
			e.Members = s.strings()
		case "by":
			s.field(4)
			e.By = s.name()
		case "clientId":
			s.field(5)
			e.ClientID = s.str()
		case "at":
			s.field(6)
			e.At = s.time()
		default:
			s.fail()
		}
	}
	return e, s.end()
}

func userRegistered(b []byte, names map[string]string) (e user.UserRegistered, ok bool) {
	s := newScanner(b, names)
	for s.next() {
		switch k := s.key(); string(k) {
		case "handle":
			s.field(0)
			e.Handle = s.name()
		case "displayName":
			s.field(1)
			e.DisplayName = s.str()
		case "passwordHash":
			s.field(2)
			e.PasswordHash = s.str()
		case "demo":
			s.field(3)
			e.Demo = s.bool()
		case "bot":
			s.field(4)
			e.Bot = s.persona()
		case "avatar":
			s.field(5)
			e.Avatar = s.str()
		case "personalMessage":
			s.field(6)
			e.PersonalMessage = s.str()
		case "at":
			s.field(7)
			e.At = s.time()
		default:
			s.fail()
		}
	}
	return e, s.end()
}

// persona reads a nested Persona object (not null).
func (s *scanner) persona() *user.Persona {
	if !s.ok || s.i >= len(s.b) || s.b[s.i] != '{' {
		s.ok = false
		return nil
	}
	in := scanner{b: s.b, i: s.i + 1, ok: true, first: true}
	p := &user.Persona{}
	for in.next() {
		switch k := in.key(); string(k) {
		case "key":
			in.field(0)
			p.Key = in.str()
		case "archetype":
			in.field(1)
			p.Archetype = in.str()
		case "style":
			in.field(2)
			p.Style = in.str()
		default:
			in.fail()
		}
	}
	s.i, s.ok = in.i, in.ok
	return p
}

func profileChanged(b []byte, names map[string]string) (e user.ProfileChanged, ok bool) {
	s := newScanner(b, names)
	for s.next() {
		switch k := s.key(); string(k) {
		case "handle":
			s.field(0)
			e.Handle = s.name()
		case "displayName":
			s.field(1)
			e.DisplayName = s.str()
		case "personalMessage":
			s.field(2)
			e.PersonalMessage = s.str()
		case "avatar":
			s.field(3)
			e.Avatar = s.str()
		case "at":
			s.field(4)
			e.At = s.time()
		default:
			s.fail()
		}
	}
	return e, s.end()
}

func quotaReserved(b []byte, names map[string]string) (e quota.QuotaReserved, ok bool) {
	s := newScanner(b, names)
	for s.next() {
		switch k := s.key(); string(k) {
		case "reservation":
			s.field(0)
			e.Reservation = s.str()
		case "day":
			s.field(1)
			e.Day = s.name()
		case "user":
			s.field(2)
			e.User = s.name()
		case "bot":
			s.field(3)
			e.Bot = s.name()
		case "room":
			s.field(4)
			e.Room = s.name()
		case "triggerSeq":
			s.field(5)
			e.TriggerSeq = s.uint()
		case "tokens":
			s.field(6)
			e.Tokens = s.int()
		case "at":
			s.field(7)
			e.At = s.time()
		default:
			s.fail()
		}
	}
	return e, s.end()
}

func quotaCharged(b []byte, names map[string]string) (e quota.QuotaCharged, ok bool) {
	s := newScanner(b, names)
	for s.next() {
		switch k := s.key(); string(k) {
		case "reservation":
			s.field(0)
			e.Reservation = s.str()
		case "user":
			s.field(1)
			e.User = s.name()
		case "promptTokens":
			s.field(2)
			e.PromptTokens = s.int()
		case "generatedTokens":
			s.field(3)
			e.GeneratedTokens = s.int()
		case "at":
			s.field(4)
			e.At = s.time()
		default:
			s.fail()
		}
	}
	return e, s.end()
}

func quotaReleased(b []byte, names map[string]string) (e quota.QuotaReleased, ok bool) {
	s := newScanner(b, names)
	for s.next() {
		switch k := s.key(); string(k) {
		case "reservation":
			s.field(0)
			e.Reservation = s.str()
		case "user":
			s.field(1)
			e.User = s.name()
		case "reason":
			s.field(2)
			e.Reason = s.str()
		case "at":
			s.field(3)
			e.At = s.time()
		default:
			s.fail()
		}
	}
	return e, s.end()
}

func switchEvent(b []byte, names map[string]string) (by string, at time.Time, ok bool) {
	s := newScanner(b, names)
	for s.next() {
		switch k := s.key(); string(k) {
		case "by":
			s.field(0)
			by = s.name()
		case "at":
			s.field(1)
			at = s.time()
		default:
			s.fail()
		}
	}
	return by, at, s.end()
}
