package mls

import (
	"fmt"
	"slices"
)

// cloneTree copies the node array; nodes themselves are never mutated in
// place, so sharing them is safe.
func cloneTree(t *RatchetTree) *RatchetTree {
	return &RatchetTree{nodes: slices.Clone(t.nodes)}
}

func proposalErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidProposal}, args...)...)
}

// pendingProposal is a proposal received by reference earlier in the epoch.
type pendingProposal struct {
	proposal *Proposal
	sender   Sender
}

// appliedProposals is the outcome of applying a Commit's proposals to a copy
// of the tree (RFC 9420 §12.3).
type appliedProposals struct {
	tree       *RatchetTree
	extensions Extensions
	added      []LeafIndex
	addedKPs   []*KeyPackage // parallel to added
	removed    []LeafIndex
	psks       []PreSharedKeyID
	external   *ExternalInit
	reinit     *ReInit
	needPath   bool
}

// resolveProposals turns a Commit's ProposalOrRef list into proposals with
// their senders; referenced proposals must have been received this epoch.
func (g *publicState) resolveProposals(c *Commit, committer Sender) ([]pendingProposal, error) {
	out := make([]pendingProposal, 0, len(c.Proposals))
	for _, por := range c.Proposals {
		switch por.Type {
		case ProposalOrRefTypeProposal:
			out = append(out, pendingProposal{proposal: por.Proposal, sender: committer})
		case ProposalOrRefTypeReference:
			p, ok := g.pending[string(por.Reference)]
			if !ok {
				return nil, proposalErr("unknown proposal reference")
			}
			out = append(out, p)
		}
	}
	return out, nil
}

// applyProposals validates a proposal list (RFC 9420 §12.2) and applies it
// in the order of §12.3 to a copy of the tree.
func (g *publicState) applyProposals(list []pendingProposal, committer Sender) (*appliedProposals, error) {
	res := &appliedProposals{tree: cloneTree(g.tree), extensions: g.ctx.Extensions, needPath: len(list) == 0}
	var (
		gce      *GroupContextExtensions
		updates  = map[LeafIndex]*LeafNode{}
		removes  []LeafIndex
		adds     []*KeyPackage
		touched  = map[LeafIndex]bool{}
		pskNames = map[string]bool{}
	)
	for _, pp := range list {
		p := pp.proposal
		if p == nil || p.body() == nil {
			return nil, proposalErr("empty proposal")
		}
		switch p.Type {
		case ProposalTypeGroupContextExtensions:
			if gce != nil {
				return nil, proposalErr("two GroupContextExtensions")
			}
			gce = p.GroupContextExtensions
			res.needPath = true
		case ProposalTypeUpdate:
			if pp.sender.Type != SenderTypeMember {
				return nil, proposalErr("Update from a non-member")
			}
			l := pp.sender.LeafIndex
			if committer.Type == SenderTypeMember && l == committer.LeafIndex {
				return nil, proposalErr("committer's own Update")
			}
			if touched[l] || g.tree.Leaf(l) == nil {
				return nil, proposalErr("Update for leaf %d", l)
			}
			touched[l] = true
			updates[l] = &p.Update.LeafNode
			res.needPath = true
		case ProposalTypeRemove:
			l := p.Remove.Removed
			if touched[l] || g.tree.Leaf(l) == nil {
				return nil, proposalErr("Remove of leaf %d", l)
			}
			if committer.Type == SenderTypeMember && l == committer.LeafIndex {
				return nil, proposalErr("committer removes itself")
			}
			touched[l] = true
			removes = append(removes, l)
			res.needPath = true
		case ProposalTypeAdd:
			adds = append(adds, &p.Add.KeyPackage)
		case ProposalTypePSK:
			id := p.PreSharedKey.PSK
			b, err := Marshal(&id)
			if err != nil {
				return nil, err
			}
			if pskNames[string(b)] {
				return nil, proposalErr("PSK proposed twice")
			}
			pskNames[string(b)] = true
			res.psks = append(res.psks, id)
		case ProposalTypeReInit:
			if len(list) != 1 {
				return nil, proposalErr("ReInit with other proposals")
			}
			res.reinit = p.ReInit
		case ProposalTypeExternalInit:
			if committer.Type != SenderTypeNewMemberCommit || res.external != nil {
				return nil, proposalErr("ExternalInit outside an external commit")
			}
			res.external = p.ExternalInit
			res.needPath = true
		}
	}
	if committer.Type == SenderTypeNewMemberCommit && res.external == nil {
		return nil, proposalErr("external commit without ExternalInit")
	}

	// §12.3 order: GroupContextExtensions, Update, Remove, Add.
	if gce != nil {
		res.extensions = gce.Extensions
	}
	for l, ln := range updates {
		if err := ln.Validate(g.cs, LeafNodeCheck{Source: LeafNodeSourceUpdate, GroupID: g.ctx.GroupID, Leaf: l, Required: g.requiredCapabilities(res.extensions)}); err != nil {
			return nil, err
		}
		if err := res.tree.UpdateLeaf(l, ln); err != nil {
			return nil, err
		}
	}
	for _, l := range removes {
		if err := res.tree.RemoveLeaf(l); err != nil {
			return nil, err
		}
	}
	res.removed = removes
	for _, kp := range adds {
		if err := g.validateKeyPackage(kp, res.extensions); err != nil {
			return nil, err
		}
		l, err := res.tree.AddLeaf(&kp.LeafNode)
		if err != nil {
			return nil, err
		}
		res.added = append(res.added, l)
		res.addedKPs = append(res.addedKPs, kp)
	}
	if err := res.tree.checkUniqueKeys(); err != nil {
		return nil, err
	}
	return res, nil
}

