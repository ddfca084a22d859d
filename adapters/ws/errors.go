package ws

import (
	"context"
	"errors"

	"github.com/coder/websocket"

	"switchboard/commands"
	"switchboard/domain"
	"switchboard/eventstore"
)

// Protocol error codes (PROTOCOL.md).
const (
	codeInvalidPayload = "invalid_payload"
	codeTooLong        = "too_long"
	codeNotMember      = "not_member"
	codeForbidden      = "forbidden"
	codeNotFound       = "not_found"
	codeRateLimited    = "rate_limited"
	codeQuota          = "bot_quota_exhausted"
	codeUnavailable    = "unavailable"
	codeInternal       = "internal"
)

// Close codes (PROTOCOL.md).
const (
	closeBinary         websocket.StatusCode = 1003
	closeInvalidUTF8    websocket.StatusCode = 1007
	closeFlooding       websocket.StatusCode = 1008
	closeTooBig         websocket.StatusCode = 1009
	closeBadHello       websocket.StatusCode = 4001
	closeSessionEnded   websocket.StatusCode = 4002
	closeHeartbeat      websocket.StatusCode = 4003
	closeSlowConsumer   websocket.StatusCode = 4008
	closeServerShutdown websocket.StatusCode = 1001
)

// errorCode maps an error of the command side to the protocol: the one
// table of it in this adapter. ok is false for errors whose text must not
// reach clients (code internal).
func errorCode(err error) (code string, retryAfterMs int64, ok bool) {
	var rl *domain.RateLimitedError
	var pe *payloadError
	switch {
	case errors.As(err, &pe):
		return codeInvalidPayload, 0, true
	case errors.As(err, &rl):
		return codeRateLimited, max(1, rl.RetryAfter.Milliseconds()), true
	case errors.Is(err, domain.ErrTooLong):
		return codeTooLong, 0, true
	case errors.Is(err, domain.ErrNotMember):
		return codeNotMember, 0, true
	case errors.Is(err, domain.ErrNotFound):
		return codeNotFound, 0, true
	case errors.Is(err, domain.ErrForbidden), errors.Is(err, domain.ErrSessionEnded):
		return codeForbidden, 0, true
	case errors.Is(err, domain.ErrInvalid), errors.Is(err, commands.ErrIDReused):
		return codeInvalidPayload, 0, true
	case errors.Is(err, domain.ErrQuotaExhausted):
		return codeQuota, 0, true
	case errors.Is(err, eventstore.ErrUnavailable), errors.Is(err, eventstore.ErrStorageFull),
		errors.Is(err, commands.ErrConflict), errors.Is(err, context.DeadlineExceeded):
		return codeUnavailable, 1000, true
	}
	return codeInternal, 0, false
}

// errorMessage is the text sent with an error code: the error's own for
// the codes whose errors are meant for users, a fixed one otherwise.
func errorMessage(err error, code string, ok bool) string {
	switch {
	case !ok:
		return "internal error"
	case code == codeUnavailable:
		return "the server cannot store this right now; retry with the same id"
	}
	return err.Error()
}
