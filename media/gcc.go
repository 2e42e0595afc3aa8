package media

import (
	"math"
	"sync"
	"sync/atomic"

	"github.com/pion/rtcp"
)

// sendSideBWE estimates what one subscriber's path carries from the
// subscriber's transport-wide congestion control feedback, as Google
// Congestion Control does (draft-ietf-rmcat-gcc-02): a delay-based
// controller (§5: arrival-time model, Kalman filter of the inter-group
// delay variation, over-use detector with adaptive threshold, AIMD rate
// controller) and a loss-based one (§6); the estimate is the smaller.
//
// It follows pion's gcc package (same constants, same controller states)
// but runs synchronously on the goroutine that reads the feedback, with no
// per-packet state beyond twccSender's ring and no goroutine or channel
// per estimator.
type sendSideBWE struct {
	tw     *twccSender
	since  int64        // local nanos: packets sent before are not this estimate's (resetEstimate)
	target atomic.Int64 // bits/s
	heard  atomic.Int64 // local nanos of the last feedback message

	mu               sync.Mutex
	minRate, maxRate float64
	refEpoch         int64  // feedback reference time, see twccSender.feedbackAcks
	lastFeedback     uint64 // base sequence number, count and feedback count of the last message + 1

	// §5.2 arrival-time model: packets sent within burstTime form a group.
	haveGroup, havePrevGroup bool
	group, prevGroup         arrivalGroup

	// §5.3 Kalman filter, in milliseconds.
	kEstimate, kError, kMeasVar float64

	// §5.4 over-use detector and adaptive threshold, in milliseconds.
	threshold      float64
	numDeltas      int
	lastThreshold  int64
	lastDetect     int64
	lastTrend      float64
	overuseTime    int64
	overuseCount   int
	controllerInit bool

	// §5.5 rate controller.
	state          rcState
	delayRate      float64
	lastRateUpdate int64
	decAvg, decVar float64
	rtt            int64
	recv           ackRate

	// §6 loss-based controller.
	lossRate                   float64
	avgLoss                    float64
	lastLoss, lastInc, lastDec int64
}

// arrivalGroup: send times of its first and latest packets, arrival of its
// latest.
type arrivalGroup struct{ first, last, arrival int64 }

type rcState uint8

const (
	rcIncrease rcState = iota
	rcDecrease
	rcHold
)

type usage uint8

const (
	usageNormal usage = iota
	usageOver
	usageUnder
)

// §5.5: the state machine of the rate controller.
func (s rcState) next(u usage) rcState {
	switch {
	case u == usageOver:
		return rcDecrease
	case u == usageUnder:
		return rcHold
	case s == rcDecrease:
		return rcHold
	}
	return rcIncrease
}

const (
	burstTime       = int64(5e6) // §5.2
	maxBurst        = int64(100e6)
	overuseTimeTh   = int64(10e6)
	maxDeltas       = 60
	thresholdUp     = 0.01
	thresholdDown   = 0.00018
	decreaseFactor  = 0.85 // §5.5 beta
	decreaseEMA     = 0.95
	kalmanChi       = 0.001
	lossIncreaseTh  = 0.02 // §6
	lossDecreaseTh  = 0.1
	lossUpdateEvery = int64(200e6)
	lossIncrease    = 1.05
)

func newSendSideBWE(tw *twccSender, initial, minRate, maxRate int, now int64) *sendSideBWE {
	e := &sendSideBWE{tw: tw, since: now, minRate: float64(minRate), maxRate: float64(maxRate), refEpoch: -1, lastDetect: now,
		kError: 0.1, threshold: 12.5, delayRate: float64(initial), lossRate: float64(initial),
		lastLoss: math.MinInt64 / 2, lastInc: math.MinInt64 / 2, lastDec: math.MinInt64 / 2}
	e.target.Store(int64(initial))
	return e
}

// silentSince reports whether no feedback arrived in the d before now (or ever).
func (e *sendSideBWE) silentSince(now, d int64) bool { return now-e.heard.Load() > d }

// targetBitrate is the current estimate in bits/s.
func (e *sendSideBWE) targetBitrate() int64 { return e.target.Load() }

