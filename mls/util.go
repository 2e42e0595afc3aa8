package mls

import "bytes"

// bytesEqual compares public values (group IDs, keys); secrets go through
// crypto/subtle instead.
func bytesEqual(a, b []byte) bool { return bytes.Equal(a, b) }
