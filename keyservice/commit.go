package keyservice

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sealroom/sealroom/audit"
	"github.com/sealroom/sealroom/keyservice/policy"
	"github.com/sealroom/sealroom/mls"
	"github.com/sealroom/sealroom/server/signaling"
)

// publicView caches a room's PublicGroup in this process; it is valid for one epoch of
// one group and rebuilt from the stored GroupInfo whenever another process moved on.
type publicView struct {
	groupID []byte
	epoch   uint64
	pg      *mls.PublicGroup
}

// view returns the room's public group for rr's epoch, from the cache or rebuilt.
// The caller holds the room lock; the view is taken out of the cache while in use, so a
// failed commit never leaves a half-advanced view behind.
func (s *Service) view(rr *roomRow) (*mls.PublicGroup, error) {
	s.mu.Lock()
	v := s.groups[rr.room]
	delete(s.groups, rr.room)
	s.mu.Unlock()
	if v != nil && v.epoch == rr.epoch && bytes.Equal(v.groupID, rr.groupID) {
		return v.pg, nil
	}
	var msg mls.MLSMessage
	if err := mls.Unmarshal(rr.groupInfo, &msg); err != nil || msg.GroupInfo == nil {
		return nil, internal("stored GroupInfo", err)
	}
	pg, err := mls.NewPublicGroup(s.cs, msg.GroupInfo, nil, s.cfg.Now)
	if err != nil {
		return nil, internal("rebuild public group", err)
	}
	pg.SetPolicy(policy.Room{})
	return pg, nil
}

func (s *Service) keepView(rr *roomRow, epoch uint64, pg *mls.PublicGroup) {
	s.mu.Lock()
	s.groups[rr.room] = &publicView{groupID: rr.groupID, epoch: epoch, pg: pg}
	s.mu.Unlock()
}

// commit orders a member's Commit (RFC 9420 §12.4). It is accepted only if it is for the
// room's current epoch, from this connection's own leaf, validated by the public view
// (signature, proposals, path), includes every pending server proposal, adds nobody
// without a seat, and comes with a GroupInfo that matches the new public state. Then a
// compare-and-set moves the epoch; a loser is told to rebase.
func (s *Service) commit(ctx context.Context, m Member, raw json.RawMessage) error {
	pc, bad := decodeCommit(raw)
	if bad != nil {
		return s.rejectCommit(ctx, m, pc.epoch(), bad)
	}
	var out outcome
	var asked time.Time
	err := s.inRoom(ctx, m.Room, &out, func(tx pgx.Tx) error {
		rr, err := loadRoom(ctx, tx, m.Room)
		if err != nil {
			return err
		}
		if err := checkCommitTarget(rr, m, pc); err != nil {
			return err
		}
		if rr.deadline != nil {
			// designate stored the ask as its deadline; the ask is what the
			// latency is measured from.
			asked = rr.deadline.Add(-s.cfg.CommitTimeout)
		}
		pg, res, err := s.applyCommit(ctx, tx, rr, pc)
		if err != nil {
			return err
		}
		// From here pg is advanced: any refusal drops it (it is out of the cache).
		next, err := s.nextRoster(ctx, tx, rr, pg, res)
		if err != nil {
			return err
		}
		added := len(res.Added)
		if pc.msg.PublicMessage.Content.Sender.Type == mls.SenderTypeNewMemberCommit {
			added-- // the joiner's own leaf, last in Added, needs no Welcome
		}
		if added > 0 && pc.welcome == nil {
			return refuse(signaling.CodeBadMessage, "a commit that adds members needs a welcome")
		}
		if err := s.checkGroupInfo(pg, pc.groupInfo, pc.msg.PublicMessage.Auth.ConfirmationTag); err != nil {
			return err
		}
		if err := advanceEpoch(ctx, tx, rr, m, pc, res, next, &out); err != nil {
			return err
		}
		if err := s.reconcile(ctx, tx, rr, false, &out); err != nil {
			return err
		}
		// A member still replacing its earlier leaf needs this epoch's GroupInfo: the
		// one it was offered went stale with this commit.
		if err := s.offerResyncs(ctx, tx, rr); err != nil {
			return err
		}
		s.keepView(rr, rr.epoch, pg)
		return nil
	})
	if err != nil {
		s.dropView(m.Room)
		var ke *Error
		if errors.As(err, &ke) {
			return s.rejectCommit(ctx, m, pc.epoch(), ke)
		}
		return err
	}
	s.metrics.committed(asked, s.cfg.Now())
	return nil
}

