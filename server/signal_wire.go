package server

import (
	"context"
	"time"

	"github.com/coder/websocket"

	"github.com/sealroom/sealroom/server/signaling"
)

// send queues one message for the writer. It never blocks: a client that does not read
// its messages would hold everyone's fan-out back, so a full queue ends the connection.
func (sc *signalConn) send(typ, id string, data any) {
	// Numbered and queued under one lock, so the queue holds the messages in seq order.
	sc.sendMu.Lock()
	defer sc.sendMu.Unlock()
	sc.seq++
	b, err := signaling.EncodeSeq(typ, id, sc.seq, data)
	if err != nil {
		sc.seq--
		sc.s.log.Error("signaling: encode", "type", typ, "err", err)
		return
	}
	select {
	case <-sc.done:
	case sc.out <- outMsg{seq: sc.seq, b: b}:
	default:
		sc.close(websocket.StatusTryAgainLater, "too slow")
	}
}

// outMsg is a queued message and its seq (0 for resumed, which is not numbered).
type outMsg struct {
	seq uint64
	b   []byte
}

// maxReplay bounds the written messages a session keeps for a resume (a message written
// into a socket just before it died may never have reached the client).
const maxReplay = 2048

// written records a message the socket took, for a resume to send again.
func (sc *signalConn) written(m outMsg) {
	if m.seq == 0 {
		return
	}
	if len(sc.sent) == maxReplay {
		sc.sent = append(sc.sent[:0], sc.sent[1:]...)
	}
	sc.sent = append(sc.sent, m)
}

func (sc *signalConn) ack(id string) { sc.send(signaling.TypeAck, id, nil) }

func (sc *signalConn) sendError(id, code, msg string) {
	sc.send(signaling.TypeError, id, signaling.Error{Code: code, Message: msg})
}

// bye tells the client why the server is ending the connection, then ends it.
func (sc *signalConn) bye(reason string, code websocket.StatusCode, text string) {
	sc.send(signaling.TypeBye, "", signaling.Bye{Reason: reason})
	sc.close(code, text)
}

// close ends the connection with code; the first call wins.
func (sc *signalConn) close(code websocket.StatusCode, reason string) {
	sc.closeOnce.Do(func() {
		sc.closeCode, sc.closeReason = code, reason
		close(sc.done)
	})
}

// writeLoop is the only writer to ws. It first writes what an earlier socket of the
// session could not (unsent), then the queue. When ws fails, the message in hand is kept
// in unsent for the next socket and the loop ends (the session decides whether to wait
// for one); gone ends it quietly; done flushes what is queued (the bye message, say) and
// closes with the session's code.
func (sc *signalConn) writeLoop(ws *websocket.Conn, gone <-chan struct{}, finished chan<- struct{}) {
	defer close(finished)
	write := func(b []byte) bool {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return ws.Write(ctx, websocket.MessageText, b) == nil
	}
	for len(sc.unsent) > 0 {
		if !write(sc.unsent[0].b) {
			_ = ws.CloseNow()
			return
		}
		sc.written(sc.unsent[0])
		sc.unsent = sc.unsent[1:]
	}
	for {
		select {
		case m := <-sc.out:
			if !write(m.b) {
				sc.unsent = append(sc.unsent, m)
				_ = ws.CloseNow()
				return
			}
			sc.written(m)
		case <-gone:
			return
		case <-sc.done:
			for {
				select {
				case m := <-sc.out:
					if !write(m.b) {
						_ = ws.CloseNow()
						return
					}
				default:
					_ = ws.Close(sc.closeCode, sc.closeReason)
					return
				}
			}
		}
	}
}

// writeNow writes one message straight to a socket that has no writer loop yet (the
// consent door, before the participant is seated).
func writeNow(ctx context.Context, ws *websocket.Conn, typ, id string, data any) error {
	b, err := signaling.Encode(typ, id, data)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return ws.Write(wctx, websocket.MessageText, b)
}
