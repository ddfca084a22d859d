package room

import (
	"strconv"
	"strings"
	"time"

	"switchboard/domain"
)

// ErrExists rejects a Create on a room id that is taken by another
// command (ids are chosen by the server, so this is a collision or a bug).
// It matches domain.ErrForbidden.
var ErrExists error = conflict("room: already exists")

type conflict string

func (e conflict) Error() string        { return string(e) }
func (e conflict) Is(target error) bool { return target == domain.ErrForbidden }

// Decide checks c against s under p and returns the events to append, or a
// rejection. It does not modify s, and on the hot path (PostChat on a
// cached state) allocates only the returned slice and event.
//
// Every command first looks up its (acting user, ClientID): a command the
// room remembers is answered with *domain.DuplicateError carrying the
// original outcome, before any other rule, so a resend after the user left
// still gets its original ack. Then: a missing or over-long ClientID, an
// empty actor or a zero At: *domain.InvalidError; a room that does not
// exist: domain.ErrNotFound. The rules of each command are documented on
// its function below.
func Decide(s State, c Command, p domain.Policy) ([]domain.Event, error) {
	switch c := c.(type) {
	case PostChat:
		return postChat(s, c, p)
	case Nudge:
		return nudge(s, c, p)
	case Wink:
		return wink(s, c, p)
	case MoveReadMarker:
		return moveReadMarker(s, c)
	case PostBot:
		return postBot(s, c, p)
	case PostSystem:
		return postSystem(s, c, p)
	case Join:
		return join(s, c)
	case Leave:
		return leave(s, c)
	case Invite:
		return invite(s, c)
	case Create:
		return create(s, c, p)
	case OpenDirect:
		return openDirect(s, c)
	}
	return nil, &domain.InvalidError{Field: "Command", Reason: "unknown room command"}
}

// repeat returns the *domain.DuplicateError for a remembered command.
func (s State) repeat(by, clientID string) error {
	if clientID == "" || s.d == nil {
		return nil
	}
	if o, ok := s.d.dedup[dedupKey{by, clientID}]; ok {
		return &domain.DuplicateError{ID: clientID, Room: s.d.id, Seq: o.seq, At: o.at}
	}
	return nil
}

// check validates the fields every command of a person has.
func check(by, clientID string, at time.Time) error {
	switch {
	case clientID == "" || len(clientID) > MaxClientIDLen:
		return &domain.InvalidError{Field: "ClientID", Reason: "length must be 1 to 64"}
	case by == "":
		return &domain.InvalidError{Field: "By", Reason: "missing"}
	case at.IsZero():
		return &domain.InvalidError{Field: "At", Reason: "missing"}
	}
	return nil
}

// room returns the room's data if it exists and is the one the command
// names.
func (s State) room(id string) (*data, error) {
	if s.d == nil || !s.d.exists {
		return nil, domain.ErrNotFound
	}
	if id != s.d.id {
		return nil, &domain.InvalidError{Field: "Room", Reason: "does not match the stream"}
	}
	return s.d, nil
}

// member returns the data and By's member record, if By is a member.
func (s State) member(id, by string) (*data, *member, error) {
	d, err := s.room(id)
	if err != nil {
		return nil, nil, err
	}
	m := d.users[by]
	if m == nil || !m.joined {
		return nil, nil, domain.ErrNotMember
	}
	return d, m, nil
}

func textRule(p domain.Policy) domain.TextRule {
	return domain.TextRule{Field: "Text", MinRunes: 1, MaxRunes: p.MaxTextRunes, Multiline: true}
}

// rate refuses a post if the sender already made limit posts of this kind
// within the window before at.
func rate(action string, t *times, limit int, window time.Duration, at time.Time) error {
	if limit <= 0 {
		return nil
	}
	oldest, ok := t.recent(limit)
	if !ok {
		return nil
	}
	if wait := oldest + int64(window) - at.UnixNano(); wait > 0 {
		return &domain.RateLimitedError{Action: action, RetryAfter: time.Duration(wait)}
	}
	return nil
}

