package mls

import (
	"bytes"
	"errors"
	"testing"
)

type passiveClientVector struct {
	CipherSuite  uint16 `json:"cipher_suite"`
	ExternalPSKs []struct {
		PSKID hexBytes `json:"psk_id"`
		PSK   hexBytes `json:"psk"`
	} `json:"external_psks"`
	KeyPackage                hexBytes `json:"key_package"`
	SignaturePriv             hexBytes `json:"signature_priv"`
	EncryptionPriv            hexBytes `json:"encryption_priv"`
	InitPriv                  hexBytes `json:"init_priv"`
	Welcome                   hexBytes `json:"welcome"`
	RatchetTree               hexBytes `json:"ratchet_tree"`
	InitialEpochAuthenticator hexBytes `json:"initial_epoch_authenticator"`
	Epochs                    []struct {
		Proposals          []hexBytes `json:"proposals"`
		Commit             hexBytes   `json:"commit"`
		EpochAuthenticator hexBytes   `json:"epoch_authenticator"`
	} `json:"epochs"`
}

func (v *passiveClientVector) join(t testing.TB, cs *CipherSuite) *Group {
	t.Helper()
	kp := decodeMLS(t, v.KeyPackage).KeyPackage
	w := decodeMLS(t, v.Welcome).Welcome
	p := JoinParams{
		KeyPackage: kp,
		Secrets:    &KeyPackageSecrets{InitPriv: v.InitPriv, EncryptionPriv: v.EncryptionPriv},
		SignPriv:   v.SignaturePriv,
		PSK: func(id PreSharedKeyID) ([]byte, error) {
			for _, e := range v.ExternalPSKs {
				if id.Type == PSKTypeExternal && bytes.Equal(id.PSKID, e.PSKID) {
					return e.PSK, nil
				}
			}
			return nil, errors.New("unknown PSK")
		},
	}
	if v.RatchetTree != nil {
		if err := Unmarshal(v.RatchetTree, &p.Tree); err != nil {
			t.Fatal(err)
		}
	}
	g, err := JoinFromWelcome(cs, w, p)
	if err != nil {
		t.Fatalf("join: %v", err)
	}
	if !bytes.Equal(g.EpochAuthenticator(), v.InitialEpochAuthenticator) {
		t.Fatal("initial epoch authenticator differs")
	}
	return g
}

func TestPassiveClientWelcomeVectors(t *testing.T) {
	var vs []passiveClientVector
	loadVectors(t, "passive-client-welcome.json", &vs)
	ran := 0
	for _, v := range vs {
		cs := testSuite(t, v.CipherSuite)
		if cs == nil {
			continue
		}
		ran++
		g := v.join(t, cs)
		g.Close()
	}
	if ran == 0 {
		t.Fatal("no suite-1 vectors")
	}
}

func TestPassiveClientHandlingCommitVectors(t *testing.T) {
	runPassiveEpochs(t, "passive-client-handling-commit.json")
}

func TestPassiveClientRandomVectors(t *testing.T) {
	runPassiveEpochs(t, "passive-client-random.json")
}

func runPassiveEpochs(t *testing.T, file string) {
	var vs []passiveClientVector
	loadVectors(t, file, &vs)
	ran, epochs := 0, 0
	for i, v := range vs {
		cs := testSuite(t, v.CipherSuite)
		if cs == nil {
			continue
		}
		ran++
		g := v.join(t, cs)
		for e, ep := range v.Epochs {
			epochs++
			for _, pb := range ep.Proposals {
				if _, err := g.Process(decodeMLS(t, pb)); err != nil {
					t.Fatalf("vector %d epoch %d: proposal: %v", i, e, err)
				}
			}
			r, err := g.Process(decodeMLS(t, ep.Commit))
			if err != nil {
				t.Fatalf("vector %d epoch %d: commit: %v", i, e, err)
			}
			if !r.NewEpoch || !bytes.Equal(g.EpochAuthenticator(), ep.EpochAuthenticator) {
				t.Fatalf("vector %d epoch %d: epoch authenticator differs", i, e)
			}
		}
		g.Close()
	}
	if ran == 0 || epochs == 0 {
		t.Fatal("no suite-1 vectors with epochs")
	}
}
