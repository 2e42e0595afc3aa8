package sframe_test

import (
	"bytes"
	"fmt"

	"github.com/sealroom/sealroom/sframe"
)

// ExampleMLSKeys shows a sender and a receiver of one MLS epoch. The exporter
// here returns a fixed secret; a client wraps its MLS group's exporter.
func ExampleMLSKeys() {
	exporter := sframe.ExporterFunc(func(label string, context []byte, length int) ([]byte, error) {
		return bytes.Repeat([]byte{0x42}, length), nil // stand-in for MLS-Exporter
	})
	alice, _ := sframe.NewMLSKeys(sframe.MLSConfig{})
	bob, _ := sframe.NewMLSKeys(sframe.MLSConfig{})
	_ = alice.SetEpoch(3, 5, exporter) // epoch 3, Alice is leaf 5
	_ = bob.SetEpoch(3, 9, exporter)

	frame := []byte{0x31, 0x05, 0x00, 'p', 'i', 'x', 'e', 'l', 's'} // VP8 interframe
	enc, _ := alice.EncryptFrame(nil, sframe.CodecVP8, frame)
	got, hdr, err := bob.DecryptFrame(nil, sframe.CodecVP8, enc)
	_, sender, epochBits := bob.Layout().Split(hdr.KID)
	fmt.Printf("clear prefix %x, kid %d (sender %d, epoch bits %d), ctr %d, ok %v\n",
		enc[:3], hdr.KID, sender, epochBits, hdr.CTR, err == nil && bytes.Equal(got, frame))
	// Output: clear prefix 310500, kid 83 (sender 5, epoch bits 3), ctr 0, ok true
}
