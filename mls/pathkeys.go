package mls

// pathKeys is a member's private view of the tree: HPKE private keys of its
// leaf and of the nodes on its direct path it knows. Call zero when the
// member leaves or the keys are replaced.
type pathKeys struct {
	Leaf LeafIndex
	keys map[NodeIndex][]byte
}

// newPathKeys starts a private view holding the leaf's encryption key.
func newPathKeys(leaf LeafIndex, leafPriv []byte) *pathKeys {
	return &pathKeys{Leaf: leaf, keys: map[NodeIndex][]byte{leaf.NodeIndex(): append([]byte(nil), leafPriv...)}}
}

// setPathSecret derives and stores the key of node x from a path secret, as a
// joiner does with the Welcome's path_secret (RFC 9420 §12.4.3.1).
func (k *pathKeys) setPathSecret(cs *CipherSuite, x NodeIndex, pathSecret []byte) error {
	priv, _, err := cs.deriveNodeKeyPair(pathSecret)
	if err != nil {
		return err
	}
	k.set(x, priv)
	return nil
}

func (k *pathKeys) set(x NodeIndex, priv []byte) {
	clear(k.keys[x])
	k.keys[x] = priv
}

// zero deletes every private key.
func (k *pathKeys) zero() {
	for x, p := range k.keys {
		clear(p)
		delete(k.keys, x)
	}
}

// deriveNodeKeyPair derives a node's HPKE key pair from its path secret:
// node_secret = DeriveSecret(path_secret, "node") (RFC 9420 §7.4).
func (cs *CipherSuite) deriveNodeKeyPair(pathSecret []byte) (priv, pub []byte, err error) {
	ns, err := cs.deriveSecret(pathSecret, "node")
	if err != nil {
		return nil, nil, err
	}
	defer clear(ns)
	return cs.deriveKeyPair(ns)
}

// clone copies the private view so a failed Commit leaves the original.
func (k *pathKeys) clone() *pathKeys {
	c := &pathKeys{Leaf: k.Leaf, keys: make(map[NodeIndex][]byte, len(k.keys))}
	for n, p := range k.keys {
		c.keys[n] = append([]byte(nil), p...)
	}
	return c
}
