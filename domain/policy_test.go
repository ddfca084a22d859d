package domain_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"switchboard/domain"
)

func TestDefaultPolicyIsValid(t *testing.T) {
	t.Parallel()
	if err := domain.DefaultPolicy().Validate(); err != nil {
		t.Fatalf("DefaultPolicy().Validate() = %v", err)
	}
}

func TestPolicyValidateReportsEveryProblem(t *testing.T) {
	t.Parallel()
	p := domain.DefaultPolicy()
	p.ChatLimit = -1
	p.NudgeWindow = 0
	p.SessionTTL = 0
	p.PresenceTimeout = 30 * time.Second
	p.DedupWindow, p.DedupMaxPerRoom = 0, 0
	err := p.Validate()
	if err == nil {
		t.Fatal("Validate() = nil, want errors")
	}
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) {
		t.Fatalf("Validate() = %T, want a joined error", err)
	}
	for _, want := range []string{"ChatLimit is negative", "NudgeWindow must be positive", "SessionTTL must be positive", "PresenceTimeout", "DedupWindow and DedupMaxPerRoom"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %q, missing %q", err, want)
		}
	}
	if n := len(joined.Unwrap()); n != 5 {
		t.Errorf("Validate() reported %d problems, want 5:\n%v", n, err)
	}
}

func TestZeroLimitsDisable(t *testing.T) {
	t.Parallel()
	p := domain.Policy{SessionTTL: time.Minute, DedupMaxPerRoom: 1}
	if err := p.Validate(); err != nil {
		t.Fatalf("a policy with every limit off: Validate() = %v", err)
	}
}
