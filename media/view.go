package media

import (
	"fmt"
	"sync"

	"github.com/sealroom/sealroom/server/signaling"
)

// Layer choice follows the size a tile is shown at. A publisher declares the
// height of each simulcast layer it sends (layers); a subscriber says at
// what height it shows each publisher's video (view). The controller then
// forwards no layer taller than the lowest that reaches the tile's height:
// a thumbnail gets the thumbnail layer even on a fast link, which saves the
// subscriber's bandwidth and decoding and the SFU's packets. Without both
// declarations there is no cap and the bandwidth estimate alone decides.
//
// Both are hints about the participant's own experience: a publisher that
// declares wrong heights only degrades what others get of its own video,
// and a subscriber only what it receives. Neither can raise a layer above
// what its bandwidth estimate carries, and the keyframe request a switch
// makes is rate-limited per layer (PLIMinInterval) like a subscriber's own.

// Bounds on what a client may declare: a rid is 1-16 alphanumeric
// characters here (RFC 8851 §10 allows longer; browsers send one or two),
// heights are what a display or camera has, and a subscriber names at most
// maxViews publishers present at once (more is a client gone wrong).
const (
	maxRIDLen    = 16
	maxHeight    = 8192
	maxViews     = 256
	maxPubLayers = maxLayers
)

// viewState is a participant's declarations: as a publisher, its layers'
// heights; as a subscriber, its tiles' heights per publisher.
type viewState struct {
	mu      sync.Mutex
	heights map[string]int // rid -> height, as published
	views   map[string]int // publisher id -> height shown at
}

func validRID(rid string) bool {
	if rid == "" || len(rid) > maxRIDLen {
		return false
	}
	for _, c := range []byte(rid) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// setLayers records the heights of the publisher's layers; a bad list
// changes nothing.
func (p *Participant) setLayers(layers []signaling.Layer) error {
	if len(layers) > maxPubLayers {
		return fmt.Errorf("%w: %d layers, at most %d", ErrBadView, len(layers), maxPubLayers)
	}
	heights := make(map[string]int, len(layers))
	for _, l := range layers {
		if !validRID(l.RID) || l.Height <= 0 || l.Height > maxHeight {
			return fmt.Errorf("%w: layer %q of height %d", ErrBadView, l.RID, l.Height)
		}
		if _, dup := heights[l.RID]; dup {
			return fmt.Errorf("%w: layer %q twice", ErrBadView, l.RID)
		}
		heights[l.RID] = l.Height
	}
	p.view.mu.Lock()
	p.view.heights = heights
	p.view.mu.Unlock()
	return nil
}

// setView records the height at which p shows publisher's video.
func (p *Participant) setView(publisher string, height int) error {
	if publisher == "" || len(publisher) > maxIDLen || height < 0 || height > maxHeight {
		return fmt.Errorf("%w: view of %d pixels", ErrBadView, height)
	}
	p.view.mu.Lock()
	defer p.view.mu.Unlock()
	if _, known := p.view.views[publisher]; !known && len(p.view.views) >= maxViews {
		// A long meeting sees more participants come and go than it ever
		// holds at once: forget the views of those who left.
		for id := range p.view.views {
			if !p.room.has(id) {
				delete(p.view.views, id)
			}
		}
		if len(p.view.views) >= maxViews {
			return fmt.Errorf("%w: views of more than %d participants", ErrBadView, maxViews)
		}
	}
	if p.view.views == nil {
		p.view.views = map[string]int{}
	}
	p.view.views[publisher] = height
	return nil
}

// layerHeight is the height the publisher declared for rid; 0: unknown.
func (p *Participant) layerHeight(rid string) int {
	p.view.mu.Lock()
	defer p.view.mu.Unlock()
	return p.view.heights[rid]
}

// viewHeight is the height at which p shows publisher's video, and whether
// p said so.
func (p *Participant) viewHeight(publisher string) (int, bool) {
	p.view.mu.Lock()
	defer p.view.mu.Unlock()
	h, ok := p.view.views[publisher]
	return h, ok
}

// viewLayers keeps, of ls (a publication's live layers, ascending by
// bitrate), those p needs: none taller than the lowest whose declared height
// reaches the height p shows the video at. ls itself when p gave no view or
// a layer's height is unknown.
func (p *Participant) viewLayers(pub *publication, ls []*layer) []*layer {
	want, ok := p.viewHeight(pub.publisher.id)
	if !ok || len(ls) < 2 {
		return ls
	}
	heights := make([]int, len(ls))
	need := 0
	for i, l := range ls {
		h := pub.publisher.layerHeight(l.rid)
		if h == 0 {
			return ls
		}
		heights[i] = h
		if h >= want && (need == 0 || h < need) {
			need = h
		}
	}
	if need == 0 {
		return ls // every layer is smaller than the tile: all are wanted
	}
	kept := make([]*layer, 0, len(ls))
	for i, l := range ls {
		if heights[i] <= need {
			kept = append(kept, l)
		}
	}
	return kept
}

// tellLayer tells p it now receives layer l of a simulcast publication.
func (p *Participant) tellLayer(l *layer) {
	p.signals.push(signaling.Media{Type: signaling.MediaLayer, Participant: l.pub.publisher.id,
		RID: l.rid, Height: l.pub.publisher.layerHeight(l.rid)})
}
