package sframe

import (
	"fmt"
	"time"
)

// Exporter is an MLS group's exporter for one epoch: MLS-Exporter(Label,
// Context, Length) of RFC 9420 §8.5. This package does not import sealroom's
// mls package; wrap it with ExporterFunc, e.g.
//
//	sframe.ExporterFunc(func(l string, c []byte, n int) ([]byte, error) {
//		return group.Export(l, c, n) // group is an *mls.Group
//	})
type Exporter interface {
	Export(label string, context []byte, length int) ([]byte, error)
}

// ExporterFunc adapts a function to Exporter.
type ExporterFunc func(label string, context []byte, length int) ([]byte, error)

// Export calls f.
func (f ExporterFunc) Export(label string, context []byte, length int) ([]byte, error) {
	return f(label, context, length)
}

var _ Exporter = ExporterFunc(nil)

// mlsBaseKeyLabel is the exporter label of RFC 9605 §5.2.
const mlsBaseKeyLabel = "SFrame 1.0 Base Key"

// DefaultGrace is how long an earlier epoch's keys stay usable after the next
// epoch is installed: long enough for frames in flight and for senders that
// process the commit a little later.
const DefaultGrace = 10 * time.Second

// MLSConfig configures MLSKeys. Zero fields take the defaults.
type MLSConfig struct {
	Suite   Suite         // default DefaultSuite
	Layout  KIDLayout     // default DefaultKIDLayout()
	Context uint64        // this sender's context value (e.g. one per device or stream), default 0
	Grace   time.Duration // default DefaultGrace; negative drops the previous epoch at once
	Now     func() time.Time
}

// MLSKeys keys SFrame from an MLS group (RFC 9605 §5.2). For each epoch,
//
//	base_key = MLS-Exporter("SFrame 1.0 Base Key", "", AEAD.Nk)
//
// is shared by all members; each sender's KID differs (KIDLayout), so each
// sender's sframe_key and sframe_salt differ. This member encrypts under its
// own KID of the current epoch. It decrypts frames of any sender of the
// current epoch, and of each earlier epoch until its grace period ends (the
// grace starts when the next epoch is installed): a received KID's key is
// derived on first use and kept only once a frame authenticated under it.
// Earlier epochs, not only the previous one: when members join and leave in
// quick succession (two commits in a second), a sender that processes the
// commits a little later still sends under an epoch two or three behind,
// and its frames must not be lost to the churn.
//
// Ordering rules: epochs only move forward (SetEpoch with an epoch not above
// the current one fails). Installing epoch n keeps the epochs at most
// 2^E - 3 behind it (n-1 ... n-13 with E = 4) and drops the others at once:
// their low E bits would be n's (KIDs would collide) or those of n+1 and
// n+2, whose frames a member holds until their commit arrives.
//
// MLSKeys is safe for concurrent use.
type MLSKeys struct {
	ctx    *Context // its mu guards the fields below
	layout KIDLayout
	self   uint64 // this member's context value
	grace  time.Duration
	now    func() time.Time

	cur     *mlsEpoch
	prev    []*mlsEpoch // earlier epochs in their grace period, oldest first
	selfKID uint64
}

type mlsEpoch struct {
	epoch uint64
	base  []byte
	until time.Time // for an earlier epoch: the end of its grace period
}

var _ keySource = (*MLSKeys)(nil)