// checkCommitTarget accepts a commit only for the room's current group and epoch, sent
// from the leaf of the connection that sent it.
func checkCommitTarget(rr *roomRow, m Member, pc *parsedCommit) error {
	if rr == nil {
		return refuse(signaling.CodeNoGroup, "the room has no group")
	}
	content := &pc.msg.PublicMessage.Content
	if content.Sender.Type == mls.SenderTypeNewMemberCommit {
		// An external commit (RFC 9420 §12.4.3.2) is this connection replacing its own
		// earlier leaf (the room's policy checks it removes exactly that); its new leaf
		// must name the token's subject, as a KeyPackage must (the Authentication Service).
		path := content.Commit.Path
		if path == nil || path.LeafNode.Credential.Type != mls.CredentialTypeBasic || string(path.LeafNode.Credential.Identity) != m.Subject {
			return refuse(signaling.CodeIdentityMismatch, "an external commit's leaf must carry the token's subject")
		}
	}
	if !bytes.Equal(content.GroupID, rr.groupID) {
		return refuse(signaling.CodeStaleEpoch, "the commit is for another group of this room: rebase")
	}
	switch {
	case content.Epoch < rr.epoch:
		if bytes.Equal(rr.lastCommit, pc.digest[:]) {
			return refuse(signaling.CodeReplayedCommit, "this commit was already accepted")
		}
		return refuse(signaling.CodeStaleEpoch, fmt.Sprintf("epoch %d is closed; the group is at %d: process the winning commit and rebase", content.Epoch, rr.epoch))
	case content.Epoch > rr.epoch:
		return refuse(signaling.CodeFutureEpoch, fmt.Sprintf("the group is at epoch %d", rr.epoch))
	}
	sender := content.Sender
	if sender.Type == mls.SenderTypeNewMemberCommit {
		return nil // checkExternalJoiner
	}
	if sender.Type != mls.SenderTypeMember || rr.roster[uint32(sender.LeafIndex)].Conn != m.ConnID {
		return refuse(signaling.CodeNotMember, "the commit's sender is not this connection's leaf")
	}
	return nil
}

// applyCommit checks that the commit covers every pending server proposal, then runs
// the epoch's proposals and the commit through the room's public view (RFC 9420 §12.4.2).
func (s *Service) applyCommit(ctx context.Context, tx pgx.Tx, rr *roomRow, pc *parsedCommit) (*mls.PublicGroup, *mls.PublicResult, error) {
	pendingRefs, err := s.pendingProposals(ctx, tx, rr)
	if err != nil {
		return nil, nil, err
	}
	included := map[string]bool{}
	for _, p := range pc.msg.PublicMessage.Content.Commit.Proposals {
		if p.Type == mls.ProposalOrRefTypeReference {
			included[string(p.Reference)] = true
		}
	}
	// An external joiner cannot see the epoch's proposals, so its commit covers none
	// (RFC 9420 §12.4.3.2); they are dropped with the epoch and proposed again after it.
	external := pc.msg.PublicMessage.Content.Sender.Type == mls.SenderTypeNewMemberCommit
	for _, p := range pendingRefs {
		if !included[string(p.ref)] && !external {
			return nil, nil, refuse(signaling.CodeMissingProposals, fmt.Sprintf("the commit omits the server's %s proposal for %s", p.kind, p.subject))
		}
	}
	pg, err := s.view(rr)
	if err != nil {
		return nil, nil, err
	}
	for _, p := range pendingRefs {
		if _, err := pg.Process(p.msg); err != nil {
			return nil, nil, internal("replay server proposal", err)
		}
	}
	res, err := pg.Process(pc.msg)
	if err != nil {
		return nil, nil, commitError(err)
	}
	return pg, res, nil
}

// nextRoster is the room's roster after the commit: removed leaves go, and each added
// leaf must be the basic credential of a subject that holds a live seat in the room.
func (s *Service) nextRoster(ctx context.Context, tx pgx.Tx, rr *roomRow, pg *mls.PublicGroup, res *mls.PublicResult) (roster, error) {
	seats, err := s.loadSeats(ctx, tx, rr.room)
	if err != nil {
		return nil, err
	}
	granted := map[string]string{} // subject -> live connection
	for _, st := range seats {
		if st.disconnected == nil && !st.kicked {
			granted[st.subject] = st.conn
		}
	}
	next := roster{}
	for l, e := range rr.roster {
		next[l] = e
	}
	for _, l := range res.Removed {
		delete(next, uint32(l))
	}
	for _, l := range res.Added {
		leaf := pg.Tree().Leaf(l)
		if leaf == nil || leaf.Credential.Type != mls.CredentialTypeBasic {
			return nil, refuse(signaling.CodeForbiddenAdd, "an added leaf has no basic credential")
		}
		sub := string(leaf.Credential.Identity)
		conn, ok := granted[sub]
		if !ok {
			return nil, refuse(signaling.CodeForbiddenAdd, "the commit adds an identity without a grant for this room")
		}
		next[uint32(l)] = rosterEntry{Sub: sub, Conn: conn}
	}
	return next, nil
}

