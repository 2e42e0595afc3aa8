package mls

import (
	"crypto/rand"
	"fmt"
	"slices"
)

// TreeKEM (RFC 9420 §7.4-7.6): path secrets along the committer's filtered
// direct path, node key pairs derived from them, and their encryption to the
// resolution of each copath child.

// copathChild returns the child of p that is not an ancestor of leaf x.
func copathChild(p, x NodeIndex) NodeIndex {
	l, _ := p.Left()
	r, _ := p.Right()
	if l.IsAncestorOf(x) {
		return r
	}
	return l
}

// mergePath applies the public part of an UpdatePath for sender: blank the
// direct path, set the new keys on the filtered direct path, chain the
// parent hashes from the root down, and return the parent hash the sender's
// leaf must carry (RFC 9420 §7.5, §7.9).
func (t *RatchetTree) mergePath(cs *CipherSuite, sender LeafIndex, keys [][]byte) ([]byte, error) {
	fdp := t.FilteredDirectPath(sender)
	if len(fdp) != len(keys) {
		return nil, fmt.Errorf("%w: %d nodes for a filtered direct path of %d", ErrInvalidPath, len(keys), len(fdp))
	}
	x := sender.NodeIndex()
	t.blankDirectPath(x)
	for i, p := range fdp {
		t.nodes[p] = &Node{Type: NodeTypeParent, Parent: &ParentNode{EncryptionKey: keys[i]}}
	}
	var above []byte
	for i := len(fdp) - 1; i >= 0; i-- {
		p := fdp[i]
		t.nodes[p].Parent.ParentHash = above
		ph, err := t.parentHash(cs, p, copathChild(p, x))
		if err != nil {
			return nil, err
		}
		above = ph
	}
	return above, nil
}

// ApplyUpdatePath merges a received UpdatePath into the tree after checking
// it (RFC 9420 §12.4.2): the new leaf must be a commit-sourced leaf signed for
// the sender's position in groupID whose parent_hash matches the merged
// path. On error the tree is unchanged.
func (t *RatchetTree) ApplyUpdatePath(cs *CipherSuite, groupID []byte, sender LeafIndex, path *UpdatePath) error {
	if t.Leaf(sender) == nil {
		return ErrInvalidLeafIndex
	}
	ln := &path.LeafNode
	if ln.Source != LeafNodeSourceCommit {
		return fmt.Errorf("%w: leaf source %d", ErrInvalidPath, ln.Source)
	}
	if err := ln.validateStatic(cs, groupID, sender); err != nil {
		return err
	}
	keys := make([][]byte, len(path.Nodes))
	for i := range path.Nodes {
		keys[i] = path.Nodes[i].EncryptionKey
	}
	work := &RatchetTree{nodes: slices.Clone(t.nodes)}
	ph, err := work.mergePath(cs, sender, keys)
	if err != nil {
		return err
	}
	if !bytesEqual(ph, ln.ParentHash) {
		return fmt.Errorf("%w: leaf parent_hash does not match the path", ErrInvalidPath)
	}
	work.nodes[sender.NodeIndex()] = &Node{Type: NodeTypeLeaf, Leaf: ln}
	t.nodes = work.nodes
	return nil
}

// updatePathResult is what the committer keeps from generateUpdatePath.
// Call zero once the Welcome is sent.
type updatePathResult struct {
	Path         *UpdatePath
	CommitSecret []byte
	Keys         *pathKeys // the committer's new leaf and path keys

	sender  LeafIndex
	fdp     []NodeIndex
	secrets [][]byte // path secrets, parallel to fdp
}

// joinerPathSecret returns the path secret a joiner at leaf gets in its
// GroupSecrets: that of the lowest node of the committer's filtered direct
// path above the joiner (RFC 9420 §12.4.3.1). nil if there is none.
func (r *updatePathResult) joinerPathSecret(joiner LeafIndex) []byte {
	for i, p := range r.fdp {
		if p.IsAncestorOf(joiner.NodeIndex()) {
			return append([]byte(nil), r.secrets[i]...)
		}
	}
	return nil
}

// zero deletes the commit secret and the path secrets.
func (r *updatePathResult) zero() {
	clear(r.CommitSecret)
	for _, s := range r.secrets {
		clear(s)
	}
}