// postChat: members only (domain.ErrNotMember); the text is trimmed and
// must be 1 to MaxTextRunes runes of valid UTF-8 without control
// characters other than '\n' and '\t' (*domain.InvalidError,
// *domain.TooLongError); at most ChatLimit chats per ChatWindow
// (*domain.RateLimitedError).
func postChat(s State, c PostChat, p domain.Policy) ([]domain.Event, error) {
	if err := s.repeat(c.By, c.ClientID); err != nil {
		return nil, err
	}
	if err := check(c.By, c.ClientID, c.At); err != nil {
		return nil, err
	}
	d, m, err := s.member(c.Room, c.By)
	if err != nil {
		return nil, err
	}
	text, err := textRule(p).Clean(c.Text)
	if err != nil {
		return nil, err
	}
	if err := rate(string(KindChat), &m.chat, p.ChatLimit, p.ChatWindow, c.At); err != nil {
		return nil, err
	}
	return []domain.Event{MessagePosted{
		Room: d.id, Seq: d.lastSeq + 1, Sender: c.By, Kind: KindChat,
		Text: text, ClientID: c.ClientID, At: c.At.UTC(),
	}}, nil
}

// nudge: members only; at most NudgeLimit per NudgeWindow.
func nudge(s State, c Nudge, p domain.Policy) ([]domain.Event, error) {
	if err := s.repeat(c.By, c.ClientID); err != nil {
		return nil, err
	}
	if err := check(c.By, c.ClientID, c.At); err != nil {
		return nil, err
	}
	d, m, err := s.member(c.Room, c.By)
	if err != nil {
		return nil, err
	}
	if err := rate(string(KindNudge), &m.nudge, p.NudgeLimit, p.NudgeWindow, c.At); err != nil {
		return nil, err
	}
	return []domain.Event{MessagePosted{
		Room: d.id, Seq: d.lastSeq + 1, Sender: c.By, Kind: KindNudge,
		ClientID: c.ClientID, At: c.At.UTC(),
	}}, nil
}

// wink: members only; the wink must be in the catalogue
// (*domain.InvalidError); at most WinkLimit per WinkWindow.
func wink(s State, c Wink, p domain.Policy) ([]domain.Event, error) {
	if err := s.repeat(c.By, c.ClientID); err != nil {
		return nil, err
	}
	if err := check(c.By, c.ClientID, c.At); err != nil {
		return nil, err
	}
	d, m, err := s.member(c.Room, c.By)
	if err != nil {
		return nil, err
	}
	if !IsWink(c.Wink) {
		return nil, &domain.InvalidError{Field: "Wink", Reason: "not in the catalogue"}
	}
	if err := rate(string(KindWink), &m.wink, p.WinkLimit, p.WinkWindow, c.At); err != nil {
		return nil, err
	}
	return []domain.Event{MessagePosted{
		Room: d.id, Seq: d.lastSeq + 1, Sender: c.By, Kind: KindWink,
		Wink: c.Wink, ClientID: c.ClientID, At: c.At.UTC(),
	}}, nil
}

// moveReadMarker: members only; Seq beyond LastSeq: *domain.InvalidError;
// Seq at or below the user's marker: no events (markers are monotone).
// There is no ClientID: the move is idempotent by itself.
func moveReadMarker(s State, c MoveReadMarker) ([]domain.Event, error) {
	switch {
	case c.By == "":
		return nil, &domain.InvalidError{Field: "By", Reason: "missing"}
	case c.At.IsZero():
		return nil, &domain.InvalidError{Field: "At", Reason: "missing"}
	}
	d, m, err := s.member(c.Room, c.By)
	if err != nil {
		return nil, err
	}
	if c.Seq > d.lastSeq {
		return nil, &domain.InvalidError{Field: "Seq", Reason: "beyond the latest message"}
	}
	if c.Seq <= m.marker {
		return nil, nil
	}
	return []domain.Event{ReadMarkerMoved{Room: d.id, User: c.By, Seq: c.Seq, At: c.At.UTC()}}, nil
}

