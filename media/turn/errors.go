package turn

import "errors"

var (
	// ErrConfig is returned by New for an invalid Config.
	ErrConfig = errors.New("turn: invalid config")
)
