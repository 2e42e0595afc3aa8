package keyservice

// Signaling message types of the Delivery Service (docs/protocol.md, "MLS Delivery Service messages"). Byte fields travel as
// standard base64 (encoding/json's []byte form); every MLS value is an MLSMessage or a
// bare wire struct as noted.
const (
	// client -> server
	TypeKeyPackages = "keypackages" // upload KeyPackages
	TypeGroupInit   = "group_init"  // the first member's epoch-0 GroupInfo
	TypeCommit      = "commit"      // a Commit with the next epoch's GroupInfo (and Welcome)
	TypeChat        = "chat"        // an MLS application message (both directions)
	TypeKick        = "kick"        // a host removes a participant

	// server -> client
	TypeGroupCreate   = "group_create"      // create the room's group
	TypeHandshake     = "mls"               // a server proposal or an accepted commit
	TypeWelcome       = "welcome"           // a Welcome for this connection
	TypeCommitNeeded  = "commit_needed"     // you are the designated committer
	TypeKeyPackageLow = "keypackage_needed" // upload KeyPackages: the server has none left for you
	TypeRemoved       = "removed"           // a host removed you
)

type keyPackagesData struct {
	KeyPackages [][]byte `json:"keypackages"` // MLSMessage(KeyPackage) each
}

type groupInitData struct {
	GroupInfo []byte `json:"group_info"` // MLSMessage(GroupInfo) with ratchet_tree
}

type commitData struct {
	Commit    []byte `json:"commit"`            // MLSMessage(PublicMessage Commit)
	GroupInfo []byte `json:"group_info"`        // MLSMessage(GroupInfo) of the next epoch, with ratchet_tree
	Welcome   []byte `json:"welcome,omitempty"` // MLSMessage(Welcome), when the commit adds members
}

type chatIn struct {
	Message []byte `json:"message"` // MLSMessage(PrivateMessage, application)
}

// ChatOut is a relayed chat message as members receive it.
type chatOut struct {
	From    string `json:"from"` // the sender's subject, as the server authenticated it
	Message []byte `json:"message"`
}

type kickData struct {
	Subject string `json:"sub"`
}

// ExternalSenderInfo tells the creator which external sender to list.
type externalSenderInfo struct {
	SignatureKey []byte `json:"signature_key"` // Ed25519 public key
	Identity     string `json:"identity"`      // basic credential identity
}

type groupCreateData struct {
	GroupID        []byte             `json:"group_id"`
	ExternalSender externalSenderInfo `json:"external_sender"`
}

type handshakeData struct {
	Epoch   uint64 `json:"epoch"` // the epoch the message belongs to
	Message []byte `json:"message"`
}

type welcomeData struct {
	Epoch   uint64 `json:"epoch"` // the epoch the joiner enters
	Welcome []byte `json:"welcome"`
}

type commitNeededData struct {
	Epoch uint64 `json:"epoch"`
}

type removedData struct {
	By string `json:"by"`
}
