package loadtest

import "errors"

var (
	// ErrConfig is returned by Run for an invalid Config.
	ErrConfig = errors.New("loadtest: invalid config")
	// ErrChild is returned when the server child process fails or
	// breaks the protocol.
	ErrChild = errors.New("loadtest: server child failed")
	// ErrSetup is returned when the clients cannot all connect and
	// receive every track before the setup timeout.
	ErrSetup = errors.New("loadtest: setup did not complete")
)
