package audit

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
)

// checkpointContext separates checkpoint signatures from anything else the audit key
// might ever sign.
const checkpointContext = "sealroom audit checkpoint v1\x00"

// checkpoint is an audit_checkpoints row: the chain head at seq, signed.
type checkpoint struct {
	seq       int64
	head      [32]byte
	signedAt  int64 // unix microseconds
	keyID     [8]byte
	signature []byte
}

// signingInput is context || seq (8, big-endian) || head (32) || signed_at µs (8, big-endian).
func (c *checkpoint) signingInput() []byte {
	b := make([]byte, 0, len(checkpointContext)+48)
	b = append(b, checkpointContext...)
	b = binary.BigEndian.AppendUint64(b, uint64(c.seq))
	b = append(b, c.head[:]...)
	return binary.BigEndian.AppendUint64(b, uint64(c.signedAt))
}

// KeyID is the first 8 bytes of SHA-256 of the public key, stored beside each checkpoint
// so a verifier can tell which published key signed it.
func KeyID(pub ed25519.PublicKey) [8]byte {
	h := sha256.Sum256(pub)
	var id [8]byte
	copy(id[:], h[:8])
	return id
}

func (c *checkpoint) sign(priv ed25519.PrivateKey) {
	c.keyID = KeyID(priv.Public().(ed25519.PublicKey))
	c.signature = ed25519.Sign(priv, c.signingInput())
}

func (c *checkpoint) verify(pub ed25519.PublicKey) bool {
	return c.keyID == KeyID(pub) && len(c.signature) == ed25519.SignatureSize &&
		ed25519.Verify(pub, c.signingInput(), c.signature)
}
