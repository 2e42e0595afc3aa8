package mls

import (
	"fmt"
)

// Welcome processing (RFC 9420 §12.4.3.1).

// welcomeRecipient is one joiner of a Welcome: its KeyPackage and, if the
// committer's path covers it, the path secret of the lowest node it shares
// with the committer.
type welcomeRecipient struct {
	KeyPackage *KeyPackage
	PathSecret []byte
}

// sealWelcome builds a Welcome: the signed GroupInfo encrypted under the
// welcome key, and for each joiner the GroupSecrets encrypted to its
// init_key with EncryptWithLabel(init_key, "Welcome", encrypted_group_info, .).
func sealWelcome(cs *CipherSuite, gi *GroupInfo, es *epochSecrets, psks []PreSharedKeyID, to []welcomeRecipient) (*Welcome, error) {
	key, nonce, err := cs.welcomeKeyNonce(es.WelcomeSecret)
	if err != nil {
		return nil, err
	}
	defer clear(key)
	aead, err := cs.newAEAD(key)
	if err != nil {
		return nil, err
	}
	giBytes, err := Marshal(gi)
	if err != nil {
		return nil, err
	}
	w := &Welcome{CipherSuite: cs.ID(), EncryptedGroupInfo: aead.Seal(nil, nonce, giBytes, nil)}
	for _, r := range to {
		ref, err := r.KeyPackage.Ref(cs)
		if err != nil {
			return nil, err
		}
		gs := groupSecrets{JoinerSecret: es.JoinerSecret, PSKs: psks}
		if r.PathSecret != nil {
			gs.PathSecret = &groupPathSecret{Secret: r.PathSecret}
		}
		pt, err := Marshal(&gs)
		if err != nil {
			return nil, err
		}
		ct, err := cs.EncryptWithLabel(r.KeyPackage.InitKey, "Welcome", w.EncryptedGroupInfo, pt)
		clear(pt)
		if err != nil {
			return nil, err
		}
		w.Secrets = append(w.Secrets, EncryptedGroupSecrets{NewMember: ref, EncryptedGroupSecrets: ct})
	}
	return w, nil
}

// openedWelcome is what a joiner learns from a Welcome before it checks the
// ratchet tree: the group secrets, the GroupInfo (confirmation tag already
// verified) and the new epoch's secrets.
type openedWelcome struct {
	Secrets   *groupSecrets
	GroupInfo *GroupInfo
	Epoch     *epochSecrets
}

// openWelcome decrypts a Welcome for the holder of kp and initPriv and
// verifies the GroupInfo's confirmation tag against the derived epoch
// secrets. pskFor resolves the PSKs named in GroupSecrets; it may be nil if
// none are used. The GroupInfo signature must still be verified by the
// caller against the signer's leaf in the ratchet tree
// (GroupInfo.VerifySignature), and the tree validated (RatchetTree.Validate).
func openWelcome(cs *CipherSuite, w *Welcome, kp *KeyPackage, initPriv []byte, pskFor func(PreSharedKeyID) ([]byte, error)) (*openedWelcome, error) {
	if w.CipherSuite != cs.ID() || kp.CipherSuite != cs.ID() {
		return nil, fmt.Errorf("%w: Welcome suite %#04x", ErrUnsupportedCipherSuite, uint16(w.CipherSuite))
	}
	ref, err := kp.Ref(cs)
	if err != nil {
		return nil, err
	}
	var egs *EncryptedGroupSecrets
	for i := range w.Secrets {
		if bytesEqual(w.Secrets[i].NewMember, ref) {
			egs = &w.Secrets[i]
			break
		}
	}
	if egs == nil {
		return nil, ErrNotInvited
	}
	pt, err := cs.decryptWithLabel(initPriv, "Welcome", w.EncryptedGroupInfo, egs.EncryptedGroupSecrets)
	if err != nil {
		return nil, err
	}
	gs := new(groupSecrets)
	err = Unmarshal(pt, gs)
	clear(pt)
	if err != nil {
		return nil, err
	}
	psks := make([]resolvedPSK, 0, len(gs.PSKs))
	for _, id := range gs.PSKs {
		if pskFor == nil {
			gs.zero()
			return nil, fmt.Errorf("%w: Welcome needs a PSK", ErrInvalidArgument)
		}
		s, err := pskFor(id)
		if err != nil {
			gs.zero()
			return nil, err
		}
		psks = append(psks, resolvedPSK{ID: id, Secret: s})
	}
	pskSecret, err := cs.pskSecret(psks)
	if err != nil {
		gs.zero()
		return nil, err
	}
	defer clear(pskSecret)

	// welcome_secret depends only on joiner_secret and psk_secret, so the
	// GroupInfo can be decrypted before the GroupContext is known (§8).
	memberPRK, err := cs.extract(gs.JoinerSecret, pskSecret)
	if err != nil {
		gs.zero()
		return nil, err
	}
	welcomeSecret, err := cs.deriveSecret(memberPRK, "welcome")
	clear(memberPRK)
	if err != nil {
		gs.zero()
		return nil, err
	}
	key, nonce, err := cs.welcomeKeyNonce(welcomeSecret)
	clear(welcomeSecret)
	if err != nil {
		gs.zero()
		return nil, err
	}
	defer clear(key)
	aead, err := cs.newAEAD(key)
	if err != nil {
		gs.zero()
		return nil, err
	}
	giBytes, err := aead.Open(nil, nonce, w.EncryptedGroupInfo, nil)
	if err != nil {
		gs.zero()
		return nil, ErrDecrypt
	}
	gi := new(GroupInfo)
	if err := Unmarshal(giBytes, gi); err != nil {
		gs.zero()
		return nil, err
	}
	if gi.GroupContext.CipherSuite != cs.ID() || gi.GroupContext.Version != ProtocolVersionMLS10 {
		gs.zero()
		return nil, fmt.Errorf("%w: GroupInfo suite or version", ErrInvalidValue)
	}
	es, err := cs.epochSecretsFromJoiner(gs.JoinerSecret, pskSecret, &gi.GroupContext)
	if err != nil {
		gs.zero()
		return nil, err
	}
	if err := verifyConfirmationTag(cs, es.ConfirmationKey, gi.GroupContext.ConfirmedTranscriptHash, gi.ConfirmationTag); err != nil {
		gs.zero()
		es.zero()
		return nil, err
	}
	return &openedWelcome{Secrets: gs, GroupInfo: gi, Epoch: es}, nil
}
