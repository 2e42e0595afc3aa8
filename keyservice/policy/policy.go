// Package policy is sealroom's rule for who may change a room's MLS group (DESIGN.md,
// "Who may change the group"). It is written once and enforced by three parties: the
// Delivery Service (package keyservice) before it orders a Commit, the Go client
// (package client) before it applies one, and the browser (webapp/app/policy.js, the
// same rules in JavaScript, held to the same cases by its tests). A client never relies
// on the server having checked.
//
// The rules, in RFC 9420's terms:
//
//  1. Add and Remove proposals come only from the server, the group's one external
//     sender (§12.1.8.1), and a Commit covers them by reference (§12.4). A member
//     proposes neither, and no Commit carries one by value: the server is the one
//     party that decides who is in the room, and it shows that decision to everyone.
//  2. A member proposes only an Update of its own leaf (§12.1.2), committed by
//     reference; a Commit may carry the committer's own path (§12.4.1).
//  3. An external Commit (§12.4.3.2) is allowed only to replace the committer's own
//     earlier leaf: one ExternalInit and one Remove, both by value, of a leaf whose
//     credential names the joiner's identity, and nothing else. It lets a member whose
//     state was lost (a page reload) come back without anyone else online.
//  4. No GroupContextExtensions, ReInit or PreSharedKey proposal, ever: the
//     external_senders extension, and so the server's power to remove, never changes.
//
// It never sees a secret: only proposals, senders and the public tree.
package policy

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/sealroom/sealroom/mls"
)

// ErrForbidden is what every Violation unwraps to.
var ErrForbidden = errors.New("policy: forbidden by the room's group policy")

// Violation says which rule a proposal or Commit broke.
type Violation struct {
	Rule   int    // the rule's number in the package documentation
	Reason string // for the log and the refusal message; names no key material
}

func (v *Violation) Error() string { return fmt.Sprintf("policy: rule %d: %s", v.Rule, v.Reason) }

// Unwrap lets errors.Is match ErrForbidden.
func (v *Violation) Unwrap() error { return ErrForbidden }

func violate(rule int, format string, args ...any) error {
	return &Violation{Rule: rule, Reason: fmt.Sprintf(format, args...)}
}

// Room is the policy of a sealroom room's group.
type Room struct{}

var _ mls.Policy = Room{}

// AllowProposal judges a proposal received on its own: the server's Add or Remove, or
// a member's Update of its own leaf.
func (Room) AllowProposal(p mls.ProposalInfo) error {
	if err := forbidden(p.Proposal); err != nil {
		return err
	}
	switch p.Proposal.Type {
	case mls.ProposalTypeAdd, mls.ProposalTypeRemove:
		if p.Sender.Type != mls.SenderTypeExternal {
			return violate(1, "only the server proposes %s", name(p.Proposal.Type))
		}
	case mls.ProposalTypeUpdate:
		if p.Sender.Type != mls.SenderTypeMember {
			return violate(2, "an Update comes from the member whose leaf it updates")
		}
	case mls.ProposalTypeExternalInit:
		return violate(3, "ExternalInit travels only inside an external Commit")
	}
	return nil
}

// AllowCommit judges a Commit with everything it covers.
func (r Room) AllowCommit(c *mls.CommitInfo) error {
	if c.Committer.Type == mls.SenderTypeNewMemberCommit {
		return externalCommit(c)
	}
	if c.Committer.Type != mls.SenderTypeMember {
		return violate(2, "a Commit comes from a member")
	}
	for _, p := range c.Proposals {
		if err := forbidden(p.Proposal); err != nil {
			return err
		}
		if p.ByValue {
			return violate(1, "a member's Commit carries no proposal by value (%s)", name(p.Proposal.Type))
		}
		if err := r.AllowProposal(p); err != nil {
			return err
		}
	}
	return nil
}

// externalCommit allows a joiner only to replace its own earlier leaf (rule 3).
func externalCommit(c *mls.CommitInfo) error {
	var inits, removes int
	var removed mls.LeafIndex
	for _, p := range c.Proposals {
		if err := forbidden(p.Proposal); err != nil {
			return err
		}
		if !p.ByValue {
			return violate(3, "an external Commit covers no proposal by reference")
		}
		switch p.Proposal.Type {
		case mls.ProposalTypeExternalInit:
			inits++
		case mls.ProposalTypeRemove:
			removes++
			removed = p.Proposal.Remove.Removed
		default:
			return violate(3, "an external Commit carries no %s", name(p.Proposal.Type))
		}
	}
	if inits != 1 || removes != 1 {
		return violate(3, "an external Commit replaces exactly one earlier leaf of its own")
	}
	if c.Path == nil || c.Tree == nil {
		return violate(3, "an external Commit carries the joiner's path")
	}
	old := c.Tree.Leaf(removed)
	joiner := c.Path.LeafNode.Credential
	if old == nil || old.Credential.Type != mls.CredentialTypeBasic || joiner.Type != mls.CredentialTypeBasic ||
		!bytes.Equal(old.Credential.Identity, joiner.Identity) {
		return violate(3, "an external Commit may remove only the joiner's own earlier leaf")
	}
	return nil
}

// forbidden refuses the proposal types no one may use here (rule 4), and any type this
// package does not know.
func forbidden(p *mls.Proposal) error {
	switch p.Type {
	case mls.ProposalTypeAdd, mls.ProposalTypeUpdate, mls.ProposalTypeRemove, mls.ProposalTypeExternalInit:
		return nil
	case mls.ProposalTypeGroupContextExtensions, mls.ProposalTypeReInit, mls.ProposalTypePSK:
		return violate(4, "%s proposals are not allowed", name(p.Type))
	}
	return violate(4, "proposal type %d is not allowed", p.Type)
}

func name(t mls.ProposalType) string {
	switch t {
	case mls.ProposalTypeAdd:
		return "Add"
	case mls.ProposalTypeUpdate:
		return "Update"
	case mls.ProposalTypeRemove:
		return "Remove"
	case mls.ProposalTypePSK:
		return "PreSharedKey"
	case mls.ProposalTypeReInit:
		return "ReInit"
	case mls.ProposalTypeExternalInit:
		return "ExternalInit"
	case mls.ProposalTypeGroupContextExtensions:
		return "GroupContextExtensions"
	}
	return fmt.Sprintf("type %d", t)
}
