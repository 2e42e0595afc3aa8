package mls

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// TestExpanderMatchesExpandWithLabel: the message path's expander gives
// ExpandWithLabel's output for every length, including those it hands to
// the general implementation.
func TestExpanderMatchesExpandWithLabel(t *testing.T) {
	cs, _ := CipherSuiteByID(X25519_AES128GCM_SHA256_Ed25519)
	rng := rand.New(rand.NewPCG(5, 6))
	e := newExpander(cs)
	for i := range 200 {
		secret := make([]byte, 1+rng.IntN(80))
		context := make([]byte, rng.IntN(100))
		for _, b := range [][]byte{secret, context} {
			for j := range b {
				b[j] = byte(rng.Uint32())
			}
		}
		label := []string{"key", "nonce", "secret", "a longer label than usual"}[i%4]
		length := rng.IntN(70)
		want, err := cs.expandWithLabel(secret, label, context, length)
		if err != nil {
			t.Fatal(err)
		}
		got, err := e.expandLabel(cs, secret, label, context, length)
		if err != nil || !bytes.Equal(got, want) || len(got) != cap(got) {
			t.Fatalf("case %d (secret %d, length %d): differs (%v)", i, len(secret), length, err)
		}
	}
}
