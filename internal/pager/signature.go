package pager

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// VerifySignature reports whether header (X-PagerDuty-Signature) carries a
// valid "v1=<hex HMAC-SHA256>" of body for any of secrets. PagerDuty sends
// one signature per active secret, comma-separated, while a secret is
// rotated; spaces after commas are tolerated. Comparison is constant-time.
// https://developer.pagerduty.com/docs/webhooks/webhook-signatures/
func VerifySignature(header string, body []byte, secrets []string) bool {
	if header == "" || len(secrets) == 0 {
		return false
	}
	var sigs [][]byte
	for _, part := range strings.Split(header, ",") {
		part = strings.TrimSpace(part)
		hexSig, ok := strings.CutPrefix(part, "v1=")
		if !ok {
			continue
		}
		sig, err := hex.DecodeString(hexSig)
		if err != nil || len(sig) != sha256.Size {
			continue
		}
		sigs = append(sigs, sig)
	}
	for _, secret := range secrets {
		if secret == "" {
			continue
		}
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write(body)
		want := mac.Sum(nil)
		for _, sig := range sigs {
			if hmac.Equal(sig, want) {
				return true
			}
		}
	}
	return false
}
