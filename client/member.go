package client

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/sealroom/sealroom/keyservice/policy"
	"github.com/sealroom/sealroom/mls"
	"github.com/sealroom/sealroom/server/signaling"
	"github.com/sealroom/sealroom/sframe"
)

// loopState belongs to the client's goroutine.
type loopState struct {
	kps      map[string]*ownKeyPackage // KeyPackageRef (hex) -> our KeyPackage
	creating *mls.Group                // created, waiting for the server's ack of group_init
	initID   string
	removed  bool

	inflight    *inflight // our commit, waiting for the server's answer
	designated  bool      // the server asked us to commit this epoch's proposals
	proposals   int       // proposals received this epoch
	sinceCommit int       // proposals received since our in-flight commit was built
	updates     []chan error
	buffer      []signaling.Envelope // messages of epochs we have not reached yet

	// Config.CommitBatch: when this epoch's first and latest proposals arrived, and
	// the timer that runs maybeCommit again once they have been quiet long enough.
	firstProposal, lastProposal time.Time
	batch                       *time.Timer

	// Config.UpdateInterval: the timer of this member's next own update, and whether it
	// has been a member before (a rejoin updates at once).
	update       *time.Timer
	memberBefore bool
}

type ownKeyPackage struct {
	kp      *mls.KeyPackage
	secrets *mls.KeyPackageSecrets
}

type inflight struct {
	id      string
	epoch   uint64
	commit  []byte
	updates []chan error
}

func (c *Client) run() {
	defer close(c.loopDone)
	var ping <-chan time.Time
	if c.cfg.PingInterval > 0 {
		t := time.NewTicker(c.cfg.PingInterval)
		defer t.Stop()
		ping = t.C
	}
	for {
		select {
		case <-ping:
			_ = c.write(context.Background(), signaling.TypePing, "", nil)
		case <-c.done:
			if c.state.batch != nil {
				c.state.batch.Stop()
			}
			if c.state.update != nil {
				c.state.update.Stop()
			}
			for _, kp := range c.state.kps {
				kp.secrets.Zero()
			}
			if c.state.creating != nil {
				c.state.creating.Close()
			}
			return
		case f := <-c.reqs:
			f()
		case env := <-c.in:
			c.handle(env)
		}
	}
}

func (c *Client) epoch() (uint64, bool) {
	if c.group == nil || c.state.removed {
		return 0, false
	}
	return c.group.Epoch(), true
}

func (c *Client) handle(env signaling.Envelope) {
	switch env.Type {
	case signaling.TypeGroupCreate:
		c.createGroup(env.Data)
	case signaling.TypeHandshake, signaling.TypeCommitNeeded, signaling.TypeChat:
		c.epochMessage(env)
	case signaling.TypeWelcome:
		c.welcome(env.Data)
	case signaling.TypeKeyPackageLow:
		c.uploadKeyPackages(c.cfg.KeyPackages)
	case signaling.TypeAck, signaling.TypePong:
		c.answer(env.ID, nil)
	case signaling.TypeError:
		var e signaling.Error
		_ = json.Unmarshal(env.Data, &e)
		c.answer(env.ID, &ServerError{Code: e.Code, Message: e.Message})
	case signaling.TypeRemoved:
		c.cfg.Log.Info("client: removed by a host")
	case signaling.TypeMedia:
		c.mediaMessage(env.Data)
	case signaling.TypeICEServers:
		var is signaling.ICEServers
		if json.Unmarshal(env.Data, &is) != nil || len(is.ICEServers) == 0 {
			return
		}
		c.iceServers.Store(&is.ICEServers)
		if m := c.media.Load(); m != nil {
			m.iceServersChanged()
		}
	}
}

// epochMessage handles the messages bound to an epoch: those of a later epoch wait in
// the buffer (our own commit may not be acknowledged yet, or the Welcome is on its way),
// those of an earlier one are dropped.
func (c *Client) epochMessage(env signaling.Envelope) {
	// The epoch a message belongs to: a handshake and commit_needed say it; a chat
	// message carries it in its PrivateMessage.
	var epoch uint64
	var hs signaling.Handshake
	switch env.Type {
	case signaling.TypeChat:
		var ch signaling.ChatOut
		if json.Unmarshal(env.Data, &ch) != nil {
			return
		}
		var m mls.MLSMessage
		if mls.Unmarshal(ch.Message, &m) != nil || m.PrivateMessage == nil {
			return
		}
		epoch = m.PrivateMessage.Epoch
	case signaling.TypeCommitNeeded:
		var cn signaling.CommitNeeded
		if json.Unmarshal(env.Data, &cn) != nil {
			return
		}
		epoch = cn.Epoch
	default:
		if json.Unmarshal(env.Data, &hs) != nil {
			return
		}
		epoch = hs.Epoch
	}
	cur, ok := c.epoch()
	if !ok || epoch > cur || (c.state.inflight != nil && epoch > c.state.inflight.epoch) {
		if !c.state.removed && len(c.state.buffer) < 4096 {
			c.state.buffer = append(c.state.buffer, env)
		}
		return
	}
	if epoch < cur {
		return
	}
	switch env.Type {
	case signaling.TypeCommitNeeded:
		c.state.designated = true
		c.maybeCommit()
	case signaling.TypeChat:
		c.receiveChat(env.Data)
	case signaling.TypeHandshake:
		c.handshake(hs.Message)
	}
}

