package mls

// A member's Commit (Group.Commit) and an external commit (JoinExternal)
// differ in who sends them, where init_secret comes from and how the
// message is protected. Once the proposals are applied and the path is
// generated, the rest of RFC 9420 §12.4.1 is the same for both and lives
// here, so the two cannot drift apart.

// commitInput is a Commit whose proposals and path are settled.
type commitInput struct {
	cs *CipherSuite
	// ctx and interim are the GroupContext and interim transcript hash of
	// the epoch the Commit ends.
	ctx     *GroupContext
	interim []byte
	// ac is the framed Commit; buildCommit signs it and sets its
	// confirmation tag.
	ac       *AuthenticatedContent
	signPriv []byte
	ap       *appliedProposals
	// keys is the committer's private view of ap.tree. The result takes
	// it over; on error the caller still owns it.
	keys *pathKeys
	// initSecret is the ending epoch's init_secret for a member, or the
	// one exported from the ExternalInit for an external joiner (§8.3).
	initSecret []byte
	// commitSecret is nil for a Commit without path (§8: the zero vector).
	commitSecret []byte
	pskSecret    []byte
}

// buildCommit signs the Commit and computes the epoch it opens
// (RFC 9420 §12.4.1): the signature over the FramedContent under the ending
// epoch's GroupContext (§6.1), the confirmed transcript hash (§8.2), the new
// GroupContext (§8.1), the key schedule (§8), the confirmation tag (§6.1),
// the interim transcript hash (§8.2) and the secret tree (§9). The result is
// the committer's next epoch, to install once the Delivery Service accepts
// the Commit.
func buildCommit(in commitInput) (*pendingCommit, error) {
	cs, ac := in.cs, in.ac
	if err := ac.Sign(cs, in.signPriv, in.ctx); err != nil {
		return nil, err
	}
	confirmed, err := ConfirmedTranscriptHash(cs, in.interim, ac)
	if err != nil {
		return nil, err
	}
	next, err := nextContext(cs, in.ctx, in.ap, confirmed)
	if err != nil {
		return nil, err
	}
	es, err := cs.deriveEpochSecrets(in.initSecret, in.commitSecret, in.pskSecret, &next)
	if err != nil {
		return nil, err
	}
	ac.Auth.ConfirmationTag = confirmationTag(cs, es.ConfirmationKey, confirmed)
	interim, err := InterimTranscriptHash(cs, confirmed, ac.Auth.ConfirmationTag)
	if err != nil {
		es.zero()
		return nil, err
	}
	st, err := newSecretTree(cs, es.EncryptionSecret, in.ap.tree.LeafCount())
	if err != nil {
		es.zero()
		return nil, err
	}
	return &pendingCommit{ctx: next, tree: in.ap.tree, keys: in.keys, epoch: es, st: st,
		interim: interim, confTag: ac.Auth.ConfirmationTag}, nil
}

// nextContext is the GroupContext of the epoch a Commit opens (RFC 9420
// §8.1, §12.4.2): the tree hash and extensions after the proposals and the
// path, and confirmed as the confirmed transcript hash. Committers and
// receivers, members and the Delivery Service all compute it here.
func nextContext(cs *CipherSuite, ctx *GroupContext, ap *appliedProposals, confirmed []byte) (GroupContext, error) {
	th, err := ap.tree.TreeHash(cs)
	if err != nil {
		return GroupContext{}, err
	}
	return GroupContext{
		Version: ctx.Version, CipherSuite: ctx.CipherSuite, GroupID: ctx.GroupID,
		Epoch: ctx.Epoch + 1, TreeHash: th, ConfirmedTranscriptHash: confirmed, Extensions: ap.extensions,
	}, nil
}

// provisionalContext is the GroupContext a committer encrypts its path
// secrets under (RFC 9420 §12.4.1): the next epoch number, the tree hash of
// the tree with the new path and the extensions after the proposals, but
// still the old confirmed transcript hash, since the transcript cannot
// include a Commit whose path is not yet built.
func provisionalContext(ctx *GroupContext, ext Extensions) func(treeHash []byte) *GroupContext {
	return func(th []byte) *GroupContext {
		c := *ctx
		c.Epoch++
		c.TreeHash = th
		c.Extensions = ext
		return &c
	}
}
