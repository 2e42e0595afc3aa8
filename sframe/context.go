package sframe

import (
	"fmt"
	"math"
	"sync"
)

// Context holds SFrame keys by KID (RFC 9605 §4.4.1's key store), encrypts
// with a per-KID monotonic counter and decrypts by the KID in the header.
//
// Ordering rules:
//   - Encrypt uses counter 0, 1, 2, ... per KID. Replacing a KID's key with
//     AddKey keeps its counter running, so a (key, nonce) pair is never reused
//     even if the same base key is installed twice; RemoveKey forgets it.
//   - Decrypt refuses counters already accepted or older than the replay
//     window (see ReplayWindow) and only moves the window, or installs a key
//     derived on demand (MLSKeys), after the frame authenticated.
//
// A Context is safe for concurrent use.
type Context struct {
	mu    sync.Mutex
	suite Suite
	keys  map[uint64]*keyState
	src   keySource // optional: base keys for KIDs not yet held (MLS, §5.2)

	// One-entry cache in front of keys: a sender uses one KID, a receiver
	// mostly sees a few, and the map lookup is a visible share of a frame.
	lastKID uint64
	last    *keyState
}

type keyState struct {
	k      *cipherKey
	next   uint64 // next counter to send
	spent  bool   // counter space exhausted
	replay replayWindow
}

// keySource supplies base keys for KIDs the Context does not hold yet.
type keySource interface {
	baseKeyLocked(kid uint64) ([]byte, bool)
}

// NewContext returns an empty Context for one cipher suite.
func NewContext(suite Suite) (*Context, error) {
	if _, err := suite.params(); err != nil {
		return nil, err
	}
	return &Context{suite: suite, keys: make(map[uint64]*keyState)}, nil
}

// Suite returns the context's cipher suite.
func (c *Context) Suite() Suite { return c.suite }

// AddKey derives sframe_key and sframe_salt for kid from baseKey (RFC 9605
// §4.4.2) and installs them, replacing any key for kid. The caller may wipe
// baseKey afterwards; the Context keeps only derived keys.
func (c *Context) AddKey(kid uint64, baseKey []byte) error {
	k, err := newCipherKey(c.suite, kid, baseKey)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.installLocked(kid, k)
	return nil
}

// lookupLocked finds kid's key state.
func (c *Context) lookupLocked(kid uint64) (*keyState, bool) {
	if c.last != nil && c.lastKID == kid {
		return c.last, true
	}
	ks, ok := c.keys[kid]
	if ok {
		c.lastKID, c.last = kid, ks
	}
	return ks, ok
}

func (c *Context) installLocked(kid uint64, k *cipherKey) {
	c.last = nil
	if old, ok := c.keys[kid]; ok {
		old.k.destroy()
		// Keep the send counter: same KID, possibly same key, must not reuse a nonce.
		c.keys[kid] = &keyState{k: k, next: old.next, spent: old.spent}
		return
	}
	c.keys[kid] = &keyState{k: k}
}

// RemoveKey forgets the key for kid and wipes what it can of it.
func (c *Context) RemoveKey(kid uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.removeLocked(kid)
}

func (c *Context) removeLocked(kid uint64) {
	c.last = nil
	if ks, ok := c.keys[kid]; ok {
		ks.k.destroy()
		delete(c.keys, kid)
	}
}

// HasKey reports whether a key is held for kid.
func (c *Context) HasKey(kid uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.keys[kid]
	return ok
}

// Close removes every key.
func (c *Context) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for kid := range c.keys {
		c.removeLocked(kid)
	}
}

// Encrypt appends the SFrame ciphertext header || ciphertext || tag of
// plaintext under kid's key and next counter to dst (RFC 9605 §4.4.3), with
// metadata authenticated but not carried. It does not allocate when dst has
// room for len(plaintext)+Overhead bytes. dst must not overlap plaintext or
// metadata.
func (c *Context) Encrypt(dst []byte, kid uint64, metadata, plaintext []byte) ([]byte, error) {
	c.mu.Lock()
	out, err := c.encryptLocked(dst, kid, metadata, plaintext)
	c.mu.Unlock()
	return out, err
}

func (c *Context) encryptLocked(dst []byte, kid uint64, metadata, plaintext []byte) ([]byte, error) {
	ks, ok := c.lookupLocked(kid)
	if !ok {
		return dst, &FrameError{KID: kid, Err: ErrUnknownKID}
	}
	if ks.spent {
		return dst, &FrameError{KID: kid, CTR: math.MaxUint64, Err: ErrCounterExhausted}
	}
	ctr := ks.next
	out, err := ks.k.seal(dst, Header{KID: kid, CTR: ctr}, metadata, plaintext)
	if err != nil {
		return dst, err
	}
	if ctr == math.MaxUint64 {
		ks.spent = true
	} else {
		ks.next = ctr + 1
	}
	return out, nil
}

// Overhead is the largest number of bytes Encrypt adds to a plaintext with
// this context's suite (17-byte header plus tag).
func (c *Context) Overhead() int { return maxHeaderLen + c.suite.TagSize() }

// Decrypt authenticates an SFrame ciphertext (header || ciphertext || tag)
// with metadata and appends its plaintext to dst. It returns the parsed header
// (authenticated when err is nil). On error nothing is appended and no state
// changes. It does not allocate when dst has room for the plaintext.
func (c *Context) Decrypt(dst, metadata, sframe []byte) ([]byte, Header, error) {
	h, hl, err := ParseHeader(sframe)
	if err != nil {
		return dst, Header{}, err
	}
	c.mu.Lock()
	out, err := c.openLocked(dst, h, sframe[:hl], metadata, sframe[hl:])
	c.mu.Unlock()
	return out, h, err
}

func (c *Context) openLocked(dst []byte, h Header, hdr, metadata, ct []byte) ([]byte, error) {
	ks, ok := c.lookupLocked(h.KID)
	fresh := false
	if !ok {
		var err error
		if ks, err = c.fromSourceLocked(h.KID); err != nil {
			return dst, err
		}
		fresh = true
	}
	if err := ks.replay.check(h.CTR); err != nil {
		return dst, &FrameError{KID: h.KID, CTR: h.CTR, Err: err}
	}
	out, err := ks.k.open(dst, hdr, h.CTR, metadata, ct)
	if err != nil {
		if fresh {
			ks.k.destroy()
		}
		if err == ErrOverlap {
			return dst, err
		}
		return dst, &FrameError{KID: h.KID, CTR: h.CTR, Err: err}
	}
	ks.replay.accept(h.CTR)
	if fresh {
		c.keys[h.KID] = ks
		c.last = nil
	}
	return out, nil
}

// fromSourceLocked derives a candidate key for kid from the key source. The
// caller installs it only once a frame authenticated under it.
func (c *Context) fromSourceLocked(kid uint64) (*keyState, error) {
	if c.src == nil {
		return nil, &FrameError{KID: kid, Err: ErrUnknownKID}
	}
	base, ok := c.src.baseKeyLocked(kid)
	if !ok {
		return nil, &FrameError{KID: kid, Err: ErrUnknownKID}
	}
	k, err := newCipherKey(c.suite, kid, base)
	if err != nil {
		return nil, fmt.Errorf("sframe: deriving key for kid %d: %w", kid, err)
	}
	return &keyState{k: k}, nil
}
