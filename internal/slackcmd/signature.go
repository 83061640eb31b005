package slackcmd

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
)

// MaxSkew is how far a request's timestamp may be from now: Slack's
// replay window. https://api.slack.com/authentication/verifying-requests-from-slack
const MaxSkew = 5 * time.Minute

// Signature errors. Their text never includes the expected signature
// (slack-go's verifier error does, which is why it is not used here).
var (
	ErrNoSignature = errors.New("missing X-Slack-Signature or X-Slack-Request-Timestamp")
	ErrStale       = errors.New("request timestamp outside the 5-minute window")
	ErrBadSig      = errors.New("signature does not match")
)

// VerifyRequest checks Slack's v0 signature of a raw body: HMAC-SHA256 of
// "v0:<timestamp>:<body>" with the signing secret, compared in constant
// time, with the timestamp within MaxSkew of now.
func VerifyRequest(secret, timestamp, signature string, body []byte, now time.Time) error {
	if timestamp == "" || signature == "" {
		return ErrNoSignature
	}
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return ErrStale
	}
	if d := now.Sub(time.Unix(ts, 0)); d > MaxSkew || d < -MaxSkew {
		return ErrStale
	}
	hexSig, ok := strings.CutPrefix(signature, "v0=")
	if !ok {
		return ErrBadSig
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return ErrBadSig
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("v0:" + timestamp + ":"))
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return ErrBadSig
	}
	return nil
}
