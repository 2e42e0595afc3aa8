package keyservice

import (
	"context"
	"encoding/hex"
	"strconv"

	"github.com/sealroom/sealroom/audit"
)

func itoa(v uint64) string { return strconv.FormatUint(v, 10) }

func hexRef(b []byte) string { return hex.EncodeToString(b) }

// audit records events outside a room transaction: refusals, which go ahead (as
// refusals) whether or not they are recorded, so a failure is logged for the operator.
func (s *Service) audit(ctx context.Context, evs []audit.Event) {
	if s.cfg.Audit == nil {
		return
	}
	for _, ev := range evs {
		if err := s.cfg.Audit.Record(context.WithoutCancel(ctx), ev); err != nil {
			s.cfg.Log.Error("keyservice: audit", "action", string(ev.Action), "err", err)
		}
	}
}