// NewMLSKeys returns MLSKeys with no epoch installed.
func NewMLSKeys(cfg MLSConfig) (*MLSKeys, error) {
	if cfg.Suite == 0 {
		cfg.Suite = DefaultSuite
	}
	if cfg.Layout == (KIDLayout{}) {
		cfg.Layout = DefaultKIDLayout()
	}
	if cfg.Grace == 0 {
		cfg.Grace = DefaultGrace
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if err := cfg.Layout.validate(); err != nil {
		return nil, err
	}
	if _, err := cfg.Layout.KID(cfg.Context, 0, 0); err != nil {
		return nil, err
	}
	ctx, err := NewContext(cfg.Suite)
	if err != nil {
		return nil, err
	}
	m := &MLSKeys{ctx: ctx, layout: cfg.Layout, self: cfg.Context, grace: cfg.Grace, now: cfg.Now}
	ctx.src = m
	return m, nil
}

// Layout returns the KID layout, e.g. to map a received KID to a sender.
func (m *MLSKeys) Layout() KIDLayout { return m.layout }

// SetEpoch installs a new epoch: it exports the epoch's base key and derives
// this member's sending key (KID from senderIndex, its MLS leaf index). The
// caller should send a key frame next (DESIGN.md §5).
func (m *MLSKeys) SetEpoch(epoch uint64, senderIndex uint32, exp Exporter) error {
	nk := m.ctx.suite.KeySize()
	kid, err := m.layout.KID(m.self, uint64(senderIndex), epoch)
	if err != nil {
		return err
	}
	base, err := exp.Export(mlsBaseKeyLabel, nil, nk)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrExporter, err)
	}
	if len(base) != nk {
		clear(base)
		return fmt.Errorf("%w: %d bytes, want %d", ErrExporter, len(base), nk)
	}
	k, err := newCipherKey(m.ctx.suite, kid, base)
	if err != nil {
		clear(base)
		return err
	}

	m.ctx.mu.Lock()
	defer m.ctx.mu.Unlock()
	if m.cur != nil && epoch <= m.cur.epoch {
		k.destroy()
		clear(base)
		return fmt.Errorf("%w: %d, current %d", ErrStaleEpoch, epoch, m.cur.epoch)
	}
	now := m.now()
	mask := m.layout.epochMask()
	// An earlier epoch is kept while it is at most 2^E - 3 behind: its low
	// bits are then neither the new epoch's nor those of the next two, whose
	// frames must read as a key on its way (ErrUnknownKID), not as a held
	// epoch's (a stale key and replay window).
	keep := func(e *mlsEpoch) bool { return mask >= 2 && epoch-e.epoch <= mask-2 }
	kept := m.prev[:0]
	for _, e := range m.prev {
		if !keep(e) {
			m.dropLocked(e)
			continue
		}
		kept = append(kept, e)
	}
	m.prev = kept
	if m.cur != nil {
		if !keep(m.cur) || m.grace < 0 {
			m.dropLocked(m.cur)
		} else {
			m.cur.until = now.Add(m.grace)
			m.prev = append(m.prev, m.cur)
		}
	}
	// Keys left under the new epoch's low bits belong to an older epoch.
	m.dropBitsLocked(epoch & mask)
	m.cur = &mlsEpoch{epoch: epoch, base: base}
	m.selfKID = kid
	m.ctx.installLocked(kid, k)
	return nil
}

// dropLocked forgets an epoch: its base key and every key under its low bits.
func (m *MLSKeys) dropLocked(e *mlsEpoch) {
	m.dropBitsLocked(e.epoch & m.layout.epochMask())
	clear(e.base)
}

func (m *MLSKeys) dropBitsLocked(bits uint64) {
	mask := m.layout.epochMask()
	for kid := range m.ctx.keys {
		if kid&mask == bits {
			m.ctx.removeLocked(kid)
		}
	}
}

// expireLocked drops the earlier epochs whose grace period is over.
func (m *MLSKeys) expireLocked() {
	if len(m.prev) == 0 {
		return
	}
	now := m.now()
	kept := m.prev[:0]
	for _, e := range m.prev {
		if !now.Before(e.until) {
			m.dropLocked(e)
			continue
		}
		kept = append(kept, e)
	}
	m.prev = kept
}