func (g *publicState) requiredCapabilities(ext Extensions) *RequiredCapabilities {
	data, ok := ext.Find(ExtensionTypeRequiredCapabilities)
	if !ok {
		return nil
	}
	rc := new(RequiredCapabilities)
	if Unmarshal(data, rc) != nil {
		// Unparseable required_capabilities: demand something nobody has.
		return &RequiredCapabilities{ExtensionTypes: []ExtensionType{0}}
	}
	return rc
}

// validateKeyPackage applies §10.1 and §12.2 to an Add: same suite and
// version as the group, and the group's required capabilities.
func (g *publicState) validateKeyPackage(kp *KeyPackage, ext Extensions) error {
	if kp.CipherSuite != g.ctx.CipherSuite || kp.Version != g.ctx.Version {
		return kpErr("suite or version differs from the group", nil)
	}
	if _, err := kp.Validate(g.now()); err != nil {
		return err
	}
	if rc := g.requiredCapabilities(ext); rc != nil {
		chk := LeafNodeCheck{Source: LeafNodeSourceKeyPackage, Now: g.now(), Required: rc}
		if err := kp.LeafNode.Validate(g.cs, chk); err != nil {
			return kpErr("required capabilities", err)
		}
	}
	return nil
}

// checkUniqueKeys enforces RFC 9420 §7.3: encryption keys are unique across
// the tree and signature keys across leaves.
func (t *RatchetTree) checkUniqueKeys() error {
	enc := map[string]bool{}
	sig := map[string]bool{}
	for _, n := range t.nodes {
		if n == nil {
			continue
		}
		var e []byte
		if n.Leaf != nil {
			if sig[string(n.Leaf.SignatureKey)] {
				return treeErr("duplicate signature key")
			}
			sig[string(n.Leaf.SignatureKey)] = true
			e = n.Leaf.EncryptionKey
		} else {
			e = n.Parent.EncryptionKey
		}
		if enc[string(e)] {
			return treeErr("duplicate encryption key")
		}
		enc[string(e)] = true
	}
	return nil
}

// senderSignatureKey resolves who signed content (RFC 9420 §6.1): a member's
// leaf, an external sender from the external_senders extension, or for new
// members the key carried in the message itself.
func (g *publicState) senderSignatureKey(ac *AuthenticatedContent) ([]byte, error) {
	s := ac.Content.Sender
	switch s.Type {
	case SenderTypeMember:
		ln := g.tree.Leaf(s.LeafIndex)
		if ln == nil {
			return nil, fmt.Errorf("%w: leaf %d is blank", ErrInvalidSender, s.LeafIndex)
		}
		return ln.SignatureKey, nil
	case SenderTypeExternal:
		data, ok := g.ctx.Extensions.Find(ExtensionTypeExternalSenders)
		if !ok {
			return nil, fmt.Errorf("%w: group has no external senders", ErrInvalidSender)
		}
		var es ExternalSenders
		if err := Unmarshal(data, &es); err != nil {
			return nil, err
		}
		if uint64(s.SenderIndex) >= uint64(len(es)) {
			return nil, fmt.Errorf("%w: external sender %d", ErrInvalidSender, s.SenderIndex)
		}
		if ac.Content.ContentType != ContentTypeProposal {
			return nil, fmt.Errorf("%w: external senders only propose", ErrInvalidSender)
		}
		switch ac.Content.Proposal.Type {
		case ProposalTypeAdd, ProposalTypeRemove, ProposalTypePSK, ProposalTypeReInit, ProposalTypeGroupContextExtensions:
		default:
			return nil, fmt.Errorf("%w: proposal type %d from an external sender", ErrInvalidSender, ac.Content.Proposal.Type)
		}
		return es[s.SenderIndex].SignatureKey, nil
	case SenderTypeNewMemberProposal:
		if ac.Content.ContentType != ContentTypeProposal || ac.Content.Proposal.Type != ProposalTypeAdd {
			return nil, fmt.Errorf("%w: new member may only propose Add", ErrInvalidSender)
		}
		return ac.Content.Proposal.Add.KeyPackage.LeafNode.SignatureKey, nil
	case SenderTypeNewMemberCommit:
		if ac.Content.ContentType != ContentTypeCommit || ac.Content.Commit.Path == nil {
			return nil, fmt.Errorf("%w: external commit without path", ErrInvalidSender)
		}
		return ac.Content.Commit.Path.LeafNode.SignatureKey, nil
	}
	return nil, ErrInvalidSender
}

func (a *appliedProposals) addedKeyPackage(l LeafIndex) *KeyPackage {
	for i, x := range a.added {
		if x == l {
			return a.addedKPs[i]
		}
	}
	return nil
}
