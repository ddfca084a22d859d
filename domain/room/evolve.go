package room

import (
	"slices"

	"switchboard/domain"
)

// Evolve folds one appended event into s and returns the new state, in
// O(1) amortised time. It updates s's memory in place: callers must not
// use s, or a copy of it, afterwards. Events of other aggregates leave s as
// it is. Evolve trusts its input: it is the room's own stream, written by
// Decide.
func Evolve(s State, e domain.Event) State {
	if s.d == nil {
		s.d = newData(domain.DefaultPolicy())
	}
	d := s.d
	switch e := e.(type) {
	case RoomCreated:
		d.exists = true
		d.id = e.Room
		d.name = e.Name
		d.vis = e.Visibility
		d.createdBy = e.By
		d.createdID = e.ClientID
		d.createdAt = e.At
		if e.Visibility == Direct && len(e.Members) == 2 {
			pair := [2]string{e.Members[0], e.Members[1]}
			slices.Sort(pair[:])
			d.direct = pair
			for _, u := range pair {
				d.join(u)
			}
		}
		d.remember(dedupKey{e.By, e.ClientID}, outcome{at: e.At})
	case MemberInvited:
		if m := d.user(e.User); !m.joined {
			m.invited = true
		}
		d.remember(dedupKey{e.By, e.ClientID}, outcome{at: e.At})
	case MemberJoined:
		d.join(e.User)
		d.remember(dedupKey{e.User, e.ClientID}, outcome{at: e.At})
	case MemberLeft:
		if m := d.users[e.User]; m != nil && m.joined {
			m.joined = false
			d.members--
		}
		d.remember(dedupKey{e.User, e.ClientID}, outcome{at: e.At})
	case MessagePosted:
		d.post(e)
	case ReadMarkerMoved:
		if m := d.user(e.User); e.Seq > m.marker {
			m.marker = e.Seq
		}
	}
	return s
}

func (d *data) user(u string) *member {
	m := d.users[u]
	if m == nil {
		m = &member{}
		d.users[u] = m
	}
	return m
}

func (d *data) join(u string) {
	m := d.user(u)
	if !m.joined {
		m.joined = true
		d.members++
	}
	m.invited = false
}

func (d *data) post(e MessagePosted) {
	d.lastSeq = e.Seq
	code := kindCode(e.Kind)

	// Keep the kind of the last TriggerHorizon messages; a slot reused for
	// a newer message forgets the reply to its former message.
	if e.Seq > 0 {
		i := int((e.Seq - 1) % TriggerHorizon)
		for len(d.kinds) <= i {
			d.kinds = append(d.kinds, 0)
		}
		if d.kinds[i]&answered != 0 && e.Seq > TriggerHorizon {
			delete(d.replies, e.Seq-TriggerHorizon)
		}
		d.kinds[i] = code
	}

	at := e.At.UnixNano()
	switch code {
	case kindChat:
		d.user(e.Sender).chat.push(at, d.keep.chat)
	case kindNudge:
		d.user(e.Sender).nudge.push(at, d.keep.nudge)
	case kindWink:
		d.user(e.Sender).wink.push(at, d.keep.wink)
	case kindBot:
		if t := e.TriggerSeq; t > 0 && t <= e.Seq && e.Seq-t < TriggerHorizon {
			d.kinds[(t-1)%TriggerHorizon] |= answered
			d.replies[t] = outcome{seq: e.Seq, at: e.At}
		}
	}
	d.remember(dedupKey{e.Sender, e.ClientID}, outcome{seq: e.Seq, at: e.At})
}

// remember records the outcome of the command k, unless it has no client
// id or is already remembered (the later events of a command that produced
// several), and forgets the oldest commands beyond the retention. The
// eviction depends on the events only, so a replay rebuilds the same set.
func (d *data) remember(k dedupKey, o outcome) {
	if k.id == "" {
		return
	}
	if _, ok := d.dedup[k]; ok {
		return
	}
	if w := d.keep.dedupWindow; w > 0 {
		cutoff := o.at.Add(-w)
		for d.queue.n > 0 && d.dedup[d.queue.front()].at.Before(cutoff) {
			delete(d.dedup, d.queue.pop())
		}
	}
	d.dedup[k] = o
	d.queue.push(k)
	if limit := d.keep.dedupMax; limit > 0 {
		for d.queue.n > limit {
			delete(d.dedup, d.queue.pop())
		}
	}
}
