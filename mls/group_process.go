package mls

import (
	"bytes"
	"fmt"
	"slices"
)

// Received is the outcome of processing one message.
type Received struct {
	Content *AuthenticatedContent
	// ApplicationData is set for application messages.
	ApplicationData []byte
	// NewEpoch is true when a Commit moved the group to the next epoch.
	NewEpoch bool
}

// unprotect authenticates a PublicMessage or decrypts a PrivateMessage of
// the current epoch and verifies its signature (RFC 9420 §6).
func (g *Group) unprotect(m *MLSMessage) (*AuthenticatedContent, error) {
	var ac *AuthenticatedContent
	switch m.WireFormat {
	case WireFormatPublicMessage:
		pm := m.PublicMessage
		if !bytesEqual(pm.Content.GroupID, g.ctx.GroupID) || pm.Content.Epoch != g.ctx.Epoch {
			return nil, ErrWrongGroup
		}
		if pm.Content.ContentType == ContentTypeApplication {
			return nil, fmt.Errorf("%w: application data in a PublicMessage", ErrInvalidValue)
		}
		if err := pm.verifyMembershipTag(g.cs, &g.ctx, g.epoch.MembershipKey); err != nil {
			return nil, err
		}
		ac = pm.AuthenticatedContent()
	case WireFormatPrivateMessage:
		keys := privateMessageKeys{SecretTree: g.secretTree, SenderDataSecret: g.epoch.SenderDataSecret, Verify: g.verifySignature}
		return decryptPrivateMessage(g.cs, keys, &g.ctx, m.PrivateMessage)
	default:
		return nil, fmt.Errorf("%w: wire format %d is not a group message", ErrInvalidArgument, m.WireFormat)
	}
	if err := g.verifySignature(ac); err != nil {
		return nil, err
	}
	return ac, nil
}

func (g *Group) verifySignature(ac *AuthenticatedContent) error {
	key, err := g.senderSignatureKey(ac)
	if err != nil {
		return err
	}
	return ac.VerifySignature(g.cs, key, &g.ctx)
}

// Process handles a message of the group: application data is returned,
// proposals are kept for a later Commit, and a Commit moves the group to the
// next epoch. On any error the group state is unchanged.
func (g *Group) Process(m *MLSMessage) (*Received, error) {
	if m.Version != ProtocolVersionMLS10 {
		return nil, ErrUnsupportedVersion
	}
	if m.body() == nil {
		return nil, fmt.Errorf("%w: empty MLSMessage", ErrInvalidArgument)
	}
	ac, err := g.unprotect(m)
	if err != nil {
		return nil, err
	}
	switch ac.Content.ContentType {
	case ContentTypeApplication:
		return &Received{Content: ac, ApplicationData: ac.Content.ApplicationData}, nil
	case ContentTypeProposal:
		if err := g.allowProposal(ProposalInfo{Proposal: ac.Content.Proposal, Sender: ac.Content.Sender}); err != nil {
			return nil, err
		}
		ref, err := ProposalRef(g.cs, ac)
		if err != nil {
			return nil, err
		}
		g.pending[string(ref)] = pendingProposal{proposal: ac.Content.Proposal, sender: ac.Content.Sender}
		return &Received{Content: ac}, nil
	default:
		if ac.Content.Sender.Type == SenderTypeMember && ac.Content.Sender.LeafIndex == g.own {
			return nil, fmt.Errorf("%w: own Commit must be merged, not processed", ErrInvalidSender)
		}
		if err := g.processCommit(ac); err != nil {
			return nil, err
		}
		// Another member's Commit won the epoch: ours is stale.
		g.DiscardCommit()
		return &Received{Content: ac, NewEpoch: true}, nil
	}
}

