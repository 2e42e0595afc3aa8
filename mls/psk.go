package mls

// resolvedPSK is a pre-shared key with its identifier, input to the PSK secret.
type resolvedPSK struct {
	ID     PreSharedKeyID
	Secret []byte
}

// pskSecret combines PSKs into psk_secret (RFC 9420 §8.4):
//
//	psk_extracted_[i] = KDF.Extract(0, psk_[i])
//	psk_input_[i]     = ExpandWithLabel(psk_extracted_[i], "derived psk", PSKLabel, KDF.Nh)
//	psk_secret_[0]    = 0
//	psk_secret_[i]    = KDF.Extract(psk_input_[i-1], psk_secret_[i-1])
//
// with PSKLabel = struct { PreSharedKeyID id; uint16 index; uint16 count; }.
// No PSKs give the all-zero vector.
func (cs *CipherSuite) pskSecret(psks []resolvedPSK) ([]byte, error) {
	secret := make([]byte, cs.nh)
	if len(psks) > 0xffff {
		return nil, ErrInvalidArgument
	}
	zero := make([]byte, cs.nh)
	for i := range psks {
		extracted, err := cs.extract(zero, psks[i].Secret)
		if err != nil {
			return nil, err
		}
		var w writer
		psks[i].ID.marshal(&w)
		w.u16(uint16(i))
		w.u16(uint16(len(psks)))
		label, err := w.result()
		if err != nil {
			return nil, err
		}
		input, err := cs.expandWithLabel(extracted, "derived psk", label, cs.nh)
		clear(extracted)
		if err != nil {
			return nil, err
		}
		next, err := cs.extract(input, secret)
		clear(input)
		clear(secret)
		if err != nil {
			return nil, err
		}
		secret = next
	}
	return secret, nil
}
