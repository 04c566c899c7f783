package scheme

import (
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	kubeschedulerscheme "k8s.io/kubernetes/pkg/scheduler/apis/config/scheme"

	"github.com/mtscn/mtscn/pkg/apis/config"
	configv1 "github.com/mtscn/mtscn/pkg/apis/config/v1"
)

var (
	// Scheme is kube-scheduler's configuration scheme, with mtscn's args.
	Scheme = kubeschedulerscheme.Scheme
	// Codecs decodes strictly: unknown or duplicate fields are errors.
	Codecs = serializer.NewCodecFactory(Scheme, serializer.EnableStrict)
)

func init() {
	AddToScheme(Scheme)
}

// AddToScheme adds the internal and v1 mtscn plugin args to a scheme.
func AddToScheme(scheme *runtime.Scheme) {
	utilruntime.Must(config.AddToScheme(scheme))
	utilruntime.Must(configv1.AddToScheme(scheme))
}