// processCommit applies a Commit from another member (RFC 9420 §12.4.2):
// the public effects, then the path secret, key schedule and confirmation tag.
func (g *Group) processCommit(ac *AuthenticatedContent) error {
	eff, err := g.commitPublic(ac)
	if err != nil {
		return err
	}
	c := ac.Content.Commit
	ap := eff.applied
	// Checked by index: an Add in the same Commit may refill the leaf.
	if slices.Contains(ap.removed, g.own) {
		return ErrRemoved
	}

	keys := g.keys
	commitSecret := make([]byte, g.cs.nh)
	if c.Path != nil {
		// Path secrets are encrypted under the provisional GroupContext:
		// the new tree and extensions, the old confirmed transcript hash.
		provisional := eff.next
		provisional.ConfirmedTranscriptHash = g.ctx.ConfirmedTranscriptHash
		keys = g.keys.clone()
		commitSecret, _, err = ap.tree.decryptUpdatePath(g.cs, keys, eff.pathLeaf, c.Path, &provisional, ap.added)
		if err != nil {
			keys.zero()
			return err
		}
	}
	defer clear(commitSecret)
	discard := func(err error) error {
		if keys != g.keys {
			keys.zero()
		}
		return err
	}
	pskSecret, err := g.pskSecret(ap.psks)
	if err != nil {
		return discard(err)
	}
	defer clear(pskSecret)
	initSecret := g.epoch.InitSecret
	if ap.external != nil {
		// An external joiner cannot know init_secret; it sends one under
		// external_pub instead (RFC 9420 §8.3).
		if initSecret, err = g.cs.externalInitReceive(g.epoch.ExternalSecret, ap.external.KEMOutput); err != nil {
			return discard(err)
		}
		defer clear(initSecret)
	}
	es, err := g.cs.deriveEpochSecrets(initSecret, commitSecret, pskSecret, &eff.next)
	if err != nil {
		return discard(err)
	}
	if err := verifyConfirmationTag(g.cs, es.ConfirmationKey, eff.next.ConfirmedTranscriptHash, ac.Auth.ConfirmationTag); err != nil {
		es.zero()
		return discard(err)
	}
	st, err := newSecretTree(g.cs, es.EncryptionSecret, ap.tree.LeafCount())
	if err != nil {
		es.zero()
		return discard(err)
	}
	g.advance(eff.next, ap.tree, keys, es, st, eff.interim, ac.Auth.ConfirmationTag)
	return nil
}

// advance installs the next epoch and deletes the old epoch's secrets
// (RFC 9420 §9.2).
func (g *Group) advance(next GroupContext, tree *RatchetTree, keys *pathKeys, es *epochSecrets, st *secretTree, interim, confTag []byte) {
	if keys != g.keys {
		g.keys.zero()
	}
	g.epoch.zero()
	g.secretTree.zero()
	clear(g.pending)
	g.ctx, g.tree, g.keys, g.epoch, g.secretTree, g.interim, g.confTag = next, tree, keys, es, st, interim, confTag
	g.resumption[next.Epoch] = append([]byte(nil), es.ResumptionPSK...)
	if old, ok := g.resumption[next.Epoch-maxResumptionEpochs]; ok {
		clear(old)
		delete(g.resumption, next.Epoch-maxResumptionEpochs)
	}
}

// pskSecret resolves PSK proposals: external PSKs through the resolver,
// resumption PSKs of this group from the kept epochs (RFC 9420 §8.4).
func (g *Group) pskSecret(ids []PreSharedKeyID) ([]byte, error) {
	psks := make([]resolvedPSK, 0, len(ids))
	for _, id := range ids {
		var secret []byte
		switch id.Type {
		case PSKTypeExternal:
			if g.psk == nil {
				return nil, proposalErr("unknown external PSK")
			}
			s, err := g.psk(id)
			if err != nil {
				return nil, err
			}
			secret = s
		case PSKTypeResumption:
			if id.Usage != ResumptionPSKUsageApplication || !bytes.Equal(id.PSKGroupID, g.ctx.GroupID) {
				return nil, proposalErr("resumption PSK of another group or usage")
			}
			s, ok := g.resumption[id.PSKEpoch]
			if !ok {
				return nil, proposalErr("resumption PSK of epoch %d not kept", id.PSKEpoch)
			}
			secret = s
		}
		if len(id.Nonce) != g.cs.nh {
			return nil, proposalErr("PSK nonce length")
		}
		psks = append(psks, resolvedPSK{ID: id, Secret: secret})
	}
	return g.cs.pskSecret(psks)
}
