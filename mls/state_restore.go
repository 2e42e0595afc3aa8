package mls

import (
	"bytes"
	"crypto/subtle"
	"fmt"
	"time"
)

// RestoreParams carries what a restored Group needs besides its state: the
// same resolvers the member passed when it joined.
type RestoreParams struct {
	// PSK resolves external pre-shared keys in later PreSharedKey proposals.
	PSK func(PreSharedKeyID) ([]byte, error)
	// Now is the clock for KeyPackage lifetimes; time.Now if nil.
	Now func() time.Time
}

// RestoreGroup rebuilds a Group from MarshalState's output. Decoding is
// strict (unknown version, truncation, trailing bytes, bad lengths) and the
// state is checked for consistency before use: the tree hash matches the
// GroupContext and the tree validates, the signature key and leaf key
// belong to the member's leaf, the confirmation key reproduces the
// confirmation tag and the interim transcript hash follows from it. Any
// failure is ErrInvalidState (wrapping the cause) and the decoded secrets
// are zeroed. Validating the tree costs one signature verification per
// leaf (about 40 ms for 1000 members). The caller zeroes state afterwards;
// the Group keeps its own copies.
func RestoreGroup(state []byte, p RestoreParams) (*Group, error) {
	var d decodedState
	if err := decodeAll("GroupState", state, d.unmarshal); err != nil {
		d.zero()
		return nil, fmt.Errorf("%w: %w", ErrInvalidState, err)
	}
	g, err := d.build(p)
	if err != nil {
		d.zero()
		return nil, fmt.Errorf("%w: %w", ErrInvalidState, err)
	}
	return g, nil
}

// Entries of the decoded state's vectors.
type (
	pendingEntry struct {
		ref []byte
		pp  pendingProposal
	}
	nodeSecret struct {
		node   NodeIndex
		secret []byte
	}
	skippedEntry struct {
		gen        uint32
		key, nonce []byte
	}
	leafRatchets struct {
		leaf    LeafIndex
		hs, app decodedRatchet
	}
	resumptionEntry struct {
		epoch uint64
		psk   []byte
	}
)

type decodedRatchet struct {
	secret  []byte
	next    uint32
	skipped []skippedEntry
}

type decodedState struct {
	suite      CipherSuiteID
	ctx        GroupContext
	nodes      RatchetTreeNodes
	interim    []byte
	confTag    []byte
	own        LeafIndex
	pending    []pendingEntry
	signPriv   []byte
	pathKeys   []nodeSecret // private keys by node
	secrets    [stateSecretCount][]byte
	stLeaves   uint32
	stForward  uint32
	stTol      uint32
	stNodes    []nodeSecret
	ratchets   []leafRatchets
	resumption []resumptionEntry
}

func (d *decodedState) unmarshal(r *reader) {
	if v := r.u8(); r.ok() && v != stateVersion {
		unknown(r, "state_version", uint64(v))
		return
	}
	d.suite = CipherSuiteID(r.u16())
	d.ctx.unmarshal(r)
	d.nodes.unmarshal(r)
	d.interim = r.opaque()
	d.confTag = r.opaque()
	d.own = LeafIndex(r.u32())
	r.vector(func(r *reader) {
		var e pendingEntry
		e.ref = r.opaque()
		e.pp.sender.unmarshal(r)
		e.pp.proposal = new(Proposal)
		e.pp.proposal.unmarshal(r)
		d.pending = append(d.pending, e)
	})
	d.signPriv = r.opaque()
	r.vector(func(r *reader) {
		node := NodeIndex(r.u32())
		d.pathKeys = append(d.pathKeys, nodeSecret{node, r.opaque()})
	})
	for i := range d.secrets {
		d.secrets[i] = r.opaque()
	}
	d.stLeaves, d.stForward, d.stTol = r.u32(), r.u32(), r.u32()
	r.vector(func(r *reader) {
		node := NodeIndex(r.u32())
		d.stNodes = append(d.stNodes, nodeSecret{node, r.opaque()})
	})
	r.vector(func(r *reader) {
		leaf := LeafIndex(r.u32())
		var hs, app decodedRatchet
		hs.unmarshal(r)
		app.unmarshal(r)
		d.ratchets = append(d.ratchets, leafRatchets{leaf, hs, app})
	})
	r.vector(func(r *reader) {
		epoch := r.u64()
		d.resumption = append(d.resumption, resumptionEntry{epoch, r.opaque()})
	})
}

