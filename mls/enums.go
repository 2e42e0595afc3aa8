package mls

// Enumerations of RFC 9420. Fields whose value selects the layout of what
// follows (wire_format, content_type, sender_type, proposal_type,
// credential_type, leaf_node_source, node_type, psktype, usage,
// ProposalOrRef type) are checked on decode: an unknown or reserved value is an
// UnknownValueError, because the rest of the structure cannot be parsed.
// Enumerations that only appear in lists of supported values (Capabilities)
// may carry unknown and GREASE values (§13.5) and are kept as they are.

// ProtocolVersion is the MLS protocol version (RFC 9420 §6).
type ProtocolVersion uint16

// ProtocolVersionMLS10 is the only version defined by RFC 9420.
const ProtocolVersionMLS10 ProtocolVersion = 1

// WireFormat tells which message an MLSMessage carries (RFC 9420 §6).
type WireFormat uint16

// Wire formats of RFC 9420 §6.
const (
	WireFormatPublicMessage  WireFormat = 1
	WireFormatPrivateMessage WireFormat = 2
	WireFormatWelcome        WireFormat = 3
	WireFormatGroupInfo      WireFormat = 4
	WireFormatKeyPackage     WireFormat = 5
)

// ContentType is the type of FramedContent (RFC 9420 §6).
type ContentType uint8

// Content types of RFC 9420 §6.
const (
	ContentTypeApplication ContentType = 1
	ContentTypeProposal    ContentType = 2
	ContentTypeCommit      ContentType = 3
)

// SenderType is who sent a message (RFC 9420 §6).
type SenderType uint8

// Sender types of RFC 9420 §6.
const (
	SenderTypeMember            SenderType = 1
	SenderTypeExternal          SenderType = 2
	SenderTypeNewMemberProposal SenderType = 3
	SenderTypeNewMemberCommit   SenderType = 4
)

// ProposalType is the type of a Proposal (RFC 9420 §12.1, §17.4).
type ProposalType uint16

// Proposal types of RFC 9420 §17.4.
const (
	ProposalTypeAdd                    ProposalType = 1
	ProposalTypeUpdate                 ProposalType = 2
	ProposalTypeRemove                 ProposalType = 3
	ProposalTypePSK                    ProposalType = 4
	ProposalTypeReInit                 ProposalType = 5
	ProposalTypeExternalInit           ProposalType = 6
	ProposalTypeGroupContextExtensions ProposalType = 7
)

// CredentialType is the type of a Credential (RFC 9420 §5.3, §17.5).
type CredentialType uint16

// Credential types of RFC 9420 §17.5.
const (
	CredentialTypeBasic CredentialType = 1
	CredentialTypeX509  CredentialType = 2
)

// ExtensionType is the type of an Extension (RFC 9420 §13, §17.3).
type ExtensionType uint16

// Extension types of RFC 9420 §17.3.
const (
	ExtensionTypeApplicationID        ExtensionType = 1
	ExtensionTypeRatchetTree          ExtensionType = 2
	ExtensionTypeRequiredCapabilities ExtensionType = 3
	ExtensionTypeExternalPub          ExtensionType = 4
	ExtensionTypeExternalSenders      ExtensionType = 5
)

// isDefaultExtension reports whether every client supports the extension
// without listing it in Capabilities (RFC 9420 §7.2).
func isDefaultExtension(t ExtensionType) bool {
	return t >= ExtensionTypeApplicationID && t <= ExtensionTypeExternalSenders
}

// LeafNodeSource tells why a LeafNode was created (RFC 9420 §7.2).
type LeafNodeSource uint8

// Leaf node sources of RFC 9420 §7.2.
const (
	LeafNodeSourceKeyPackage LeafNodeSource = 1
	LeafNodeSourceUpdate     LeafNodeSource = 2
	LeafNodeSourceCommit     LeafNodeSource = 3
)

// NodeType distinguishes ratchet tree nodes (RFC 9420 §7.8).
type NodeType uint8

// Node types of RFC 9420 §7.8.
const (
	NodeTypeLeaf   NodeType = 1
	NodeTypeParent NodeType = 2
)

// PSKType is the kind of a pre-shared key (RFC 9420 §8.4).
type PSKType uint8

// PSK types of RFC 9420 §8.4.
const (
	PSKTypeExternal   PSKType = 1
	PSKTypeResumption PSKType = 2
)

// ResumptionPSKUsage is why a resumption PSK is used (RFC 9420 §8.4).
type ResumptionPSKUsage uint8

// Resumption PSK usages of RFC 9420 §8.4.
const (
	ResumptionPSKUsageApplication ResumptionPSKUsage = 1
	ResumptionPSKUsageReInit      ResumptionPSKUsage = 2
	ResumptionPSKUsageBranch      ResumptionPSKUsage = 3
)

// ProposalOrRefType selects an inline proposal or a reference (RFC 9420 §12.4).
type ProposalOrRefType uint8

// ProposalOrRef types of RFC 9420 §12.4.
const (
	ProposalOrRefTypeProposal  ProposalOrRefType = 1
	ProposalOrRefTypeReference ProposalOrRefType = 2
)

func unknown(r *reader, field string, v uint64) {
	r.fail(&UnknownValueError{Field: field, Value: v})
}
