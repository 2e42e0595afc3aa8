package mls

// WireStruct is implemented by every MLS wire structure of this package. The
// interface is sealed: its methods are unexported, so only this package's
// types satisfy it and every encoding goes through the strict codec.
type WireStruct interface {
	marshal(w *writer)
	unmarshal(r *reader)
	structName() string
}

// Marshal encodes v in the TLS presentation language of RFC 9420 §2.1.
func Marshal(v WireStruct) ([]byte, error) {
	var w writer
	v.marshal(&w)
	return w.result()
}

// Unmarshal decodes data into v. The input must hold exactly one encoding of
// v: trailing bytes, truncation, non-minimal lengths and unknown enum values
// are errors (DecodeError wrapping a sentinel). On error v is left in an
// unspecified but safe state; callers must not use it.
func Unmarshal(data []byte, v WireStruct) error {
	return decodeAll(v.structName(), data, v.unmarshal)
}

// marshalList writes a <V> vector of wire structs.
func marshalList[T any, P interface {
	*T
	marshal(*writer)
}](w *writer, list []T) {
	w.vector(func(w *writer) {
		for i := range list {
			P(&list[i]).marshal(w)
		}
	})
}

// unmarshalList reads a <V> vector of wire structs.
func unmarshalList[T any, P interface {
	*T
	unmarshal(*reader)
}](r *reader) []T {
	var list []T
	r.vector(func(r *reader) {
		var v T
		P(&v).unmarshal(r)
		list = append(list, v)
	})
	return list
}

func marshalU16List[T ~uint16](w *writer, list []T) {
	w.vector(func(w *writer) {
		for _, v := range list {
			w.u16(uint16(v))
		}
	})
}

func unmarshalU16List[T ~uint16](r *reader) []T {
	var list []T
	r.vector(func(r *reader) { list = append(list, T(r.u16())) })
	return list
}