// onFeedback takes one transport-wide feedback message received at now.
func (e *sendSideBWE) onFeedback(fb *rtcp.TransportLayerCC, now int64) {
	e.heard.Store(now)
	e.mu.Lock()
	defer e.mu.Unlock()
	// The same message read again from another stream (see
	// handleSubscriberRTCP): its feedback packet count (§3.1) and base
	// sequence number are those of the last one taken.
	id := uint64(fb.BaseSequenceNumber)<<24 | uint64(fb.PacketStatusCount)<<8 | uint64(fb.FbPktCount)
	if id+1 == e.lastFeedback {
		return
	}
	e.lastFeedback = id + 1
	var total, lost int
	var latest ack
	haveLatest := false
	e.tw.feedbackAcks(fb, &e.refEpoch, func(a ack) {
		if a.sent < e.since {
			return // sent before this estimate began: on a path that is gone
		}
		total++
		if !a.received {
			lost++
			return
		}
		if !a.timed {
			return
		}
		e.recv.add(a.arrival, a.size)
		if !haveLatest || a.arrival >= latest.arrival {
			latest, haveLatest = a, true
		}
		e.onArrival(a, now)
	})
	if haveLatest {
		// The newest packet's round trip: the feedback left right after it
		// arrived (pion takes the minimum over all packets the same way).
		e.rtt = now - latest.sent
	}
	if total > 0 {
		e.onLoss(float64(lost)/float64(total), now)
	}
	rate := min(e.delayRate, e.lossRate)
	e.lossRate = rate // §6: the loss-based estimate never exceeds the delay-based one
	e.target.Store(int64(min(max(rate, e.minRate), e.maxRate)))
}

// retry raises the estimate to rate when it is lower. A subscriber whose
// video paused receives audio only, and the feedback about audio can never
// show that the path carries more: the increase is capped at 1.5 times what
// arrives (§5.5), and the SFU sends no probes. So after a wait the
// controller tries the video again at what its lowest layers need, and the
// delay-based and loss-based controllers bring the estimate down again,
// from what then arrives, if the path cannot carry it. The old congestion
// point is forgotten: it was measured on another path load.
func (e *sendSideBWE) retry(rate float64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	rate = min(max(rate, e.minRate), e.maxRate)
	if rate <= min(e.delayRate, e.lossRate) {
		return
	}
	e.delayRate, e.lossRate = max(e.delayRate, rate), max(e.lossRate, rate)
	e.decAvg, e.decVar = 0, 0
	e.state = rcHold
	e.target.Store(int64(min(e.delayRate, e.lossRate)))
}

// onArrival groups packets (§5.2) and runs the delay-based controller once
// per completed group. As libwebrtc's inter-arrival filter does, a group
// is the packets sent within burstTime of its first, plus those that
// arrive in a burst behind them (inter-arrival at most burstTime, negative
// delay variation against the group's latest packet, the group no longer
// than maxBurst). pion's accumulator compares a late packet with the
// group's first send time instead, which at a few hundred packets per
// second keeps every packet in one group and freezes the estimate.
func (e *sendSideBWE) onArrival(a ack, now int64) {
	if !e.haveGroup {
		e.group, e.haveGroup = arrivalGroup{a.sent, a.sent, a.arrival}, true
		return
	}
	g := &e.group
	if a.arrival < g.arrival || a.sent < g.last {
		return // reordered
	}
	if a.sent-g.first <= burstTime {
		g.last, g.arrival = a.sent, a.arrival
		return
	}
	if ia := a.arrival - g.arrival; ia <= burstTime && ia-(a.sent-g.last) < 0 && a.sent-g.first < maxBurst {
		g.last, g.arrival = a.sent, a.arrival
		return
	}
	done := *g
	e.group = arrivalGroup{a.sent, a.sent, a.arrival}
	if !e.havePrevGroup {
		e.prevGroup, e.havePrevGroup = done, true
		return
	}
	d := float64((done.arrival-e.prevGroup.arrival)-(done.last-e.prevGroup.last)) / 1e6
	e.prevGroup = done
	e.detect(e.kalman(d), now)
}

// kalman filters the inter-group delay variation d (ms), §5.3.
func (e *sendSideBWE) kalman(d float64) float64 {
	z := d - e.kEstimate
	alpha := math.Pow(1-kalmanChi, 30.0/(1000.0*5*1e6))
	if r3 := 3 * math.Sqrt(e.kMeasVar); z > r3 {
		e.kMeasVar = max(alpha*e.kMeasVar+(1-alpha)*r3*r3, 1)
	} else {
		e.kMeasVar = max(alpha*e.kMeasVar+(1-alpha)*z*z, 1)
	}
	u := e.kError + 1e-3 // process uncertainty
	gain := u / (u + e.kMeasVar)
	e.kEstimate += gain * z
	e.kError = (1 - gain) * u
	return e.kEstimate
}

// detect compares the estimate with the adaptive threshold (§5.4) and
// drives the rate controller.
func (e *sendSideBWE) detect(m float64, now int64) {
	elapsed := now - e.lastDetect
	e.lastDetect = now
	e.numDeltas++
	u := usageNormal
	trend := m
	if e.numDeltas >= 2 {
		trend = float64(min(e.numDeltas, maxDeltas)) * m
		switch {
		case trend > e.threshold:
			u = usageOver
		case trend < -e.threshold:
			u = usageUnder
		}
		e.adaptThreshold(trend, now)
	}
	use := usageNormal
	switch u {
	case usageOver:
		if e.overuseTime == 0 {
			e.overuseTime = elapsed / 2
		} else {
			e.overuseTime += elapsed
		}
		e.overuseCount++
		if e.overuseTime > overuseTimeTh && e.overuseCount > 1 && trend > e.lastTrend {
			use = usageOver
		}
	case usageUnder:
		e.overuseTime, e.overuseCount = 0, 0
		use = usageUnder
	default:
		e.overuseTime, e.overuseCount = 0, 0
	}
	e.lastTrend = trend
	e.control(use, now)
}

