package mls

import "fmt"

// Defaults for receiving out of order (RFC 9420 §9.2 leaves the window to
// the application).
const (
	// DefaultMaxForwardDistance bounds how far ahead of the last used
	// generation a message may be; each step costs one KDF call, so the bound
	// caps the work a forged sender-data header can cause.
	DefaultMaxForwardDistance = 1024
	// DefaultOutOfOrderTolerance is how many skipped keys a ratchet keeps for
	// late messages before it deletes the oldest.
	DefaultOutOfOrderTolerance = 32
)

// keyNonce is one ratchet output (RFC 9420 §9.1).
type keyNonce struct {
	key, nonce []byte
}

func (kn *keyNonce) zero() {
	clear(kn.key)
	clear(kn.nonce)
}

// ratchet is one hash ratchet of a leaf (RFC 9420 §9.1). secret is
// ratchet_secret_[next]; skipped holds unused keys of earlier generations.
type ratchet struct {
	secret  []byte
	next    uint32
	skipped map[uint32]keyNonce
}

// ratchetStep is a derivation not yet applied: decryption runs with its key
// and the ratchet only moves if the message authenticates, so a forged
// message changes nothing.
type ratchetStep struct {
	gen       uint32
	kn        keyNonce
	fromSkip  bool
	newSecret []byte              // ratchet_secret_[gen+1]
	skipped   map[uint32]keyNonce // keys to keep for generations in [next, gen)
}

func (s *ratchetStep) discard() {
	if s == nil {
		return
	}
	if !s.fromSkip {
		s.kn.zero()
	}
	clear(s.newSecret)
	for _, kn := range s.skipped {
		kn.zero()
	}
}

// secretTree derives per-sender message keys from encryption_secret
// (RFC 9420 §9). Node secrets are deleted as soon as their children exist and
// ratchet secrets and keys as soon as they are used (§9.2); deleted material
// is zeroed. A secret tree is not safe for concurrent use.
type secretTree struct {
	cs      *CipherSuite
	nLeaves uint32
	width   uint32 // leaves rounded up to a power of two
	nodes   [][]byte
	hs, app []*ratchet // per leaf, nil until first use
	exp     *expander  // allocation-light KDF for the message path

	// MaxForwardDistance and OutOfOrderTolerance may be changed before use.
	MaxForwardDistance  uint32
	OutOfOrderTolerance int
}

// newSecretTree builds the secret tree of an epoch with nLeaves leaves. It
// copies encryptionSecret; the caller zeroes its own copy.
func newSecretTree(cs *CipherSuite, encryptionSecret []byte, nLeaves uint32) (*secretTree, error) {
	if nLeaves == 0 || nLeaves > 1<<30 || len(encryptionSecret) != cs.nh {
		return nil, fmt.Errorf("%w: secret tree of %d leaves", ErrInvalidArgument, nLeaves)
	}
	width := uint32(1)
	for width < nLeaves {
		width <<= 1
	}
	st := &secretTree{
		cs: cs, nLeaves: nLeaves, width: width,
		nodes:               make([][]byte, NodeWidth(width)),
		hs:                  make([]*ratchet, nLeaves),
		app:                 make([]*ratchet, nLeaves),
		MaxForwardDistance:  DefaultMaxForwardDistance,
		OutOfOrderTolerance: DefaultOutOfOrderTolerance,
	}
	st.nodes[Root(width)] = append([]byte(nil), encryptionSecret...)
	return st, nil
}

// zero deletes every remaining secret of the tree, as when the epoch ends.
func (st *secretTree) zero() {
	if st.exp != nil {
		st.exp.zero()
	}
	for i, n := range st.nodes {
		clear(n)
		st.nodes[i] = nil
	}
	for _, rs := range [][]*ratchet{st.hs, st.app} {
		for i, r := range rs {
			if r != nil {
				r.zero()
				rs[i] = nil
			}
		}
	}
}

func (r *ratchet) zero() {
	clear(r.secret)
	for g, kn := range r.skipped {
		kn.zero()
		delete(r.skipped, g)
	}
}

// leafSecret derives tree_node_[leaf]_secret, deleting every parent secret
// it passes (RFC 9420 §9, §9.2).
func (st *secretTree) leafSecret(leaf LeafIndex) ([]byte, error) {
	target := leaf.NodeIndex()
	path := append([]NodeIndex{target}, target.DirectPath(st.width)...)
	start := -1
	for i, n := range path {
		if st.nodes[n] != nil {
			start = i
			break
		}
	}
	if start < 0 {
		return nil, ErrGenerationExpired
	}
	for i := start; i > 0; i-- {
		n := path[i]
		l, _ := n.Left()
		r, _ := n.Right()
		ls, err := st.cs.expandWithLabel(st.nodes[n], "tree", []byte("left"), st.cs.nh)
		if err != nil {
			return nil, err
		}
		rs, err := st.cs.expandWithLabel(st.nodes[n], "tree", []byte("right"), st.cs.nh)
		if err != nil {
			return nil, err
		}
		st.nodes[l], st.nodes[r] = ls, rs
		clear(st.nodes[n])
		st.nodes[n] = nil
	}
	s := st.nodes[target]
	st.nodes[target] = nil
	return s, nil
}

// ratchetFor returns the handshake or application ratchet of a leaf,
// creating both on first use.
func (st *secretTree) ratchetFor(leaf LeafIndex, handshake bool) (*ratchet, error) {
	if uint32(leaf) >= st.nLeaves {
		return nil, ErrInvalidLeafIndex
	}
	if st.hs[leaf] == nil {
		s, err := st.leafSecret(leaf)
		if err != nil {
			return nil, err
		}
		defer clear(s)
		h, err := st.cs.expandWithLabel(s, "handshake", nil, st.cs.nh)
		if err != nil {
			return nil, err
		}
		a, err := st.cs.expandWithLabel(s, "application", nil, st.cs.nh)
		if err != nil {
			return nil, err
		}
		st.hs[leaf] = &ratchet{secret: h, skipped: map[uint32]keyNonce{}}
		st.app[leaf] = &ratchet{secret: a, skipped: map[uint32]keyNonce{}}
	}
	if handshake {
		return st.hs[leaf], nil
	}
	return st.app[leaf], nil
}