func (c *Client) handshake(b []byte) {
	var m mls.MLSMessage
	if err := mls.Unmarshal(b, &m); err != nil {
		return
	}
	c.mu.Lock()
	res, err := c.group.Process(&m)
	c.mu.Unlock()
	if errors.Is(err, mls.ErrRemoved) {
		c.mu.Lock()
		c.state.removed = true
		c.mu.Unlock()
		c.state.buffer = nil
		c.failUpdates(ErrRemoved)
		return
	}
	if err != nil {
		c.cfg.Log.Warn("client: handshake refused", "err", err)
		return
	}
	if !res.NewEpoch {
		now := time.Now()
		if c.state.proposals == 0 {
			c.state.firstProposal = now
		}
		c.state.lastProposal = now
		c.state.proposals++
		c.state.sinceCommit++
		c.maybeCommit()
		return
	}
	// Another member's commit won the epoch; Process dropped ours if we had one.
	if c.state.inflight != nil {
		c.state.updates = append(c.state.updates, c.state.inflight.updates...)
		c.state.inflight = nil
	}
	c.newEpoch(b)
}

// newEpoch installs the epoch's SFrame keys and replays what waited for it.
func (c *Client) newEpoch(commit []byte) {
	c.state.designated, c.state.proposals, c.state.sinceCommit = false, 0, 0
	c.mu.Lock()
	g := c.group
	epoch, leaf := g.Epoch(), uint32(g.OwnLeaf())
	err := c.keys.SetEpoch(epoch, leaf, sframe.ExporterFunc(g.Export))
	c.mu.Unlock()
	if err != nil {
		c.cfg.Log.Error("client: SFrame keys", "err", err)
	}
	if commit != nil && c.cfg.OnCommit != nil {
		c.cfg.OnCommit(epoch, commit)
	}
	if c.cfg.OnEpoch != nil {
		c.cfg.OnEpoch(c, epoch)
	}
	c.maybeCommit()
	buf := c.state.buffer
	c.state.buffer = nil
	for _, env := range buf {
		c.epochMessage(env)
	}
}

// maybeCommit commits when we owe one: the server designated us and proposals are
// pending, or the application asked for an update.
func (c *Client) maybeCommit() {
	if c.group == nil || c.state.removed || c.state.inflight != nil {
		return
	}
	if !(c.state.designated && c.state.proposals > 0) && len(c.state.updates) == 0 {
		return
	}
	if len(c.state.updates) == 0 && c.cfg.CommitWhen != nil {
		if !c.cfg.CommitWhen(c.state.proposals) {
			return
		}
	} else if len(c.state.updates) == 0 && c.cfg.CommitBatch > 0 {
		if wait := c.batchWait(time.Now()); wait > 0 {
			c.armBatch(wait)
			return
		}
	}
	c.mu.Lock()
	res, err := c.group.Commit(mls.CommitOptions{RatchetTreeInWelcome: true, ForcePath: len(c.state.updates) > 0})
	c.mu.Unlock()
	if err != nil {
		c.cfg.Log.Error("client: commit", "err", err)
		c.failUpdates(err)
		return
	}
	var d signaling.Commit
	d.Commit, err = mls.Marshal(res.Commit)
	if err == nil {
		var gi *mls.MLSMessage
		if gi, err = mls.NewMLSMessage(res.GroupInfo); err == nil {
			d.GroupInfo, err = mls.Marshal(gi)
		}
	}
	if err == nil && res.Welcome != nil {
		var w *mls.MLSMessage
		if w, err = mls.NewMLSMessage(res.Welcome); err == nil {
			d.Welcome, err = mls.Marshal(w)
		}
	}
	if err != nil {
		c.mu.Lock()
		c.group.DiscardCommit()
		c.mu.Unlock()
		c.failUpdates(err)
		return
	}
	f := &inflight{epoch: c.group.Epoch(), commit: d.Commit, updates: c.state.updates}
	c.state.updates = nil
	c.state.sinceCommit = 0
	c.state.inflight = f
	f.id = c.request(signaling.TypeCommit, d, nil)
}

