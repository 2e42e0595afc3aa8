package mls

import (
	"crypto/hpke"
	"fmt"
)

// External commits (RFC 9420 §12.4.3.2): a client that is not in the group,
// or lost its state, joins from a GroupInfo with a Commit of its own. It
// cannot know init_secret, so it encapsulates a fresh one to the epoch's
// external_pub (§8.3) in an ExternalInit proposal; members decapsulate it
// with the private key derived from external_secret.

// externalInitLabel is the HPKE exporter context of RFC 9420 §8.3.
const externalInitLabel = "MLS 1.0 external init secret"

func externalErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidExternalCommit}, args...)...)
}

// externalInitSend is the joiner's half of §8.3:
//
//	kem_output, context = SetupBaseS(external_pub, "")
//	init_secret = context.export("MLS 1.0 external init secret", KDF.Nh)
func (cs *CipherSuite) externalInitSend(externalPub []byte) (kemOutput, initSecret []byte, err error) {
	pk, err := cs.kem.NewPublicKey(externalPub)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: external_pub", ErrInvalidKey)
	}
	enc, s, err := hpke.NewSender(pk, cs.kdf, cs.aead, nil)
	if err != nil {
		return nil, nil, err
	}
	secret, err := s.Export(externalInitLabel, cs.nh)
	if err != nil {
		return nil, nil, err
	}
	return enc, secret, nil
}

// externalInitReceive is the members' half of §8.3: SetupBaseR with the
// private key of KEM.DeriveKeyPair(external_secret).
func (cs *CipherSuite) externalInitReceive(externalSecret, kemOutput []byte) ([]byte, error) {
	priv, _, err := cs.deriveKeyPair(externalSecret)
	if err != nil {
		return nil, err
	}
	defer clear(priv)
	sk, err := cs.kem.NewPrivateKey(priv)
	if err != nil {
		return nil, err
	}
	r, err := hpke.NewRecipient(kemOutput, sk, cs.kdf, cs.aead, nil)
	if err != nil {
		return nil, externalErr("kem_output: %w", ErrDecrypt)
	}
	return r.Export(externalInitLabel, cs.nh)
}

// checkExternalCommit applies the proposal rules of §12.4.3.2 and §12.2 to
// an external commit: a path, every proposal by value (the joiner cannot
// have seen proposals of the epoch), exactly one ExternalInit, at most one
// Remove (of the joiner's own old leaf) and otherwise only PreSharedKey.
func checkExternalCommit(c *Commit) error {
	if c.Path == nil {
		return externalErr("no path")
	}
	inits, removes := 0, 0
	for _, por := range c.Proposals {
		if por.Type != ProposalOrRefTypeProposal || por.Proposal == nil {
			return externalErr("proposal by reference")
		}
		switch por.Proposal.Type {
		case ProposalTypeExternalInit:
			inits++
		case ProposalTypeRemove:
			removes++
		case ProposalTypePSK:
		default:
			return externalErr("proposal type %d", por.Proposal.Type)
		}
	}
	if inits != 1 || removes > 1 {
		return externalErr("%d ExternalInit and %d Remove proposals", inits, removes)
	}
	return nil
}

// placeExternalJoiner puts the joiner's leaf at the leftmost free leaf of
// the tree after the proposals (§12.4.3.2, as for an Add) and checks it as
// a commit leaf for that position. A Remove in an external commit may only
// remove the joiner's old leaf: the credentials must be the same (§12.2
// holds the new leaf to the rules of an Update of the removed one).
func (s *publicState) placeExternalJoiner(ap *appliedProposals, path *UpdatePath) (LeafIndex, error) {
	ln := &path.LeafNode
	l, err := s.placeExternalLeaf(ap, ln)
	if err != nil {
		return 0, err
	}
	if err := ln.Validate(s.cs, externalLeafCheck(s, ap, l)); err != nil {
		return 0, err
	}
	return l, nil
}
