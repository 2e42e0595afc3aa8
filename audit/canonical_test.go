package audit

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"testing"
)

func fixedRow() row {
	r := row{
		seq: 42, chainedAt: 1700000000123456, occurredAt: 1700000000000001,
		actor: "user-1", actorRole: "host", action: "room.kick", targetKind: "user",
		targetID: "user-2", room: "room-9", outcome: "success", requestID: "rq",
		subject: "user-1", details: `{"epoch":"3"}`, personal: []byte{1, 2, 3},
	}
	for i := range r.id {
		r.id[i] = byte(i)
	}
	for i := range r.prevHash {
		r.prevHash[i] = 0xaa
	}
	return r
}

// The canonical encoding is exactly what README.md documents, built here by hand.
func TestCanonicalEncodingMatchesREADME(t *testing.T) {
	r := fixedRow()
	var want bytes.Buffer
	want.WriteByte(1)
	want.Write([]byte{0, 0, 0, 0, 0, 0, 0, 42})
	want.Write(r.id[:])
	want.Write([]byte{0x00, 0x06, 0x0a, 0x24, 0x18, 0x20, 0x22, 0x40}) // 1700000000123456
	want.Write([]byte{0x00, 0x06, 0x0a, 0x24, 0x18, 0x1e, 0x40, 0x01}) // 1700000000000001
	for _, s := range []string{"user-1", "host", "room.kick", "user", "user-2", "room-9",
		"success", "rq", "user-1", `{"epoch":"3"}`} {
		want.Write([]byte{0, 0, 0, byte(len(s))})
		want.WriteString(s)
	}
	want.Write([]byte{0, 0, 0, 3, 1, 2, 3})
	if got := r.appendCanonical(nil); !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("canonical encoding\n got %x\nwant %x", got, want.Bytes())
	}
	h, _ := r.chainHash(nil)
	if exp := sha256.Sum256(append(r.prevHash[:], want.Bytes()...)); h != exp {
		t.Fatal("hash is not SHA-256(prev_hash || canonical)")
	}
	// Pinned so an accidental change of the encoding fails loudly.
	if got := hex.EncodeToString(h[:]); got != pinnedRowHash {
		t.Fatalf("row hash changed: %s", got)
	}
}

// Computed independently: sha256(0xaa*32 || the bytes above) with Python hashlib.
const pinnedRowHash = "355524a981af8632ad4d17e1f12c73faa753c38b96120f88d33a48f29a49c2fc"

func TestCheckpointSignature(t *testing.T) {
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
	pub := priv.Public().(ed25519.PublicKey)
	c := checkpoint{seq: 1000, signedAt: 1700000000000000}
	c.head[0] = 0xee
	want := append([]byte("sealroom audit checkpoint v1\x00"), 0, 0, 0, 0, 0, 0, 0x03, 0xe8)
	want = append(want, c.head[:]...)
	want = append(want, 0x00, 0x06, 0x0a, 0x24, 0x18, 0x1e, 0x40, 0x00) // 1700000000000000
	if !bytes.Equal(c.signingInput(), want) {
		t.Fatalf("signing input\n got %x\nwant %x", c.signingInput(), want)
	}
	c.sign(priv)
	if !c.verify(pub) {
		t.Fatal("own signature does not verify")
	}
	other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{8}, 32)).Public().(ed25519.PublicKey)
	if c.verify(other) {
		t.Fatal("verified under another key")
	}
	c.seq++
	if c.verify(pub) {
		t.Fatal("verified after the sequence number changed")
	}
}

func TestSealBindsIDAndSubject(t *testing.T) {
	key := bytes.Repeat([]byte{3}, 32)
	aead, err := sealAEAD(key)
	if err != nil {
		t.Fatal(err)
	}
	e := entry{subject: "user-1", ip: "192.0.2.1", name: "Ada", text: "kicked for noise"}
	e.id[0] = 9
	var base, nonce [nonceSize]byte
	nonceAt(&base, 1, &nonce)
	blob, _ := sealPersonal(nil, aead, &nonce, &e, nil)
	p, err := openPersonal(aead, e.id, e.subject, blob)
	if err != nil || p != (Personal{SourceIP: "192.0.2.1", Name: "Ada", Text: "kicked for noise"}) {
		t.Fatalf("open: %+v %v", p, err)
	}
	if bytes.Contains(blob, []byte("Ada")) {
		t.Fatal("plaintext in the sealed blob")
	}
	var otherID [16]byte
	if _, err := openPersonal(aead, otherID, e.subject, blob); err == nil {
		t.Fatal("opened under another event id")
	}
	if _, err := openPersonal(aead, e.id, "user-2", blob); err == nil {
		t.Fatal("opened under another subject")
	}
	var n2 [nonceSize]byte
	nonceAt(&base, 2, &n2)
	if n2 == nonce {
		t.Fatal("nonces repeat within a batch")
	}
}