// batchWait is how much longer the designated committer waits for more proposals
// (Config.CommitBatch): until they have been quiet for CommitBatch, at most until
// 2×CommitBatch after the epoch's first one.
func (c *Client) batchWait(now time.Time) time.Duration {
	until := c.state.lastProposal.Add(c.cfg.CommitBatch)
	if limit := c.state.firstProposal.Add(2 * c.cfg.CommitBatch); limit.Before(until) {
		until = limit
	}
	return until.Sub(now)
}

// armBatch runs maybeCommit on the client's goroutine after d. A run that finds the
// wait not over, or nothing left to commit (another epoch came), does nothing more.
func (c *Client) armBatch(d time.Duration) {
	if c.state.batch == nil {
		c.state.batch = time.AfterFunc(d, func() { c.do(c.maybeCommit) })
		return
	}
	c.state.batch.Reset(d)
}

// answer resolves the server's ack or error for one of our requests.
func (c *Client) answer(id string, serr *ServerError) {
	if id == "" {
		if serr != nil {
			c.cfg.Log.Warn("client: server error", "code", serr.Code)
		}
		return
	}
	if f := c.state.inflight; f != nil && f.id == id {
		c.commitAnswer(f, serr)
		return
	}
	if id == c.state.initID {
		c.initAnswer(serr)
		return
	}
	if ch, ok := c.waits[id]; ok {
		delete(c.waits, id)
		if serr != nil {
			ch <- serr
		} else {
			ch <- nil
		}
	}
}

func (c *Client) commitAnswer(f *inflight, serr *ServerError) {
	c.state.inflight = nil
	if serr == nil {
		c.mu.Lock()
		err := c.group.MergeCommit()
		c.mu.Unlock()
		if err != nil {
			c.cfg.Log.Error("client: merge", "err", err)
			return
		}
		for _, ch := range f.updates {
			ch <- nil
		}
		c.newEpoch(f.commit)
		return
	}
	c.mu.Lock()
	c.group.DiscardCommit()
	c.mu.Unlock()
	c.state.updates = append(c.state.updates, f.updates...)
	switch serr.Code {
	case signaling.CodeStaleEpoch:
		// We lost the epoch: the winner's commit is on its way (or already applied, if
		// our epoch moved); maybeCommit runs again when it arrives.
	case signaling.CodeMissingProposals:
		if c.state.sinceCommit > 0 {
			c.maybeCommit()
		}
	default:
		c.cfg.Log.Warn("client: commit refused", "code", serr.Code)
		c.failUpdates(serr)
	}
}

func (c *Client) failUpdates(err error) {
	for _, ch := range c.state.updates {
		ch <- err
	}
	c.state.updates = nil
}

// createGroup answers group_create: a one-member group (RFC 9420 §11) listing the server
// as external sender (§12.1.8.1), announced with its epoch-0 GroupInfo.
func (c *Client) createGroup(raw json.RawMessage) {
	if c.group != nil || c.state.creating != nil {
		return
	}
	var d signaling.GroupCreate
	if json.Unmarshal(raw, &d) != nil {
		return
	}
	kp, sec, err := c.newKeyPackage()
	if err != nil {
		c.cfg.Log.Error("client: KeyPackage", "err", err)
		return
	}
	senders := mls.ExternalSenders{{SignatureKey: d.ExternalSender.SignatureKey, Credential: mls.NewBasicCredential([]byte(d.ExternalSender.Identity))}}
	ext, err := mls.Marshal(&senders)
	if err != nil {
		return
	}
	g, err := mls.NewGroup(c.cs, mls.NewGroupParams{GroupID: d.GroupID, KeyPackage: kp, Secrets: sec, SignPriv: c.signPriv,
		Extensions: mls.Extensions{{Type: mls.ExtensionTypeExternalSenders, Data: ext}}})
	if err != nil {
		c.cfg.Log.Error("client: create group", "err", err)
		return
	}
	gi, err := g.GroupInfo(true)
	if err != nil {
		g.Close()
		return
	}
	msg, err := mls.NewMLSMessage(gi)
	if err != nil {
		g.Close()
		return
	}
	b, err := mls.Marshal(msg)
	if err != nil {
		g.Close()
		return
	}
	g.SetPolicy(policy.Room{}) // a client never relies on the server having checked
	c.state.creating = g
	c.state.initID = c.request(signaling.TypeGroupInit, signaling.GroupInit{GroupInfo: b}, nil)
}

func (c *Client) initAnswer(serr *ServerError) {
	g := c.state.creating
	c.state.creating, c.state.initID = nil, ""
	if serr != nil || c.group != nil {
		g.Close() // another member created the group first: we will be added to theirs
		return
	}
	c.mu.Lock()
	c.group = g
	c.mu.Unlock()
	c.newEpoch(nil)
	c.joined()
}

