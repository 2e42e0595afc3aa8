package mls

// Proposal is a proposed change to the group (RFC 9420 §12.1). Exactly the
// field matching Type is set.
type Proposal struct {
	Type                   ProposalType
	Add                    *Add
	Update                 *Update
	Remove                 *Remove
	PreSharedKey           *PreSharedKey
	ReInit                 *ReInit
	ExternalInit           *ExternalInit
	GroupContextExtensions *GroupContextExtensions
}

func (p *Proposal) structName() string { return "Proposal" }

func (p *Proposal) body() WireStruct {
	switch p.Type {
	case ProposalTypeAdd:
		if p.Add != nil {
			return p.Add
		}
	case ProposalTypeUpdate:
		if p.Update != nil {
			return p.Update
		}
	case ProposalTypeRemove:
		if p.Remove != nil {
			return p.Remove
		}
	case ProposalTypePSK:
		if p.PreSharedKey != nil {
			return p.PreSharedKey
		}
	case ProposalTypeReInit:
		if p.ReInit != nil {
			return p.ReInit
		}
	case ProposalTypeExternalInit:
		if p.ExternalInit != nil {
			return p.ExternalInit
		}
	case ProposalTypeGroupContextExtensions:
		if p.GroupContextExtensions != nil {
			return p.GroupContextExtensions
		}
	}
	return nil
}

func (p *Proposal) marshal(w *writer) {
	b := p.body()
	if b == nil {
		w.err = ErrInvalidArgument
		return
	}
	w.u16(uint16(p.Type))
	b.marshal(w)
}

func (p *Proposal) unmarshal(r *reader) {
	p.Type = ProposalType(r.u16())
	if !r.ok() {
		return
	}
	switch p.Type {
	case ProposalTypeAdd:
		p.Add = new(Add)
	case ProposalTypeUpdate:
		p.Update = new(Update)
	case ProposalTypeRemove:
		p.Remove = new(Remove)
	case ProposalTypePSK:
		p.PreSharedKey = new(PreSharedKey)
	case ProposalTypeReInit:
		p.ReInit = new(ReInit)
	case ProposalTypeExternalInit:
		p.ExternalInit = new(ExternalInit)
	case ProposalTypeGroupContextExtensions:
		p.GroupContextExtensions = new(GroupContextExtensions)
	default:
		// Custom proposal types have no length prefix on the wire, so a
		// body of unknown layout cannot be skipped (RFC 9420 §12.1).
		unknown(r, "proposal_type", uint64(p.Type))
		return
	}
	p.body().unmarshal(r)
}

// ProposalRef is MakeProposalRef: RefHash("MLS 1.0 Proposal Reference",
// AuthenticatedContent) over the AuthenticatedContent that carried the
// proposal (RFC 9420 §5.2).
func ProposalRef(cs *CipherSuite, ac *AuthenticatedContent) ([]byte, error) {
	b, err := Marshal(ac)
	if err != nil {
		return nil, err
	}
	return cs.RefHash("MLS 1.0 Proposal Reference", b)
}

// Add proposes adding the owner of a KeyPackage (RFC 9420 §12.1.1).
type Add struct {
	KeyPackage KeyPackage
}

func (a *Add) structName() string  { return "Add" }
func (a *Add) marshal(w *writer)   { a.KeyPackage.marshal(w) }
func (a *Add) unmarshal(r *reader) { a.KeyPackage.unmarshal(r) }

// Update replaces the sender's leaf (RFC 9420 §12.1.2).
type Update struct {
	LeafNode LeafNode
}

func (u *Update) structName() string  { return "Update" }
func (u *Update) marshal(w *writer)   { u.LeafNode.marshal(w) }
func (u *Update) unmarshal(r *reader) { u.LeafNode.unmarshal(r) }

// Remove removes the member at a leaf (RFC 9420 §12.1.3).
type Remove struct {
	Removed LeafIndex
}

