package mls

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/sha256"
	"testing"
	"time"
)

// Benchmarks report their cost relative to a baseline measured in the same
// run (metric "x-<baseline>"), so figures compare across machines.

// baseline runs fn as a sub-benchmark and returns its ns/op for the ratios
// of the sub-benchmarks that follow. (testing.Benchmark cannot be nested in
// a running benchmark.)
func baseline(b *testing.B, name string, fn func(b *testing.B)) float64 {
	var ns float64
	b.Run(name, func(b *testing.B) {
		fn(b)
		if b.N > 0 {
			ns = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
		}
	})
	return ns
}

func reportRatio(b *testing.B, baseNs float64, unit string) {
	if b.N == 0 || baseNs == 0 {
		return
	}
	per := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	b.ReportMetric(per/baseNs, unit)
}

type benchGroup struct {
	cs       *CipherSuite
	ctx      *GroupContext
	signPriv []byte
	signPub  []byte
	encSec   []byte
	sdSec    []byte
}

func newBenchGroup(b *testing.B) *benchGroup {
	cs, err := CipherSuiteByID(X25519_AES128GCM_SHA256_Ed25519)
	if err != nil {
		b.Fatal(err)
	}
	priv, pub, err := cs.GenerateSignatureKeyPair()
	if err != nil {
		b.Fatal(err)
	}
	return &benchGroup{
		cs:       cs,
		ctx:      &GroupContext{Version: ProtocolVersionMLS10, CipherSuite: cs.ID(), GroupID: []byte("room-1"), Epoch: 7, TreeHash: make([]byte, 32), ConfirmedTranscriptHash: make([]byte, 32)},
		signPriv: priv, signPub: pub,
		encSec: make([]byte, 32), sdSec: make([]byte, 32),
	}
}

func (g *benchGroup) keys(b *testing.B) privateMessageKeys {
	st, err := newSecretTree(g.cs, g.encSec, 8)
	if err != nil {
		b.Fatal(err)
	}
	st.MaxForwardDistance = 1 << 30
	return privateMessageKeys{SecretTree: st, SenderDataSecret: g.sdSec}
}

func (g *benchGroup) content(payload []byte) *AuthenticatedContent {
	return &AuthenticatedContent{WireFormat: WireFormatPrivateMessage, Content: FramedContent{
		GroupID: g.ctx.GroupID, Epoch: g.ctx.Epoch, Sender: Sender{Type: SenderTypeMember, LeafIndex: 3},
		ContentType: ContentTypeApplication, ApplicationData: payload,
	}}
}

func benchAESGCM(open bool) func(b *testing.B) {
	return func(b *testing.B) {
		aead, _ := newAESGCM(make([]byte, 16))
		nonce := make([]byte, 12)
		pt := make([]byte, 1024)
		ct := aead.Seal(nil, nonce, pt, nil)
		dst := make([]byte, 0, len(ct))
		b.SetBytes(1024)
		for b.Loop() {
			if open {
				if _, err := aead.Open(dst[:0], nonce, ct, nil); err != nil {
					b.Fatal(err)
				}
			} else {
				dst = aead.Seal(dst[:0], nonce, pt, nil)
			}
		}
	}
}

// BenchmarkPrivateMessage1KB measures RFC 9420 §6.3 protection of a 1 KB
// application message against raw AES-128-GCM of 1 KB. "encrypt"/"decrypt"
// are the framing and secret-tree cost over pre-signed content; "protect"/
// "unprotect" add the Ed25519 signature and its verification, as a member
// pays per message.
func BenchmarkPrivateMessage1KB(b *testing.B) {
	seal := baseline(b, "baseline-aesgcm-seal", benchAESGCM(false))
	open := baseline(b, "baseline-aesgcm-open", benchAESGCM(true))
	g := newBenchGroup(b)
	payload := make([]byte, 1024)

	b.Run("encrypt", func(b *testing.B) {
		ac := g.content(payload)
		if err := ac.Sign(g.cs, g.signPriv, g.ctx); err != nil {
			b.Fatal(err)
		}
		keys := g.keys(b)
		b.SetBytes(1024)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := encryptPrivateMessage(g.cs, keys, ac, 0); err != nil {
				b.Fatal(err)
			}
		}
		reportRatio(b, seal, "x-aesgcm")
	})
	b.Run("protect", func(b *testing.B) {
		keys := g.keys(b)
		b.SetBytes(1024)
		b.ReportAllocs()
		for b.Loop() {
			ac := g.content(payload)
			if err := ac.Sign(g.cs, g.signPriv, g.ctx); err != nil {
				b.Fatal(err)
			}
			if _, err := encryptPrivateMessage(g.cs, keys, ac, 0); err != nil {
				b.Fatal(err)
			}
		}
		reportRatio(b, seal, "x-aesgcm")
	})
	for _, verify := range []bool{false, true} {
		name := "decrypt"
		if verify {
			name = "unprotect"
		}
		b.Run(name, func(b *testing.B) {
			ac := g.content(payload)
			if err := ac.Sign(g.cs, g.signPriv, g.ctx); err != nil {
				b.Fatal(err)
			}
			send := g.keys(b)
			msgs := make([]*PrivateMessage, b.N)
			for i := range msgs {
				m, err := encryptPrivateMessage(g.cs, send, ac, 0)
				if err != nil {
					b.Fatal(err)
				}
				msgs[i] = m
			}
			recv := g.keys(b)
			b.SetBytes(1024)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				got, err := decryptPrivateMessage(g.cs, recv, g.ctx, msgs[i])
				if err != nil {
					b.Fatal(err)
				}
				if verify {
					if err := got.VerifySignature(g.cs, g.signPub, g.ctx); err != nil {
						b.Fatal(err)
					}
				}
			}
			reportRatio(b, open, "x-aesgcm")
		})
	}
}

// BenchmarkKeyPackageValidate measures what the Delivery Service runs per
// KeyPackage upload (decode + §10.1 checks, two signature verifications)
// against one raw Ed25519 verification.
func BenchmarkKeyPackageValidate(b *testing.B) {
	now := time.Unix(1_800_000_000, 0)
	_, kp, _ := newTestKeyPackage(b, now)
	enc, err := Marshal(kp)
	if err != nil {
		b.Fatal(err)
	}
	pub, priv, _ := ed25519.GenerateKey(nil)
	msg := make([]byte, len(enc))
	sig := ed25519.Sign(priv, msg)
	base := baseline(b, "baseline-ed25519-verify", func(b *testing.B) {
		for b.Loop() {
			ed25519.Verify(pub, msg, sig)
		}
	})
	b.Run("validate", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var k KeyPackage
			if err := Unmarshal(enc, &k); err != nil {
				b.Fatal(err)
			}
			if _, err := k.Validate(now); err != nil {
				b.Fatal(err)
			}
		}
		reportRatio(b, base, "x-ed25519verify")
	})
}

// BenchmarkExporter measures MLS-Exporter (RFC 9420 §8.5) as SFrame uses it
// per epoch, against one raw HKDF-Expand of 32 bytes.
func BenchmarkExporter(b *testing.B) {
	g := newBenchGroup(b)
	secret := make([]byte, 32)
	base := baseline(b, "baseline-hkdf-expand", func(b *testing.B) {
		for b.Loop() {
			if _, err := hkdf.Expand(sha256.New, secret, "x", 32); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("mls-exporter", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := g.cs.export(secret, "SFrame 1.0 Base Key", nil, 16); err != nil {
				b.Fatal(err)
			}
		}
		reportRatio(b, base, "x-hkdfexpand")
	})
}
