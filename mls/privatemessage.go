package mls

import (
	"crypto/rand"
	"crypto/subtle"
	"fmt"
)

// reuseGuardLen is the length of SenderData.reuse_guard (RFC 9420 §6.3.1).
const reuseGuardLen = 4

// PrivateMessage carries encrypted, signed content (RFC 9420 §6.3).
type PrivateMessage struct {
	GroupID             []byte
	Epoch               uint64
	ContentType         ContentType
	AuthenticatedData   []byte
	EncryptedSenderData []byte
	Ciphertext          []byte
}

func (m *PrivateMessage) structName() string { return "PrivateMessage" }

func (m *PrivateMessage) marshal(w *writer) {
	w.opaque(m.GroupID)
	w.u64(m.Epoch)
	w.u8(uint8(m.ContentType))
	w.opaque(m.AuthenticatedData)
	w.opaque(m.EncryptedSenderData)
	w.opaque(m.Ciphertext)
}

func (m *PrivateMessage) unmarshal(r *reader) {
	m.GroupID = r.opaque()
	m.Epoch = r.u64()
	m.ContentType = ContentType(r.u8())
	if r.ok() && (m.ContentType < ContentTypeApplication || m.ContentType > ContentTypeCommit) {
		unknown(r, "content_type", uint64(m.ContentType))
	}
	m.AuthenticatedData = r.opaque()
	m.EncryptedSenderData = r.opaque()
	m.Ciphertext = r.opaque()
}

// contentAAD encodes PrivateContentAAD (RFC 9420 §6.3.1).
func (m *PrivateMessage) contentAAD() ([]byte, error) {
	// Sized up front: two length prefixes of at most 4 bytes, epoch and
	// content type, so the writer never grows on the message path.
	w := writer{b: make([]byte, 0, len(m.GroupID)+len(m.AuthenticatedData)+17)}
	w.opaque(m.GroupID)
	w.u64(m.Epoch)
	w.u8(uint8(m.ContentType))
	w.opaque(m.AuthenticatedData)
	return w.result()
}

// senderDataAAD encodes SenderDataAAD (RFC 9420 §6.3.2).
func (m *PrivateMessage) senderDataAAD() ([]byte, error) {
	w := writer{b: make([]byte, 0, len(m.GroupID)+13)}
	w.opaque(m.GroupID)
	w.u64(m.Epoch)
	w.u8(uint8(m.ContentType))
	return w.result()
}

// privateMessageKeys are the epoch inputs of message protection.
type privateMessageKeys struct {
	SecretTree       *secretTree
	SenderDataSecret []byte
	// Verify, if set, authenticates the decrypted content (normally the
	// sender's signature) before the ratchet moves, so a member forging
	// sender data cannot burn another member's generations.
	Verify func(*AuthenticatedContent) error
}

// encryptPrivateMessage protects signed content as a PrivateMessage
// (RFC 9420 §6.3): the content is encrypted under the next key of the
// sender's handshake or application ratchet, with a random reuse guard mixed
// into the nonce, then the sender data is encrypted under a key derived from
// the ciphertext sample. paddingLen zero bytes are appended to hide length.
func encryptPrivateMessage(cs *CipherSuite, keys privateMessageKeys, ac *AuthenticatedContent, paddingLen int) (*PrivateMessage, error) {
	return encryptPrivateMessageGuard(cs, keys, ac, paddingLen, nil)
}

func encryptPrivateMessageGuard(cs *CipherSuite, keys privateMessageKeys, ac *AuthenticatedContent, paddingLen int, guard []byte) (*PrivateMessage, error) {
	c := &ac.Content
	if ac.WireFormat != WireFormatPrivateMessage {
		return nil, fmt.Errorf("%w: wire format %d for a PrivateMessage", ErrInvalidArgument, ac.WireFormat)
	}
	if c.Sender.Type != SenderTypeMember {
		return nil, ErrInvalidSender
	}
	if paddingLen < 0 {
		return nil, ErrInvalidArgument
	}
	st := keys.SecretTree
	r, err := st.ratchetFor(c.Sender.LeafIndex, c.ContentType != ContentTypeApplication)
	if err != nil {
		return nil, err
	}

	// PrivateMessageContent (RFC 9420 §6.3.1).
	// Sized for application data (body, signature, padding, prefixes);
	// handshake bodies may still grow it.
	pw := writer{b: make([]byte, 0, len(c.ApplicationData)+len(ac.Auth.Signature)+len(ac.Auth.ConfirmationTag)+paddingLen+16)}
	c.marshalBody(&pw)
	ac.Auth.marshal(&pw, c.ContentType)
	pw.b = append(pw.b, make([]byte, paddingLen)...)
	plaintext, err := pw.result()
	if err != nil {
		return nil, err
	}
	defer clear(plaintext)

	m := &PrivateMessage{GroupID: c.GroupID, Epoch: c.Epoch, ContentType: c.ContentType, AuthenticatedData: c.AuthenticatedData}
	aad, err := m.contentAAD()
	if err != nil {
		return nil, err
	}

	var g [reuseGuardLen]byte
	if guard != nil {
		copy(g[:], guard)
	} else if _, err := rand.Read(g[:]); err != nil {
		return nil, err
	}

	step, err := st.prepare(r, r.next)
	if err != nil {
		return nil, err
	}
	aead, err := cs.newAEAD(step.kn.key)
	if err != nil {
		step.discard()
		return nil, err
	}
	nonce := applyReuseGuard(step.kn.nonce, g)
	m.Ciphertext = aead.Seal(nil, nonce, plaintext, aad)
	clear(nonce)
	gen := step.gen
	st.commit(r, step)

	// SenderData (RFC 9420 §6.3.2).
	sw := writer{b: make([]byte, 0, 8+reuseGuardLen)}
	sw.u32(uint32(c.Sender.LeafIndex))
	sw.u32(gen)
	sw.bytes(g[:])
	sdAAD, err := m.senderDataAAD()
	if err != nil {
		return nil, err
	}
	sdKey, sdNonce, err := keys.SecretTree.senderDataKeyNonce(keys.SenderDataSecret, m.Ciphertext)
	if err != nil {
		return nil, err
	}
	defer clear(sdKey)
	sdAEAD, err := cs.newAEAD(sdKey)
	if err != nil {
		return nil, err
	}
	m.EncryptedSenderData = sdAEAD.Seal(nil, sdNonce, sw.b, sdAAD)
	return m, nil
}

