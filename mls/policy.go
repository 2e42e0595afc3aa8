package mls

import "errors"

// Policy is an application's rule over what may change its group, on top of RFC 9420's
// own validity rules (§12.2): the RFC leaves to the application which valid proposals
// and Commits it accepts (§12.1 "the application may reject", §13). A Group or
// PublicGroup with a Policy asks it about every proposal it receives and about every
// Commit before applying it; a refusal leaves the state unchanged and comes back
// wrapped in ErrPolicy.
type Policy interface {
	// AllowProposal judges a proposal received on its own (to be committed by
	// reference later).
	AllowProposal(p ProposalInfo) error
	// AllowCommit judges a Commit and everything it covers, before the Commit is
	// applied.
	AllowCommit(c *CommitInfo) error
}

// ProposalInfo is one proposal as a Policy sees it.
type ProposalInfo struct {
	Proposal *Proposal
	// Sender proposed it: the committer for a proposal carried by value.
	Sender Sender
	// ByValue is true for a proposal carried inside the Commit, false for one
	// received earlier and committed by reference (RFC 9420 §12.4).
	ByValue bool
}

// CommitInfo is a Commit as a Policy sees it.
type CommitInfo struct {
	Committer Sender
	Proposals []ProposalInfo
	Path      *UpdatePath // nil when the Commit has none
	// Tree is the ratchet tree before the Commit; the Policy must not modify it.
	Tree *RatchetTree
}

// SetPolicy makes the group ask p about every proposal and Commit it processes from
// now on; nil removes the policy. The policy is not part of a saved state: set it
// again after RestoreGroup.
func (s *publicState) SetPolicy(p Policy) { s.policy = p }

func (s *publicState) allowProposal(p ProposalInfo) error {
	if s.policy == nil {
		return nil
	}
	if err := s.policy.AllowProposal(p); err != nil {
		return errors.Join(ErrPolicy, err)
	}
	return nil
}

func (s *publicState) allowCommit(ac *AuthenticatedContent) error {
	if s.policy == nil {
		return nil
	}
	c := ac.Content.Commit
	info := &CommitInfo{Committer: ac.Content.Sender, Path: c.Path, Tree: s.tree}
	for _, por := range c.Proposals {
		switch por.Type {
		case ProposalOrRefTypeProposal:
			info.Proposals = append(info.Proposals, ProposalInfo{Proposal: por.Proposal, Sender: ac.Content.Sender, ByValue: true})
		case ProposalOrRefTypeReference:
			p, ok := s.pending[string(por.Reference)]
			if !ok {
				return proposalErr("unknown proposal reference")
			}
			info.Proposals = append(info.Proposals, ProposalInfo{Proposal: p.proposal, Sender: p.sender})
		}
	}
	if err := s.policy.AllowCommit(info); err != nil {
		return errors.Join(ErrPolicy, err)
	}
	return nil
}
