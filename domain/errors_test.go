package domain_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"switchboard/domain"
)

func TestTypedErrorsMatch(t *testing.T) {
	t.Parallel()
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		err      error
		sentinel error
		same     error
		other    error
	}{
		{&domain.RateLimitedError{Action: "chat", RetryAfter: time.Second}, domain.ErrRateLimited,
			&domain.RateLimitedError{Action: "chat", RetryAfter: time.Second}, &domain.RateLimitedError{Action: "chat", RetryAfter: 2 * time.Second}},
		{&domain.QuotaExhaustedError{Quota: domain.QuotaUser}, domain.ErrQuotaExhausted,
			&domain.QuotaExhaustedError{Quota: domain.QuotaUser}, &domain.QuotaExhaustedError{Quota: domain.QuotaGlobal}},
		{&domain.InvalidError{Field: "Text", Reason: "empty"}, domain.ErrInvalid,
			&domain.InvalidError{Field: "Text", Reason: "empty"}, &domain.InvalidError{Field: "Name", Reason: "empty"}},
		{&domain.TooLongError{Field: "Text", Max: 3}, domain.ErrTooLong,
			&domain.TooLongError{Field: "Text", Max: 3}, &domain.TooLongError{Field: "Text", Max: 4}},
		{&domain.DuplicateError{ID: "c1", Room: "r", Seq: 3, At: at}, domain.ErrDuplicate,
			&domain.DuplicateError{ID: "c1", Room: "r", Seq: 3, At: at.In(time.FixedZone("x", 3600))}, &domain.DuplicateError{ID: "c1", Room: "r", Seq: 4, At: at}},
	}
	for _, tt := range tests {
		wrapped := fmt.Errorf("handler: %w", tt.err)
		if !errors.Is(wrapped, tt.sentinel) {
			t.Errorf("%v does not match %v", tt.err, tt.sentinel)
		}
		if !errors.Is(wrapped, tt.same) {
			t.Errorf("%v does not match an equal value", tt.err)
		}
		if errors.Is(wrapped, tt.other) {
			t.Errorf("%v matches %v", tt.err, tt.other)
		}
		if errors.Is(tt.err, domain.ErrNotFound) {
			t.Errorf("%v matches ErrNotFound", tt.err)
		}
	}
	if errors.Is(&domain.TooLongError{Field: "Text", Max: 1}, domain.ErrInvalid) {
		t.Error("TooLongError matches ErrInvalid; the protocol has a code of its own for it")
	}
}
