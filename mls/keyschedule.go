package mls

import "fmt"

// epochSecrets are the outputs of the key schedule for one epoch
// (RFC 9420 §8). Call zero when the epoch is left behind.
type epochSecrets struct {
	JoinerSecret       []byte
	WelcomeSecret      []byte
	InitSecret         []byte // init_secret_[n], input to the next epoch
	SenderDataSecret   []byte
	EncryptionSecret   []byte
	ExporterSecret     []byte
	ExternalSecret     []byte
	ConfirmationKey    []byte
	MembershipKey      []byte
	ResumptionPSK      []byte
	EpochAuthenticator []byte
}

// deriveEpochSecrets runs the key schedule of RFC 9420 §8:
//
//	joiner_secret = ExpandWithLabel(Extract(init_secret, commit_secret), "joiner", GroupContext, Nh)
//	member_prk    = Extract(joiner_secret, psk_secret)
//	welcome_secret = DeriveSecret(member_prk, "welcome")
//	epoch_secret  = ExpandWithLabel(member_prk, "epoch", GroupContext, Nh)
//
// A nil commitSecret or pskSecret stands for the all-zero vector of Nh bytes.
func (cs *CipherSuite) deriveEpochSecrets(initSecret, commitSecret, pskSecret []byte, ctx *GroupContext) (*epochSecrets, error) {
	gc, err := Marshal(ctx)
	if err != nil {
		return nil, err
	}
	if commitSecret == nil {
		commitSecret = make([]byte, cs.nh)
	}
	prk, err := cs.extract(initSecret, commitSecret)
	if err != nil {
		return nil, err
	}
	defer clear(prk)
	joiner, err := cs.expandWithLabel(prk, "joiner", gc, cs.nh)
	if err != nil {
		return nil, err
	}
	return cs.keyScheduleFromJoiner(joiner, pskSecret, gc)
}

// epochSecretsFromJoiner continues the key schedule from a joiner_secret, as
// a new member does after decrypting its GroupSecrets (RFC 9420 §12.4.3.1).
func (cs *CipherSuite) epochSecretsFromJoiner(joinerSecret, pskSecret []byte, ctx *GroupContext) (*epochSecrets, error) {
	gc, err := Marshal(ctx)
	if err != nil {
		return nil, err
	}
	return cs.keyScheduleFromJoiner(append([]byte(nil), joinerSecret...), pskSecret, gc)
}

func (cs *CipherSuite) keyScheduleFromJoiner(joiner, pskSecret, gc []byte) (*epochSecrets, error) {
	if pskSecret == nil {
		pskSecret = make([]byte, cs.nh)
	}
	memberPRK, err := cs.extract(joiner, pskSecret)
	if err != nil {
		return nil, err
	}
	defer clear(memberPRK)
	es := &epochSecrets{JoinerSecret: joiner}
	if es.WelcomeSecret, err = cs.deriveSecret(memberPRK, "welcome"); err != nil {
		return nil, err
	}
	epoch, err := cs.expandWithLabel(memberPRK, "epoch", gc, cs.nh)
	if err != nil {
		return nil, err
	}
	defer clear(epoch)
	for _, d := range []struct {
		dst   *[]byte
		label string
	}{
		{&es.SenderDataSecret, "sender data"},
		{&es.EncryptionSecret, "encryption"},
		{&es.ExporterSecret, "exporter"},
		{&es.ExternalSecret, "external"},
		{&es.ConfirmationKey, "confirm"},
		{&es.MembershipKey, "membership"},
		{&es.ResumptionPSK, "resumption"},
		{&es.EpochAuthenticator, "authentication"},
		{&es.InitSecret, "init"},
	} {
		if *d.dst, err = cs.deriveSecret(epoch, d.label); err != nil {
			es.zero()
			return nil, err
		}
	}
	return es, nil
}

// zero overwrites every secret (RFC 9420 §9.2 asks that consumed secrets be
// deleted; zeroing keeps copies out of later heap dumps).
func (es *epochSecrets) zero() {
	for _, s := range [][]byte{es.JoinerSecret, es.WelcomeSecret, es.InitSecret, es.SenderDataSecret,
		es.EncryptionSecret, es.ExporterSecret, es.ExternalSecret, es.ConfirmationKey,
		es.MembershipKey, es.ResumptionPSK, es.EpochAuthenticator} {
		clear(s)
	}
}

// externalPub returns the public half of KEM.DeriveKeyPair(external_secret)
// (RFC 9420 §8.3), published in the external_pub extension.
func (es *epochSecrets) externalPub(cs *CipherSuite) ([]byte, error) {
	priv, pub, err := cs.deriveKeyPair(es.ExternalSecret)
	clear(priv)
	return pub, err
}

// export is MLS-Exporter (RFC 9420 §8.5):
//
//	ExpandWithLabel(DeriveSecret(exporter_secret, Label), "exported", Hash(Context), Length)
func (es *epochSecrets) export(cs *CipherSuite, label string, context []byte, length int) ([]byte, error) {
	return cs.export(es.ExporterSecret, label, context, length)
}

// export is MLS-Exporter over an exporter_secret (RFC 9420 §8.5); SFrame
// derives its base key with it (RFC 9605 §5.2).
func (cs *CipherSuite) export(exporterSecret []byte, label string, context []byte, length int) ([]byte, error) {
	if len(exporterSecret) != cs.nh {
		return nil, fmt.Errorf("%w: exporter secret length", ErrInvalidArgument)
	}
	s, err := cs.deriveSecret(exporterSecret, label)
	if err != nil {
		return nil, err
	}
	defer clear(s)
	return cs.expandWithLabel(s, "exported", cs.Hash(context), length)
}

// welcomeKeyNonce derives the key and nonce that encrypt a Welcome's GroupInfo
// (RFC 9420 §12.4.3.1).
func (cs *CipherSuite) welcomeKeyNonce(welcomeSecret []byte) (key, nonce []byte, err error) {
	if key, err = cs.expandWithLabel(welcomeSecret, "key", nil, cs.nk); err != nil {
		return nil, nil, err
	}
	if nonce, err = cs.expandWithLabel(welcomeSecret, "nonce", nil, cs.nn); err != nil {
		return nil, nil, err
	}
	return key, nonce, nil
}
