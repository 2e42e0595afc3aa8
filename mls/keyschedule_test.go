package mls

import (
	"bytes"
	"testing"
)

type keyScheduleVector struct {
	CipherSuite       uint16   `json:"cipher_suite"`
	GroupID           hexBytes `json:"group_id"`
	InitialInitSecret hexBytes `json:"initial_init_secret"`
	Epochs            []struct {
		TreeHash                hexBytes `json:"tree_hash"`
		CommitSecret            hexBytes `json:"commit_secret"`
		PSKSecret               hexBytes `json:"psk_secret"`
		ConfirmedTranscriptHash hexBytes `json:"confirmed_transcript_hash"`
		GroupContext            hexBytes `json:"group_context"`
		JoinerSecret            hexBytes `json:"joiner_secret"`
		WelcomeSecret           hexBytes `json:"welcome_secret"`
		InitSecret              hexBytes `json:"init_secret"`
		SenderDataSecret        hexBytes `json:"sender_data_secret"`
		EncryptionSecret        hexBytes `json:"encryption_secret"`
		ExporterSecret          hexBytes `json:"exporter_secret"`
		EpochAuthenticator      hexBytes `json:"epoch_authenticator"`
		ExternalSecret          hexBytes `json:"external_secret"`
		ConfirmationKey         hexBytes `json:"confirmation_key"`
		MembershipKey           hexBytes `json:"membership_key"`
		ResumptionPSK           hexBytes `json:"resumption_psk"`
		ExternalPub             hexBytes `json:"external_pub"`
		Exporter                struct {
			Label   string   `json:"label"` // used as the literal label string
			Context hexBytes `json:"context"`
			Length  int      `json:"length"`
			Secret  hexBytes `json:"secret"`
		} `json:"exporter"`
	} `json:"epochs"`
}

func TestKeyScheduleVectors(t *testing.T) {
	var vs []keyScheduleVector
	loadVectors(t, "key-schedule.json", &vs)
	ran := 0
	for _, v := range vs {
		cs := testSuite(t, v.CipherSuite)
		if cs == nil {
			continue
		}
		initSecret := []byte(v.InitialInitSecret)
		for i, e := range v.Epochs {
			ran++
			ctx := &GroupContext{
				Version: ProtocolVersionMLS10, CipherSuite: cs.ID(), GroupID: v.GroupID, Epoch: uint64(i),
				TreeHash: e.TreeHash, ConfirmedTranscriptHash: e.ConfirmedTranscriptHash,
			}
			gc, err := Marshal(ctx)
			if err != nil || !bytes.Equal(gc, e.GroupContext) {
				t.Fatalf("epoch %d: group context mismatch (%v)", i, err)
			}
			es, err := cs.deriveEpochSecrets(initSecret, e.CommitSecret, e.PSKSecret, ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				name      string
				got, want []byte
			}{
				{"joiner", es.JoinerSecret, e.JoinerSecret},
				{"welcome", es.WelcomeSecret, e.WelcomeSecret},
				{"init", es.InitSecret, e.InitSecret},
				{"sender data", es.SenderDataSecret, e.SenderDataSecret},
				{"encryption", es.EncryptionSecret, e.EncryptionSecret},
				{"exporter", es.ExporterSecret, e.ExporterSecret},
				{"authenticator", es.EpochAuthenticator, e.EpochAuthenticator},
				{"external", es.ExternalSecret, e.ExternalSecret},
				{"confirmation", es.ConfirmationKey, e.ConfirmationKey},
				{"membership", es.MembershipKey, e.MembershipKey},
				{"resumption", es.ResumptionPSK, e.ResumptionPSK},
			} {
				if !bytes.Equal(c.got, c.want) {
					t.Errorf("epoch %d: %s secret mismatch", i, c.name)
				}
			}
			pub, err := es.externalPub(cs)
			if err != nil || !bytes.Equal(pub, e.ExternalPub) {
				t.Errorf("epoch %d: external_pub mismatch (%v)", i, err)
			}
			x := e.Exporter
			out, err := es.export(cs, x.Label, x.Context, x.Length)
			if err != nil || !bytes.Equal(out, x.Secret) {
				t.Errorf("epoch %d: exporter mismatch (%v)", i, err)
			}
			joined, err := cs.epochSecretsFromJoiner(es.JoinerSecret, e.PSKSecret, ctx)
			if err != nil || !bytes.Equal(joined.EpochAuthenticator, es.EpochAuthenticator) {
				t.Errorf("epoch %d: joiner path differs (%v)", i, err)
			}
			initSecret = bytes.Clone(es.InitSecret)
			es.zero()
			if !bytes.Equal(es.ExporterSecret, make([]byte, cs.HashLength())) {
				t.Error("Zero left secret material")
			}
		}
	}
	if ran == 0 {
		t.Fatal("no suite-1 vectors")
	}
}

func TestPSKSecretVectors(t *testing.T) {
	var vs []struct {
		CipherSuite uint16 `json:"cipher_suite"`
		PSKs        []struct {
			PSKID    hexBytes `json:"psk_id"`
			PSK      hexBytes `json:"psk"`
			PSKNonce hexBytes `json:"psk_nonce"`
		} `json:"psks"`
		PSKSecret hexBytes `json:"psk_secret"`
	}
	loadVectors(t, "psk_secret.json", &vs)
	ran := 0
	for i, v := range vs {
		cs := testSuite(t, v.CipherSuite)
		if cs == nil {
			continue
		}
		ran++
		var psks []resolvedPSK
		for _, p := range v.PSKs {
			psks = append(psks, resolvedPSK{
				ID:     PreSharedKeyID{Type: PSKTypeExternal, PSKID: p.PSKID, Nonce: p.PSKNonce},
				Secret: p.PSK,
			})
		}
		got, err := cs.pskSecret(psks)
		if err != nil || !bytes.Equal(got, v.PSKSecret) {
			t.Errorf("vector %d (%d psks): mismatch (%v)", i, len(psks), err)
		}
	}
	if ran == 0 {
		t.Fatal("no suite-1 vectors")
	}
}
