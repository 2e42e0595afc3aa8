package turn

import "errors"

var (
	// ErrConfig is returned by New for an invalid Config.
	ErrConfig = errors.New("turn: invalid config")
	// ErrTCPRelay is what the relay generator answers when asked for a TCP
	// relay (RFC 6062): sealroom never relays TCP, since a TCP allocation
	// would let a participant open connections from the server to whatever
	// listens beside it.
	ErrTCPRelay = errors.New("turn: TCP relays are not offered")
)
