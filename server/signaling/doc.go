// Package signaling owns sealroom's signaling wire protocol (docs/protocol.md): the
// envelope every WebSocket message travels in, the message types, the data of each
// message, the error and close codes, and the strict decoding every message and
// payload goes through.
//
// It is the one declaration of the protocol in Go: the server, the Delivery Service
// (keyservice), the SFU (media) and the Go client import it, and none of them declares
// a wire struct of its own. It holds no behaviour beyond encoding and decoding, and it
// must never import another sealroom package, so that any of them can import it (pion's
// webrtc is imported for one type: the W3C RTCIceCandidateInit).
package signaling
