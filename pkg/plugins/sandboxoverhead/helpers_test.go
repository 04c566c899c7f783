package sandboxoverhead

import (
	"context"
	"strings"

	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	fwk "k8s.io/kube-scheduler/framework"
	frameworkruntime "k8s.io/kubernetes/pkg/scheduler/framework/runtime"
)

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func frameworkWithInformers(ctx context.Context, lister fwk.SharedLister) (fwk.Handle, error) {
	return frameworkruntime.NewFramework(ctx, nil, nil,
		frameworkruntime.WithSnapshotSharedLister(lister),
		frameworkruntime.WithInformerFactory(informers.NewSharedInformerFactory(fake.NewClientset(), 0)))
}
