package signaling

import (
	"bytes"
	"encoding/json"
	"errors"
)

// Version is the signaling protocol version (docs/protocol.md, "Versioning").
const Version = 1

// Envelope is every signaling message, both directions.
type Envelope struct {
	V    int             `json:"v"`
	Type string          `json:"type"`
	ID   string          `json:"id,omitempty"` // a client's request id, echoed in ack or error
	Data json.RawMessage `json:"data,omitempty"`
	// Seq numbers the server's messages of a session, from 1, so that a resuming client
	// can say what it last received (ResumeAuth.LastSeq) and get the rest again.
	Seq uint64 `json:"seq,omitempty"`
}

// ErrEmpty and ErrTrailing are DecodeStrict's own refusals; a JSON syntax or type
// error, or an unknown field, comes back from encoding/json as it is.
var (
	ErrEmpty    = errors.New("signaling: empty message")
	ErrTrailing = errors.New("signaling: trailing data after the JSON value")
)

// DecodeStrict decodes one JSON value into v, refusing unknown fields and trailing
// data: the rule for every signaling message and every payload, so that a field one
// side does not know is an error rather than silently ignored.
func DecodeStrict(b []byte, v any) error {
	if len(b) == 0 {
		return ErrEmpty
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return ErrTrailing
	}
	return nil
}

// Encode returns the wire form of one message: the envelope of version Version with
// data marshalled as its data field (none when data is nil). A json.RawMessage is
// sent as it is.
func Encode(typ, id string, data any) ([]byte, error) { return EncodeSeq(typ, id, 0, data) }

// EncodeSeq is Encode with the session's sequence number of the message.
func EncodeSeq(typ, id string, seq uint64, data any) ([]byte, error) {
	env := Envelope{V: Version, Type: typ, ID: id, Seq: seq}
	if data != nil {
		b, err := json.Marshal(data)
		if err != nil {
			return nil, err
		}
		env.Data = b
	}
	return json.Marshal(env)
}
