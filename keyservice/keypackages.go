package keyservice

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sealroom/sealroom/audit"
	"github.com/sealroom/sealroom/mls"
	"github.com/sealroom/sealroom/server/signaling"
)

// maxUploadBatch bounds the KeyPackages of one upload message.
const maxUploadBatch = 16

type validKeyPackage struct {
	ref      []byte
	data     []byte
	notAfter time.Time
}

// uploadKeyPackages stores a member's KeyPackages after the checks of RFC 9420 §10.1
// (version, suite, leaf node, signatures, lifetime) and the Authentication Service's
// binding: the basic credential's identity must be the token's subject (DESIGN §2).
// The batch is all or nothing; a KeyPackage seen before, consumed or not, is refused.
func (s *Service) uploadKeyPackages(ctx context.Context, m Member, raw json.RawMessage) error {
	var d signaling.KeyPackages
	if err := signaling.DecodeStrict(raw, &d); err != nil || len(d.KeyPackages) == 0 {
		return s.rejectUpload(ctx, m, refuse(signaling.CodeBadMessage, "keypackages needs a non-empty list of base64 KeyPackages"))
	}
	if len(d.KeyPackages) > maxUploadBatch {
		return s.rejectUpload(ctx, m, refuse(signaling.CodeTooLarge, "at most 16 KeyPackages per message"))
	}
	now := s.cfg.Now()
	var kps []validKeyPackage
	seen := map[string]bool{}
	for _, b := range d.KeyPackages {
		kp, err := s.validateKeyPackage(m, b, now)
		if err != nil {
			return s.rejectUpload(ctx, m, err)
		}
		if seen[string(kp.ref)] {
			return s.rejectUpload(ctx, m, refuse(signaling.CodeKeyPackageReused, "the same KeyPackage twice in one upload"))
		}
		seen[string(kp.ref)] = true
		kps = append(kps, kp)
	}

	var out outcome
	err := s.inRoom(ctx, m.Room, &out, func(tx pgx.Tx) error {
		var unused int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM ks_keypackages WHERE subject = $1 AND consumed_at IS NULL AND not_after > $2`,
			m.Subject, now).Scan(&unused); err != nil {
			return internal("count KeyPackages", err)
		}
		if unused+len(kps) > s.cfg.MaxKeyPackages {
			return refuse(signaling.CodeKeyPackageQuota, "too many unused KeyPackages for this identity")
		}
		for _, kp := range kps {
			tag, err := tx.Exec(ctx, `INSERT INTO ks_keypackages (ref, subject, conn_id, data, not_after) VALUES ($1, $2, $3, $4, $5)
				ON CONFLICT (ref) DO NOTHING`, kp.ref, m.Subject, m.ConnID, kp.data, kp.notAfter)
			if err != nil {
				return internal("store KeyPackage", err)
			}
			if tag.RowsAffected() == 0 {
				return refuse(signaling.CodeKeyPackageReused, "a KeyPackage was uploaded before: KeyPackages are single use")
			}
		}
		for _, kp := range kps {
			out.add(audit.Event{Actor: m.Subject, ActorRole: m.Role, Action: audit.ActionKeyPackageUpload,
				Target: audit.Target{Kind: audit.TargetKeyPackage, ID: hexRef(kp.ref)}, Room: m.Room, Outcome: audit.OutcomeSuccess,
				RequestID: m.RequestID, Details: map[string]string{"not_after": kp.notAfter.UTC().Format(time.RFC3339)}})
		}
		rr, err := loadRoom(ctx, tx, m.Room)
		if err != nil || rr == nil {
			return err
		}
		return s.reconcile(ctx, tx, rr, false, &out)
	})
	if err != nil {
		if ke, ok := err.(*Error); ok {
			return s.rejectUpload(ctx, m, ke)
		}
		return err
	}
	return nil
}

func (s *Service) validateKeyPackage(m Member, b []byte, now time.Time) (validKeyPackage, *Error) {
	var msg mls.MLSMessage
	if err := mls.Unmarshal(b, &msg); err != nil || msg.WireFormat != mls.WireFormatKeyPackage || msg.KeyPackage == nil {
		return validKeyPackage{}, refuse(signaling.CodeBadMessage, "not an MLSMessage carrying a KeyPackage")
	}
	kp := msg.KeyPackage
	cs, err := kp.Validate(now)
	if err != nil || cs.ID() != s.cs.ID() {
		return validKeyPackage{}, refuse(signaling.CodeInvalidKeyPackage, "the KeyPackage fails validation (signature, suite or lifetime)")
	}
	cred := kp.LeafNode.Credential
	if cred.Type != mls.CredentialTypeBasic || string(cred.Identity) != m.Subject {
		return validKeyPackage{}, refuse(signaling.CodeIdentityMismatch, "the credential's identity must be the token's subject")
	}
	notAfter := time.Unix(int64(min(kp.LeafNode.Lifetime.NotAfter, 1<<62)), 0)
	if notAfter.After(now.Add(s.cfg.MaxKeyPackageLifetime)) {
		return validKeyPackage{}, refuse(signaling.CodeInvalidKeyPackage, "the KeyPackage lives longer than the server allows")
	}
	ref, err := kp.Ref(s.cs)
	if err != nil {
		return validKeyPackage{}, refuse(signaling.CodeInvalidKeyPackage, "the KeyPackage cannot be referenced")
	}
	return validKeyPackage{ref: ref, data: b, notAfter: notAfter}, nil
}

func (s *Service) rejectUpload(ctx context.Context, m Member, e *Error) error {
	s.audit(ctx, []audit.Event{{Actor: m.Subject, ActorRole: m.Role, Action: audit.ActionKeyPackageUpload,
		Target: audit.Target{Kind: audit.TargetRoom, ID: m.Room}, Room: m.Room, Outcome: audit.OutcomeDenied,
		RequestID: m.RequestID, Details: map[string]string{"reason": e.Code}}})
	return e
}
