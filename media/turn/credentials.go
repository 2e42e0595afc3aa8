package turn

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// Credentials are what a client puts in RTCIceServer.username and
// .credential. They follow the TURN REST scheme (draft-uberti-behave-
// turn-rest-00 §2.2): username "<expiry unix seconds>:<token hash>",
// password base64(HMAC(secret, username)) — with HMAC-SHA-256 here, since
// only this server verifies them. The token hash binds the credential to
// one room token without carrying it.
type Credentials struct {
	Username string    `json:"username"`
	Password string    `json:"credential"`
	Expires  time.Time `json:"expires"`
}

// tokenTag is a short, non-reversible tag of a room token.
func tokenTag(token string) string {
	sum := sha256.Sum256([]byte("sealroom turn token\x00" + token))
	return hex.EncodeToString(sum[:16])
}

func password(secret []byte, username string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(username))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Credentials mints TURN credentials for a holder of roomToken, valid for
// the server's TTL from now. Signaling calls it after verifying the token.
func (s *Server) Credentials(roomToken string) Credentials {
	exp := s.now().Add(s.cfg.TTL).Truncate(time.Second)
	user := strconv.FormatInt(exp.Unix(), 10) + ":" + tokenTag(roomToken)
	return Credentials{Username: user, Password: password(s.cfg.Secret, user), Expires: exp}
}

// check validates a username from a TURN request and returns the password
// it must have been minted with. It refuses expired usernames and ones
// that claim to live longer than the TTL allows (forged or from a server
// with a longer TTL).
func (s *Server) check(username string) (string, bool) {
	exp, tag, ok := strings.Cut(username, ":")
	if !ok || len(tag) != 32 {
		return "", false
	}
	sec, err := strconv.ParseInt(exp, 10, 64)
	if err != nil {
		return "", false
	}
	now := s.now().Unix()
	if sec < now || sec > now+int64(s.cfg.TTL/time.Second)+1 {
		return "", false
	}
	return password(s.cfg.Secret, username), true
}
