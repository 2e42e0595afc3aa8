package mls

import (
	"bytes"
	"fmt"
	"time"
)

// Group is one member's state of an MLS group in an epoch (RFC 9420 §8,
// §12): the public tree and GroupContext, the member's private path keys
// and signature key, the epoch secrets and the secret tree. It is not safe
// for concurrent use.
type Group struct {
	publicState
	own        LeafIndex
	signPriv   []byte
	keys       *pathKeys
	epoch      *epochSecrets
	secretTree *secretTree

	// resumption keeps resumption_psk of recent epochs for PSK proposals.
	resumption map[uint64][]byte
	// psk resolves external PSKs.
	psk func(PreSharedKeyID) ([]byte, error)
	// pendingCommit is this member's own Commit awaiting MergeCommit.
	pendingCommit *pendingCommit
}

// maxResumptionEpochs bounds how many past resumption PSKs are kept.
const maxResumptionEpochs = 8

// JoinParams carries what a joiner holds when a Welcome arrives.
type JoinParams struct {
	KeyPackage *KeyPackage
	Secrets    *KeyPackageSecrets
	SignPriv   []byte
	// Tree is the ratchet tree when it is not in the GroupInfo's
	// ratchet_tree extension.
	Tree RatchetTreeNodes
	// PSK resolves external pre-shared keys named in the GroupSecrets and
	// in later PreSharedKey proposals.
	PSK func(PreSharedKeyID) ([]byte, error)
	// Now is the clock for KeyPackage lifetimes; time.Now if nil.
	Now func() time.Time
}

// JoinFromWelcome joins a group (RFC 9420 §12.4.3.1): it decrypts the
// Welcome, verifies the GroupInfo's confirmation tag and signature, checks
// the tree against the GroupContext and validates it, places the joiner,
// imports the path secret and sets up the epoch.
func JoinFromWelcome(cs *CipherSuite, w *Welcome, p JoinParams) (*Group, error) {
	opened, err := openWelcome(cs, w, p.KeyPackage, p.Secrets.InitPriv, p.PSK)
	if err != nil {
		return nil, err
	}
	gs, gi := opened.Secrets, opened.GroupInfo
	defer gs.zero()
	fail := func(err error) (*Group, error) {
		opened.Epoch.zero()
		return nil, err
	}

	tree, err := verifyGroupInfo(cs, gi, p.Tree)
	if err != nil {
		return fail(err)
	}
	own, ok := tree.findLeaf(&p.KeyPackage.LeafNode)
	if !ok {
		return fail(fmt.Errorf("%w: joiner's leaf is not in the tree", ErrInvalidTree))
	}
	keys := newPathKeys(own, p.Secrets.EncryptionPriv)
	if gs.PathSecret != nil {
		if err := tree.importPathSecret(cs, keys, gi.Signer, gs.PathSecret.Secret); err != nil {
			keys.zero()
			return fail(err)
		}
	}
	interim, err := InterimTranscriptHash(cs, gi.GroupContext.ConfirmedTranscriptHash, gi.ConfirmationTag)
	if err != nil {
		keys.zero()
		return fail(err)
	}
	st, err := newSecretTree(cs, opened.Epoch.EncryptionSecret, tree.LeafCount())
	if err != nil {
		keys.zero()
		return fail(err)
	}
	now := p.Now
	if now == nil {
		now = time.Now
	}
	return &Group{
		publicState: publicState{cs: cs, ctx: gi.GroupContext, tree: tree, interim: interim,
			confTag: gi.ConfirmationTag, pending: map[string]pendingProposal{}, now: now},
		own: own, signPriv: append([]byte(nil), p.SignPriv...), keys: keys,
		epoch: opened.Epoch, secretTree: st,
		resumption: map[uint64][]byte{gi.GroupContext.Epoch: append([]byte(nil), opened.Epoch.ResumptionPSK...)},
		psk:        p.PSK,
	}, nil
}

// findLeaf locates a leaf equal to ln.
func (t *RatchetTree) findLeaf(ln *LeafNode) (LeafIndex, bool) {
	want, err := Marshal(ln)
	if err != nil {
		return 0, false
	}
	for i := range t.LeafCount() {
		if l := t.Leaf(LeafIndex(i)); l != nil && bytes.Equal(l.EncryptionKey, ln.EncryptionKey) {
			if got, err := Marshal(l); err == nil && bytes.Equal(got, want) {
				return LeafIndex(i), true
			}
		}
	}
	return 0, false
}

// Context returns the current GroupContext.
func (g *Group) Context() *GroupContext { return &g.ctx }

// Epoch returns the current epoch number.
func (g *Group) Epoch() uint64 { return g.ctx.Epoch }

// OwnLeaf returns the member's leaf index.
func (g *Group) OwnLeaf() LeafIndex { return g.own }

// Tree returns the public ratchet tree. Callers must not modify it.
func (g *Group) Tree() *RatchetTree { return g.tree }

// EpochAuthenticator returns the epoch authenticator (RFC 9420 §8.7), the
// value members compare out of band as a security code.
func (g *Group) EpochAuthenticator() []byte {
	return append([]byte(nil), g.epoch.EpochAuthenticator...)
}

// Export is MLS-Exporter for the current epoch (RFC 9420 §8.5).
func (g *Group) Export(label string, context []byte, length int) ([]byte, error) {
	return g.epoch.export(g.cs, label, context, length)
}

// Close zeroes every secret the group holds.
func (g *Group) Close() {
	g.DiscardCommit()
	for e, r := range g.resumption {
		clear(r)
		delete(g.resumption, e)
	}
	g.epoch.zero()
	g.secretTree.zero()
	g.keys.zero()
	clear(g.signPriv)
}

// GroupInfo returns a signed GroupInfo of the current epoch (RFC 9420
// §12.4.3), with the ratchet tree inside when withTree is set: what the
// Delivery Service needs to start a PublicGroup.
func (g *Group) GroupInfo(withTree bool) (*GroupInfo, error) {
	var tree *RatchetTree
	if withTree {
		tree = g.tree
	}
	return newGroupInfo(g.cs, &g.ctx, g.confTag, g.epoch, tree, g.own, g.signPriv)
}
