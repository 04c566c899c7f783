package harness

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/wait"
)

// IsTransient reports whether an API error says the server was too busy
// rather than that the request was wrong: etcd timeouts and leader changes
// (500 with an etcdserver message), server and client timeouts, 429,
// connection errors. A test on a loaded machine retries these.
func IsTransient(err error) bool {
	if err == nil {
		return false
	}
	if apierrors.IsServerTimeout(err) || apierrors.IsTimeout(err) || apierrors.IsTooManyRequests(err) ||
		apierrors.IsServiceUnavailable(err) || apierrors.IsUnexpectedServerError(err) {
		return true
	}
	if apierrors.IsInternalError(err) {
		return true
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return true
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	msg := err.Error()
	for _, s := range []string{"etcdserver:", "connection refused", "connection reset", "http2: client connection lost", "i/o timeout"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// Retry calls fn until it succeeds, fails with an error that is not
// transient (IsTransient), or ctx ends, backing off from 100ms to 5s for
// up to 5 minutes. A request that timed out may still have been applied,
// so after a transient failure AlreadyExists and NotFound count as
// success: retry only requests for which that is true (creates, deletes,
// read-modify-write updates).
func Retry(ctx context.Context, what string, fn func(ctx context.Context) error) error {
	var last error
	retried := false
	backoff := wait.Backoff{Duration: 100 * time.Millisecond, Factor: 2, Jitter: 0.1, Steps: 64, Cap: 5 * time.Second}
	deadline := time.Now().Add(5 * time.Minute)
	err := wait.ExponentialBackoffWithContext(ctx, backoff, func(ctx context.Context) (bool, error) {
		last = fn(ctx)
		switch {
		case last == nil:
			return true, nil
		case retried && (apierrors.IsAlreadyExists(last) || apierrors.IsNotFound(last)):
			last = nil
			return true, nil
		case IsTransient(last) && time.Now().Before(deadline):
			retried = true
			return false, nil
		}
		return false, last
	})
	if err == nil {
		return nil
	}
	if last == nil {
		last = err
	}
	return fmt.Errorf("%s: %w", what, last)
}