// advanceEpoch is the compare-and-set of record (exactly one commit moves the epoch),
// then the fan-out of the commit and its Welcomes, and the audit event. rr moves to the
// new epoch.
func advanceEpoch(ctx context.Context, tx pgx.Tx, rr *roomRow, m Member, pc *parsedCommit, res *mls.PublicResult, next roster, out *outcome) error {
	rosterJSON, err := marshalRoster(next)
	if err != nil {
		return internal("encode roster", err)
	}
	newEpoch := rr.epoch + 1
	tag, err := tx.Exec(ctx, `UPDATE ks_rooms SET epoch = epoch + 1, group_info = $3, roster = $4, last_commit = $5,
		committer_leaf = NULL, committer_deadline = NULL, updated_at = now() WHERE room = $1 AND epoch = $2`,
		rr.room, int64(rr.epoch), pc.data.GroupInfo, rosterJSON, pc.digest[:])
	if err != nil {
		return internal("advance epoch", err)
	}
	if tag.RowsAffected() != 1 {
		return refuse(signaling.CodeStaleEpoch, "another commit won the epoch: rebase")
	}
	if _, err := tx.Exec(ctx, `DELETE FROM ks_proposals WHERE room = $1 AND epoch <= $2`, rr.room, int64(rr.epoch)); err != nil {
		return internal("clear proposals", err)
	}
	if err := emit(ctx, tx, rr.room, signaling.TypeHandshake, "", m.ConnID, signaling.Handshake{Epoch: rr.epoch, Message: pc.data.Commit}); err != nil {
		return err
	}
	if pc.welcome != nil {
		for _, l := range res.Added {
			if err := emit(ctx, tx, rr.room, signaling.TypeWelcome, next[uint32(l)].Conn, "", signaling.Welcome{Epoch: newEpoch, Welcome: pc.data.Welcome}); err != nil {
				return err
			}
		}
	}
	out.add(audit.Event{Actor: m.Subject, ActorRole: m.Role, Action: audit.ActionCommitAccepted, Target: audit.Target{Kind: audit.TargetCommit, ID: hexRef(pc.digest[:16])},
		Room: m.Room, Outcome: audit.OutcomeSuccess, RequestID: m.RequestID,
		Details: map[string]string{"epoch": itoa(rr.epoch), "new_epoch": itoa(newEpoch), "added": itoa(uint64(len(res.Added))), "removed": itoa(uint64(len(res.Removed)))}})
	rr.epoch, rr.roster, rr.committer, rr.deadline, rr.groupInfo = newEpoch, next, nil, nil, pc.data.GroupInfo
	return nil
}

func (s *Service) dropView(room string) {
	s.mu.Lock()
	delete(s.groups, room)
	s.mu.Unlock()
}

type pendingProposal struct {
	ref     []byte
	kind    string
	subject string
	msg     *mls.MLSMessage
}

