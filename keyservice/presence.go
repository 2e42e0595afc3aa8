package keyservice

import (
	"errors"
	"slices"
	"sync"

	"github.com/sealroom/sealroom/server/signaling"
)

// EventKind says what changed in a room.
type EventKind int

// Event kinds delivered to the members of a room.
const (
	EventJoined EventKind = iota + 1
	EventLeft
	EventUpdated
)

func (k EventKind) String() string {
	switch k {
	case EventJoined:
		return "joined"
	case EventLeft:
		return "left"
	case EventUpdated:
		return "updated"
	}
	return "unknown"
}

// Event tells a room's members what changed.
type Event struct {
	Kind        EventKind
	Participant signaling.Participant
	Reason      string
}

// Sink receives a room's events for one connection. It must not block: a connection
// that cannot keep up is the connection's problem, not the room's.
type Sink func(Event)

// ErrNotInRoom means the connection is not (or no longer) a member of the room.
var ErrNotInRoom = errors.New("keyservice: not in the room")

// Presence tracks who is connected to which room in this process and fans room events
// out to them. One identity holds at most one seat per room: joining again replaces the
// earlier connection, whose sink receives EventLeft with signaling.ReasonReplaced.
type Presence struct {
	mu    sync.Mutex
	rooms map[string]map[string]*seat // room -> participant id -> seat
}

type seat struct {
	p    signaling.Participant
	sink Sink
}

// NewPresence returns an empty Presence.
func NewPresence() *Presence {
	return &Presence{rooms: make(map[string]map[string]*seat)}
}

// Join seats p in room, tells the others, and returns the roster as p sees it
// (everyone, p included, in joining order).
func (ps *Presence) Join(room string, p signaling.Participant, sink Sink) []signaling.Participant {
	return ps.JoinFirst(room, p, sink, nil)
}

// JoinFirst is Join that hands the roster to first before any event can reach sink: a
// connection's answer (ready) then goes out before news of whoever joins next, so the
// roster it carries is never older than the events after it. first must not block or call
// back into Presence.
func (ps *Presence) JoinFirst(room string, p signaling.Participant, sink Sink, first func([]signaling.Participant)) []signaling.Participant {
	ps.mu.Lock()
	seats := ps.rooms[room]
	if seats == nil {
		seats = make(map[string]*seat)
		ps.rooms[room] = seats
	}
	var replaced []*seat
	for id, s := range seats {
		if s.p.Subject == p.Subject {
			replaced = append(replaced, s)
			delete(seats, id)
		}
	}
	seats[p.ID] = &seat{p: p, sink: sink}
	roster := rosterOf(seats)
	others := sinksExcept(seats, p.ID)
	if first != nil {
		// Under the lock: events for p are taken from the seats under it too, after this.
		first(roster)
	}
	ps.mu.Unlock()

	for _, s := range replaced {
		ev := Event{Kind: EventLeft, Participant: s.p, Reason: signaling.ReasonReplaced}
		s.sink(ev)
		for _, o := range others {
			o(ev)
		}
	}
	for _, o := range others {
		o(Event{Kind: EventJoined, Participant: p})
	}
	return roster
}

// Leave removes participant id from room and tells the others why.
func (ps *Presence) Leave(room, id, reason string) {
	ps.mu.Lock()
	seats := ps.rooms[room]
	s, ok := seats[id]
	if !ok {
		ps.mu.Unlock()
		return
	}
	delete(seats, id)
	if len(seats) == 0 {
		delete(ps.rooms, room)
	}
	others := sinksExcept(seats, id)
	ps.mu.Unlock()
	for _, o := range others {
		o(Event{Kind: EventLeft, Participant: s.p, Reason: reason})
	}
}

// Update changes a participant's mute state and tells everyone in the room.
func (ps *Presence) Update(room, id string, audioMuted, videoMuted bool) (signaling.Participant, error) {
	ps.mu.Lock()
	s, ok := ps.rooms[room][id]
	if !ok {
		ps.mu.Unlock()
		return signaling.Participant{}, ErrNotInRoom
	}
	s.p.AudioMuted, s.p.VideoMuted = audioMuted, videoMuted
	p := s.p
	all := sinksExcept(ps.rooms[room], "")
	ps.mu.Unlock()
	for _, o := range all {
		o(Event{Kind: EventUpdated, Participant: p})
	}
	return p, nil
}

// SetReconnecting marks a participant whose connection dropped and whose session waits for
// it (or, with false, is back), and tells the room.
func (ps *Presence) SetReconnecting(room, id string, on bool) {
	ps.mu.Lock()
	s, ok := ps.rooms[room][id]
	if !ok || s.p.Reconnecting == on {
		ps.mu.Unlock()
		return
	}
	s.p.Reconnecting = on
	p := s.p
	all := sinksExcept(ps.rooms[room], id)
	ps.mu.Unlock()
	for _, o := range all {
		o(Event{Kind: EventUpdated, Participant: p})
	}
}

// Roster returns the room's participants in joining order.
func (ps *Presence) Roster(room string) []signaling.Participant {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return rosterOf(ps.rooms[room])
}

func rosterOf(seats map[string]*seat) []signaling.Participant {
	out := make([]signaling.Participant, 0, len(seats))
	for _, s := range seats {
		out = append(out, s.p)
	}
	slices.SortFunc(out, func(a, b signaling.Participant) int {
		if c := a.JoinedAt.Compare(b.JoinedAt); c != 0 {
			return c
		}
		return compareStrings(a.ID, b.ID)
	})
	return out
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func sinksExcept(seats map[string]*seat, id string) []Sink {
	out := make([]Sink, 0, len(seats))
	for sid, s := range seats {
		if sid != id {
			out = append(out, s.sink)
		}
	}
	return out
}
