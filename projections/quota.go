package projections

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"switchboard/domain"
	"switchboard/domain/quota"
	"switchboard/eventstore"
)

const quotaSchema = 1

// Usage counts bot replies and LLM tokens.
type Usage struct {
	Reserved        int // reservations made
	Charged         int // replies posted and charged
	Released        int // reservations given back uncharged
	PromptTokens    int64
	GeneratedTokens int64
}

// Tokens is prompt plus generated tokens.
func (u Usage) Tokens() int64 { return u.PromptTokens + u.GeneratedTokens }

// Outstanding is reservations neither charged nor released.
func (u Usage) Outstanding() int { return u.Reserved - u.Charged - u.Released }

// DayUsage is one UTC day of the ledger.
type DayUsage struct {
	Day   string // quota.Day: "2006-01-02"
	Total Usage
	// Users is the usage of each user (the human whose message triggered
	// the reply) that day.
	Users map[string]Usage
}

// Reservation is an outstanding reservation.
type Reservation struct {
	ID         string
	Day        string
	User       string
	Bot        string
	Room       string
	TriggerSeq uint64
	Tokens     int // tokens set aside
	At         time.Time
}

// Quota is the bot quota ledger: replies and tokens per user per UTC day
// and in total, outstanding reservations, and the kill switch.
//
// A charge or release counts on the day and user of its reservation (the
// day is the quota stream's, quota-<day>). Charges and releases of unknown
// or settled reservations are ignored, as in the domain's fold.
type Quota struct {
	mu          sync.RWMutex
	hint        sizeHint
	days        map[string]*dayLedger
	total       Usage
	users       map[string]*Usage
	outstanding map[string]*Reservation // by resKey(day, id)

	enabled  bool
	switchAt time.Time
	switchBy string
}

type dayLedger struct {
	total Usage
	users map[string]*Usage
}

var (
	_ Projection = (*Quota)(nil)
	_ Notifier   = (*Quota)(nil)
	_ Dumper     = (*Quota)(nil)
)

// NewQuota returns an empty ledger, bots enabled.
func NewQuota() *Quota {
	return &Quota{
		days:        make(map[string]*dayLedger),
		users:       make(map[string]*Usage),
		outstanding: make(map[string]*Reservation),
		enabled:     true,
	}
}

// Name implements Projection.
func (q *Quota) Name() string { return QuotaName }

func resKey(day, id string) string { return day + "\x00" + id }

// dayOf returns the day of a quota stream ("quota-2026-03-01").
func dayOf(stream string) string {
	_, day, _ := strings.Cut(stream, "-")
	return day
}

// count applies f to the day's, the day user's, the total and the user's
// total usage (q.mu held).
func (q *Quota) count(day, usr string, f func(*Usage)) {
	d := q.days[day]
	if d == nil {
		d = &dayLedger{users: make(map[string]*Usage)}
		q.days[day] = d
	}
	f(&d.total)
	f(&q.total)
	for _, m := range []map[string]*Usage{d.users, q.users} {
		u := m[usr]
		if u == nil {
			u = &Usage{}
			m[usr] = u
		}
		f(u)
	}
}

// Apply implements Projection: the quota events and the kill switch.
func (q *Quota) Apply(rec eventstore.Record, ev domain.Event) {
	switch e := ev.(type) {
	case quota.QuotaReserved:
		day := e.Day
		if day == "" {
			day = dayOf(rec.Stream)
		}
		k := resKey(day, e.Reservation)
		q.mu.Lock()
		defer q.mu.Unlock()
		if _, dup := q.outstanding[k]; dup {
			return
		}
		q.outstanding[k] = &Reservation{ID: e.Reservation, Day: day, User: e.User, Bot: e.Bot, Room: e.Room, TriggerSeq: e.TriggerSeq, Tokens: e.Tokens, At: e.At.UTC()}
		q.count(day, e.User, func(u *Usage) { u.Reserved++ })
	case quota.QuotaCharged:
		k := resKey(dayOf(rec.Stream), e.Reservation)
		q.mu.Lock()
		defer q.mu.Unlock()
		r := q.outstanding[k]
		if r == nil {
			return
		}
		delete(q.outstanding, k)
		q.count(r.Day, r.User, func(u *Usage) {
			u.Charged++
			u.PromptTokens += int64(e.PromptTokens)
			u.GeneratedTokens += int64(e.GeneratedTokens)
		})
	case quota.QuotaReleased:
		k := resKey(dayOf(rec.Stream), e.Reservation)
		q.mu.Lock()
		defer q.mu.Unlock()
		r := q.outstanding[k]
		if r == nil {
			return
		}
		delete(q.outstanding, k)
		q.count(r.Day, r.User, func(u *Usage) { u.Released++ })
	case quota.BotsEnabled:
		q.mu.Lock()
		q.enabled, q.switchAt, q.switchBy = true, e.At.UTC(), e.By
		q.mu.Unlock()
	case quota.BotsDisabled:
		q.mu.Lock()
		q.enabled, q.switchAt, q.switchBy = false, e.At.UTC(), e.By
		q.mu.Unlock()
	}
}