func (s *Service) pendingProposals(ctx context.Context, tx pgx.Tx, rr *roomRow) ([]pendingProposal, error) {
	rows, err := tx.Query(ctx, `SELECT ref, kind, subject, message FROM ks_proposals WHERE room = $1 AND epoch = $2 ORDER BY created_at`, rr.room, int64(rr.epoch))
	if err != nil {
		return nil, internal("load proposals", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (pendingProposal, error) {
		var p pendingProposal
		var b []byte
		if err := r.Scan(&p.ref, &p.kind, &p.subject, &b); err != nil {
			return p, err
		}
		p.msg = new(mls.MLSMessage)
		return p, mls.Unmarshal(b, p.msg)
	})
	if err != nil {
		return nil, internal("load proposals", err)
	}
	return out, nil
}

// checkGroupInfo accepts the committer's GroupInfo only if it describes exactly the
// public state the commit produced (RFC 9420 §12.4.3): same GroupContext, the commit's
// confirmation tag, the new tree in ratchet_tree, signed by the leaf it names. It is what
// every process rebuilds the room from.
func (s *Service) checkGroupInfo(pg *mls.PublicGroup, gi *mls.GroupInfo, confTag []byte) error {
	bad := refuse(signaling.CodeInvalidGroupInfo, "group_info does not match the state after the commit")
	want, err := mls.Marshal(pg.Context())
	if err != nil {
		return internal("encode context", err)
	}
	got, err := mls.Marshal(&gi.GroupContext)
	if err != nil || !bytes.Equal(want, got) || !bytes.Equal(gi.ConfirmationTag, confTag) {
		return bad
	}
	treeExt, ok := gi.Extensions.Find(mls.ExtensionTypeRatchetTree)
	if !ok {
		return bad
	}
	nodes := pg.Tree().Nodes()
	tree, err := mls.Marshal(&nodes)
	if err != nil {
		return internal("encode tree", err)
	}
	if !bytes.Equal(tree, treeExt) {
		return bad
	}
	signer := pg.Tree().Leaf(gi.Signer)
	if signer == nil || gi.VerifySignature(s.cs, signer.SignatureKey) != nil {
		return bad
	}
	return nil
}

// commitError maps a PublicGroup refusal to a signaling code; the message names the
// check, never key material.
func commitError(err error) *Error {
	var v *policy.Violation
	switch {
	case errors.As(err, &v):
		return refuse(signaling.CodeForbiddenCommit, "the commit breaks the room's group policy: "+v.Reason)
	case errors.Is(err, mls.ErrInvalidSignature):
		return refuse(signaling.CodeInvalidSignature, "the commit's signature does not verify")
	case errors.Is(err, mls.ErrWrongGroup):
		return refuse(signaling.CodeStaleEpoch, "the commit is not for the current epoch: rebase")
	case errors.Is(err, mls.ErrInvalidSender), errors.Is(err, mls.ErrInvalidLeafIndex):
		return refuse(signaling.CodeNotMember, "the commit's sender is not a member")
	}
	return refuse(signaling.CodeInvalidCommit, "the commit does not apply to the group's public state")
}

// rejectCommit audits a refused commit and returns the refusal.
func (s *Service) rejectCommit(ctx context.Context, m Member, epoch uint64, e *Error) error {
	s.metrics.rejected.WithLabelValues(e.Code).Inc()
	s.audit(ctx, []audit.Event{{Actor: m.Subject, ActorRole: m.Role, Action: audit.ActionCommitRejected, Target: audit.Target{Kind: audit.TargetRoom, ID: m.Room},
		Room: m.Room, Outcome: audit.OutcomeDenied, RequestID: m.RequestID, Details: map[string]string{"epoch": itoa(epoch), "reason": e.Code}}})
	return e
}

// parsedCommit is a commit message decoded, before any check against the group.
type parsedCommit struct {
	data      signaling.Commit
	digest    [sha256.Size]byte // of the commit's bytes: replay detection and the audit target
	msg       *mls.MLSMessage
	groupInfo *mls.GroupInfo
	welcome   *mls.Welcome
}

func (p *parsedCommit) epoch() uint64 {
	if p.msg == nil || p.msg.PublicMessage == nil {
		return 0
	}
	return p.msg.PublicMessage.Content.Epoch
}

// decodeCommit decodes a commit message's JSON, base64 and MLS layers; anything that
// does not decode is bad_message.
func decodeCommit(raw []byte) (*parsedCommit, *Error) {
	p := &parsedCommit{}
	if err := signaling.DecodeStrict(raw, &p.data); err != nil || len(p.data.Commit) == 0 || len(p.data.GroupInfo) == 0 {
		return p, refuse(signaling.CodeBadMessage, "commit needs commit and group_info")
	}
	var msg mls.MLSMessage
	if err := mls.Unmarshal(p.data.Commit, &msg); err != nil {
		return p, refuse(signaling.CodeBadMessage, "commit is not an MLSMessage")
	}
	if msg.WireFormat != mls.WireFormatPublicMessage || msg.PublicMessage == nil || msg.PublicMessage.Content.ContentType != mls.ContentTypeCommit ||
		msg.PublicMessage.Content.Commit == nil {
		return p, refuse(signaling.CodeBadMessage, "a commit must be a PublicMessage Commit")
	}
	p.msg = &msg
	p.digest = sha256.Sum256(p.data.Commit)
	var gi mls.MLSMessage
	if err := mls.Unmarshal(p.data.GroupInfo, &gi); err != nil || gi.GroupInfo == nil {
		return p, refuse(signaling.CodeBadMessage, "group_info is not an MLSMessage GroupInfo")
	}
	p.groupInfo = gi.GroupInfo
	if len(p.data.Welcome) > 0 {
		var wm mls.MLSMessage
		if err := mls.Unmarshal(p.data.Welcome, &wm); err != nil || wm.Welcome == nil {
			return p, refuse(signaling.CodeBadMessage, "welcome is not an MLSMessage Welcome")
		}
		p.welcome = wm.Welcome
	}
	return p, nil
}
