package signaling

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The browser client cannot import this package; it names the protocol's types and
// codes as string literals. This test reads its source and fails on any literal used as
// a message type, media type or error code that is not declared here, so a rename in
// Go cannot leave the browser speaking a word the server no longer knows.
func TestJavaScriptSpeaksTheDeclaredProtocol(t *testing.T) {
	declared := map[string]bool{}
	for _, s := range []string{
		TypeAuth, TypeReady, TypeResumed, TypeResumeAck, TypePing, TypePong, TypeAck, TypeError, TypeBye, TypeMute, TypeRefresh,
		TypeLeave, TypeJoined, TypeUpdated, TypeLeft, TypeConsentRequired, TypeConsent, TypeMedia, TypeICEServers,
		TypeKeyPackages, TypeGroupInit, TypeCommit, TypeChat, TypeKick, TypeReadmit, TypeGroupCreate, TypeHandshake,
		TypeWelcome, TypeCommitNeeded, TypeKeyPackageLow, TypeRemoved, TypeResync,
		MediaOffer, MediaAnswer, MediaCandidate, MediaVideoPaused, MediaVideoResumed, MediaCodecs, MediaCodec, MediaActiveSpeaker,
		MediaLayers, MediaView, MediaLayer,
		CodeBadMessage, CodeUnsupportedVersion, CodeUnknownType, CodeUnauthorized, CodeForbidden,
		CodeRateLimited, CodeInternal, CodeConsentRequired, CodeTooLarge, CodeUnavailable, CodeInvalidKeyPackage,
		CodeIdentityMismatch, CodeKeyPackageReused, CodeKeyPackageQuota, CodeGroupExists, CodeNoGroup,
		CodeNotMember, CodeStaleEpoch, CodeFutureEpoch, CodeReplayedCommit, CodeInvalidSignature,
		CodeInvalidCommit, CodeMissingProposals, CodeForbiddenAdd, CodeForbiddenCommit, CodeInvalidGroupInfo, CodeBadSDP,
		CodeStaleAnswer, CodeUnexpectedAnswer, CodeBadCandidate, CodeMediaClosed, CodeBarred,
	} {
		declared[s] = true
	}
	uses := []*regexp.Regexp{
		regexp.MustCompile(`case '([a-z_]+)':`),                   // the dispatch of server messages
		regexp.MustCompile(`send\('([a-z_]+)'`),                   // a client message
		regexp.MustCompile(`send\('media', \{ type: '([a-z_]+)'`), // a media message
		regexp.MustCompile(`code === '([a-z_]+)'`),                // an error code
		regexp.MustCompile(`env\.type === '([a-z_]+)'`),           // a type test
		regexp.MustCompile(`reason === '([a-z_]+)'`),              // a bye or leave reason
	}
	mediaTest := regexp.MustCompile(`m\.type === '([a-z_]+)'`)
	reasons := map[string]bool{ReasonLeft: true, ReasonDisconnected: true, ReasonReplaced: true,
		ReasonExpired: true, ReasonIdle: true, ReasonRevoked: true, ReasonRemoved: true, ReasonLost: true}
	files, err := filepath.Glob("../../webapp/app/*.js")
	if err != nil || len(files) == 0 {
		t.Fatalf("no browser sources found (%v)", err)
	}
	seen := 0
	for _, f := range files {
		switch filepath.Base(f) {
		case "worker.js", "policy.js":
			continue // the SFrame worker's messages to its page, and MLS proposal types: not signaling
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		text := string(src)
		words := func(re *regexp.Regexp) [][]string { return re.FindAllStringSubmatch(text, -1) }
		if filepath.Base(f) == "media.js" {
			// The SFU's messages are dispatched in apply(m); the worker's, above it, are
			// another protocol.
			if i := strings.Index(text, "async apply(m)"); i >= 0 {
				for _, m := range mediaTest.FindAllStringSubmatch(text[i:], -1) {
					seen++
					if !declared[m[1]] {
						t.Errorf("media.js: media type %q is not declared in package signaling", m[1])
					}
				}
			} else {
				t.Error("media.js has no apply(m): the media dispatch moved")
			}
		}
		for i, re := range uses {
			for _, m := range words(re) {
				seen++
				word := m[1]
				if i == len(uses)-1 {
					if !reasons[word] {
						t.Errorf("%s: reason %q is not declared in package signaling", filepath.Base(f), word)
					}
					continue
				}
				if !declared[word] {
					t.Errorf("%s: %q is not declared in package signaling", filepath.Base(f), word)
				}
			}
		}
	}
	if seen < 20 {
		t.Fatalf("only %d protocol words found in the browser sources: the patterns no longer match them", seen)
	}
}