// Notify implements Notifier: BotsSwitched to DirectoryTopic.
func (q *Quota) Notify(rec eventstore.Record, ev domain.Event, hub *Hub) {
	switch e := ev.(type) {
	case quota.BotsEnabled:
		hub.Publish(BotsSwitched{Position: rec.Position, Enabled: true, By: e.By}, DirectoryTopic())
	case quota.BotsDisabled:
		hub.Publish(BotsSwitched{Position: rec.Position, Enabled: false, By: e.By}, DirectoryTopic())
	}
}

// Day returns the ledger of one UTC day (zero usage for a day without
// any).
func (q *Quota) Day(day string) DayUsage {
	q.mu.RLock()
	defer q.mu.RUnlock()
	out := DayUsage{Day: day, Users: make(map[string]Usage)}
	if d := q.days[day]; d != nil {
		out.Total = d.total
		for u, v := range d.users {
			out.Users[u] = *v
		}
	}
	return out
}

// UserDay returns one user's usage on one day.
func (q *Quota) UserDay(usr, day string) Usage {
	q.mu.RLock()
	defer q.mu.RUnlock()
	if d := q.days[day]; d != nil {
		if u := d.users[usr]; u != nil {
			return *u
		}
	}
	return Usage{}
}

// Days returns the days with any usage, oldest first.
func (q *Quota) Days() []string {
	q.mu.RLock()
	defer q.mu.RUnlock()
	return sortedKeys(q.days)
}

// Total returns everyone's usage of all time.
func (q *Quota) Total() Usage {
	q.mu.RLock()
	defer q.mu.RUnlock()
	return q.total
}

// UserTotal returns one user's usage of all time.
func (q *Quota) UserTotal(usr string) Usage {
	q.mu.RLock()
	defer q.mu.RUnlock()
	if u := q.users[usr]; u != nil {
		return *u
	}
	return Usage{}
}

// Outstanding returns the reservations neither charged nor released,
// ordered by day and id.
func (q *Quota) Outstanding() []Reservation {
	q.mu.RLock()
	defer q.mu.RUnlock()
	out := make([]Reservation, 0, len(q.outstanding))
	for _, k := range sortedKeys(q.outstanding) {
		out = append(out, *q.outstanding[k])
	}
	return out
}

// BotsEnabled reports the kill switch: true unless bots were disabled,
// with when and by whom it was last flipped (zero if never).
func (q *Quota) BotsEnabled() (enabled bool, at time.Time, by string) {
	q.mu.RLock()
	defer q.mu.RUnlock()
	return q.enabled, q.switchAt, q.switchBy
}

func encUsage(e *enc, u Usage) {
	e.uint(uint64(u.Reserved))
	e.uint(uint64(u.Charged))
	e.uint(uint64(u.Released))
	e.int(u.PromptTokens)
	e.int(u.GeneratedTokens)
}

func decUsage(d *dec) Usage {
	return Usage{Reserved: int(d.uint()), Charged: int(d.uint()), Released: int(d.uint()), PromptTokens: d.int(), GeneratedTokens: d.int()}
}