func (dr *decodedRatchet) unmarshal(r *reader) {
	dr.secret = r.opaque()
	dr.next = r.u32()
	r.vector(func(r *reader) {
		gen := r.u32()
		key := r.opaque()
		dr.skipped = append(dr.skipped, skippedEntry{gen, key, r.opaque()})
	})
}

func (dr *decodedRatchet) zero() {
	clear(dr.secret)
	for _, s := range dr.skipped {
		clear(s.key)
		clear(s.nonce)
	}
}

// zero clears every decoded secret; build hands them to the Group only
// when it succeeds.
func (d *decodedState) zero() {
	clear(d.signPriv)
	for _, k := range d.pathKeys {
		clear(k.secret)
	}
	for _, s := range d.secrets {
		clear(s)
	}
	for _, n := range d.stNodes {
		clear(n.secret)
	}
	for i := range d.ratchets {
		d.ratchets[i].hs.zero()
		d.ratchets[i].app.zero()
	}
	for _, e := range d.resumption {
		clear(e.psk)
	}
}

func stateErr(format string, args ...any) error { return fmt.Errorf(format, args...) }

// build checks the decoded state and assembles the Group.
func (d *decodedState) build(p RestoreParams) (*Group, error) {
	cs, err := CipherSuiteByID(d.suite)
	if err != nil {
		return nil, err
	}
	nh := cs.nh
	if d.ctx.CipherSuite != d.suite || d.ctx.Version != ProtocolVersionMLS10 {
		return nil, stateErr("GroupContext suite or version")
	}
	tree, err := NewRatchetTree(d.nodes)
	if err != nil {
		return nil, err
	}
	th, err := tree.TreeHash(cs)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(th, d.ctx.TreeHash) {
		return nil, treeErr("tree hash differs from the GroupContext")
	}
	if err := tree.Validate(cs, d.ctx.GroupID); err != nil {
		return nil, err
	}
	leaf := tree.Leaf(d.own)
	if leaf == nil {
		return nil, stateErr("own leaf %d is blank", d.own)
	}
	if len(d.interim) != nh || len(d.confTag) != nh {
		return nil, stateErr("transcript hash or confirmation tag length")
	}
	for _, s := range d.secrets {
		if len(s) != nh {
			return nil, stateErr("epoch secret length")
		}
	}
	es := &epochSecrets{}
	for i, s := range stateSecrets(es) {
		*s = d.secrets[i]
	}
	// The confirmation key must reproduce the tag that opened the epoch,
	// and the interim hash must follow from it (RFC 9420 §8.2): a state
	// whose secrets belong to another epoch is rejected here.
	if err := verifyConfirmationTag(cs, es.ConfirmationKey, d.ctx.ConfirmedTranscriptHash, d.confTag); err != nil {
		return nil, err
	}
	interim, err := InterimTranscriptHash(cs, d.ctx.ConfirmedTranscriptHash, d.confTag)
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare(interim, d.interim) != 1 {
		return nil, stateErr("interim transcript hash")
	}
	sigPub, err := cs.SignaturePublicKey(d.signPriv)
	if err != nil {
		return nil, fmt.Errorf("%w: signature key", ErrInvalidKey)
	}
	if !bytes.Equal(sigPub, leaf.SignatureKey) {
		return nil, stateErr("signature key does not match the own leaf")
	}
	keys, err := d.pathKeysFor(cs, leaf)
	if err != nil {
		return nil, err
	}
	st, err := d.secretTree(cs, tree.LeafCount())
	if err != nil {
		return nil, err
	}
	pending := make(map[string]pendingProposal, len(d.pending))
	for i, e := range d.pending {
		// Sorted by reference, as MarshalState writes them: one encoding
		// per state.
		if len(e.ref) != nh || e.pp.proposal.body() == nil || (i > 0 && bytes.Compare(e.ref, d.pending[i-1].ref) <= 0) {
			return nil, stateErr("pending proposal")
		}
		pending[string(e.ref)] = e.pp
	}
	resumption := make(map[uint64][]byte, len(d.resumption))
	if len(d.resumption) > maxResumptionEpochs {
		return nil, stateErr("%d resumption PSKs", len(d.resumption))
	}
	for i, e := range d.resumption {
		if len(e.psk) != nh || e.epoch > d.ctx.Epoch || (i > 0 && e.epoch <= d.resumption[i-1].epoch) {
			return nil, stateErr("resumption PSK")
		}
		resumption[e.epoch] = e.psk
	}
	now := p.Now
	if now == nil {
		now = time.Now
	}
	return &Group{
		publicState: publicState{cs: cs, ctx: d.ctx, tree: tree, interim: d.interim,
			confTag: d.confTag, pending: pending, now: now},
		own: d.own, signPriv: d.signPriv, keys: keys, epoch: es, secretTree: st,
		resumption: resumption, psk: p.PSK,
	}, nil
}