// applyReuseGuard XORs the guard into the first four nonce bytes
// (RFC 9420 §6.3.1), returning a fresh slice.
func applyReuseGuard(nonce []byte, g [reuseGuardLen]byte) []byte {
	n := append([]byte(nil), nonce...)
	for i := range g {
		n[i] ^= g[i]
	}
	return n
}

// decryptPrivateMessage removes the protection of a PrivateMessage
// (RFC 9420 §6.3). It checks group and epoch against ctx, decrypts the sender
// data and the content, and checks the padding. The secret tree only moves
// when everything succeeded, so a forged or corrupted message changes no
// state. The signature is not checked here: the caller looks up the sender's
// signature key from the returned leaf index and calls VerifySignature.
func decryptPrivateMessage(cs *CipherSuite, keys privateMessageKeys, ctx *GroupContext, m *PrivateMessage) (*AuthenticatedContent, error) {
	if !bytesEqual(m.GroupID, ctx.GroupID) || m.Epoch != ctx.Epoch {
		return nil, ErrWrongGroup
	}
	sdKey, sdNonce, err := keys.SecretTree.senderDataKeyNonce(keys.SenderDataSecret, m.Ciphertext)
	if err != nil {
		return nil, err
	}
	defer clear(sdKey)
	sdAEAD, err := cs.newAEAD(sdKey)
	if err != nil {
		return nil, err
	}
	sdAAD, err := m.senderDataAAD()
	if err != nil {
		return nil, err
	}
	if len(m.EncryptedSenderData) < sdAEAD.Overhead() {
		return nil, ErrDecrypt
	}
	sd, err := sdAEAD.Open(nil, sdNonce, m.EncryptedSenderData, sdAAD)
	if err != nil {
		return nil, ErrDecrypt
	}
	sr := newReader(sd)
	leaf := LeafIndex(sr.u32())
	gen := sr.u32()
	var g [reuseGuardLen]byte
	copy(g[:], sr.raw(reuseGuardLen))
	if err := sr.finish(); err != nil {
		return nil, &DecodeError{Struct: "SenderData", Err: err}
	}

	st := keys.SecretTree
	r, err := st.ratchetFor(leaf, m.ContentType != ContentTypeApplication)
	if err != nil {
		return nil, err
	}
	step, err := st.prepare(r, gen)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			step.discard()
		}
	}()
	aead, err := cs.newAEAD(step.kn.key)
	if err != nil {
		return nil, err
	}
	aad, err := m.contentAAD()
	if err != nil {
		return nil, err
	}
	if len(m.Ciphertext) < aead.Overhead() {
		return nil, ErrDecrypt
	}
	nonce := applyReuseGuard(step.kn.nonce, g)
	plaintext, err := aead.Open(nil, nonce, m.Ciphertext, aad)
	clear(nonce)
	if err != nil {
		return nil, ErrDecrypt
	}
	defer clear(plaintext)

	ac := &AuthenticatedContent{
		WireFormat: WireFormatPrivateMessage,
		Content: FramedContent{
			GroupID:           m.GroupID,
			Epoch:             m.Epoch,
			Sender:            Sender{Type: SenderTypeMember, LeafIndex: leaf},
			AuthenticatedData: m.AuthenticatedData,
			ContentType:       m.ContentType,
		},
	}
	pr := newReader(plaintext)
	ac.Content.unmarshalBody(pr)
	ac.Auth.unmarshal(pr, m.ContentType)
	if !pr.ok() {
		return nil, &DecodeError{Struct: "PrivateMessageContent", Err: pr.err}
	}
	// Padding must be all zero (RFC 9420 §6.3.1); OR-fold so the check does
	// not reveal where a non-zero byte sits.
	var acc byte
	for _, b := range pr.s {
		acc |= b
	}
	if subtle.ConstantTimeByteEq(acc, 0) != 1 {
		return nil, ErrInvalidPadding
	}
	if keys.Verify != nil {
		if err := keys.Verify(ac); err != nil {
			return nil, err
		}
	}
	ok = true
	st.commit(r, step)
	return ac, nil
}
