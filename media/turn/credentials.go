package turn

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Credentials are what a client puts in RTCIceServer.username and
// .credential. They follow the TURN REST scheme (draft-uberti-behave-
// turn-rest-00 §2.2): username "<expiry unix seconds>:<sealed grant>",
// password base64(HMAC(secret, username)), with HMAC-SHA-256 here, since
// only this deployment verifies them.
type Credentials struct {
	Username string    `json:"username"`
	Password string    `json:"credential"`
	Expires  time.Time `json:"expires"`
}

// Grant is the room token a credential was minted for. It travels inside
// the username sealed (AES-GCM under a key derived from the secret), so
// every process sharing the secret can ask whether the token behind an
// allocation has been revoked, while the username, sent in the clear over
// UDP, names neither the person nor the token.
type Grant struct {
	TokenID  string // the token's jti
	Subject  string
	IssuedAt time.Time
}

func password(secret []byte, username string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(username))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// grantAEAD derives the key that seals grants from the credential secret,
// apart from the HMAC key by its label.
func grantAEAD(secret []byte) cipher.AEAD {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("sealroom turn grant key"))
	block, err := aes.NewCipher(m.Sum(nil))
	if err != nil {
		panic(err) // a 32-byte key is always valid for AES
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err) // the standard nonce and tag sizes are always valid
	}
	return aead
}

// maxGrantField bounds the token id and subject a grant carries, so a
// username stays well under STUN's 513-byte limit (RFC 8489 §14.3).
const maxGrantField = 128

var errGrant = errors.New("turn: grant does not fit a username")

// sealGrant encodes g as iat(8) | len(jti)(1) | jti | subject and seals it
// with the expiry as associated data, so a grant cannot be moved to a
// username with a later expiry.
func sealGrant(aead cipher.AEAD, exp string, g Grant) (string, error) {
	if len(g.TokenID) > maxGrantField || len(g.Subject) > maxGrantField {
		return "", errGrant
	}
	plain := binary.BigEndian.AppendUint64(nil, uint64(g.IssuedAt.Unix()))
	plain = append(plain, byte(len(g.TokenID)))
	plain = append(plain, g.TokenID...)
	plain = append(plain, g.Subject...)
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(aead.Seal(nonce, nonce, plain, []byte(exp))), nil
}

func openGrant(aead cipher.AEAD, exp, sealed string) (Grant, bool) {
	b, err := base64.RawURLEncoding.DecodeString(sealed)
	if err != nil || len(b) < aead.NonceSize()+aead.Overhead() {
		return Grant{}, false
	}
	plain, err := aead.Open(nil, b[:aead.NonceSize()], b[aead.NonceSize():], []byte(exp))
	if err != nil || len(plain) < 9 || int(plain[8]) > len(plain)-9 {
		return Grant{}, false
	}
	n := int(plain[8])
	return Grant{
		IssuedAt: time.Unix(int64(binary.BigEndian.Uint64(plain)), 0),
		TokenID:  string(plain[9 : 9+n]),
		Subject:  string(plain[9+n:]),
	}, true
}

// Credentials mints TURN credentials for the holder of the room token g
// describes, valid for the server's TTL from now. Signaling calls it after
// verifying the token.
func (s *Server) Credentials(g Grant) (Credentials, error) {
	exp := s.now().Add(s.cfg.TTL).Truncate(time.Second)
	es := strconv.FormatInt(exp.Unix(), 10)
	sealed, err := sealGrant(s.aead, es, g)
	if err != nil {
		return Credentials{}, err
	}
	user := es + ":" + sealed
	return Credentials{Username: user, Password: password(s.cfg.Secret, user), Expires: exp}, nil
}

// check validates a username from a TURN request and returns the password
// it must have been minted with and the grant it carries. It refuses
// expired usernames, ones that claim to live longer than the TTL allows
// (forged or from a server with a longer TTL), ones whose grant does not
// open under this deployment's secret, and ones whose token was revoked.
func (s *Server) check(username string) (string, Grant, bool) {
	exp, sealed, ok := strings.Cut(username, ":")
	if !ok {
		return "", Grant{}, false
	}
	sec, err := strconv.ParseInt(exp, 10, 64)
	if err != nil {
		return "", Grant{}, false
	}
	now := s.now().Unix()
	if sec < now || sec > now+int64(s.cfg.TTL/time.Second)+1 {
		return "", Grant{}, false
	}
	g, ok := openGrant(s.aead, exp, sealed)
	if !ok || s.revoked(g) {
		return "", Grant{}, false
	}
	return password(s.cfg.Secret, username), g, true
}

func (s *Server) revoked(g Grant) bool {
	return s.cfg.Revoked != nil && s.cfg.Revoked(g)
}
