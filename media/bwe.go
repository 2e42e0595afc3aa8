package media

import (
	"time"

	"github.com/sealroom/sealroom/server/signaling"
)

// Audio first. A subscriber's budget is its send-side bandwidth estimate
// (GCC over transport-wide CC feedback). Audio is always forwarded and is
// paid for first; video gets what is left. If what is left cannot carry the
// lowest layer of every video track, all video to that subscriber pauses
// and the client is told; it resumes, on a keyframe, once the estimate
// carries the lowest layers with resumeHeadroom to spare.
const resumeHeadroom = 1.25

// upHeadroom is what a higher layer than the one a track is on must leave
// to spare before the controller moves up to it: an estimate hovering near
// a layer's rate would otherwise switch up and down every round, each
// switch costing a keyframe.
const upHeadroom = 1.2

// A paused subscriber's video is tried again (sendSideBWE.retry) after
// retryFirst, then after twice the last wait up to retryMax; the wait
// starts again from retryFirst once video has flowed for retryReset.
const (
	retryFirst = int64(2e9)
	retryMax   = int64(16e9)
	retryReset = int64(10e9)
)

// allocation is the controller's decision for one subscriber.
type allocation struct {
	paused bool
	layer  []int // per video track: index into its ascending layer rates
}

// allocate chooses, for video tracks whose layers have the given bitrates
// (ascending), the highest layer each can have with an equal share of the
// budget left after audio; a layer above the one the track is on (current,
// -1: none) only with upHeadroom to spare. It is a pure function so the
// policy can be tested without a network.
func allocate(estimate, audio int64, video [][]int64, current []int, wasPaused bool) allocation {
	a := allocation{layer: make([]int, len(video))}
	if len(video) == 0 {
		return a
	}
	budget := estimate - audio
	var lowest int64
	for _, rates := range video {
		if len(rates) > 0 {
			lowest += rates[0]
		}
	}
	need := lowest
	if wasPaused {
		need = int64(float64(lowest) * resumeHeadroom)
	}
	if budget < need {
		a.paused = true
		return a
	}
	share := budget / int64(len(video))
	for i, rates := range video {
		for j, r := range rates {
			if j > current[i] && current[i] >= 0 {
				r = int64(float64(r) * upHeadroom)
			}
			if r <= share {
				a.layer[i] = j
			}
		}
	}
	return a
}

// currentEstimate is the subscriber's bandwidth estimate in bits/s.
func (p *Participant) currentEstimate() int64 {
	if v := p.estimate.Load(); v > 0 {
		return v
	}
	if e := p.bwe.Load(); e != nil {
		return e.targetBitrate()
	}
	return int64(p.sfu.cfg.InitialBitrate)
}

func (p *Participant) controlLoop() {
	defer close(p.controlDone)
	t := time.NewTicker(p.sfu.cfg.ControlInterval)
	defer t.Stop()
	for {
		select {
		case <-p.stopControl:
			return
		case <-t.C:
			p.refreshValidPairs()
			p.control()
			p.tellSpeaker(p.sfu.nanos())
			p.sendSenderReports(p.sfu.nanos())
		}
	}
}

// control runs one allocation round for this subscriber.
func (p *Participant) control() {
	now := p.sfu.nanos()
	var audio int64
	var vdts []*downtrack
	var vlayers [][]*layer
	var vrates [][]int64
	var current []int
	for _, dt := range p.downtrackList() {
		ls := dt.pub.layersByRate(now)
		if len(ls) == 0 {
			continue
		}
		if !dt.pub.codec.isVideo() {
			audio += ls[0].bitrate.Load()
			continue
		}
		ls = p.viewLayers(dt.pub, ls)
		rates := make([]int64, len(ls))
		on := -1
		target := dt.targetLayer()
		for i, l := range ls {
			rates[i] = l.bitrate.Load()
			if l == target {
				on = i
			}
		}
		vdts, vlayers, vrates, current = append(vdts, dt), append(vlayers, ls), append(vrates, rates), append(current, on)
	}
	if p.videoPaused && len(vdts) > 0 {
		p.retryPaused(audio, vrates, now)
	}
	est := p.currentEstimate()
	a := allocate(est, audio, vrates, current, p.videoPaused)
	for i, dt := range vdts {
		if a.paused {
			dt.setTarget(nil, true)
			continue
		}
		dt.setTarget(vlayers[i][a.layer[i]], false)
	}
	// Told after the targets are set: once the client reads video_paused, the SFU
	// forwards no more video to it.
	if a.paused != p.videoPaused && len(vdts) > 0 {
		p.videoPaused = a.paused
		p.pauseChanged = now
		if a.paused {
			if now-p.resumedAt >= retryReset {
				p.retryWait = retryFirst
			}
			p.counters.videoPauses.Add(1)
			p.signals.push(signaling.Media{Type: signaling.MediaVideoPaused, EstimateBps: int(est)})
		} else {
			p.resumedAt = now
			p.counters.videoResumes.Add(1)
			p.signals.push(signaling.Media{Type: signaling.MediaVideoResumed, EstimateBps: int(est)})
		}
	}
}

// retryPaused tries a paused subscriber's video again once it has waited
// retryWait (see sendSideBWE.retry): the estimate is raised to what the
// audio and the lowest video layers need with resumeHeadroom, so the next
// allocation resumes the video, and each failed try doubles the wait.
func (p *Participant) retryPaused(audio int64, vrates [][]int64, now int64) {
	e := p.bwe.Load()
	if e == nil || p.estimate.Load() > 0 {
		return
	}
	if p.retryWait == 0 {
		p.retryWait = retryFirst
	}
	if now-p.pauseChanged < p.retryWait {
		return
	}
	var lowest int64
	for _, rates := range vrates {
		if len(rates) > 0 {
			lowest += rates[0]
		}
	}
	e.retry(float64(audio) + float64(lowest)*resumeHeadroom)
	p.counters.videoRetries.Add(1)
	p.pauseChanged = now
	p.retryWait = min(2*p.retryWait, retryMax)
}