// welcome joins the group (RFC 9420 §12.4.3.1) with the KeyPackage the Welcome names.
func (c *Client) welcome(raw json.RawMessage) {
	if c.group != nil && !c.state.removed {
		return
	}
	var d signaling.Welcome
	var m mls.MLSMessage
	if json.Unmarshal(raw, &d) != nil || mls.Unmarshal(d.Welcome, &m) != nil || m.Welcome == nil {
		return
	}
	for _, s := range m.Welcome.Secrets {
		own := c.state.kps[hex.EncodeToString(s.NewMember)]
		if own == nil {
			continue
		}
		g, err := mls.JoinFromWelcome(c.cs, m.Welcome, mls.JoinParams{KeyPackage: own.kp, Secrets: own.secrets, SignPriv: c.signPriv})
		if err != nil {
			c.cfg.Log.Error("client: join", "err", err)
			return
		}
		g.SetPolicy(policy.Room{}) // a client never relies on the server having checked
		delete(c.state.kps, hex.EncodeToString(s.NewMember))
		own.secrets.Zero()
		c.mu.Lock()
		if c.group != nil {
			c.group.Close()
		}
		c.group = g
		c.state.removed = false
		c.mu.Unlock()
		// Drop what belonged to epochs before ours.
		c.newEpoch(nil)
		c.joined()
		return
	}
}

// joined starts this member's periodic updates (RFC 9420 §16.6: a member that updates its
// leaf regularly heals from a compromise of its keys) and, on a rejoin, updates at once:
// the leaf it rejoined with came from a KeyPackage that waited on the server.
func (c *Client) joined() {
	if e, ok := c.Epoch(); ok {
		c.joinEpoch.Store(e + 1)
	}
	if c.state.memberBefore {
		c.selfUpdate()
	}
	c.state.memberBefore = true
	c.armUpdate()
}

// armUpdate schedules the next own update, Config.UpdateInterval from now give or take a
// tenth, so that a room's members do not all update in the same moment.
func (c *Client) armUpdate() {
	d := c.cfg.UpdateInterval
	if d <= 0 {
		return
	}
	d += time.Duration(rand.Int64N(int64(d/5)+1)) - d/10
	if c.state.update == nil {
		c.state.update = time.AfterFunc(d, func() { c.do(c.periodicUpdate) })
		return
	}
	c.state.update.Reset(d)
}

func (c *Client) periodicUpdate() {
	if c.group != nil && !c.state.removed {
		c.selfUpdate()
	}
	c.armUpdate()
}

// selfUpdate commits this member's own path (RFC 9420 §12.4: a Commit whose path replaces
// the committer's leaf and direct path), with whatever proposals are pending.
func (c *Client) selfUpdate() {
	c.state.updates = append(c.state.updates, make(chan error, 1)) // nobody waits for the result
	c.maybeCommit()
}

func (c *Client) receiveChat(raw json.RawMessage) {
	var ch signaling.ChatOut
	if json.Unmarshal(raw, &ch) != nil {
		return
	}
	var m mls.MLSMessage
	if mls.Unmarshal(ch.Message, &m) != nil {
		return
	}
	c.mu.Lock()
	res, err := c.group.Process(&m)
	var from string
	if err == nil && res.Content.Content.Sender.Type == mls.SenderTypeMember {
		// The sender is named by its leaf's credential, which the MLS message
		// authenticates, not by the server's from.
		if leaf := c.group.Tree().Leaf(res.Content.Content.Sender.LeafIndex); leaf != nil {
			from = string(leaf.Credential.Identity)
		}
	}
	c.mu.Unlock()
	if err != nil || res.ApplicationData == nil || from == "" {
		return
	}
	select {
	case c.chats <- Chat{From: from, RelayedFrom: ch.From, Text: res.ApplicationData}:
	default:
	}
}

func (c *Client) newKeyPackage() (*mls.KeyPackage, *mls.KeyPackageSecrets, error) {
	now := time.Now()
	return mls.NewKeyPackage(c.cs, c.signPriv, mls.KeyPackageParams{
		Credential:   mls.NewBasicCredential([]byte(c.subject)),
		Capabilities: mls.DefaultCapabilities(c.cs),
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(7 * 24 * time.Hour),
	})
}

func (c *Client) uploadKeyPackages(n int) {
	var list [][]byte
	for range n {
		kp, sec, err := c.newKeyPackage()
		if err != nil {
			c.cfg.Log.Error("client: KeyPackage", "err", err)
			return
		}
		ref, err := kp.Ref(c.cs)
		if err != nil {
			return
		}
		msg, err := mls.NewMLSMessage(kp)
		if err != nil {
			return
		}
		b, err := mls.Marshal(msg)
		if err != nil {
			return
		}
		c.state.kps[hex.EncodeToString(ref)] = &ownKeyPackage{kp: kp, secrets: sec}
		list = append(list, b)
	}
	c.request(signaling.TypeKeyPackages, signaling.KeyPackages{KeyPackages: list}, nil)
}
