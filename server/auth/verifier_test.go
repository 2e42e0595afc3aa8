package auth

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

func newPair(t testing.TB, now func() time.Time) (*Signer, *Verifier) {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s := NewSigner(key, "iss", "aud")
	s.now = now
	return s, NewVerifier("iss", "aud", []ed25519.PublicKey{s.PublicKey()}, WithClock(now))
}

// The cache must never extend a token's life: once exp (plus leeway) passes, a token
// verified earlier is refused like any other expired token.
func TestCacheHonoursExpiry(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	s, v := newPair(t, clock)
	tok, _, err := s.Mint(Grant{Identity: "bob", Room: "r", Role: RoleParticipant}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(tok); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Minute + Leeway - time.Second)
	if _, err := v.Verify(tok); err != nil {
		t.Fatalf("within leeway: %v", err)
	}
	now = now.Add(2 * time.Second)
	if _, err := v.Verify(tok); !errors.Is(err, ErrInvalid) {
		t.Fatalf("after expiry: %v, want ErrInvalid", err)
	}
}

func TestMintRejectsBadGrants(t *testing.T) {
	s, _ := newPair(t, time.Now)
	bad := []struct {
		name string
		g    Grant
		ttl  time.Duration
	}{
		{"no identity", Grant{Room: "r", Role: RoleHost}, time.Hour},
		{"identity with spaces", Grant{Identity: "a b", Room: "r", Role: RoleHost}, time.Hour},
		{"unknown role", Grant{Identity: "a", Room: "r", Role: "root"}, time.Hour},
		{"observer publishing", Grant{Identity: "a", Room: "r", Role: RoleObserver, CanPublish: true}, time.Hour},
		{"bad room", Grant{Identity: "a", Room: "../etc", Role: RoleHost}, time.Hour},
		{"neither room nor admin", Grant{Identity: "a"}, time.Hour},
		{"ttl too long", Grant{Identity: "a", Room: "r", Role: RoleHost}, MaxTTL + time.Second},
		{"ttl zero", Grant{Identity: "a", Room: "r", Role: RoleHost}, 0},
	}
	for _, tc := range bad {
		if _, _, err := s.Mint(tc.g, tc.ttl); err == nil {
			t.Errorf("%s: minted", tc.name)
		}
	}
	if _, _, err := s.Mint(Grant{Identity: "admin-1", Admin: true}, time.Hour); err != nil {
		t.Errorf("admin token without room: %v", err)
	}
}

func TestLoadOrCreateKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys", "k.pem")
	k1, created, err := LoadOrCreateKey(path)
	if err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	k2, created, err := LoadOrCreateKey(path)
	if err != nil || created {
		t.Fatalf("load: %v %v", created, err)
	}
	if !k1.Equal(k2) {
		t.Fatal("reloaded key differs")
	}
	pub, err := ParsePublicKey(MarshalPublicKey(k1.Public().(ed25519.PublicKey)))
	if err != nil || !pub.Equal(k1.Public()) {
		t.Fatalf("public key round trip: %v", err)
	}
}

// BenchmarkVerify measures a full, uncached verification: what a new token costs.
func BenchmarkVerify(b *testing.B) {
	s, v := newPair(b, time.Now)
	tok, _, err := s.Mint(Grant{Identity: "bob", Room: "r", Role: RoleParticipant}, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		clear(v.cache)
		if _, err := v.Verify(tok); err != nil {
			b.Fatal(err)
		}
	}
}
