package signaling

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
)

func TestDecodeStrict(t *testing.T) {
	var env Envelope
	for _, tc := range []struct {
		in   string
		want error
	}{
		{``, ErrEmpty},
		{`{"v":1,"type":"ping"} {}`, ErrTrailing},
	} {
		if err := DecodeStrict([]byte(tc.in), &env); !errors.Is(err, tc.want) {
			t.Errorf("%q: %v, want %v", tc.in, err, tc.want)
		}
	}
	for _, in := range []string{`{"v":1,"type":"ping","extra":1}`, `not json`, `{"v":"1"}`} {
		if err := DecodeStrict([]byte(in), &env); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
	if err := DecodeStrict([]byte(`{"v":1,"type":"mute","id":"a","data":{"audio_muted":true,"video_muted":false}}`), &env); err != nil {
		t.Fatal(err)
	}
	var m Mute
	if err := DecodeStrict(env.Data, &m); err != nil || !m.AudioMuted || m.VideoMuted {
		t.Fatalf("mute %+v %v", m, err)
	}
}

func TestEncode(t *testing.T) {
	b, err := Encode(TypeError, "r1", Error{Code: CodeStaleEpoch, Message: "rebase"})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"v":1,"type":"error","id":"r1","data":{"code":"stale_epoch","message":"rebase"}}`; string(b) != want {
		t.Fatalf("got %s\nwant %s", b, want)
	}
	if b, _ := Encode(TypePong, "", nil); string(b) != `{"v":1,"type":"pong"}` {
		t.Fatalf("no data: %s", b)
	}
	if b, _ := Encode(TypeHandshake, "", json.RawMessage(`{"epoch":3}`)); string(b) != `{"v":1,"type":"mls","data":{"epoch":3}}` {
		t.Fatalf("raw data: %s", b)
	}
}

// FuzzDecodeStrict: arbitrary bytes never panic the decoder, and an envelope it accepts
// encodes back to something it accepts again with the same content.
func FuzzDecodeStrict(f *testing.F) {
	seeds := []string{`{"v":1,"type":"ping"}`, `{"v":1,"type":"auth","data":{"token":"x"}}`, `{}`, `[]`, `{"v":1,"type":"a","id":"b","data":null}`}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	if len(seeds) == 0 {
		f.Fatal("empty seed corpus")
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var env Envelope
		if DecodeStrict(b, &env) != nil {
			return
		}
		out, err := json.Marshal(env)
		if err != nil {
			t.Fatalf("accepted envelope does not encode: %v", err)
		}
		var again Envelope
		if err := DecodeStrict(out, &again); err != nil {
			t.Fatalf("re-encoded envelope refused: %v", err)
		}
		if again.V != env.V || again.Type != env.Type || again.ID != env.ID {
			t.Fatalf("round trip changed the envelope: %+v -> %+v", env, again)
		}
		if len(env.Data) > 0 && !json.Valid(again.Data) && !bytes.Equal(env.Data, again.Data) {
			t.Fatalf("round trip changed the data")
		}
	})
}
