package media

import (
	"bytes"
	"testing"

	"github.com/pion/rtp"
)

// Config.Observe sees every packet read from a publisher, malformed ones included,
// exactly as read, and the forwarded payload is unchanged.
func TestObserveSeesEveryPacket(t *testing.T) {
	pub, l, ws := newPipeline(t, 1)
	var seen [][]byte
	pub.publisher.sfu.cfg.Observe = func(pkt []byte) { seen = append(seen, bytes.Clone(pkt)) }
	var h rtp.Header
	key := rawRTP(11, 3900, testPayload(CodecVP8, true, 2, "t"))
	pub.forwardPacket(l, &h, key, 1)
	pub.forwardPacket(l, &h, []byte{0x80, 0x60}, 2)
	if len(seen) != 2 || !bytes.Equal(seen[0], key) || !bytes.Equal(seen[1], []byte{0x80, 0x60}) {
		t.Fatalf("observed %d packets", len(seen))
	}
	if ws[0].n != 1 || !bytes.Equal(ws[0].payload, key[12:]) {
		t.Fatal("observing changed forwarding")
	}
}