func (p *Remove) structName() string  { return "Remove" }
func (p *Remove) marshal(w *writer)   { w.u32(uint32(p.Removed)) }
func (p *Remove) unmarshal(r *reader) { p.Removed = LeafIndex(r.u32()) }

// PreSharedKeyID names a PSK (RFC 9420 §8.4).
type PreSharedKeyID struct {
	Type       PSKType
	PSKID      []byte // external
	Usage      ResumptionPSKUsage
	PSKGroupID []byte // resumption
	PSKEpoch   uint64 // resumption
	Nonce      []byte
}

func (p *PreSharedKeyID) structName() string { return "PreSharedKeyID" }

func (p *PreSharedKeyID) marshal(w *writer) {
	w.u8(uint8(p.Type))
	switch p.Type {
	case PSKTypeExternal:
		w.opaque(p.PSKID)
	case PSKTypeResumption:
		w.u8(uint8(p.Usage))
		w.opaque(p.PSKGroupID)
		w.u64(p.PSKEpoch)
	default:
		w.err = ErrInvalidArgument
	}
	w.opaque(p.Nonce)
}

func (p *PreSharedKeyID) unmarshal(r *reader) {
	p.Type = PSKType(r.u8())
	switch p.Type {
	case PSKTypeExternal:
		p.PSKID = r.opaque()
	case PSKTypeResumption:
		p.Usage = ResumptionPSKUsage(r.u8())
		if p.Usage < ResumptionPSKUsageApplication || p.Usage > ResumptionPSKUsageBranch {
			unknown(r, "resumption_psk_usage", uint64(p.Usage))
		}
		p.PSKGroupID = r.opaque()
		p.PSKEpoch = r.u64()
	default:
		unknown(r, "psktype", uint64(p.Type))
	}
	p.Nonce = r.opaque()
}

// PreSharedKey proposes injecting a PSK (RFC 9420 §12.1.4).
type PreSharedKey struct {
	PSK PreSharedKeyID
}

func (p *PreSharedKey) structName() string  { return "PreSharedKey" }
func (p *PreSharedKey) marshal(w *writer)   { p.PSK.marshal(w) }
func (p *PreSharedKey) unmarshal(r *reader) { p.PSK.unmarshal(r) }

// ReInit proposes reinitializing the group (RFC 9420 §12.1.5).
type ReInit struct {
	GroupID     []byte
	Version     ProtocolVersion
	CipherSuite CipherSuiteID
	Extensions  Extensions
}

func (p *ReInit) structName() string { return "ReInit" }

func (p *ReInit) marshal(w *writer) {
	w.opaque(p.GroupID)
	w.u16(uint16(p.Version))
	w.u16(uint16(p.CipherSuite))
	p.Extensions.marshal(w)
}

func (p *ReInit) unmarshal(r *reader) {
	p.GroupID = r.opaque()
	p.Version = ProtocolVersion(r.u16())
	p.CipherSuite = CipherSuiteID(r.u16())
	p.Extensions.unmarshal(r)
}

// ExternalInit carries the KEM output of an external join (RFC 9420 §12.1.6).
type ExternalInit struct {
	KEMOutput []byte
}

func (p *ExternalInit) structName() string  { return "ExternalInit" }
func (p *ExternalInit) marshal(w *writer)   { w.opaque(p.KEMOutput) }
func (p *ExternalInit) unmarshal(r *reader) { p.KEMOutput = r.opaque() }

// GroupContextExtensions replaces the group's extensions (RFC 9420 §12.1.7).
type GroupContextExtensions struct {
	Extensions Extensions
}

func (p *GroupContextExtensions) structName() string  { return "GroupContextExtensions" }
func (p *GroupContextExtensions) marshal(w *writer)   { p.Extensions.marshal(w) }
func (p *GroupContextExtensions) unmarshal(r *reader) { p.Extensions.unmarshal(r) }
