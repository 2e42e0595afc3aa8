package mls

import (
	"bytes"
	"errors"
	"testing"
)

type secretTreeVector struct {
	CipherSuite uint16 `json:"cipher_suite"`
	SenderData  struct {
		SenderDataSecret hexBytes `json:"sender_data_secret"`
		Ciphertext       hexBytes `json:"ciphertext"`
		Key              hexBytes `json:"key"`
		Nonce            hexBytes `json:"nonce"`
	} `json:"sender_data"`
	EncryptionSecret hexBytes `json:"encryption_secret"`
	Leaves           [][]struct {
		Generation       uint32   `json:"generation"`
		ApplicationKey   hexBytes `json:"application_key"`
		ApplicationNonce hexBytes `json:"application_nonce"`
		HandshakeKey     hexBytes `json:"handshake_key"`
		HandshakeNonce   hexBytes `json:"handshake_nonce"`
	} `json:"leaves"`
}

func TestSecretTreeVectors(t *testing.T) {
	var vs []secretTreeVector
	loadVectors(t, "secret-tree.json", &vs)
	ran := 0
	for _, v := range vs {
		cs := testSuite(t, v.CipherSuite)
		if cs == nil {
			continue
		}
		ran++
		sd := v.SenderData
		k, n, err := cs.senderDataKeyNonce(sd.SenderDataSecret, sd.Ciphertext)
		if err != nil || !bytes.Equal(k, sd.Key) || !bytes.Equal(n, sd.Nonce) {
			t.Errorf("sender data key/nonce mismatch (%v)", err)
		}
		st, err := newSecretTree(cs, v.EncryptionSecret, uint32(len(v.Leaves)))
		if err != nil {
			t.Fatal(err)
		}
		for leaf, gens := range v.Leaves {
			for _, g := range gens {
				hk, hn, err := st.leafKeyNonce(LeafIndex(leaf), true, g.Generation)
				if err != nil || !bytes.Equal(hk, g.HandshakeKey) || !bytes.Equal(hn, g.HandshakeNonce) {
					t.Errorf("leaf %d gen %d: handshake mismatch (%v)", leaf, g.Generation, err)
				}
				ak, an, err := st.leafKeyNonce(LeafIndex(leaf), false, g.Generation)
				if err != nil || !bytes.Equal(ak, g.ApplicationKey) || !bytes.Equal(an, g.ApplicationNonce) {
					t.Errorf("leaf %d gen %d: application mismatch (%v)", leaf, g.Generation, err)
				}
				// A used key is deleted (RFC 9420 §9.2).
				if _, _, err := st.leafKeyNonce(LeafIndex(leaf), false, g.Generation); !errors.Is(err, ErrGenerationExpired) {
					t.Errorf("leaf %d gen %d: reuse gave %v", leaf, g.Generation, err)
				}
			}
		}
		st.zero()
	}
	if ran == 0 {
		t.Fatal("no suite-1 vectors")
	}
}

func TestSecretTreeWindow(t *testing.T) {
	cs, _ := CipherSuiteByID(X25519_AES128GCM_SHA256_Ed25519)
	st, err := newSecretTree(cs, make([]byte, 32), 4)
	if err != nil {
		t.Fatal(err)
	}
	st.OutOfOrderTolerance = 2
	st.MaxForwardDistance = 10
	if _, _, err := st.leafKeyNonce(1, false, 11); !errors.Is(err, ErrGenerationTooFar) {
		t.Fatalf("too far: %v", err)
	}
	if _, _, err := st.leafKeyNonce(1, false, 5); err != nil {
		t.Fatal(err)
	}
	// 3 and 4 are kept, 0..2 evicted.
	if _, _, err := st.leafKeyNonce(1, false, 2); !errors.Is(err, ErrGenerationExpired) {
		t.Fatalf("evicted: %v", err)
	}
	if _, _, err := st.leafKeyNonce(1, false, 4); err != nil {
		t.Fatalf("skipped key: %v", err)
	}
	if _, _, err := st.leafKeyNonce(4, false, 0); !errors.Is(err, ErrInvalidLeafIndex) {
		t.Fatalf("leaf out of range: %v", err)
	}
	// Deriving leaf 1 deleted the root and the nodes on its path.
	if st.nodes[Root(4)] != nil || st.nodes[1] != nil {
		t.Fatal("parent secrets not deleted")
	}
}
