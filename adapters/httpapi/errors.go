package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"switchboard/commands"
	"switchboard/domain"
	"switchboard/eventstore"
)

// Error codes of the HTTP API. Those of PROTOCOL.md's table, plus
// too_large (413), method_not_allowed (405), forbidden (403),
// unavailable (503) and internal (500).
const (
	codeInvalidPayload     = "invalid_payload"
	codeTooLarge           = "too_large"
	codeUnauthorized       = "unauthorized"
	codeSessionExpired     = "session_expired"
	codeInvalidCredentials = "invalid_credentials"
	codeVerificationFailed = "verification_failed"
	codeHandleTaken        = "handle_taken"
	codeTooManyAttempts    = "too_many_attempts"
	codeNotMember          = "not_member"
	codeForbidden          = "forbidden"
	codeNotFound           = "not_found"
	codeMethodNotAllowed   = "method_not_allowed"
	codeRateLimited        = "rate_limited"
	codeUnavailable        = "unavailable"
	codeInternal           = "internal"
)

// The API's own refusals, mapped by errorStatus like the command side's.
var (
	errUnauthorized   = errors.New("httpapi: missing or unknown session token")
	errSessionExpired = errors.New("httpapi: session expired or ended")
	errNotFound       = errors.New("httpapi: not found")
	errForbidden      = errors.New("httpapi: forbidden")
	errSyncTimeout    = errors.New("httpapi: the read side is lagging")
)

// limitedError refuses an attempt over a login, registration or challenge
// limit: 429 too_many_attempts with Retry-After.
type limitedError struct {
	RetryAfter time.Duration
}

func (e *limitedError) Error() string {
	return fmt.Sprintf("httpapi: too many attempts, retry in %s", retryText(e.RetryAfter))
}

// verifyError carries a verifier's answer: Unavailable distinguishes "try
// again later" (503) from "the proof was refused" (403). The verifier's
// own text is logged, never sent.
type verifyError struct {
	Unavailable bool
	Err         error
}

func (e *verifyError) Error() string { return "httpapi: verification: " + e.Err.Error() }
func (e *verifyError) Unwrap() error { return e.Err }

// apiError is an error as the client sees it.
type apiError struct {
	Status     int
	Code       string
	Message    string
	RetryAfter time.Duration
	// Internal: the error is unexpected; its text is logged, not sent.
	Internal bool
}

// errorStatus maps every error a handler can meet to its status, code
// and message: the one table of it in this adapter. Errors it does not
// know become 500 internal, whose text never reaches the client.
func errorStatus(err error) apiError {
	var (
		pe  *payloadError
		le  *limitedError
		ve  *verifyError
		ie  *domain.InvalidError
		tl  *domain.TooLongError
		rle *domain.RateLimitedError
	)
	switch {
	case errors.As(err, &pe):
		return apiError{Status: pe.Status, Code: pe.Code, Message: pe.Msg}
	case errors.As(err, &le):
		return apiError{Status: http.StatusTooManyRequests, Code: codeTooManyAttempts,
			Message: "too many attempts; retry in " + retryText(le.RetryAfter), RetryAfter: le.RetryAfter}
	case errors.As(err, &ve) && ve.Unavailable:
		return apiError{Status: http.StatusServiceUnavailable, Code: codeUnavailable,
			Message: "human verification is unavailable; retry shortly", RetryAfter: time.Second}
	case errors.As(err, &ve), errors.Is(err, domain.ErrVerificationFailed):
		return apiError{Status: http.StatusForbidden, Code: codeVerificationFailed,
			Message: "human verification failed; get a new challenge and retry"}
	case errors.Is(err, errUnauthorized):
		return apiError{Status: http.StatusUnauthorized, Code: codeUnauthorized, Message: "a valid session token is required"}
	case errors.Is(err, errSessionExpired), errors.Is(err, domain.ErrSessionEnded):
		return apiError{Status: http.StatusUnauthorized, Code: codeSessionExpired, Message: "the session has expired or ended; log in again"}
	case errors.Is(err, domain.ErrInvalidCredentials):
		return apiError{Status: http.StatusUnauthorized, Code: codeInvalidCredentials, Message: "wrong handle or password"}
	case errors.Is(err, domain.ErrHandleTaken):
		return apiError{Status: http.StatusConflict, Code: codeHandleTaken, Message: "this handle is taken"}
	case errors.Is(err, commands.ErrWeakPassword):
		return apiError{Status: http.StatusBadRequest, Code: codeInvalidPayload,
			Message: fmt.Sprintf("password: must be %d to %d characters", commands.MinPasswordLen, commands.MaxPasswordLen)}
	case errors.As(err, &ie):
		return apiError{Status: http.StatusBadRequest, Code: codeInvalidPayload, Message: jsonField(ie.Field) + ": " + ie.Reason}
	case errors.As(err, &tl):
		return apiError{Status: http.StatusBadRequest, Code: codeInvalidPayload,
			Message: fmt.Sprintf("%s: at most %d characters", jsonField(tl.Field), tl.Max)}
	case errors.Is(err, domain.ErrInvalid), errors.Is(err, domain.ErrTooLong), errors.Is(err, commands.ErrIDReused):
		return apiError{Status: http.StatusBadRequest, Code: codeInvalidPayload, Message: "invalid request"}
	case errors.Is(err, domain.ErrNotMember):
		return apiError{Status: http.StatusForbidden, Code: codeNotMember, Message: "you are not a member of this room"}
	case errors.Is(err, errForbidden), errors.Is(err, domain.ErrForbidden):
		return apiError{Status: http.StatusForbidden, Code: codeForbidden, Message: "forbidden"}
	case errors.Is(err, errNotFound), errors.Is(err, domain.ErrNotFound):
		return apiError{Status: http.StatusNotFound, Code: codeNotFound, Message: "not found"}
	case errors.As(err, &rle):
		return apiError{Status: http.StatusTooManyRequests, Code: codeRateLimited,
			Message: "rate limited; retry in " + retryText(rle.RetryAfter), RetryAfter: rle.RetryAfter}
	case errors.Is(err, eventstore.ErrUnavailable), errors.Is(err, eventstore.ErrStorageFull),
		errors.Is(err, commands.ErrConflict), errors.Is(err, errSyncTimeout),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return apiError{Status: http.StatusServiceUnavailable, Code: codeUnavailable,
			Message: "the server cannot take this right now; retry shortly", RetryAfter: time.Second}
	}
	return apiError{Status: http.StatusInternalServerError, Code: codeInternal, Message: "internal error", Internal: true}
}

// jsonField turns a command's Go field name ("DisplayName") into the JSON
// name clients sent ("displayName").
func jsonField(goName string) string {
	r, n := utf8.DecodeRuneInString(goName)
	if n == 0 {
		return "field"
	}
	return string(unicode.ToLower(r)) + goName[n:]
}

// retryText renders a delay for messages: whole seconds, rounded up.
func retryText(d time.Duration) string {
	s := retrySeconds(d)
	if s == 1 {
		return "1 second"
	}
	return fmt.Sprintf("%d seconds", s)
}

// retrySeconds is the Retry-After value of d: whole seconds, at least 1.
func retrySeconds(d time.Duration) int64 {
	s := int64((d + time.Second - 1) / time.Second)
	return max(1, s)
}

// methodNotAllowed builds the 405 of a route that serves allow.
func methodNotAllowed(allow []string) apiError {
	return apiError{Status: http.StatusMethodNotAllowed, Code: codeMethodNotAllowed,
		Message: "method not allowed; use " + strings.Join(allow, ", ")}
}