// adaptThreshold moves the threshold towards |trend| (§5.4, eq. 6-7).
func (e *sendSideBWE) adaptThreshold(trend float64, now int64) {
	if e.lastThreshold == 0 {
		e.lastThreshold = now
	}
	abs := math.Abs(trend)
	if abs > e.threshold+15 {
		e.lastThreshold = now
		return
	}
	k := thresholdUp
	if abs < e.threshold {
		k = thresholdDown
	}
	dt := float64(min(now-e.lastThreshold, int64(100e6))) / 1e6
	e.threshold = min(max(e.threshold+k*(abs-e.threshold)*dt, 6), 600)
	e.lastThreshold = now
}

// control is the AIMD rate controller of §5.5.
func (e *sendSideBWE) control(u usage, now int64) {
	if !e.controllerInit {
		e.controllerInit, e.state = true, rcIncrease
		return
	}
	e.state = e.state.next(u)
	recv := e.recv.rate()
	switch e.state {
	case rcIncrease:
		e.delayRate = min(max(e.increase(recv, now), e.minRate), e.maxRate)
	case rcDecrease:
		e.delayRate = min(max(decreaseFactor*recv, e.minRate), e.maxRate)
		if e.decAvg == 0 {
			e.decAvg = recv
		} else {
			x := recv - e.decAvg
			e.decAvg += decreaseEMA * x
			e.decVar = (1 - decreaseEMA) * (e.decVar + decreaseEMA*x*x)
		}
		e.lastRateUpdate = now
	}
}

func (e *sendSideBWE) increase(recv float64, now int64) float64 {
	dt := float64(now-e.lastRateUpdate) / 1e9
	e.lastRateUpdate = now
	if sd := math.Sqrt(e.decVar); e.decAvg > 0 && recv > e.decAvg-3*sd && recv < e.decAvg+3*sd {
		// Near the last congestion point: additive increase, about one
		// packet per response time.
		bitsPerFrame := e.delayRate / 30
		packetsPerFrame := math.Ceil(bitsPerFrame / (1200 * 8))
		response := 0.1 + float64(e.rtt)/1e9
		alpha := 0.5 * min(dt/response, 1)
		return min(e.delayRate+max(1000, alpha*bitsPerFrame/packetsPerFrame), 1.5*recv)
	}
	rate := math.Pow(1.08, min(dt, 1)) * e.delayRate
	if capRate := 1.5 * recv; rate > capRate && capRate > e.delayRate {
		return capRate
	}
	return max(rate, e.delayRate)
}

// onLoss is the loss-based controller of §6 (with pion's smoothing).
func (e *sendSideBWE) onLoss(ratio float64, now int64) {
	e.avgLoss = ratio + math.Exp(-float64((now-e.lastLoss)/1e6)/200)*(e.avgLoss-ratio)
	e.lastLoss = now
	inc, dec := max(e.avgLoss, ratio), min(e.avgLoss, ratio)
	switch {
	case inc < lossIncreaseTh && now-e.lastInc > lossUpdateEvery:
		e.lastInc = now
		e.lossRate = min(max(lossIncrease*e.lossRate, e.minRate), e.maxRate)
	case dec > lossDecreaseTh && now-e.lastDec > lossUpdateEvery:
		e.lastDec = now
		e.lossRate = min(max(e.lossRate*(1-0.5*dec), e.minRate), e.maxRate)
	}
}

// ackRate is the rate at which feedback says packets arrived over the
// last rateBuckets×rateBucket of arrival time.
type ackRate struct {
	buckets [rateBuckets]struct {
		id    int64
		bytes int
	}
	first, last int64 // bucket ids
	init        bool
}

const (
	rateBucket  = int64(50e6)
	rateBuckets = 10 // 500 ms, pion's window
)

func (w *ackRate) add(arrival int64, size int) {
	id := arrival / rateBucket
	if id < 0 {
		return
	}
	if !w.init {
		w.first, w.last, w.init = id, id, true
	}
	if id < w.last-rateBuckets+1 {
		return // older than the window
	}
	w.last = max(w.last, id)
	b := &w.buckets[id%rateBuckets]
	if b.id != id {
		b.id, b.bytes = id, 0
	}
	b.bytes += size
}

// rate is in bits/s; 0 before any packet.
func (w *ackRate) rate() float64 {
	if !w.init {
		return 0
	}
	var bytes int
	for _, b := range w.buckets {
		if b.id > w.last-rateBuckets && b.id <= w.last {
			bytes += b.bytes
		}
	}
	span := min(w.last-w.first+1, rateBuckets)
	return float64(bytes) * 8 / (float64(span*rateBucket) / 1e9)
}