// postBot: the room must exist; the bot need not be a member and is not
// rate-limited. TriggerSeq must name a human message (chat, nudge, wink)
// among the last TriggerHorizon (*domain.InvalidError); a second reply to
// it: *domain.DuplicateError with ID "trigger:<seq>" and the first reply's
// outcome. The text follows PostChat's rules.
func postBot(s State, c PostBot, p domain.Policy) ([]domain.Event, error) {
	if err := s.repeat(c.Bot, c.ClientID); err != nil {
		return nil, err
	}
	switch {
	case len(c.ClientID) > MaxClientIDLen:
		return nil, &domain.InvalidError{Field: "ClientID", Reason: "length must be at most 64"}
	case c.Bot == "":
		return nil, &domain.InvalidError{Field: "Bot", Reason: "missing"}
	case c.At.IsZero():
		return nil, &domain.InvalidError{Field: "At", Reason: "missing"}
	}
	d, err := s.room(c.Room)
	if err != nil {
		return nil, err
	}
	t := c.TriggerSeq
	if t == 0 || t > d.lastSeq {
		return nil, &domain.InvalidError{Field: "TriggerSeq", Reason: "no such message"}
	}
	if d.lastSeq-t >= TriggerHorizon {
		return nil, &domain.InvalidError{Field: "TriggerSeq", Reason: "too old to reply to"}
	}
	if o, ok := d.replies[t]; ok {
		return nil, &domain.DuplicateError{ID: "trigger:" + strconv.FormatUint(t, 10), Room: d.id, Seq: o.seq, At: o.at}
	}
	switch d.kinds[(t-1)%TriggerHorizon] & kindMask {
	case kindChat, kindNudge, kindWink:
	default:
		return nil, &domain.InvalidError{Field: "TriggerSeq", Reason: "not a human message"}
	}
	text, err := textRule(p).Clean(c.Text)
	if err != nil {
		return nil, err
	}
	return []domain.Event{MessagePosted{
		Room: d.id, Seq: d.lastSeq + 1, Sender: c.Bot, Kind: KindBot,
		Text: text, ClientID: c.ClientID, TriggerSeq: t, At: c.At.UTC(),
	}}, nil
}

// postSystem: the room must exist; the notice has no sender and is not
// rate-limited. Its id is ClientID, or CauseID when that is empty; with
// neither, it is not deduplicated. The text follows PostChat's rules.
func postSystem(s State, c PostSystem, p domain.Policy) ([]domain.Event, error) {
	id := c.ClientID
	if id == "" {
		id = c.CauseID
	}
	if err := s.repeat("", id); err != nil {
		return nil, err
	}
	switch {
	case len(id) > MaxClientIDLen:
		return nil, &domain.InvalidError{Field: "ClientID", Reason: "length must be at most 64"}
	case c.At.IsZero():
		return nil, &domain.InvalidError{Field: "At", Reason: "missing"}
	}
	d, err := s.room(c.Room)
	if err != nil {
		return nil, err
	}
	text, err := textRule(p).Clean(c.Text)
	if err != nil {
		return nil, err
	}
	return []domain.Event{MessagePosted{
		Room: d.id, Seq: d.lastSeq + 1, Kind: KindSystem,
		Text: text, ClientID: id, CauseID: c.CauseID, At: c.At.UTC(),
	}}, nil
}

// join: already a member: no events. Public rooms admit anyone, private
// rooms the invited (else domain.ErrForbidden), direct rooms only their two
// users (else domain.ErrForbidden).
func join(s State, c Join) ([]domain.Event, error) {
	if err := s.repeat(c.By, c.ClientID); err != nil {
		return nil, err
	}
	if err := check(c.By, c.ClientID, c.At); err != nil {
		return nil, err
	}
	d, err := s.room(c.Room)
	if err != nil {
		return nil, err
	}
	m := d.users[c.By]
	if m != nil && m.joined {
		return nil, nil
	}
	switch d.vis {
	case Public:
	case Private:
		if m == nil || !m.invited {
			return nil, domain.ErrForbidden
		}
	default:
		if !s.IsDirectMember(c.By) {
			return nil, domain.ErrForbidden
		}
	}
	return []domain.Event{MemberJoined{Room: d.id, User: c.By, ClientID: c.ClientID, At: c.At.UTC()}}, nil
}

// leave: members only (domain.ErrNotMember). A direct room's user may
// leave and join again later.
func leave(s State, c Leave) ([]domain.Event, error) {
	if err := s.repeat(c.By, c.ClientID); err != nil {
		return nil, err
	}
	if err := check(c.By, c.ClientID, c.At); err != nil {
		return nil, err
	}
	d, _, err := s.member(c.Room, c.By)
	if err != nil {
		return nil, err
	}
	return []domain.Event{MemberLeft{Room: d.id, User: c.By, ClientID: c.ClientID, At: c.At.UTC()}}, nil
}

