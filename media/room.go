package media

import "sync"

// room is the set of participants and publications that see each other.
// Its lock is never held while calling into a participant: membership is
// changed and snapshotted under the lock, so each (subscriber, publication)
// pair is handled exactly once, and the work happens outside.
type room struct {
	sfu *SFU
	id  string

	mu           sync.Mutex
	reserved     map[string]bool
	participants map[string]*Participant
	pubs         map[string]*publication
	codec        string // the room's video codec (roomcodec.go)
}

func newRoom(s *SFU, id string) *room {
	return &room{sfu: s, id: id, reserved: map[string]bool{},
		participants: map[string]*Participant{}, pubs: map[string]*publication{}}
}

// has reports whether participant id is in the room.
func (r *room) has(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.participants[id] != nil
}

func (r *room) reserve(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.reserved[id] {
		return false
	}
	r.reserved[id] = true
	return true
}

func (r *room) release(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.reserved, id)
	delete(r.participants, id)
}

func (r *room) empty() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.reserved) == 0
}

// admit makes p visible to future publications and returns the current
// ones for p to subscribe to.
func (r *room) admit(p *Participant) []*publication {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.participants[p.id] = p
	pubs := make([]*publication, 0, len(r.pubs))
	for _, pub := range r.pubs {
		if pub.publisher != p {
			pubs = append(pubs, pub)
		}
	}
	return pubs
}

func (r *room) snapshotParticipants() []*Participant {
	r.mu.Lock()
	defer r.mu.Unlock()
	ps := make([]*Participant, 0, len(r.participants))
	for _, p := range r.participants {
		ps = append(ps, p)
	}
	return ps
}

// publish announces pub and subscribes every other participant allowed to
// receive it.
func (r *room) publish(pub *publication) {
	r.mu.Lock()
	if _, dup := r.pubs[pub.id]; dup {
		r.mu.Unlock()
		return
	}
	r.pubs[pub.id] = pub
	subs := make([]*Participant, 0, len(r.participants))
	for _, p := range r.participants {
		if p != pub.publisher && p.grants.CanSubscribe {
			subs = append(subs, p)
		}
	}
	r.mu.Unlock()
	for _, p := range subs {
		p.subscribe(pub)
	}
}

// unpublish removes pub; its downtracks are removed by the caller.
func (r *room) unpublish(pub *publication) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pubs[pub.id] == pub {
		delete(r.pubs, pub.id)
	}
}
