package harness

import (
	"context"
	"errors"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// TestRetry: transient errors (an etcd timeout surfaces as a 500) are
// retried; a create that timed out but was applied (AlreadyExists on the
// retry) succeeds; other errors end the retries at once.
func TestRetry(t *testing.T) {
	ctx := context.Background()
	etcdTimeout := apierrors.NewInternalError(errors.New("etcdserver: request timed out"))
	exists := apierrors.NewAlreadyExists(schema.GroupResource{Resource: "pods"}, "p")
	invalid := apierrors.NewBadRequest("spec.nodeName: invalid")

	calls := 0
	err := Retry(ctx, "creating pod", func(context.Context) error {
		calls++
		if calls == 1 {
			return etcdTimeout
		}
		return exists
	})
	if err != nil || calls != 2 {
		t.Errorf("timed-out create applied after all: err %v after %d calls, want nil after 2", err, calls)
	}

	calls = 0
	err = Retry(ctx, "creating pod", func(context.Context) error { calls++; return exists })
	if !apierrors.IsAlreadyExists(err) || calls != 1 {
		t.Errorf("AlreadyExists at the first call: err %v after %d calls, want AlreadyExists after 1", err, calls)
	}

	calls = 0
	err = Retry(ctx, "creating pod", func(context.Context) error { calls++; return invalid })
	if !apierrors.IsBadRequest(err) || calls != 1 {
		t.Errorf("bad request: err %v after %d calls, want it returned after 1", err, calls)
	}

	for _, e := range []error{etcdTimeout, apierrors.NewServerTimeout(schema.GroupResource{Resource: "pods"}, "list", 1),
		apierrors.NewTooManyRequests("slow down", 1), context.DeadlineExceeded} {
		if !IsTransient(e) {
			t.Errorf("IsTransient(%v) = false, want true", e)
		}
	}
	if IsTransient(invalid) || IsTransient(exists) {
		t.Errorf("IsTransient of a bad request or AlreadyExists = true, want false")
	}
}