// baseKeyLocked implements keySource: the base key of the held epoch whose
// low bits the KID carries.
func (m *MLSKeys) baseKeyLocked(kid uint64) ([]byte, bool) {
	bits := kid & m.layout.epochMask()
	mask := m.layout.epochMask()
	if m.cur != nil && m.cur.epoch&mask == bits {
		return m.cur.base, true
	}
	for _, e := range m.prev {
		if e.epoch&mask == bits && m.now().Before(e.until) {
			return e.base, true
		}
	}
	return nil, false
}

// KID returns this member's sending KID in the current epoch.
func (m *MLSKeys) KID() (uint64, error) {
	m.ctx.mu.Lock()
	defer m.ctx.mu.Unlock()
	if m.cur == nil {
		return 0, ErrNoEpoch
	}
	return m.selfKID, nil
}

// Epoch returns the current epoch.
func (m *MLSKeys) Epoch() (uint64, error) {
	m.ctx.mu.Lock()
	defer m.ctx.mu.Unlock()
	if m.cur == nil {
		return 0, ErrNoEpoch
	}
	return m.cur.epoch, nil
}

// Encrypt is Context.Encrypt under this member's current KID.
func (m *MLSKeys) Encrypt(dst, metadata, plaintext []byte) ([]byte, error) {
	m.ctx.mu.Lock()
	defer m.ctx.mu.Unlock()
	if m.cur == nil {
		return dst, ErrNoEpoch
	}
	return m.ctx.encryptLocked(dst, m.selfKID, metadata, plaintext)
}

// Decrypt is Context.Decrypt with the keys of the held epochs.
func (m *MLSKeys) Decrypt(dst, metadata, sframe []byte) ([]byte, Header, error) {
	h, hl, err := ParseHeader(sframe)
	if err != nil {
		return dst, Header{}, err
	}
	m.ctx.mu.Lock()
	defer m.ctx.mu.Unlock()
	m.expireLocked()
	out, err := m.ctx.openLocked(dst, h, sframe[:hl], metadata, sframe[hl:])
	return out, h, err
}

// EncryptFrame is Context.EncryptFrame under this member's current KID.
func (m *MLSKeys) EncryptFrame(dst []byte, codec Codec, frame []byte) ([]byte, error) {
	m.ctx.mu.Lock()
	defer m.ctx.mu.Unlock()
	if m.cur == nil {
		return dst, ErrNoEpoch
	}
	return m.ctx.encryptFrameLocked(dst, m.selfKID, codec, frame)
}

// EncryptFrameUnder is EncryptFrame only while kid is still this member's sending KID;
// else it returns ErrKIDChanged and encrypts nothing. A sender that chose the frame for
// kid (a delta frame in a stream whose receivers already have kid's keys) must not have
// it go out under a KID installed in between, whose first frame must be a key frame.
func (m *MLSKeys) EncryptFrameUnder(dst []byte, kid uint64, codec Codec, frame []byte) ([]byte, error) {
	m.ctx.mu.Lock()
	defer m.ctx.mu.Unlock()
	if m.cur == nil {
		return dst, ErrNoEpoch
	}
	if m.selfKID != kid {
		return dst, ErrKIDChanged
	}
	return m.ctx.encryptFrameLocked(dst, m.selfKID, codec, frame)
}

// DecryptFrame is Context.DecryptFrame with the keys of the held epochs. The
// returned header's KID gives the sender through Layout().Split.
func (m *MLSKeys) DecryptFrame(dst []byte, codec Codec, data []byte) ([]byte, Header, error) {
	m.ctx.mu.Lock()
	defer m.ctx.mu.Unlock()
	m.expireLocked()
	return m.ctx.decryptFrameLocked(dst, codec, data)
}

// Close forgets every epoch and key.
func (m *MLSKeys) Close() {
	m.ctx.mu.Lock()
	defer m.ctx.mu.Unlock()
	for _, e := range append([]*mlsEpoch{m.cur}, m.prev...) {
		if e != nil {
			clear(e.base)
		}
	}
	m.cur, m.prev = nil, nil
	for kid := range m.ctx.keys {
		m.ctx.removeLocked(kid)
	}
}