// generateUpdatePath refreshes sender's leaf and path (RFC 9420 §7.4-7.6,
// §12.4.2). leaf is the new leaf's content (credential, capabilities,
// extensions); its keys, source, parent hash and signature are set here.
// The tree is updated in place; ctxFor builds the provisional GroupContext
// from the new tree hash, and exclude lists leaves added by the same commit,
// which receive the path secret through the Welcome instead.
func (t *RatchetTree) generateUpdatePath(cs *CipherSuite, groupID []byte, sender LeafIndex, leaf LeafNode,
	signPriv []byte, ctxFor func(treeHash []byte) *GroupContext, exclude []LeafIndex) (*updatePathResult, error) {
	if t.Leaf(sender) == nil {
		return nil, ErrInvalidLeafIndex
	}
	leafPriv, leafPub, err := cs.generateHPKEKeyPair()
	if err != nil {
		return nil, err
	}
	keys := newPathKeys(sender, leafPriv)
	clear(leafPriv)

	fdp := t.FilteredDirectPath(sender)
	secrets := make([][]byte, len(fdp))
	pubs := make([][]byte, len(fdp))
	done := false
	defer func() {
		if !done {
			for _, s := range secrets {
				clear(s)
			}
		}
	}()
	ps := make([]byte, cs.nh)
	if _, err := rand.Read(ps); err != nil {
		return nil, err
	}
	for i, p := range fdp {
		if i > 0 {
			next, err := cs.deriveSecret(ps, "path")
			if err != nil {
				return nil, err
			}
			ps = next
		}
		secrets[i] = ps
		priv, pub, err := cs.deriveNodeKeyPair(ps)
		if err != nil {
			return nil, err
		}
		keys.set(p, priv)
		pubs[i] = pub
	}
	// commit_secret is one derivation past the last path secret (§7.4); an
	// empty filtered path means the root is the leaf's only ancestor set.
	var commitSecret []byte
	if len(secrets) == 0 {
		commitSecret, err = cs.deriveSecret(ps, "path")
	} else {
		commitSecret, err = cs.deriveSecret(secrets[len(secrets)-1], "path")
	}
	if err != nil {
		return nil, err
	}

	work := &RatchetTree{nodes: slices.Clone(t.nodes)}
	ph, err := work.mergePath(cs, sender, pubs)
	if err != nil {
		return nil, err
	}
	leaf.EncryptionKey = leafPub
	leaf.Source = LeafNodeSourceCommit
	leaf.ParentHash = ph
	leaf.Lifetime = Lifetime{}
	if err := leaf.Sign(cs, signPriv, groupID, sender); err != nil {
		return nil, err
	}
	work.nodes[sender.NodeIndex()] = &Node{Type: NodeTypeLeaf, Leaf: &leaf}
	th, err := work.TreeHash(cs)
	if err != nil {
		return nil, err
	}
	gc, err := Marshal(ctxFor(th))
	if err != nil {
		return nil, err
	}

	path := &UpdatePath{LeafNode: leaf, Nodes: make([]UpdatePathNode, len(fdp))}
	x := sender.NodeIndex()
	for i, p := range fdp {
		path.Nodes[i].EncryptionKey = pubs[i]
		for _, r := range work.copathResolution(p, x, exclude) {
			pub, err := work.nodeEncryptionKey(r)
			if err != nil {
				return nil, err
			}
			ct, err := cs.EncryptWithLabel(pub, "UpdatePathNode", gc, secrets[i])
			if err != nil {
				return nil, err
			}
			path.Nodes[i].EncryptedPathSecret = append(path.Nodes[i].EncryptedPathSecret, ct)
		}
	}
	t.nodes = work.nodes
	done = true
	return &updatePathResult{Path: path, CommitSecret: commitSecret, Keys: keys, sender: sender, fdp: fdp, secrets: secrets}, nil
}

// copathResolution is the resolution of p's child off x's path, minus the
// excluded (newly added) leaves (RFC 9420 §7.6).
func (t *RatchetTree) copathResolution(p, x NodeIndex, exclude []LeafIndex) []NodeIndex {
	res := t.Resolution(copathChild(p, x))
	return slices.DeleteFunc(res, func(n NodeIndex) bool {
		return n.IsLeaf() && slices.Contains(exclude, n.Leaf())
	})
}

func (t *RatchetTree) nodeEncryptionKey(x NodeIndex) ([]byte, error) {
	if int(x) >= len(t.nodes) {
		return nil, treeErr("node %d outside the tree", x)
	}
	switch n := t.nodes[x]; {
	case n == nil:
		return nil, treeErr("blank node %d in a resolution", x)
	case n.Leaf != nil:
		return n.Leaf.EncryptionKey, nil
	default:
		return n.Parent.EncryptionKey, nil
	}
}

