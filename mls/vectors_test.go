package mls

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// vectorDir is testdata/ unless MLS_TEST_VECTORS names another directory
// (for example the full, unfiltered mlswg files).
func vectorDir() string {
	if d := os.Getenv("MLS_TEST_VECTORS"); d != "" {
		return d
	}
	return "testdata"
}

func loadVectors(t testing.TB, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(vectorDir(), name))
	if err != nil {
		t.Fatalf("reading vectors: %v", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("parsing %s: %v", name, err)
	}
}

// hexBytes decodes a hex string from the vector files.
type hexBytes []byte

func (h *hexBytes) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*h = nil
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	d, err := hex.DecodeString(s)
	if err != nil {
		return err
	}
	*h = d
	return nil
}

// testSuite returns the suite of a vector, or skips vectors of suites this
// package does not implement (the full mlswg files cover seven suites).
func testSuite(t *testing.T, id uint16) *CipherSuite {
	t.Helper()
	cs, err := CipherSuiteByID(CipherSuiteID(id))
	if err != nil {
		return nil
	}
	return cs
}