func encUsers(e *enc, m map[string]*Usage) {
	e.uint(uint64(len(m)))
	for _, k := range sortedKeys(m) {
		e.str(k)
		encUsage(e, *m[k])
	}
}

func decUsers(d *dec) map[string]*Usage {
	m := make(map[string]*Usage)
	for n := d.count(6); n > 0 && d.err == nil; n-- {
		k := d.str()
		u := decUsage(d)
		m[k] = &u
	}
	return m
}

// MarshalSnapshot implements Projection.
func (q *Quota) MarshalSnapshot() ([]byte, error) {
	q.mu.RLock()
	defer q.mu.RUnlock()
	e := q.hint.enc()
	e.uint(quotaSchema)
	e.bool(q.enabled)
	e.time(q.switchAt)
	e.str(q.switchBy)
	encUsage(&e, q.total)
	encUsers(&e, q.users)
	e.uint(uint64(len(q.days)))
	for _, day := range sortedKeys(q.days) {
		d := q.days[day]
		e.str(day)
		encUsage(&e, d.total)
		encUsers(&e, d.users)
	}
	e.uint(uint64(len(q.outstanding)))
	for _, k := range sortedKeys(q.outstanding) {
		r := q.outstanding[k]
		e.str(r.ID)
		e.str(r.Day)
		e.str(r.User)
		e.str(r.Bot)
		e.str(r.Room)
		e.uint(r.TriggerSeq)
		e.int(int64(r.Tokens))
		e.time(r.At)
	}
	q.hint.note(len(e.b))
	return e.b, nil
}

// UnmarshalSnapshot implements Projection.
func (q *Quota) UnmarshalSnapshot(data []byte) error {
	d := dec{b: data}
	d.version(QuotaName, quotaSchema)
	n := NewQuota()
	n.enabled = d.bool()
	n.switchAt = d.time()
	n.switchBy = d.str()
	n.total = decUsage(&d)
	n.users = decUsers(&d)
	for k := d.count(7); k > 0 && d.err == nil; k-- {
		day := d.str()
		dl := &dayLedger{total: decUsage(&d)}
		dl.users = decUsers(&d)
		n.days[day] = dl
	}
	for k := d.count(8); k > 0 && d.err == nil; k-- {
		r := &Reservation{ID: d.str(), Day: d.str(), User: d.str(), Bot: d.str(), Room: d.str(), TriggerSeq: d.uint(), Tokens: int(d.int()), At: d.time()}
		n.outstanding[resKey(r.Day, r.ID)] = r
	}
	if err := d.done(); err != nil {
		return err
	}
	q.mu.Lock()
	q.days, q.total, q.users, q.outstanding = n.days, n.total, n.users, n.outstanding
	q.enabled, q.switchAt, q.switchBy = n.enabled, n.switchAt, n.switchBy
	q.mu.Unlock()
	return nil
}

// Dump implements Dumper.
func (q *Quota) Dump(w io.Writer) error {
	q.mu.RLock()
	defer q.mu.RUnlock()
	var lines []string
	lines = append(lines, fmt.Sprintf("switch enabled=%t at=%s by=%q", q.enabled, fmtTime(q.switchAt), q.switchBy))
	lines = append(lines, fmt.Sprintf("total %+v", q.total))
	for _, u := range sortedKeys(q.users) {
		lines = append(lines, fmt.Sprintf("user %s %+v", u, *q.users[u]))
	}
	for _, day := range sortedKeys(q.days) {
		d := q.days[day]
		lines = append(lines, fmt.Sprintf("day %s total %+v", day, d.total))
		for _, u := range sortedKeys(d.users) {
			lines = append(lines, fmt.Sprintf("day %s user %s %+v", day, u, *d.users[u]))
		}
	}
	for _, k := range sortedKeys(q.outstanding) {
		r := q.outstanding[k]
		lines = append(lines, fmt.Sprintf("outstanding day=%s id=%s user=%s bot=%s room=%s trigger=%d tokens=%d at=%s", r.Day, r.ID, r.User, r.Bot, r.Room, r.TriggerSeq, r.Tokens, fmtTime(r.At)))
	}
	_, err := io.WriteString(w, strings.Join(lines, "\n")+"\n")
	return err
}