// keyNonceAt derives ratchet_key/nonce_[gen] from ratchet_secret_[gen].
func (st *secretTree) keyNonceAt(secret []byte, gen uint32) (keyNonce, error) {
	k, err := st.kdf().deriveTreeSecret(st.cs, secret, "key", gen, st.cs.nk)
	if err != nil {
		return keyNonce{}, err
	}
	n, err := st.kdf().deriveTreeSecret(st.cs, secret, "nonce", gen, st.cs.nn)
	if err != nil {
		return keyNonce{}, err
	}
	return keyNonce{key: k, nonce: n}, nil
}

// prepare computes the key for gen without changing the ratchet.
func (st *secretTree) prepare(r *ratchet, gen uint32) (*ratchetStep, error) {
	if gen < r.next {
		kn, ok := r.skipped[gen]
		if !ok {
			return nil, ErrGenerationExpired
		}
		return &ratchetStep{gen: gen, kn: kn, fromSkip: true}, nil
	}
	if gen-r.next > st.MaxForwardDistance {
		return nil, ErrGenerationTooFar
	}
	step := &ratchetStep{gen: gen}
	keepFrom := r.next
	if tol := uint32(max(st.OutOfOrderTolerance, 0)); gen-r.next > tol {
		keepFrom = gen - tol
	}
	secret := r.secret
	for g := r.next; ; g++ {
		if g == gen || g >= keepFrom {
			kn, err := st.keyNonceAt(secret, g)
			if err != nil {
				step.discard()
				return nil, err
			}
			if g == gen {
				step.kn = kn
			} else {
				if step.skipped == nil {
					step.skipped = map[uint32]keyNonce{}
				}
				step.skipped[g] = kn
			}
		}
		next, err := st.kdf().deriveTreeSecret(st.cs, secret, "secret", g, st.cs.nh)
		if secret != nil && g != r.next {
			clear(secret)
		}
		if err != nil {
			step.discard()
			return nil, err
		}
		secret = next
		if g == gen {
			break
		}
	}
	step.newSecret = secret
	return step, nil
}

// commit applies a prepared step: the used key is deleted, the ratchet
// advances past it, skipped keys are kept up to the tolerance (RFC 9420 §9.2).
func (st *secretTree) commit(r *ratchet, step *ratchetStep) {
	if step.fromSkip {
		delete(r.skipped, step.gen)
		step.kn.zero()
		return
	}
	clear(r.secret)
	r.secret = step.newSecret
	r.next = step.gen + 1
	for g, kn := range step.skipped {
		r.skipped[g] = kn
	}
	step.kn.zero()
	for len(r.skipped) > max(st.OutOfOrderTolerance, 0) {
		oldest := uint32(0)
		first := true
		for g := range r.skipped {
			if first || g < oldest {
				oldest, first = g, false
			}
		}
		kn := r.skipped[oldest]
		kn.zero()
		delete(r.skipped, oldest)
	}
}

// leafKeyNonce returns the key and nonce of a leaf's ratchet at a generation and
// consumes them, as a receiver does after a successful decryption. It exists
// for tests and for callers that manage AEAD themselves; message protection
// uses the two-phase path internally.
func (st *secretTree) leafKeyNonce(leaf LeafIndex, handshake bool, gen uint32) (key, nonce []byte, err error) {
	r, err := st.ratchetFor(leaf, handshake)
	if err != nil {
		return nil, nil, err
	}
	step, err := st.prepare(r, gen)
	if err != nil {
		return nil, nil, err
	}
	key = append([]byte(nil), step.kn.key...)
	nonce = append([]byte(nil), step.kn.nonce...)
	st.commit(r, step)
	return key, nonce, nil
}

// kdf returns the tree's expander, created on first use.
func (st *secretTree) kdf() *expander {
	if st.exp == nil {
		st.exp = newExpander(st.cs)
	}
	return st.exp
}

// senderDataKeyNonce is CipherSuite.senderDataKeyNonce through the tree's
// expander.
func (st *secretTree) senderDataKeyNonce(senderDataSecret, ciphertext []byte) (key, nonce []byte, err error) {
	sample := ciphertext
	if len(sample) > st.cs.nh {
		sample = sample[:st.cs.nh]
	}
	if key, err = st.kdf().expandLabel(st.cs, senderDataSecret, "key", sample, st.cs.nk); err != nil {
		return nil, nil, err
	}
	if nonce, err = st.kdf().expandLabel(st.cs, senderDataSecret, "nonce", sample, st.cs.nn); err != nil {
		return nil, nil, err
	}
	return key, nonce, nil
}

// senderDataKeyNonce derives the sender data key and nonce from the first Nh
// bytes of the content ciphertext (RFC 9420 §6.3.2).
func (cs *CipherSuite) senderDataKeyNonce(senderDataSecret, ciphertext []byte) (key, nonce []byte, err error) {
	sample := ciphertext
	if len(sample) > cs.nh {
		sample = sample[:cs.nh]
	}
	if key, err = cs.expandWithLabel(senderDataSecret, "key", sample, cs.nk); err != nil {
		return nil, nil, err
	}
	if nonce, err = cs.expandWithLabel(senderDataSecret, "nonce", sample, cs.nn); err != nil {
		return nil, nil, err
	}
	return key, nonce, nil
}
