package pow

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	altcha "github.com/altcha-org/altcha-lib-go"
)

// Solve finds the number that solves ch and returns the response the
// browser would send for it (see Verifier.Verify). It is the Go client of
// the challenge, for tests and the load generator, and does up to
// ch.MaxNumber+1 SHA-256 computations, about 1 ms per 10,000 on one core.
//
// It counts up from 0 like the ALTCHA widget, but formats the number into
// a reused buffer and compares raw digests, which makes it about six times
// faster than altcha.SolveChallenge.
func Solve(ch Challenge) (response string, err error) {
	if ch.Algorithm != string(algorithm) {
		return "", fmt.Errorf("pow: solve: unsupported algorithm %q", ch.Algorithm)
	}
	var want [sha256.Size]byte
	if n, err := hex.Decode(want[:], []byte(ch.Challenge)); err != nil || n != len(want) {
		return "", errors.New("pow: solve: malformed challenge")
	}
	buf := make([]byte, 0, len(ch.Salt)+20)
	buf = append(buf, ch.Salt...)
	for n := int64(0); n <= ch.MaxNumber; n++ {
		if sha256.Sum256(strconv.AppendInt(buf, n, 10)) != want {
			continue
		}
		raw, err := json.Marshal(altcha.Payload{
			Algorithm: ch.Algorithm,
			Challenge: ch.Challenge,
			Number:    n,
			Salt:      ch.Salt,
			Signature: ch.Signature,
		})
		if err != nil {
			return "", fmt.Errorf("pow: solve: %w", err)
		}
		return base64.StdEncoding.EncodeToString(raw), nil
	}
	return "", fmt.Errorf("pow: solve: no solution in [0, %d]", ch.MaxNumber)
}
