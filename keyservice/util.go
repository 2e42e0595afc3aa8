package keyservice

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strconv"

	"github.com/sealroom/sealroom/audit"
)

// DecodeStrict decodes one JSON value, refusing unknown fields and trailing data: the
// rule for every signaling message and payload, shared with the server's signaling.
func DecodeStrict(b []byte, v any) error {
	if len(b) == 0 {
		return errors.New("empty")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data")
	}
	return nil
}

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