// invite: private rooms only (domain.ErrForbidden for public and direct
// rooms); By must be a member (domain.ErrNotMember); User must exist
// (domain.ErrNotFound). Inviting a member or someone already invited: no
// events.
func invite(s State, c Invite) ([]domain.Event, error) {
	if err := s.repeat(c.By, c.ClientID); err != nil {
		return nil, err
	}
	if err := check(c.By, c.ClientID, c.At); err != nil {
		return nil, err
	}
	d, err := s.room(c.Room)
	if err != nil {
		return nil, err
	}
	if d.vis != Private {
		return nil, domain.ErrForbidden
	}
	if !s.IsMember(c.By) {
		return nil, domain.ErrNotMember
	}
	if c.User == "" {
		return nil, &domain.InvalidError{Field: "User", Reason: "missing"}
	}
	if m := d.users[c.User]; m != nil && (m.joined || m.invited) {
		return nil, nil
	}
	if !c.UserExists {
		return nil, domain.ErrNotFound
	}
	return []domain.Event{MemberInvited{Room: d.id, User: c.User, By: c.By, ClientID: c.ClientID, At: c.At.UTC()}}, nil
}

// create: a public or private room (*domain.InvalidError otherwise), with
// a valid id outside DirectPrefix and a name of 1 to MaxRoomNameRunes
// runes. The creator joins. If the room exists: *domain.DuplicateError if
// this very command created it (also after the room forgot other command
// ids), ErrExists otherwise.
func create(s State, c Create, p domain.Policy) ([]domain.Event, error) {
	if err := s.repeat(c.By, c.ClientID); err != nil {
		return nil, err
	}
	if s.Exists() && c.ClientID != "" && s.d.createdBy == c.By && s.d.createdID == c.ClientID {
		return nil, &domain.DuplicateError{ID: c.ClientID, Room: s.d.id, At: s.d.createdAt}
	}
	if err := check(c.By, c.ClientID, c.At); err != nil {
		return nil, err
	}
	if err := ValidateID(c.Room); err != nil {
		return nil, err
	}
	if strings.HasPrefix(c.Room, DirectPrefix) {
		return nil, &domain.InvalidError{Field: "Room", Reason: "the prefix " + DirectPrefix + " is reserved for direct rooms"}
	}
	if c.Visibility != Public && c.Visibility != Private {
		return nil, &domain.InvalidError{Field: "Visibility", Reason: "must be public or private"}
	}
	if s.Exists() {
		return nil, ErrExists
	}
	name, err := domain.TextRule{Field: "Name", MinRunes: 1, MaxRunes: p.MaxRoomNameRunes}.Clean(c.Name)
	if err != nil {
		return nil, err
	}
	at := c.At.UTC()
	return []domain.Event{
		RoomCreated{Room: c.Room, Name: name, Visibility: c.Visibility, By: c.By, ClientID: c.ClientID, At: at},
		MemberJoined{Room: c.Room, User: c.By, ClientID: c.ClientID, At: at},
	}, nil
}

// openDirect: With must be someone else (*domain.InvalidError) who exists
// (domain.ErrNotFound), and Room must be DirectID(By, With). A new direct
// room is created with both users as members. An existing one: By must be
// one of its two users (domain.ErrForbidden); no events if By is a member,
// else By joins again (after leaving). The other user is never made to
// rejoin.
func openDirect(s State, c OpenDirect) ([]domain.Event, error) {
	if err := s.repeat(c.By, c.ClientID); err != nil {
		return nil, err
	}
	if err := check(c.By, c.ClientID, c.At); err != nil {
		return nil, err
	}
	switch {
	case c.With == "":
		return nil, &domain.InvalidError{Field: "With", Reason: "missing"}
	case c.With == c.By:
		return nil, &domain.InvalidError{Field: "With", Reason: "cannot open a direct room with yourself"}
	}
	if s.Exists() {
		if !s.IsDirectMember(c.By) {
			return nil, domain.ErrForbidden
		}
		if c.Room != s.d.id || c.Room != DirectID(c.By, c.With) {
			return nil, &domain.InvalidError{Field: "Room", Reason: "not the direct room of By and With"}
		}
		if s.IsMember(c.By) {
			return nil, nil
		}
		return []domain.Event{MemberJoined{Room: s.d.id, User: c.By, ClientID: c.ClientID, At: c.At.UTC()}}, nil
	}
	if c.Room != DirectID(c.By, c.With) {
		return nil, &domain.InvalidError{Field: "Room", Reason: "not the direct room of By and With"}
	}
	if !c.WithExists {
		return nil, domain.ErrNotFound
	}
	pair := []string{c.By, c.With}
	if pair[1] < pair[0] {
		pair[0], pair[1] = pair[1], pair[0]
	}
	return []domain.Event{RoomCreated{
		Room: c.Room, Visibility: Direct, Members: pair, By: c.By, ClientID: c.ClientID, At: c.At.UTC(),
	}}, nil
}
