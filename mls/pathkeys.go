package mls

// PathKeys is a member's private view of the tree: HPKE private keys of its
// leaf and of the nodes on its direct path it knows. Zero it when the
// member leaves or the keys are replaced.
type PathKeys struct {
	Leaf LeafIndex
	keys map[NodeIndex][]byte
}

// NewPathKeys starts a private view holding the leaf's encryption key.
func NewPathKeys(leaf LeafIndex, leafPriv []byte) *PathKeys {
	return &PathKeys{Leaf: leaf, keys: map[NodeIndex][]byte{leaf.NodeIndex(): append([]byte(nil), leafPriv...)}}
}

// SetPathSecret derives and stores the key of node x from a path secret, as a
// joiner does with the Welcome's path_secret (RFC 9420 §12.4.3.1).
func (k *PathKeys) SetPathSecret(cs *CipherSuite, x NodeIndex, pathSecret []byte) error {
	priv, _, err := cs.DeriveNodeKeyPair(pathSecret)
	if err != nil {
		return err
	}
	k.set(x, priv)
	return nil
}

func (k *PathKeys) set(x NodeIndex, priv []byte) {
	clear(k.keys[x])
	k.keys[x] = priv
}

// Zero deletes every private key.
func (k *PathKeys) Zero() {
	for x, p := range k.keys {
		clear(p)
		delete(k.keys, x)
	}
}

// DeriveNodeKeyPair derives a node's HPKE key pair from its path secret:
// node_secret = DeriveSecret(path_secret, "node") (RFC 9420 §7.4).
func (cs *CipherSuite) DeriveNodeKeyPair(pathSecret []byte) (priv, pub []byte, err error) {
	ns, err := cs.DeriveSecret(pathSecret, "node")
	if err != nil {
		return nil, nil, err
	}
	defer clear(ns)
	return cs.DeriveKeyPair(ns)
}

// clone copies the private view so a failed Commit leaves the original.
func (k *PathKeys) clone() *PathKeys {
	c := &PathKeys{Leaf: k.Leaf, keys: make(map[NodeIndex][]byte, len(k.keys))}
	for n, p := range k.keys {
		c.keys[n] = append([]byte(nil), p...)
	}
	return c
}
