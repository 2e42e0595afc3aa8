package server

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"
)

// Error codes of the API. Each maps to one HTTP status in statusOf, the only place that
// decides statuses; docs/protocol.md lists them.
const (
	CodeBadRequest      = "bad_request"
	CodeUnauthorized    = "unauthorized"
	CodeForbidden       = "forbidden"
	CodeNotFound        = "not_found"
	CodeConflict        = "conflict"
	CodeTooLarge        = "payload_too_large"
	CodeRateLimited     = "rate_limited"
	CodeUnavailable     = "unavailable"
	CodeInternal        = "internal"
	CodeMethodNotAllowd = "method_not_allowed"
)

func statusOf(code string) int {
	switch code {
	case CodeBadRequest:
		return http.StatusBadRequest
	case CodeUnauthorized:
		return http.StatusUnauthorized
	case CodeForbidden:
		return http.StatusForbidden
	case CodeNotFound:
		return http.StatusNotFound
	case CodeConflict:
		return http.StatusConflict
	case CodeMethodNotAllowd:
		return http.StatusMethodNotAllowed
	case CodeTooLarge:
		return http.StatusRequestEntityTooLarge
	case CodeRateLimited:
		return http.StatusTooManyRequests
	case CodeUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// Error is an error the API shows to its caller: a code and a message written for that
// caller. Anything else that reaches the error handler is logged and shown as "internal".
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func apiErr(code, msg string) *Error { return &Error{Code: code, Message: msg} }

type errorBody struct {
	Error struct {
		Code      string `json:"code"`
		Message   string `json:"message"`
		RequestID string `json:"request_id,omitempty"`
	} `json:"error"`
}

// handleError renders every error as the same JSON shape. Internal details (and stack
// traces, which Echo never produces here) stay in the log.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	var (
		e   *Error
		he  *echo.HTTPError
		out *Error
	)
	switch {
	case errors.As(err, &e):
		out = e
	case isAuthFailure(err):
		out = apiErr(CodeUnauthorized, "a valid bearer token is required")
	case errors.As(err, &he):
		out = fromHTTPError(he)
	default:
		out = apiErr(CodeInternal, "internal error")
	}
	if out.Code == CodeInternal {
		s.log.ErrorContext(c.Request().Context(), "request failed", "request_id", requestID(c), "err", err)
	}
	var body errorBody
	body.Error.Code = out.Code
	body.Error.Message = out.Message
	body.Error.RequestID = requestID(c)
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(statusOf(out.Code))
		return
	}
	_ = c.JSON(statusOf(out.Code), body)
}

func fromHTTPError(he *echo.HTTPError) *Error {
	switch he.Code {
	case http.StatusNotFound:
		return apiErr(CodeNotFound, "no such resource")
	case http.StatusMethodNotAllowed:
		return apiErr(CodeMethodNotAllowd, "method not allowed")
	case http.StatusRequestEntityTooLarge:
		return apiErr(CodeTooLarge, "request body too large")
	case http.StatusUnauthorized:
		return apiErr(CodeUnauthorized, "a valid bearer token is required")
	case http.StatusForbidden:
		return apiErr(CodeForbidden, "forbidden")
	case http.StatusTooManyRequests:
		return apiErr(CodeRateLimited, "too many requests")
	case http.StatusServiceUnavailable:
		return apiErr(CodeUnavailable, "service unavailable")
	}
	if he.Code >= 400 && he.Code < 500 {
		return apiErr(CodeBadRequest, "bad request")
	}
	return apiErr(CodeInternal, "internal error")
}

func isAuthFailure(err error) bool {
	_, ok := authReason(err)
	return ok
}
