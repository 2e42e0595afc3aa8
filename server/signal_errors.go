package server

import (
	"errors"

	"github.com/sealroom/sealroom/keyservice"
	"github.com/sealroom/sealroom/media"
	"github.com/sealroom/sealroom/server/signaling"
)

// signalErrors maps the domain's sentinel errors to the signaling error code and the
// message a client is shown; the one place that decides them. Errors it does not list
// are the server's own faults: logged, and shown as internal.
var signalErrors = []struct {
	err  error
	code string
	msg  string
}{
	{media.ErrBadSDP, signaling.CodeBadSDP, "the session description was refused"},
	{media.ErrStaleAnswer, signaling.CodeStaleAnswer, "that offer was abandoned; answer the next one"},
	{media.ErrUnexpectedAnswer, signaling.CodeUnexpectedAnswer, "no offer is waiting for an answer"},
	{media.ErrBadCandidate, signaling.CodeBadCandidate, "the ICE candidate was refused"},
	{media.ErrUnknownMessage, signaling.CodeBadMessage, "unknown media message type"},
	{media.ErrBadView, signaling.CodeBadMessage, "the layers or view message was refused"},
	{media.ErrCodecsDeclared, signaling.CodeBadMessage, "video codecs are declared once per media session"},
	{media.ErrClosed, signaling.CodeMediaClosed, "the media session has ended"},
}

// sendDomainError tells the client why the domain refused its message. A Delivery
// Service refusal (*keyservice.Error) carries its signaling code and a message written
// for the member.
func (sc *signalConn) sendDomainError(id string, err error) {
	var ke *keyservice.Error
	if errors.As(err, &ke) {
		sc.sendError(id, ke.Code, ke.Message)
		return
	}
	for _, e := range signalErrors {
		if errors.Is(err, e.err) {
			sc.sendError(id, e.code, e.msg)
			return
		}
	}
	sc.s.log.Error("signaling: internal error", "request_id", sc.requestID, "err", err)
	sc.sendError(id, signaling.CodeInternal, "internal error")
}
