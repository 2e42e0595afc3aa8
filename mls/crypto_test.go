package mls

import (
	"bytes"
	"errors"
	"testing"
)

type cryptoBasicsVector struct {
	CipherSuite uint16 `json:"cipher_suite"`
	RefHash     struct {
		Label string   `json:"label"`
		Value hexBytes `json:"value"`
		Out   hexBytes `json:"out"`
	} `json:"ref_hash"`
	ExpandWithLabel struct {
		Secret  hexBytes `json:"secret"`
		Label   string   `json:"label"`
		Context hexBytes `json:"context"`
		Length  int      `json:"length"`
		Out     hexBytes `json:"out"`
	} `json:"expand_with_label"`
	DeriveSecret struct {
		Secret hexBytes `json:"secret"`
		Label  string   `json:"label"`
		Out    hexBytes `json:"out"`
	} `json:"derive_secret"`
	DeriveTreeSecret struct {
		Secret     hexBytes `json:"secret"`
		Label      string   `json:"label"`
		Generation uint32   `json:"generation"`
		Length     int      `json:"length"`
		Out        hexBytes `json:"out"`
	} `json:"derive_tree_secret"`
	SignWithLabel struct {
		Priv      hexBytes `json:"priv"`
		Pub       hexBytes `json:"pub"`
		Content   hexBytes `json:"content"`
		Label     string   `json:"label"`
		Signature hexBytes `json:"signature"`
	} `json:"sign_with_label"`
	EncryptWithLabel struct {
		Priv       hexBytes `json:"priv"`
		Pub        hexBytes `json:"pub"`
		Label      string   `json:"label"`
		Context    hexBytes `json:"context"`
		Plaintext  hexBytes `json:"plaintext"`
		KEMOutput  hexBytes `json:"kem_output"`
		Ciphertext hexBytes `json:"ciphertext"`
	} `json:"encrypt_with_label"`
}

func TestCryptoBasicsVectors(t *testing.T) {
	var vs []cryptoBasicsVector
	loadVectors(t, "crypto-basics.json", &vs)
	ran := 0
	for _, v := range vs {
		cs := testSuite(t, v.CipherSuite)
		if cs == nil {
			continue
		}
		ran++
		out, err := cs.RefHash(v.RefHash.Label, v.RefHash.Value)
		if err != nil || !bytes.Equal(out, v.RefHash.Out) {
			t.Errorf("RefHash: %x %v", out, err)
		}
		e := v.ExpandWithLabel
		out, err = cs.expandWithLabel(e.Secret, e.Label, e.Context, e.Length)
		if err != nil || !bytes.Equal(out, e.Out) {
			t.Errorf("ExpandWithLabel: %v", err)
		}
		out, err = cs.deriveSecret(v.DeriveSecret.Secret, v.DeriveSecret.Label)
		if err != nil || !bytes.Equal(out, v.DeriveSecret.Out) {
			t.Errorf("DeriveSecret: %v", err)
		}
		d := v.DeriveTreeSecret
		out, err = cs.deriveTreeSecret(d.Secret, d.Label, d.Generation, d.Length)
		if err != nil || !bytes.Equal(out, d.Out) {
			t.Errorf("DeriveTreeSecret: %v", err)
		}

		s := v.SignWithLabel
		if err := cs.VerifyWithLabel(s.Pub, s.Label, s.Content, s.Signature); err != nil {
			t.Errorf("VerifyWithLabel(vector): %v", err)
		}
		sig, err := cs.SignWithLabel(s.Priv, s.Label, s.Content)
		if err != nil {
			t.Fatal(err)
		}
		if err := cs.VerifyWithLabel(s.Pub, s.Label, s.Content, sig); err != nil {
			t.Errorf("VerifyWithLabel(own): %v", err)
		}
		bad := bytes.Clone(sig)
		bad[0] ^= 1
		if err := cs.VerifyWithLabel(s.Pub, s.Label, s.Content, bad); !errors.Is(err, ErrInvalidSignature) {
			t.Errorf("forged signature: %v", err)
		}
		if err := cs.VerifyWithLabel(s.Pub, s.Label+"x", s.Content, sig); !errors.Is(err, ErrInvalidSignature) {
			t.Errorf("wrong label: %v", err)
		}

		en := v.EncryptWithLabel
		pt, err := cs.decryptWithLabel(en.Priv, en.Label, en.Context, HPKECiphertext{en.KEMOutput, en.Ciphertext})
		if err != nil || !bytes.Equal(pt, en.Plaintext) {
			t.Errorf("DecryptWithLabel(vector): %v", err)
		}
		ct, err := cs.EncryptWithLabel(en.Pub, en.Label, en.Context, en.Plaintext)
		if err != nil {
			t.Fatal(err)
		}
		pt, err = cs.decryptWithLabel(en.Priv, en.Label, en.Context, ct)
		if err != nil || !bytes.Equal(pt, en.Plaintext) {
			t.Errorf("DecryptWithLabel(own): %v", err)
		}
		ct.Ciphertext[0] ^= 1
		if _, err := cs.decryptWithLabel(en.Priv, en.Label, en.Context, ct); !errors.Is(err, ErrDecrypt) {
			t.Errorf("tampered ciphertext: %v", err)
		}
	}
	if ran == 0 {
		t.Fatal("no suite-1 vectors")
	}
}

func TestUnsupportedSuite(t *testing.T) {
	if _, err := CipherSuiteByID(0x0002); !errors.Is(err, ErrUnsupportedCipherSuite) {
		t.Fatalf("got %v", err)
	}
}