// pathKeysFor checks the private path keys: sorted, each on the member's
// own direct path, the leaf key present and matching the leaf.
func (d *decodedState) pathKeysFor(cs *CipherSuite, leaf *LeafNode) (*pathKeys, error) {
	own := d.own.NodeIndex()
	keys := &pathKeys{Leaf: d.own, keys: make(map[NodeIndex][]byte, len(d.pathKeys))}
	for i, k := range d.pathKeys {
		if k.node >= 1<<31 || !k.node.IsAncestorOf(own) || (i > 0 && k.node <= d.pathKeys[i-1].node) {
			return nil, stateErr("path key for node %d", k.node)
		}
		if _, err := cs.kem.NewPrivateKey(k.secret); err != nil {
			return nil, fmt.Errorf("%w: path key", ErrInvalidKey)
		}
		keys.keys[k.node] = k.secret
	}
	priv, ok := keys.keys[own]
	if !ok {
		return nil, stateErr("no private key for the own leaf")
	}
	sk, err := cs.kem.NewPrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("%w: leaf key", ErrInvalidKey)
	}
	if !bytes.Equal(sk.PublicKey().Bytes(), leaf.EncryptionKey) {
		return nil, stateErr("leaf key does not match the own leaf")
	}
	return keys, nil
}

// secretTree rebuilds the secret tree with its unconsumed node secrets and
// leaf ratchets, checking every index and length.
func (d *decodedState) secretTree(cs *CipherSuite, leaves uint32) (*secretTree, error) {
	if d.stLeaves != leaves {
		return nil, stateErr("secret tree of %d leaves for a tree of %d", d.stLeaves, leaves)
	}
	// A placeholder root secret gives the right shape; it is replaced below.
	st, err := newSecretTree(cs, make([]byte, cs.nh), leaves)
	if err != nil {
		return nil, err
	}
	st.nodes[Root(st.width)] = nil
	st.MaxForwardDistance = d.stForward
	if d.stTol > 1<<20 {
		return nil, stateErr("out-of-order tolerance %d", d.stTol)
	}
	st.OutOfOrderTolerance = int(d.stTol)
	for i, n := range d.stNodes {
		if uint64(n.node) >= uint64(len(st.nodes)) || len(n.secret) != cs.nh || (i > 0 && n.node <= d.stNodes[i-1].node) {
			return nil, stateErr("secret tree node %d", n.node)
		}
		st.nodes[n.node] = n.secret
	}
	for i, e := range d.ratchets {
		if uint32(e.leaf) >= leaves || (i > 0 && e.leaf <= d.ratchets[i-1].leaf) {
			return nil, stateErr("ratchet of leaf %d", e.leaf)
		}
		hs, err := e.hs.build(cs, d.stTol)
		if err != nil {
			return nil, err
		}
		app, err := e.app.build(cs, d.stTol)
		if err != nil {
			return nil, err
		}
		st.hs[e.leaf], st.app[e.leaf] = hs, app
	}
	return st, nil
}

func (dr *decodedRatchet) build(cs *CipherSuite, tol uint32) (*ratchet, error) {
	if len(dr.secret) != cs.nh || uint64(len(dr.skipped)) > uint64(tol) {
		return nil, stateErr("ratchet secret or skipped keys")
	}
	r := &ratchet{secret: dr.secret, next: dr.next, skipped: make(map[uint32]keyNonce, len(dr.skipped))}
	for i, s := range dr.skipped {
		if s.gen >= dr.next || (i > 0 && s.gen <= dr.skipped[i-1].gen) || len(s.key) != cs.nk || len(s.nonce) != cs.nn {
			return nil, stateErr("skipped key of generation %d", s.gen)
		}
		r.skipped[s.gen] = keyNonce{key: s.key, nonce: s.nonce}
	}
	return r, nil
}
