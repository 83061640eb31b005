package incidentbot

import (
	"errors"
	"fmt"
	"time"
)

// Error codes. They are stable strings: the HTTP layer maps them to
// statuses and the outbox worker decides on retries by them.
const (
	EINTERNAL  = "internal"  // a bug or an unexpected failure
	EINVALID   = "invalid"   // the input is malformed or breaks a rule
	ENOTFOUND  = "not_found" // the thing asked for does not exist
	ECONFLICT  = "conflict"  // the request conflicts with current state
	EFORBIDDEN = "forbidden" // the caller may not do this
	ETRANSIENT = "transient" // a remote call failed in a way worth retrying
	EREJECTED  = "rejected"  // a remote service refused the call for good
	// ETHROTTLED: the call was not made, to stay inside the remote's rate
	// budget; try again after RetryAfter. Not a failure.
	ETHROTTLED = "throttled"
)

// Error is the one error type of the domain. Code says what kind of
// failure it is, Message is safe to show to a person (it never carries a
// secret), RetryAfter is the wait a remote service asked for (zero when it
// asked none), and Err is the cause, kept for errors.Is and errors.As.
type Error struct {
	Code       string
	Message    string
	RetryAfter time.Duration
	Err        error
}

// Error returns the message, followed by the cause when there is one.
func (e *Error) Error() string {
	if e.Err != nil && e.Message != "" {
		return e.Message + ": " + e.Err.Error()
	}
	if e.Message != "" {
		return e.Message
	}
	if e.Err != nil {
		return e.Err.Error()
	}
	return e.Code
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL
// for any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the person-readable message of the first *Error in
// err's chain, or a generic text for other errors (whose text may carry
// details not meant for users).
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) && e.Message != "" {
		return e.Message
	}
	return "internal error"
}

// IsTransient reports whether err is worth retrying. Errors without a code
// (a dropped connection, a timeout) are transient; EREJECTED, EINVALID,
// ENOTFOUND and EFORBIDDEN are not.
func IsTransient(err error) bool {
	if err == nil {
		return false
	}
	switch ErrorCode(err) {
	case EREJECTED, EINVALID, ENOTFOUND, EFORBIDDEN, ECONFLICT:
		return false
	}
	return true
}

// RetryAfter returns the wait a remote service asked for in err, or zero.
func RetryAfter(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}