// decryptUpdatePath recovers the path secret a receiver is entitled to from
// an UpdatePath already merged with ApplyUpdatePath, derives the secrets of
// the nodes above, checks them against the path's public keys, stores the
// new private keys in keys and returns the commit secret and the path
// secret at the lowest node shared with the sender (RFC 9420 §7.5, §12.4.2).
// ctx is the provisional GroupContext; exclude as for generateUpdatePath.
func (t *RatchetTree) decryptUpdatePath(cs *CipherSuite, keys *pathKeys, sender LeafIndex, path *UpdatePath,
	ctx *GroupContext, exclude []LeafIndex) (commitSecret, pathSecret []byte, err error) {
	if keys.Leaf == sender {
		return nil, nil, fmt.Errorf("%w: receiver is the sender", ErrInvalidArgument)
	}
	if t.Leaf(sender) == nil || t.Leaf(keys.Leaf) == nil {
		return nil, nil, ErrInvalidLeafIndex
	}
	fdp := t.FilteredDirectPath(sender)
	if len(fdp) != len(path.Nodes) {
		return nil, nil, fmt.Errorf("%w: path length", ErrInvalidPath)
	}
	me := keys.Leaf.NodeIndex()
	x := sender.NodeIndex()
	start := -1
	for i, p := range fdp {
		if p.IsAncestorOf(me) {
			start = i
			break
		}
	}
	if start < 0 {
		return nil, nil, fmt.Errorf("%w: receiver not below the path", ErrInvalidPath)
	}
	res := t.copathResolution(fdp[start], x, exclude)
	cts := path.Nodes[start].EncryptedPathSecret
	if len(cts) != len(res) {
		return nil, nil, fmt.Errorf("%w: %d ciphertexts for a resolution of %d", ErrInvalidPath, len(cts), len(res))
	}
	gc, err := Marshal(ctx)
	if err != nil {
		return nil, nil, err
	}
	var ps []byte
	for i, r := range res {
		priv, ok := keys.keys[r]
		if !ok || !r.IsAncestorOf(me) {
			continue
		}
		ps, err = cs.decryptWithLabel(priv, "UpdatePathNode", gc, cts[i])
		if err != nil {
			return nil, nil, err
		}
		break
	}
	if ps == nil {
		return nil, nil, fmt.Errorf("%w: no private key for the copath resolution", ErrInvalidPath)
	}
	pathSecret = append([]byte(nil), ps...)
	newKeys := map[NodeIndex][]byte{}
	for i := start; i < len(fdp); i++ {
		if i > start {
			next, err := cs.deriveSecret(ps, "path")
			clear(ps)
			if err != nil {
				return nil, nil, err
			}
			ps = next
		}
		priv, pub, err := cs.deriveNodeKeyPair(ps)
		if err != nil {
			return nil, nil, err
		}
		if !bytesEqual(pub, path.Nodes[i].EncryptionKey) {
			clear(priv)
			for _, k := range newKeys {
				clear(k)
			}
			return nil, nil, fmt.Errorf("%w: derived key differs at node %d", ErrInvalidPath, fdp[i])
		}
		newKeys[fdp[i]] = priv
	}
	commitSecret, err = cs.deriveSecret(ps, "path")
	clear(ps)
	if err != nil {
		return nil, nil, err
	}
	// The sender's direct path was blanked and rekeyed: keys of those
	// nodes the receiver held are stale.
	for _, p := range x.DirectPath(t.LeafCount()) {
		if k, ok := keys.keys[p]; ok {
			clear(k)
			delete(keys.keys, p)
		}
	}
	for n, k := range newKeys {
		keys.keys[n] = k
	}
	return commitSecret, pathSecret, nil
}

// importPathSecret is the joiner's step of RFC 9420 §12.4.3.1: given the
// path_secret from its GroupSecrets, derive the keys of the committer's
// filtered direct path from the lowest node above the joiner up to the root,
// check them against the tree's public keys and store them in keys.
func (t *RatchetTree) importPathSecret(cs *CipherSuite, keys *pathKeys, committer LeafIndex, pathSecret []byte) error {
	fdp := t.FilteredDirectPath(committer)
	me := keys.Leaf.NodeIndex()
	ps := append([]byte(nil), pathSecret...)
	defer func() { clear(ps) }()
	found := false
	for _, p := range fdp {
		if !found {
			if !p.IsAncestorOf(me) {
				continue
			}
			found = true
		} else {
			next, err := cs.deriveSecret(ps, "path")
			if err != nil {
				return err
			}
			clear(ps)
			ps = next
		}
		priv, pub, err := cs.deriveNodeKeyPair(ps)
		if err != nil {
			return err
		}
		if pn := t.parent(p); pn == nil || !bytesEqual(pn.EncryptionKey, pub) {
			clear(priv)
			return fmt.Errorf("%w: path secret does not match node %d", ErrInvalidPath, p)
		}
		keys.set(p, priv)
	}
	if !found {
		return fmt.Errorf("%w: joiner not below the committer's path", ErrInvalidPath)
	}
	return nil
}
