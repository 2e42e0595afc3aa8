package mls

// MLSMessage is the outer envelope of every MLS message (RFC 9420 §6).
// Exactly the field matching WireFormat is set.
type MLSMessage struct {
	Version        ProtocolVersion
	WireFormat     WireFormat
	PublicMessage  *PublicMessage
	PrivateMessage *PrivateMessage
	Welcome        *Welcome
	GroupInfo      *GroupInfo
	KeyPackage     *KeyPackage
}

func (m *MLSMessage) structName() string { return "MLSMessage" }

func (m *MLSMessage) body() WireStruct {
	switch m.WireFormat {
	case WireFormatPublicMessage:
		if m.PublicMessage != nil {
			return m.PublicMessage
		}
	case WireFormatPrivateMessage:
		if m.PrivateMessage != nil {
			return m.PrivateMessage
		}
	case WireFormatWelcome:
		if m.Welcome != nil {
			return m.Welcome
		}
	case WireFormatGroupInfo:
		if m.GroupInfo != nil {
			return m.GroupInfo
		}
	case WireFormatKeyPackage:
		if m.KeyPackage != nil {
			return m.KeyPackage
		}
	}
	return nil
}

func (m *MLSMessage) marshal(w *writer) {
	b := m.body()
	if b == nil {
		w.err = ErrInvalidArgument
		return
	}
	w.u16(uint16(m.Version))
	w.u16(uint16(m.WireFormat))
	b.marshal(w)
}

func (m *MLSMessage) unmarshal(r *reader) {
	m.Version = ProtocolVersion(r.u16())
	if r.ok() && m.Version != ProtocolVersionMLS10 {
		r.fail(ErrUnsupportedVersion)
		return
	}
	m.WireFormat = WireFormat(r.u16())
	if !r.ok() {
		return
	}
	switch m.WireFormat {
	case WireFormatPublicMessage:
		m.PublicMessage = new(PublicMessage)
	case WireFormatPrivateMessage:
		m.PrivateMessage = new(PrivateMessage)
	case WireFormatWelcome:
		m.Welcome = new(Welcome)
	case WireFormatGroupInfo:
		m.GroupInfo = new(GroupInfo)
	case WireFormatKeyPackage:
		m.KeyPackage = new(KeyPackage)
	default:
		unknown(r, "wire_format", uint64(m.WireFormat))
		return
	}
	m.body().unmarshal(r)
}

// NewMLSMessage wraps a message body in the mls10 envelope.
func NewMLSMessage(body WireStruct) (*MLSMessage, error) {
	m := &MLSMessage{Version: ProtocolVersionMLS10}
	switch b := body.(type) {
	case *PublicMessage:
		m.WireFormat, m.PublicMessage = WireFormatPublicMessage, b
	case *PrivateMessage:
		m.WireFormat, m.PrivateMessage = WireFormatPrivateMessage, b
	case *Welcome:
		m.WireFormat, m.Welcome = WireFormatWelcome, b
	case *GroupInfo:
		m.WireFormat, m.GroupInfo = WireFormatGroupInfo, b
	case *KeyPackage:
		m.WireFormat, m.KeyPackage = WireFormatKeyPackage, b
	default:
		return nil, ErrInvalidArgument
	}
	return m, nil
}
