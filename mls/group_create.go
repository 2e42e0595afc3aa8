package mls

import (
	"crypto/rand"
	"fmt"
	"time"
)

// NewGroupParams describes a group to create.
type NewGroupParams struct {
	GroupID    []byte
	Extensions Extensions // GroupContext extensions, e.g. external_senders
	// The creator's KeyPackage material: its leaf becomes leaf 0.
	KeyPackage *KeyPackage
	Secrets    *KeyPackageSecrets
	SignPriv   []byte
	PSK        func(PreSharedKeyID) ([]byte, error)
	Now        func() time.Time
}

// NewGroup creates a one-member group in epoch 0 (RFC 9420 §11): a fresh
// init secret, an empty confirmed transcript hash and the interim hash over
// epoch 0's confirmation tag.
func NewGroup(cs *CipherSuite, p NewGroupParams) (*Group, error) {
	if p.KeyPackage.CipherSuite != cs.ID() || len(p.GroupID) == 0 {
		return nil, fmt.Errorf("%w: group parameters", ErrInvalidArgument)
	}
	tree, err := NewRatchetTree(RatchetTreeNodes{{Type: NodeTypeLeaf, Leaf: &p.KeyPackage.LeafNode}})
	if err != nil {
		return nil, err
	}
	th, err := tree.TreeHash(cs)
	if err != nil {
		return nil, err
	}
	ctx := GroupContext{Version: ProtocolVersionMLS10, CipherSuite: cs.ID(), GroupID: p.GroupID,
		TreeHash: th, ConfirmedTranscriptHash: []byte{}, Extensions: p.Extensions}
	initSecret := make([]byte, cs.nh)
	if _, err := rand.Read(initSecret); err != nil {
		return nil, err
	}
	defer clear(initSecret)
	es, err := cs.deriveEpochSecrets(initSecret, nil, nil, &ctx)
	if err != nil {
		return nil, err
	}
	tag := confirmationTag(cs, es.ConfirmationKey, ctx.ConfirmedTranscriptHash)
	interim, err := InterimTranscriptHash(cs, ctx.ConfirmedTranscriptHash, tag)
	if err != nil {
		es.zero()
		return nil, err
	}
	st, err := newSecretTree(cs, es.EncryptionSecret, 1)
	if err != nil {
		es.zero()
		return nil, err
	}
	now := p.Now
	if now == nil {
		now = time.Now
	}
	return &Group{
		publicState: publicState{cs: cs, ctx: ctx, tree: tree, interim: interim,
			confTag: tag, pending: map[string]pendingProposal{}, now: now},
		own: 0, signPriv: append([]byte(nil), p.SignPriv...), keys: newPathKeys(0, p.Secrets.EncryptionPriv),
		epoch: es, secretTree: st,
		resumption: map[uint64][]byte{0: append([]byte(nil), es.ResumptionPSK...)},
		psk:        p.PSK,
	}, nil
}
