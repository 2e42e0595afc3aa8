package keyservice

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's run when a test leaves a goroutine behind: the
// long-lived goroutines here (connection loops, fan-out, forwarding) must end with
// what started them.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
