package audit

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// Checkpoint is a signed chain head as audit_checkpoints stores it and as the witness
// keeps it: the hash of row Seq, signed at SignedAt (microsecond precision) by the audit
// key whose KeyID is given.
type Checkpoint struct {
	Seq       int64
	Head      [32]byte
	SignedAt  time.Time
	KeyID     [8]byte
	Signature []byte
}

// Verify reports whether c is signed by pub (README "Checkpoints").
func (c *Checkpoint) Verify(pub ed25519.PublicKey) bool {
	ic := c.internal()
	return ic.verify(pub)
}

func (c *Checkpoint) internal() checkpoint {
	return checkpoint{seq: c.Seq, head: c.Head, signedAt: c.SignedAt.UnixMicro(), keyID: c.KeyID, signature: c.Signature}
}

func (c *checkpoint) public() Checkpoint {
	return Checkpoint{Seq: c.seq, Head: c.head, SignedAt: time.UnixMicro(c.signedAt).UTC(), KeyID: c.keyID,
		Signature: c.signature}
}

// equal reports whether two checkpoints are the same record.
func (c *Checkpoint) equal(o *Checkpoint) bool {
	return c.Seq == o.Seq && c.Head == o.Head && c.SignedAt.Equal(o.SignedAt) && c.KeyID == o.KeyID &&
		bytes.Equal(c.Signature, o.Signature)
}

// witness keeps a copy of signed checkpoints outside the database they protect. Append
// gets checkpoints in signing order, only after they are committed, and must make them
// durable before returning nil; on error the same checkpoints are offered again later
// (so a sink may see one twice). It is called from one goroutine at a time.
type witness interface {
	Append(cps []Checkpoint) error
}

// The witness file holds one JSON object per line, in the order checkpoints were
// committed (README "Witness"):
//
//	{"v":1,"seq":55,"head":"<64 hex>","signed_at":"2026-03-01T12:00:00.123456Z","key_id":"<16 hex>","signature":"<128 hex>"}
const (
	witnessVersion = 1
	// witnessTime is RFC 3339 in UTC with exactly microseconds, the precision the
	// signature covers.
	witnessTime = "2006-01-02T15:04:05.000000Z07:00"
	// maxWitnessLine bounds a line; a well-formed one is about 290 bytes.
	maxWitnessLine = 1024
)

type witnessLine struct {
	V         int    `json:"v"`
	Seq       int64  `json:"seq"`
	Head      string `json:"head"`
	SignedAt  string `json:"signed_at"`
	KeyID     string `json:"key_id"`
	Signature string `json:"signature"`
}

// appendWitnessLine appends c's witness record and a newline to b.
func appendWitnessLine(b []byte, c *Checkpoint) []byte {
	line, _ := json.Marshal(witnessLine{ // only strings and integers: cannot fail
		V:         witnessVersion,
		Seq:       c.Seq,
		Head:      hex.EncodeToString(c.Head[:]),
		SignedAt:  c.SignedAt.UTC().Format(witnessTime),
		KeyID:     hex.EncodeToString(c.KeyID[:]),
		Signature: hex.EncodeToString(c.Signature),
	})
	b = append(b, line...)
	return append(b, '\n')
}

// parseWitnessLine decodes one record strictly: every field present, no unknown
// field, nothing after the object, lowercase hex of the exact lengths and the time in
// the exact form appendWitnessLine writes. Whether the signature verifies is not its
// business.
func parseWitnessLine(line []byte) (Checkpoint, error) {
	var c Checkpoint
	if len(line) > maxWitnessLine {
		return c, fmt.Errorf("longer than %d bytes", maxWitnessLine)
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	var w witnessLine
	if err := dec.Decode(&w); err != nil {
		return c, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return c, fmt.Errorf("data after the record")
	}
	if w.V != witnessVersion {
		return c, fmt.Errorf("version %d, want %d", w.V, witnessVersion)
	}
	if w.Seq < 1 {
		return c, fmt.Errorf("seq %d is not positive", w.Seq)
	}
	c.Seq = w.Seq
	if err := decodeHex(c.Head[:], w.Head); err != nil {
		return c, fmt.Errorf("head: %w", err)
	}
	if err := decodeHex(c.KeyID[:], w.KeyID); err != nil {
		return c, fmt.Errorf("key_id: %w", err)
	}
	c.Signature = make([]byte, ed25519.SignatureSize)
	if err := decodeHex(c.Signature, w.Signature); err != nil {
		return c, fmt.Errorf("signature: %w", err)
	}
	t, err := time.Parse(witnessTime, w.SignedAt)
	if err != nil || t.UTC().Format(witnessTime) != w.SignedAt {
		return c, fmt.Errorf("signed_at %q is not RFC 3339 UTC with microseconds", w.SignedAt)
	}
	c.SignedAt = t.UTC()
	return c, nil
}

// decodeHex fills dst from exactly 2*len(dst) lowercase hex digits.
func decodeHex(dst []byte, s string) error {
	if len(s) != 2*len(dst) {
		return fmt.Errorf("%d hex digits, want %d", len(s), 2*len(dst))
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return fmt.Errorf("not lowercase hex")
		}
	}
	_, err := hex.Decode(dst, []byte(s))
	return err
}

// Witnessed is what ReadWitness found in a witness file.
type Witnessed struct {
	Checkpoints []Checkpoint
	// Torn lists the line numbers (from 1) of lines that end in the middle of a JSON
	// value: the head of a write cut short by a crash, which the next writer
	// terminates. They are skipped; anything else malformed is an error.
	Torn []int
}

// torn reports whether line is the beginning of a JSON value cut short.
func torn(line []byte) bool {
	var v json.RawMessage
	return json.NewDecoder(bytes.NewReader(line)).Decode(&v) == io.ErrUnexpectedEOF
}

// ReadWitness reads a witness file. Records are returned in file order, not checked
// against any key; VerifyWitness does that.
func ReadWitness(r io.Reader) (Witnessed, error) {
	var out Witnessed
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, maxWitnessLine), maxWitnessLine)
	n := 0
	for sc.Scan() {
		n++
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		if torn(line) {
			out.Torn = append(out.Torn, n)
			continue
		}
		c, err := parseWitnessLine(line)
		if err != nil {
			return out, &WitnessLineError{Line: n, Reason: err.Error()}
		}
		out.Checkpoints = append(out.Checkpoints, c)
	}
	if err := sc.Err(); err != nil {
		return out, &WitnessLineError{Line: n + 1, Reason: err.Error()}
	}
	return out, nil
}
