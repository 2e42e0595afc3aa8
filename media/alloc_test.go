package media

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/sealroom/sealroom/server/servertest/poll"
)

// allocsThrough counts, over the whole run so far (runtime.MemProfile),
// the objects allocated on stacks that pass through a function whose
// name contains through, and lists the allocation sites. Allocations by a
// sync.Pool's New are counted apart (pooled): a pool refills after GC
// cycles, and under the race detector it drops a quarter of what is put
// back on purpose.
func allocsThrough(through string) (total, pooled int64, sites map[string]int64) {
	runtime.GC() // the profile is published by the GC cycles after the allocation
	runtime.GC()
	n, _ := runtime.MemProfile(nil, true)
	var recs []runtime.MemProfileRecord
	for {
		recs = make([]runtime.MemProfileRecord, n+64)
		var ok bool
		if n, ok = runtime.MemProfile(recs, true); ok {
			recs = recs[:n]
			break
		}
	}
	sites = map[string]int64{}
	for _, r := range recs {
		frames := runtime.CallersFrames(r.Stack())
		var names []string
		hit, pool := false, false
		for {
			f, more := frames.Next()
			names = append(names, f.Function)
			hit = hit || strings.Contains(f.Function, through)
			pool = pool || f.Function == "sync.(*Pool).Get"
			if !more {
				break
			}
		}
		switch {
		case !hit || r.AllocObjects == 0:
		case pool:
			pooled += r.AllocObjects
		default:
			total += r.AllocObjects
			sites[strings.Join(names[:min(len(names), 5)], " < ")] += r.AllocObjects
		}
	}
	return total, pooled, sites
}

// The forwarding path allocates nothing per packet in the steady state:
// from pion's SRTP session handing over a decrypted packet (rtpBuffer)
// through the bookkeeping for the publisher's RTCP, the fan-out, the
// transport-wide sequence numbers, pion's SRTP encryption and the ICE mux
// down to the batched send. Real pion peers on loopback; allocations are
// counted by allocation site, so the clients' own do not count.
func TestForwardingAllocations(t *testing.T) {
	old := runtime.MemProfileRate
	runtime.MemProfileRate = 1
	defer func() { runtime.MemProfileRate = old }()

	s := newTestSFU(t, func(c *Config) {
		// Estimates pinned high: the path under test is forwarding,
		// not a subscriber dropped to audio.
		c.InitialBitrate, c.MinBitrate, c.MaxBitrate = 200_000_000, 100_000_000, 400_000_000
	})
	var subs []*client
	for _, id := range []string{"a", "b", "c"} {
		subs = append(subs, joinClient(t, s, "r", id, Grants{CanSubscribe: true}))
	}
	pub := joinClient(t, s, "r", "pub", Grants{CanPublish: true})
	v := newSender(t, CodecVP8, "cam", "pub", "", "v")
	v.size = 1000
	if _, err := pub.pc.AddTrack(v.track); err != nil {
		t.Fatal(err)
	}
	pub.offer()
	pub.waitConnected()
	v.start(2 * time.Millisecond)
	defer v.halt()
	for _, c := range subs {
		tr := c.nextTrack(10 * time.Second)
		go func() {
			buf := make([]byte, 1500)
			for {
				if _, _, err := tr.Read(buf); err != nil {
					return
				}
			}
		}()
	}
	// Steady state: every subscriber bound and fed, first-use caches
	// (pools, type assertions, map growth) filled.
	poll.Until(t, 20*time.Second, "1000 packets forwarded", func() bool { return s.Counters().ForwardedPackets > 1000 })
	fwd0 := s.Counters().ForwardedPackets
	poll.Until(t, 20*time.Second, "1000 more", func() bool { return s.Counters().ForwardedPackets > fwd0+1000 })

	// The SFU's side of the path starts where pion's SRTP session hands
	// a decrypted packet to the SFU's buffer (the clients' sessions, in
	// the same process, decrypt too).
	const path = "media.(*rtpBuffer).Write"
	a0, p0, sites0 := allocsThrough(path)
	f0 := s.Counters().ForwardedPackets
	poll.Until(t, 20*time.Second, "3000 packets forwarded", func() bool { return s.Counters().ForwardedPackets > f0+3000 })
	a1, p1, sites1 := allocsThrough(path)
	fwd := s.Counters().ForwardedPackets - f0
	t.Logf("%d packets forwarded: %d allocations on the forwarding path (%.4f per packet), %d pool refills",
		fwd, a1-a0, float64(a1-a0)/float64(fwd), p1-p0)
	// First uses of a new stream (a ring slot, a type-assertion cache)
	// happen once, never per packet.
	if float64(a1-a0)/float64(fwd) > 0.002 {
		for k, n := range sites1 {
			if d := n - sites0[k]; d > 0 {
				t.Logf("%6d %s", d, k)
			}
		}
		t.Fatal("the forwarding path allocates")
	}
}
