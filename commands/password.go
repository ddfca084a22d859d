package commands

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Password limits, checked before hashing (the domain never sees a
// password).
const (
	MinPasswordLen = 8
	MaxPasswordLen = 128
)

// ErrWeakPassword: the password is shorter or longer than allowed.
var ErrWeakPassword = fmt.Errorf("commands: password must be %d to %d characters", MinPasswordLen, MaxPasswordLen)

// Argon2 hashes passwords with argon2id and stores them in the PHC string
// format ($argon2id$v=19$m=…,t=…,p=…$salt$hash), so parameters can be raised
// later without breaking old hashes.
type Argon2 struct {
	// Time is the number of passes; MemoryKiB the memory cost; Threads the
	// parallelism. Zero values take OWASP's minimum for argon2id (t=2,
	// m=19 MiB, p=1).
	Time      uint32
	MemoryKiB uint32
	Threads   uint8
}

func (a Argon2) params() (uint32, uint32, uint8) {
	t, m, p := a.Time, a.MemoryKiB, a.Threads
	if t == 0 {
		t = 2
	}
	if m == 0 {
		m = 19 * 1024
	}
	if p == 0 {
		p = 1
	}
	return t, m, p
}

// Hash returns the PHC string of password with a fresh random salt.
func (a Argon2) Hash(password string) (string, error) {
	if n := len([]rune(password)); n < MinPasswordLen || n > MaxPasswordLen {
		return "", ErrWeakPassword
	}
	t, m, p := a.params()
	salt := make([]byte, 16)
	rand.Read(salt)
	key := argon2.IDKey([]byte(password), salt, t, m, p, 32)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, m, t, p, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

var errBadHash = errors.New("commands: unreadable password hash")

// Verify reports whether password matches a hash made by Hash, comparing
// in constant time.
func (Argon2) Verify(hash, password string) (bool, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, errBadHash
	}
	var v int
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return false, errBadHash
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil {
		return false, errBadHash
	}
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(parts[4])
	want, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false, errBadHash
	}
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}
