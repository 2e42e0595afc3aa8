package sframe

import "fmt"

// Defaults for KIDLayout (RFC 9605 §5.2 leaves E and S to the application).
const (
	// DefaultEpochBits (E) tells 16 consecutive epochs apart, far more than
	// the two (current and previous) a receiver holds.
	DefaultEpochBits = 4
	// DefaultSenderBits (S) allows leaf indices below 65536. With context 0 a
	// KID stays small: sender 5 in epoch 3 is KID 83, one header byte.
	DefaultSenderBits = 16
)

// KIDLayout splits an MLS-derived KID into context, sender index and epoch
// (RFC 9605 §5.2):
//
//	KID = (context << (S + E)) + (sender_index << E) + (epoch mod 2^E)
type KIDLayout struct {
	EpochBits  uint // E, 1..63
	SenderBits uint // S, E+S <= 64
}

// DefaultKIDLayout is E = DefaultEpochBits, S = DefaultSenderBits.
func DefaultKIDLayout() KIDLayout {
	return KIDLayout{EpochBits: DefaultEpochBits, SenderBits: DefaultSenderBits}
}

func (l KIDLayout) validate() error {
	if l.EpochBits < 1 || l.EpochBits > 63 || l.EpochBits+l.SenderBits > 64 {
		return fmt.Errorf("%w: E=%d S=%d", ErrKIDLayout, l.EpochBits, l.SenderBits)
	}
	return nil
}

func (l KIDLayout) epochMask() uint64 { return 1<<l.EpochBits - 1 }

// KID computes the KID of RFC 9605 §5.2 for a sender in an epoch.
func (l KIDLayout) KID(context, senderIndex, epoch uint64) (uint64, error) {
	if err := l.validate(); err != nil {
		return 0, err
	}
	if l.SenderBits < 64 && senderIndex>>l.SenderBits != 0 {
		return 0, fmt.Errorf("%w: sender index %d needs more than %d bits", ErrKIDLayout, senderIndex, l.SenderBits)
	}
	shift := l.SenderBits + l.EpochBits
	if context != 0 && (shift >= 64 || context>>(64-shift) != 0) {
		return 0, fmt.Errorf("%w: context %d does not fit above %d bits", ErrKIDLayout, context, shift)
	}
	kid := epoch & l.epochMask()
	kid |= senderIndex << l.EpochBits
	if shift < 64 {
		kid |= context << shift
	}
	return kid, nil
}

// Split returns the context, sender index and low epoch bits of a KID.
func (l KIDLayout) Split(kid uint64) (context, senderIndex, epochBits uint64) {
	epochBits = kid & l.epochMask()
	rest := kid >> l.EpochBits
	if l.SenderBits >= 64-l.EpochBits {
		return 0, rest, epochBits
	}
	return rest >> l.SenderBits, rest & (1<<l.SenderBits - 1), epochBits
}
